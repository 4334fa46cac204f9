package feeds

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/campusguard/campusguard/alerts/decision"
)

// decisionsN returns n (a multiple of 200) distinct decisions in force at
// t0; for 100 000: 50 000 IPv4 and 10 000 IPv6 addresses, 5 000 IPv4 /24s
// and 5 000 IPv6 /64s (all block), and 30 000 domains (block and warn).
// Severities cycle 1 to 4.
func decisionsN(n int) []decision.Decision {
	ds := make([]decision.Decision, 0, n)
	add := func(action decision.Action, scope decision.Scope, value string) {
		d := dec(action, scope, value, len(ds)%4+1)
		ds = append(ds, d)
	}
	for i := range n / 2 {
		n := 0x0a000000 + uint32(i)
		add(decision.ActionBlock, decision.ScopeIP, netip.AddrFrom4([4]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}).String())
	}
	for i := range n / 10 {
		add(decision.ActionBlock, decision.ScopeIP, fmt.Sprintf("2001:db8::%x", i+1))
	}
	for i := range n / 20 {
		add(decision.ActionBlock, decision.ScopeRange, fmt.Sprintf("172.%d.%d.0/24", 16+i/256, i%256))
	}
	for i := range n / 20 {
		add(decision.ActionBlock, decision.ScopeRange, fmt.Sprintf("2001:db8:1:%x::/64", i))
	}
	for i := range n * 3 / 10 {
		action := decision.ActionBlock
		if i%3 == 0 {
			action = decision.ActionWarn
		}
		add(action, decision.ScopeDomain, fmt.Sprintf("host-%05d.phish-%02d.example", i, i%97))
	}
	return ds
}

// TestFeeds100k builds the feeds of 100 000 decisions (10 000 under the
// race detector) and checks their size, the time it takes and what the
// default-sized cap keeps.
func TestFeeds100k(t *testing.T) {
	if testing.Short() {
		t.Skip("100 000 decisions")
	}
	n := 100_000
	if raceEnabled {
		n = 10_000
	}
	ds := decisionsN(n)
	severity := map[string]int{}
	wantBytes := [numFeeds]int{}
	for _, d := range ds {
		severity[d.Value] = d.Severity
		if d.Scope == decision.ScopeDomain {
			wantBytes[Domains] += 2*len(d.Value) + 2 + 2  // v\n*.v\n
			wantBytes[URLs] += 2*len(d.Value) + 2 + 2 + 2 // v/\n*.v/\n
		} else {
			wantBytes[IPs] += len(d.Value) + 1
		}
	}
	big := Limits{Domains: 1_000_000, IPs: 1_000_000, URLs: 1_000_000}
	f := newFixture(t, Config{MaxEntries: big}, nil)
	start := time.Now()
	bulkInsert(t, f.db, ds)
	t.Logf("inserted %d decisions in %s", n, time.Since(start).Round(time.Millisecond))

	start = time.Now()
	if _, err := f.h.snapshot(context.Background()); err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	t.Logf("read and built the feeds in %s", took.Round(time.Millisecond))
	if took > 15*time.Second {
		t.Errorf("building the feeds of %d decisions took %s", n, took)
	}
	for _, c := range []struct {
		f       Feed
		entries int
	}{{Domains, n * 6 / 10}, {IPs, n * 7 / 10}, {URLs, n * 6 / 10}} {
		r := f.get(t, "/feeds/"+c.f.File())
		if got := strings.Count(r.Body, "\n"); got != c.entries || r.Header.Get("X-Campusguard-Entries") != fmt.Sprint(c.entries) {
			t.Errorf("%s: %d lines, header %q; want %d", c.f.File(), got, r.Header.Get("X-Campusguard-Entries"), c.entries)
		}
		if len(r.Body) != wantBytes[c.f] {
			t.Errorf("%s: %d bytes, want %d", c.f.File(), len(r.Body), wantBytes[c.f])
		}
		t.Logf("%s: %d entries, %d bytes", c.f.File(), c.entries, len(r.Body))
	}

	// Capped at half the decisions, the least severe are left out.
	capped, err := New(Options{Store: f.store, Now: f.clock.Now,
		Config: Config{AllowAnonymous: true, MaxEntries: Limits{Domains: n / 2, IPs: n / 2, URLs: n / 2}}})
	if err != nil {
		t.Fatal(err)
	}
	f2 := &fixture{srv: newServer(t, capped)}
	r := f2.get(t, "/feeds/ips.txt")
	if r.Header.Get("X-Campusguard-Truncated") != "true" || r.Header.Get("X-Campusguard-Entries") != fmt.Sprint(n/2) ||
		r.Header.Get("X-Campusguard-Omitted") != fmt.Sprint(n/5) {
		t.Errorf("capped ips.txt: %v", r.Header)
	}
	// 0.7n addresses and ranges, 0.175n of each severity: the 0.5n kept
	// are every one of severity 4 and 3 and 0.15n of severity 2.
	var kept [5]int
	prev := 4
	for l := range strings.Lines(r.Body) {
		sev := severity[strings.TrimSuffix(l, "\n")]
		if sev > prev {
			t.Fatalf("ips.txt: %q (severity %d) after an entry of severity %d", l, sev, prev)
		}
		prev = sev
		kept[sev]++
	}
	if want := [5]int{0, 0, n * 15 / 100, n * 175 / 1000, n * 175 / 1000}; kept != want {
		t.Errorf("kept entries by severity %v, want %v", kept, want)
	}
	if r := f2.get(t, "/feeds/domains.txt"); r.Header.Get("X-Campusguard-Entries") != fmt.Sprint(n/2) || r.Header.Get("X-Campusguard-Omitted") != fmt.Sprint(n/10) {
		t.Errorf("capped domains.txt: %v", r.Header)
	}
}

