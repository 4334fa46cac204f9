package web

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/campusguard/campusguard/internal/hitlog"
	"github.com/campusguard/campusguard/internal/hitlog/chdb"
	"github.com/campusguard/campusguard/internal/hitlog/chtest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	if hitStore.s != nil {
		hitStore.s.Close()
	}
	if hitStore.dir != "" {
		os.RemoveAll(hitStore.dir)
	}
	os.Exit(code)
}

// The embedded engine allows one database directory per process: the
// tests share one store, filled once.
var hitStore struct {
	once sync.Once
	dir  string
	s    hitlog.Store
	q    *hitlog.Queries
	now  time.Time
	rows int
	err  error
}

// Test hits: every 7 minutes over the last 23 hours, cycling through
// these, from three clients.
var testHitKinds = []struct {
	kind, name, pack, category, action string
	sev                                uint8
}{
	{"dns", "login-verify.example", "phishing-example", "phishing", "block", 3},
	{"tls", "cdn.malware.test", "malware-example", "malware", "block", 4},
	{"dns", "bet365-vip.example", "gambling-spam-example", "gambling", "alert", 2},
	{"post", "bbs", "anti-fraud-example", "fraud", "hold", 3},
	{"http", "loan.example", "anti-fraud-example", "fraud", "alert", 3},
}

// sharedHits returns queries over the shared chDB store and the time its
// data is relative to. It skips (or fails, under
// CAMPUSGUARD_TEST_REQUIRE_SERVERS=1) when libchdb.so is not there.
func sharedHits(t *testing.T) (*hitlog.Queries, time.Time, int) {
	t.Helper()
	if os.Getenv(chdb.LibEnv) == "" {
		os.Setenv(chdb.LibEnv, chtest.LibPath(t))
	}
	hitStore.once.Do(func() {
		ctx := context.Background()
		hitStore.dir, hitStore.err = os.MkdirTemp("", "web-chdb-")
		if hitStore.err != nil {
			return
		}
		hitStore.s, hitStore.err = hitlog.Open(ctx, "chdb://"+hitStore.dir)
		if hitStore.err != nil {
			return
		}
		if _, hitStore.err = hitlog.Migrate(ctx, hitStore.s); hitStore.err != nil {
			return
		}
		now := time.Now().UTC()
		hitStore.now = now
		var rows []hitlog.Row
		for i := 0; ; i++ {
			ts := now.Add(-time.Duration(i)*7*time.Minute - time.Minute)
			if now.Sub(ts) > 23*time.Hour {
				break
			}
			k := testHitKinds[i%len(testHitKinds)]
			rows = append(rows, hitlog.Row{Time: ts, Sensor: "core-1", Kind: k.kind, Client: fmt.Sprintf("c-%02d", i%3+1),
				Server: "10.0.0.53", Port: 53, Name: k.name, Pack: k.pack, Rule: k.pack + ".yaml:3", Category: k.category,
				Severity: k.sev, Action: k.action, Field: "name", Match: k.name, MatchEnd: uint32(len(k.name))})
		}
		hitStore.rows = len(rows)
		hitStore.err = hitStore.s.Insert(ctx, &hitlog.Batch{ID: 42, Created: now, Rows: rows})
		hitStore.q = hitlog.NewQueries(hitStore.s, false)
	})
	if hitStore.err != nil {
		t.Fatal(hitStore.err)
	}
	return hitStore.q, hitStore.now, hitStore.rows
}

func TestOverviewWithHitStore(t *testing.T) {
	q, _, _ := sharedHits(t)
	f := newFixture(t, func(o *Options) { o.Hits = q })
	m := f.login("mod")
	resp, body := m.get("/")
	if resp.StatusCode != 200 {
		t.Fatalf("overview: %d", resp.StatusCode)
	}
	for _, want := range []string{`<svg class="chart"`, `role="img"`, `aria-labelledby="chart-category-title chart-category-desc"`,
		"<title id=\"chart-kind-title\">Hits by source</title>", `class="s0"`, "phishing", "gambling", "forum post",
		"phishing-example", "login-verify.example", "anti-fraud-example.yaml:3"} {
		if !strings.Contains(body, want) {
			t.Errorf("overview lacks %q", want)
		}
	}
	if strings.Contains(body, "did not answer") {
		t.Errorf("overview shows a hit store error")
	}
	// The same page in Chinese, with nothing falling back.
	m.postFormBody("/lang", map[string][]string{"csrf": {m.csrf}, "lang": {"zh-CN"}})
	_, body = m.get("/")
	for _, want := range []string{"按类别统计的命中", "钓鱼", "论坛帖子"} {
		if !strings.Contains(body, want) {
			t.Errorf("Chinese overview lacks %q", want)
		}
	}
	if ms := f.misses.list(); len(ms) > 0 {
		t.Errorf("fallbacks: %v", ms)
	}
}

func TestHitsSearch(t *testing.T) {
	q, _, total := sharedHits(t)
	f := newFixture(t, func(o *Options) { o.Hits = q })
	m := f.login("mod")
	seen := 0
	next := "/hits?search=1&range=24h"
	pages := 0
	for next != "" {
		resp, body := m.get(strings.ReplaceAll(next, "&amp;", "&"))
		if resp.StatusCode != 200 {
			t.Fatalf("GET %s: %d", next, resp.StatusCode)
		}
		seen += strings.Count(body, "<time datetime=")
		next = regexpFind(`href="(/hits\?[^"]*cursor=[^"]+)" rel="next"`, body)
		if pages++; pages > 10 {
			t.Fatal("paging does not end")
		}
	}
	if seen != total || pages != (total+hitsPageSize-1)/hitsPageSize {
		t.Errorf("paged through %d hits in %d pages, want %d", seen, pages, total)
	}
	// Filters narrow; a client filter shows only that client.
	_, body := m.get("/hits?search=1&range=24h&client=c-02&kind=dns")
	if strings.Contains(body, "c-01") || strings.Contains(body, "c-03") || !strings.Contains(body, "c-02") || strings.Contains(body, "cdn.malware.test") {
		t.Error("client and kind filters")
	}
	_, body = m.get("/hits?search=1&range=1h&severity=critical")
	if strings.Contains(body, "login-verify.example") {
		t.Error("severity filter")
	}
	// Every search that showed clients is audited with its filter.
	n := 0
	log, _ := f.db.AuditLog(context.Background(), 100, 0)
	for _, e := range log {
		if e.Action == "hits.search" && e.Actor == "mod" {
			n++
			if strings.Contains(e.After, `"client":"c-02"`) && !strings.Contains(e.After, `"kind":"dns"`) {
				t.Errorf("audit entry %s lacks the kind", e.After)
			}
		}
	}
	if n != pages+2 {
		t.Errorf("%d hits.search entries, want %d", n, pages+2)
	}
	// Bad parameters are refused before the store sees them.
	for _, bad := range []string{"kind=smtp", "severity=dire", "cursor=1.2", "range=2y", "range=custom&from=2026-01-02T00:00&to=2026-01-01T00:00",
		"cursor=1.2.3'%20OR%201=1"} {
		if resp, _ := m.get("/hits?search=1&" + bad); resp.StatusCode != 400 {
			t.Errorf("?%s: %d, want 400", bad, resp.StatusCode)
		}
	}
	// Injection attempts in free-text filters are only values.
	if resp, body := m.get("/hits?search=1&name=" + "x%27%29%20OR%201%3D1--"); resp.StatusCode != 200 || strings.Contains(body, "did not answer") {
		t.Errorf("quote in a filter: %d", resp.StatusCode)
	}
}
