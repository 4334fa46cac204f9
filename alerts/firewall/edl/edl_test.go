package edl

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/campusguard/campusguard/alerts/decision"
	"github.com/campusguard/campusguard/internal/state"
)

var t0 = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

type fixture struct {
	t     *testing.T
	db    *state.DB
	store *decision.Store
	now   time.Time
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	db, err := state.Open(context.Background(), ":memory:")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	s, err := decision.Open(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{t: t, db: db, store: s, now: t0.Add(time.Minute)}
}

func (f *fixture) add(action decision.Action, scope decision.Scope, value string, severity int, mutate ...func(*decision.Decision)) decision.Decision {
	f.t.Helper()
	d := decision.Decision{Action: action, Scope: scope, Value: value, Severity: severity, Origin: decision.OriginPolicy,
		Policy: "p", Actor: "system", Reason: "test", Created: t0, Expires: t0.Add(time.Hour)}
	for _, m := range mutate {
		m(&d)
	}
	d, err := f.store.Add(context.Background(), d)
	if err != nil {
		f.t.Fatal(err)
	}
	return d
}

func (f *fixture) handler(opts Options) *Handler {
	f.t.Helper()
	opts.Store = f.store
	opts.Now = func() time.Time { return f.now }
	h, err := New(opts)
	if err != nil {
		f.t.Fatal(err)
	}
	return h
}

func get(t *testing.T, h http.Handler, path string, hdr ...string) *http.Response {
	t.Helper()
	r := httptest.NewRequest(http.MethodGet, path, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Set(hdr[i], hdr[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w.Result()
}

func body(t *testing.T, resp *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestFeedFormats(t *testing.T) {
	f := newFixture(t)
	f.add(decision.ActionBlock, decision.ScopeIP, "10.0.0.5", 2)
	f.add(decision.ActionBlock, decision.ScopeRange, "2001:db8:66::/48", 4)
	f.add(decision.ActionBlock, decision.ScopeDomain, "login-verify.example", 3)
	f.add(decision.ActionWarn, decision.ScopeDomain, "casino.test", 1)
	f.add(decision.ActionWarn, decision.ScopeIP, "10.0.0.6", 3) // a warning is DNS's, not the firewall's
	f.add(decision.ActionBlock, decision.ScopeIP, "10.0.0.7", 3, func(d *decision.Decision) { d.DryRun = true })
	f.add(decision.ActionBlock, decision.ScopeIP, "10.0.0.8", 3, func(d *decision.Decision) { d.Expires = t0.Add(time.Second) })
	f.add(decision.ActionNotify, decision.ScopeDomain, "notice.test", 3, func(d *decision.Decision) { d.Expires = time.Time{} })
	revoked := f.add(decision.ActionBlock, decision.ScopeIP, "10.0.0.9", 3)
	if _, err := f.store.Revoke(context.Background(), revoked.ID, "alice", "false positive", t0.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	f.add(decision.ActionBlock, decision.ScopeIP, "10.0.0.5", 1) // the same address twice: listed once

	h := f.handler(Options{})
	for path, want := range map[string]string{
		"/feeds/ips.txt":     "2001:db8:66::/48\n10.0.0.5\n",
		"/feeds/domains.txt": "login-verify.example\n*.login-verify.example\ncasino.test\n*.casino.test\n",
		"/feeds/urls.txt":    "login-verify.example/\n*.login-verify.example/\ncasino.test/\n*.casino.test/\n",
	} {
		resp := get(t, h, path)
		if got := body(t, resp); resp.StatusCode != 200 || got != want {
			t.Errorf("%s: %d\n%q\nwant\n%q", path, resp.StatusCode, got, want)
		}
		if ct := resp.Header.Get("Content-Type"); ct != "text/plain; charset=utf-8" {
			t.Errorf("%s: Content-Type %q", path, ct)
		}
	}
	plain := f.handler(Options{NoWildcards: true})
	if got := body(t, get(t, plain, "/feeds/domains.txt")); got != "login-verify.example\ncasino.test\n" {
		t.Errorf("without wildcards: %q", got)
	}
	for _, path := range []string{"/feeds/other.txt", "/feeds/ips", "/feeds/"} {
		if resp := get(t, h, path); resp.StatusCode != 404 {
			t.Errorf("%s: %d, want 404", path, resp.StatusCode)
		}
	}
	r := httptest.NewRequest(http.MethodPost, "/feeds/ips.txt", nil)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != 405 || w.Header().Get("Allow") != "GET, HEAD" {
		t.Errorf("POST: %d Allow %q", w.Code, w.Header().Get("Allow"))
	}
}

func TestETagHeadAndCache(t *testing.T) {
	f := newFixture(t)
	f.add(decision.ActionBlock, decision.ScopeIP, "10.0.0.5", 2)
	h := f.handler(Options{CacheTTL: 10 * time.Second})
	first := get(t, h, "/feeds/ips.txt")
	etag := first.Header.Get("ETag")
	if etag == "" || first.Header.Get("X-Campusguard-Entries") != "1" {
		t.Fatalf("headers %v", first.Header)
	}
	if resp := get(t, h, "/feeds/ips.txt", "If-None-Match", `W/"nope", `+etag); resp.StatusCode != 304 || body(t, resp) != "" {
		t.Fatalf("If-None-Match with the ETag: %d", resp.StatusCode)
	}
	r := httptest.NewRequest(http.MethodHead, "/feeds/ips.txt", nil)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != 200 || w.Body.Len() != 0 || w.Header().Get("Content-Length") != "9" {
		t.Fatalf("HEAD: %d, %d bytes, Content-Length %q", w.Code, w.Body.Len(), w.Header().Get("Content-Length"))
	}
	// A new decision shows after the cache's TTL, with a new ETag.
	f.add(decision.ActionBlock, decision.ScopeIP, "10.0.0.6", 2)
	if got := body(t, get(t, h, "/feeds/ips.txt")); got != "10.0.0.5\n" {
		t.Fatalf("within the TTL: %q", got)
	}
	f.now = f.now.Add(10 * time.Second)
	resp := get(t, h, "/feeds/ips.txt", "If-None-Match", etag)
	if resp.StatusCode != 200 || resp.Header.Get("ETag") == etag || !strings.Contains(body(t, resp), "10.0.0.6") {
		t.Fatalf("after the TTL: %d, ETag %s", resp.StatusCode, resp.Header.Get("ETag"))
	}
}

func TestCapKeepsTheMostSevere(t *testing.T) {
	f := newFixture(t)
	for i := range 5 {
		f.add(decision.ActionBlock, decision.ScopeIP, fmt.Sprintf("10.0.0.%d", i+1), 1+i%4)
	}
	reg := prometheus.NewRegistry()
	h := f.handler(Options{Caps: map[string]int{FeedIPs: 2}, Registerer: reg})
	resp := get(t, h, "/feeds/ips.txt")
	if got := body(t, resp); got != "10.0.0.4\n10.0.0.3\n" || resp.Header.Get("X-Campusguard-Truncated") != "true" {
		t.Fatalf("capped feed: %q, truncated %s", got, resp.Header.Get("X-Campusguard-Truncated"))
	}
	if v := testutil.ToFloat64(h.metrics.truncated.WithLabelValues(FeedIPs)); v != 1 {
		t.Errorf("campusguard_feed_truncated{feed=ips} = %v", v)
	}
	if v := testutil.ToFloat64(h.metrics.entries.WithLabelValues(FeedIPs)); v != 2 {
		t.Errorf("campusguard_feed_entries{feed=ips} = %v", v)
	}
	if problems, err := testutil.GatherAndLint(reg); err != nil || len(problems) > 0 {
		t.Errorf("metric lint: %v %v", problems, err)
	}
	if _, err := New(Options{Store: f.store, Caps: map[string]int{"hashes": 5}}); err == nil {
		t.Error("a cap for an unknown feed was accepted")
	}
}

func TestAuth(t *testing.T) {
	f := newFixture(t)
	f.add(decision.ActionBlock, decision.ScopeIP, "10.0.0.5", 2)
	secret, _, err := f.db.AddToken(context.Background(), "paloalto", state.ScopeFeeds)
	if err != nil {
		t.Fatal(err)
	}
	bouncer, _, _ := f.db.AddToken(context.Background(), "fw", state.ScopeBouncer)
	check := func(ctx context.Context, s string) (string, error) {
		tok, err := f.db.CheckToken(ctx, s, state.ScopeFeeds)
		return tok.Name, err
	}
	h := f.handler(Options{CheckToken: check})
	basic := func(pw string) string {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.SetBasicAuth("paloalto", pw)
		return r.Header.Get("Authorization")
	}
	for _, c := range []struct {
		name, path, header, value string
		code                      int
	}{
		{"bearer", "/feeds/ips.txt", "Authorization", "Bearer " + secret, 200},
		{"basic", "/feeds/ips.txt", "Authorization", basic(secret), 200},
		{"query", "/feeds/ips.txt?token=" + secret, "", "", 200},
		{"none", "/feeds/ips.txt", "", "", 401},
		{"wrong", "/feeds/ips.txt", "Authorization", "Bearer cg_nope", 401},
		{"other scope", "/feeds/ips.txt", "Authorization", "Bearer " + bouncer, 401},
	} {
		resp := get(t, h, c.path, c.header, c.value)
		if resp.StatusCode != c.code {
			t.Errorf("%s: %d, want %d", c.name, resp.StatusCode, c.code)
		}
		if c.code == 401 && resp.Header.Get("WWW-Authenticate") == "" {
			t.Errorf("%s: 401 without WWW-Authenticate", c.name)
		}
	}
}

// insertMany writes n block decisions straight into the store's table in
// one transaction (Store.Add audits each one, which is not what is being
// measured).
func insertMany(tb testing.TB, db *state.DB, n int) {
	tb.Helper()
	err := db.Tx(context.Background(), func(tx *sql.Tx) error {
		stmt, err := tx.Prepare(`INSERT INTO decisions (action, scope, value, category, severity, origin, policy, actor,
			reason, strike, dry_run, hits, created, expires) VALUES ('block', ?, ?, 'phishing', ?, 'policy', 'p', 'system', 'bulk', 1, 0, '[]', ?, ?)`)
		if err != nil {
			return err
		}
		defer stmt.Close()
		for i := range n {
			scope, value := "ip", fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255)
			if i%10 == 0 {
				scope, value = "domain", fmt.Sprintf("host-%d.phish.test", i)
			}
			if _, err := stmt.Exec(scope, value, 1+i%4, t0.UnixMilli(), t0.Add(time.Hour).UnixMilli()); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
}

func TestLargeFeed(t *testing.T) {
	f := newFixture(t)
	insertMany(t, f.db, 100_000)
	h := f.handler(Options{Caps: map[string]int{FeedIPs: 150_000, FeedDomains: 150_000}})
	start := time.Now()
	resp := get(t, h, "/feeds/ips.txt")
	took := time.Since(start)
	got := body(t, resp)
	if n := strings.Count(got, "\n"); n != 90_000 || resp.Header.Get("X-Campusguard-Truncated") != "false" {
		t.Fatalf("ips.txt has %d lines, want 90000", n)
	}
	if n := strings.Count(body(t, get(t, h, "/feeds/domains.txt")), "\n"); n != 20_000 {
		t.Fatalf("domains.txt has %d lines, want 20000 (10000 domains and their wildcards)", n)
	}
	t.Logf("100k decisions: ips.txt %d bytes built in %v", len(got), took.Round(time.Millisecond))
}

func BenchmarkFeed100k(b *testing.B) {
	db, err := state.Open(context.Background(), ":memory:")
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	store, err := decision.Open(context.Background(), db)
	if err != nil {
		b.Fatal(err)
	}
	insertMany(b, db, 100_000)
	now := t0.Add(time.Minute)
	h, err := New(Options{Store: store, Now: func() time.Time { return now }, Caps: map[string]int{FeedIPs: 150_000}})
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for range b.N {
		now = now.Add(time.Minute) // past the cache: every iteration rebuilds
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/feeds/ips.txt", nil))
		if w.Code != 200 {
			b.Fatal(w.Code)
		}
	}
}