func benchStore(b *testing.B) *Handler {
	s, db := openStore(b)
	bulkInsert(b, db, decisionsN(100_000))
	big := Limits{Domains: 1_000_000, IPs: 1_000_000, URLs: 1_000_000}
	h, err := New(Options{Store: s, Config: Config{AllowAnonymous: true, MaxEntries: big}, Now: func() time.Time { return t0 }})
	if err != nil {
		b.Fatal(err)
	}
	return h
}

// BenchmarkFeed100k is one rebuild of the three feeds from 100 000
// decisions in force: the store read, rendering, deduplication and hashing.
func BenchmarkFeed100k(b *testing.B) {
	h := benchStore(b)
	ctx := context.Background()
	var bytes int
	for b.Loop() {
		h.mu.Lock()
		h.cur = nil // stale
		h.mu.Unlock()
		snap, err := h.snapshot(ctx)
		if err != nil {
			b.Fatal(err)
		}
		bytes = len(snap.feeds[Domains].body) + len(snap.feeds[IPs].body) + len(snap.feeds[URLs].body)
	}
	b.ReportMetric(float64(bytes), "feed-bytes")
}

// BenchmarkBuild100k is the rendering alone, decisions already in memory.
func BenchmarkBuild100k(b *testing.B) {
	ds := decisionsN(100_000)
	for i := range ds {
		ds[i].ID = int64(i + 1)
	}
	cfg := Config{MaxEntries: Limits{Domains: 1_000_000, IPs: 1_000_000, URLs: 1_000_000}}.withDefaults()
	for b.Loop() {
		build(ds, t0, cfg)
	}
}

// BenchmarkPoll100k is one firewall's poll of ips.txt (70 000 entries)
// served from the cache.
func BenchmarkPoll100k(b *testing.B) {
	h := benchStore(b)
	req := httptest.NewRequest(http.MethodGet, "/feeds/ips.txt", nil)
	h.ServeHTTP(httptest.NewRecorder(), req) // build the cache
	for b.Loop() {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			b.Fatal(w.Code)
		}
	}
}
