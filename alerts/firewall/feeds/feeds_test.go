package feeds

import (
	"context"
	"encoding/base64"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/campusguard/campusguard/alerts/decision"
	"github.com/campusguard/campusguard/internal/state"
)

// formatDecisions is a mix of what the feeds list and what they must
// leave out. Ids are the order of insertion.
func formatDecisions(t *testing.T, s *decision.Store) {
	t.Helper()
	const (
		block  = decision.ActionBlock
		warn   = decision.ActionWarn
		notify = decision.ActionNotify
		ip     = decision.ScopeIP
		rng    = decision.ScopeRange
		domain = decision.ScopeDomain
	)
	dry := dec(block, domain, "dry.example", 4)
	dry.DryRun = true
	expired := dec(block, domain, "old.example", 4)
	expired.Created, expired.Expires = t0.Add(-2*time.Hour), t0.Add(-time.Hour)
	manual := dec(block, domain, "Phish.Example.", 1) // a duplicate of 1, once normalized
	manual.Origin, manual.Policy, manual.Actor = decision.OriginManual, "", "alice"
	ds := add(t, s,
		dec(block, domain, "phish.example", 3),             // 1
		dec(warn, domain, "warn.example", 2),               // 2: warn domains are listed
		dec(block, ip, "192.0.2.7", 4),                     // 3
		dec(block, ip, "2001:DB8::7", 3),                   // 4
		dec(block, rng, "198.51.100.9/24", 2),              // 5
		dec(block, rng, "2001:db8:1::/48", 1),              // 6
		dec(warn, ip, "192.0.2.8", 4),                      // 7: a warned client is not blocked
		dec(notify, domain, "notice.example", 4),           // 8: a notify enforces nothing
		dry,                                                // 9: dry runs are never enforced
		dec(block, ip, "192.0.2.9", 4),                     // 10: revoked below
		expired,                                            // 11
		manual,                                             // 12
		dec(block, ip, "192.0.2.7", 2),                     // 13: a duplicate of 3
		dec(block, domain, "校园贷.example", 3),               // 14: punycode
		dec(block, domain, "sub.phish.example", 2),         // 15: exact duplicates only are dropped
		dec(block, rng, "::ffff:10.1.2.3/112", 3),          // 16: 10.1.0.0/16
		dec(block, ip, "2001:db8::7", 1),                   // 17: a duplicate of 4
		dec(warn, domain, "phish.example", 4),              // 18: a warning on a blocked domain: listed once
		dec(block, domain, "xn--fcs331b241a.example", 1),   // 19: a duplicate of 14
		dec(block, rng, "2001:0db8:0001:0000::/48", 2),     // 20: a duplicate of 6
		dec(block, domain, "deep.sub.phish.example", 1),    // 21
		dec(warn, rng, "203.0.113.0/24", 4),                // 22: warned clients are not blocked
		dec(block, ip, "2001:db8:0:0:0:0:0:9", 1),          // 23
		dec(block, domain, "campus-login.example", 3),      // 24
		dec(block, domain, "campus-login.example.test", 3), // 25
	)
	if _, err := s.Revoke(context.Background(), ds[9].ID, "alice", "false positive", t0); err != nil {
		t.Fatal(err)
	}
}

// Most severe first, then newest; exact duplicates where their first
// (most severe) decision puts them.
const (
	goldenDomains = `phish.example
*.phish.example
campus-login.example.test
*.campus-login.example.test
campus-login.example
*.campus-login.example
xn--fcs331b241a.example
*.xn--fcs331b241a.example
sub.phish.example
*.sub.phish.example
warn.example
*.warn.example
deep.sub.phish.example
*.deep.sub.phish.example
`
	goldenIPs = `192.0.2.7
10.1.0.0/16
2001:db8::7
2001:db8:1::/48
198.51.100.0/24
2001:db8::9
`
	goldenURLs = `phish.example/
*.phish.example/
campus-login.example.test/
*.campus-login.example.test/
campus-login.example/
*.campus-login.example/
xn--fcs331b241a.example/
*.xn--fcs331b241a.example/
sub.phish.example/
*.sub.phish.example/
warn.example/
*.warn.example/
deep.sub.phish.example/
*.deep.sub.phish.example/
`
	goldenDomainsExact = `phish.example
campus-login.example.test
campus-login.example
xn--fcs331b241a.example
sub.phish.example
warn.example
deep.sub.phish.example
`
	goldenURLsExact = `phish.example/
campus-login.example.test/
campus-login.example/
xn--fcs331b241a.example/
sub.phish.example/
warn.example/
deep.sub.phish.example/
`
)

func TestFeedFormats(t *testing.T) {
	for _, c := range []struct {
		name    string
		cfg     Config
		domains string
		urls    string
	}{
		{"wildcard by default", Config{}, goldenDomains, goldenURLs},
		{"exact", Config{Subdomains: SubdomainsExact}, goldenDomainsExact, goldenURLsExact},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t, c.cfg, nil)
			formatDecisions(t, f.store)
			for _, g := range []struct{ path, want string }{
				{"/feeds/domains.txt", c.domains},
				{"/feeds/ips.txt", goldenIPs},
				{"/feeds/urls.txt", c.urls},
			} {
				r := f.get(t, g.path)
				if r.Code != http.StatusOK {
					t.Fatalf("GET %s: %d %s", g.path, r.Code, r.Body)
				}
				if diff := cmp.Diff(g.want, r.Body); diff != "" {
					t.Errorf("GET %s (-want +got):\n%s", g.path, diff)
				}
				if ct := r.Header.Get("Content-Type"); ct != "text/plain; charset=utf-8" {
					t.Errorf("GET %s: Content-Type %q", g.path, ct)
				}
				lines := strings.Count(g.want, "\n")
				if got := r.Header.Get("X-Campusguard-Entries"); got != strconv.Itoa(lines) {
					t.Errorf("GET %s: X-Campusguard-Entries %q, want %d", g.path, got, lines)
				}
				if got := r.Header.Get("X-Campusguard-Truncated"); got != "false" {
					t.Errorf("GET %s: X-Campusguard-Truncated %q", g.path, got)
				}
				if got := r.Header.Get("Content-Length"); got != strconv.Itoa(len(g.want)) {
					t.Errorf("GET %s: Content-Length %q, want %d", g.path, got, len(g.want))
				}
				if strings.Contains(r.Body, "#") || strings.Contains(r.Body, "\r") || strings.Contains(r.Body, "\n\n") {
					t.Errorf("GET %s: a comment, CR or empty line in %q", g.path, r.Body)
				}
			}
		})
	}
}

func TestEmptyFeeds(t *testing.T) {
	f := newFixture(t, Config{}, nil)
	for _, p := range []string{"/feeds/domains.txt", "/feeds/ips.txt", "/feeds/urls.txt"} {
		r := f.get(t, p)
		if r.Code != http.StatusOK || r.Body != "" || r.Header.Get("X-Campusguard-Entries") != "0" || r.Header.Get("ETag") == "" {
			t.Errorf("GET %s: %d %q %v", p, r.Code, r.Body, r.Header)
		}
	}
}

// TestBuildCapKeepsPairs checks the cap on the pure builder: a domain and
// its wildcard go in together or not at all, and nothing less severe fills
// the room an entry that did not fit left.
func TestBuildCapKeepsPairs(t *testing.T) {
	ds := []decision.Decision{
		{ID: 1, Action: decision.ActionBlock, Scope: decision.ScopeDomain, Value: "a.example", Severity: 4, Expires: t0.Add(time.Hour)},
		{ID: 2, Action: decision.ActionBlock, Scope: decision.ScopeDomain, Value: "b.example", Severity: 3, Expires: t0.Add(time.Hour)},
		{ID: 3, Action: decision.ActionBlock, Scope: decision.ScopeDomain, Value: "a.example", Severity: 1, Expires: t0.Add(time.Hour)},
		{ID: 4, Action: decision.ActionBlock, Scope: decision.ScopeIP, Value: "192.0.2.1", Severity: 2, Expires: t0.Add(time.Hour)},
		{ID: 5, Action: decision.ActionBlock, Scope: decision.ScopeIP, Value: "192.0.2.2", Severity: 3, Expires: t0.Add(time.Hour)},
		{ID: 6, Action: decision.ActionBlock, Scope: decision.ScopeIP, Value: "192.0.2.3", Severity: 1, Expires: t0.Add(time.Hour)},
		{ID: 7, Action: decision.ActionBlock, Scope: decision.ScopeIP, Value: "bad value\n#", Severity: 4, Expires: t0.Add(time.Hour)},
	}
	cfg := Config{MaxEntries: Limits{Domains: 3, IPs: 1, URLs: 4}}.withDefaults()
	got := build(ds, t0, cfg)
	for _, c := range []struct {
		f                Feed
		body             string
		entries, omitted int
	}{
		{Domains, "a.example\n*.a.example\n", 2, 2},
		{IPs, "192.0.2.2\n", 1, 2},
		{URLs, "a.example/\n*.a.example/\nb.example/\n*.b.example/\n", 4, 0},
	} {
		l := got[c.f]
		if string(l.body) != c.body || l.entries != c.entries || l.omitted != c.omitted {
			t.Errorf("%s: %q, %d entries, %d omitted; want %q, %d, %d", c.f, l.body, l.entries, l.omitted, c.body, c.entries, c.omitted)
		}
	}
}

func TestCapDropsLeastSevere(t *testing.T) {
	f := newFixture(t, Config{MaxEntries: Limits{IPs: 3, Domains: 4}}, nil)
	ip := func(v string, sev int) decision.Decision { return dec(decision.ActionBlock, decision.ScopeIP, v, sev) }
	dom := func(v string, sev int) decision.Decision {
		return dec(decision.ActionBlock, decision.ScopeDomain, v, sev)
	}
	ds := add(t, f.store,
		ip("192.0.2.1", 1), ip("192.0.2.2", 4), ip("192.0.2.3", 2), ip("192.0.2.4", 3), ip("192.0.2.5", 3),
		dom("a.example", 1), dom("b.example", 4), dom("c.example", 2))

	r := f.get(t, "/feeds/ips.txt")
	if want := "192.0.2.2\n192.0.2.5\n192.0.2.4\n"; r.Body != want {
		t.Errorf("capped ips.txt = %q, want %q", r.Body, want)
	}
	if r.Header.Get("X-Campusguard-Truncated") != "true" || r.Header.Get("X-Campusguard-Entries") != "3" || r.Header.Get("X-Campusguard-Omitted") != "2" {
		t.Errorf("capped ips.txt headers: %v", r.Header)
	}
	if want := "b.example\n*.b.example\nc.example\n*.c.example\n"; f.body(t, "/feeds/domains.txt") != want {
		t.Errorf("capped domains.txt, want %q", want)
	}
	for feed, want := range map[string]float64{"ips": 1, "domains": 1, "urls": 0} {
		if got := testutil.ToFloat64(f.h.m.truncated.WithLabelValues(feed)); got != want {
			t.Errorf("campusguard_feed_truncated{feed=%q} = %v, want %v", feed, got, want)
		}
	}
	for feed, want := range map[string]float64{"ips": 3, "domains": 4, "urls": 6} {
		if got := testutil.ToFloat64(f.h.m.entries.WithLabelValues(feed)); got != want {
			t.Errorf("campusguard_feed_entries{feed=%q} = %v, want %v", feed, got, want)
		}
	}
	if got := testutil.ToFloat64(f.h.m.omitted.WithLabelValues("ips")); got != 2 {
		t.Errorf("campusguard_feed_omitted_entries{feed=ips} = %v, want 2", got)
	}

	// A rebuild of a feed still truncated logs nothing new.
	f.clock.Add(time.Minute)
	f.body(t, "/feeds/ips.txt")
	logs := f.logs.String()
	if n := strings.Count(logs, "feed truncated"); n != 2 {
		t.Errorf("%d truncation warnings, want one for ips.txt and one for domains.txt:\n%s", n, logs)
	}
	if !strings.Contains(logs, "feed=ips.txt entries=3 omitted=2 max_entries=3") {
		t.Errorf("the warning does not say which feed and by how much:\n%s", logs)
	}

	// With two blocks revoked the rest fits: no longer truncated.
	for _, d := range ds[1:3] {
		if _, err := f.store.Revoke(context.Background(), d.ID, "alice", "test", f.clock.Now()); err != nil {
			t.Fatal(err)
		}
	}
	f.clock.Add(time.Minute)
	if got, want := f.body(t, "/feeds/ips.txt"), "192.0.2.5\n192.0.2.4\n192.0.2.1\n"; got != want {
		t.Errorf("ips.txt after revocations = %q, want %q", got, want)
	}
	if got := testutil.ToFloat64(f.h.m.truncated.WithLabelValues("ips")); got != 0 {
		t.Errorf("campusguard_feed_truncated{feed=ips} = %v after the revocations, want 0", got)
	}
	if !strings.Contains(f.logs.String(), `msg="feeds: feed no longer truncated" feed=ips.txt`) {
		t.Errorf("no line saying ips.txt is whole again:\n%s", f.logs.String())
	}
}

func TestETagAndNotModified(t *testing.T) {
	f := newFixture(t, Config{}, nil)
	add(t, f.store, dec(decision.ActionBlock, decision.ScopeIP, "192.0.2.1", 3))
	first := f.get(t, "/feeds/ips.txt")
	etag := first.Header.Get("ETag")
	if !strings.HasPrefix(etag, `"`) || len(etag) != 34 {
		t.Fatalf("ETag %q: want a strong tag of 32 hex digits", etag)
	}
	lastMod := first.Header.Get("Last-Modified")
	if want := t0.Format(http.TimeFormat); lastMod != want {
		t.Errorf("Last-Modified %q, want %q", lastMod, want)
	}

	r := f.get(t, "/feeds/ips.txt", "If-None-Match", etag)
	if r.Code != http.StatusNotModified || r.Body != "" {
		t.Errorf("If-None-Match with the current ETag: %d %q, want 304 and no body", r.Code, r.Body)
	}
	if r.Header.Get("ETag") != etag {
		t.Errorf("304 ETag %q, want %q", r.Header.Get("ETag"), etag)
	}
	if r := f.get(t, "/feeds/ips.txt", "If-None-Match", `"other", `+etag); r.Code != http.StatusNotModified {
		t.Errorf("If-None-Match with a list holding the ETag: %d, want 304", r.Code)
	}
	if r := f.get(t, "/feeds/ips.txt", "If-Modified-Since", lastMod); r.Code != http.StatusNotModified {
		t.Errorf("If-Modified-Since the Last-Modified: %d, want 304", r.Code)
	}
	if got := testutil.ToFloat64(f.h.m.requests.WithLabelValues("ips", resultNotModified)); got != 3 {
		t.Errorf("requests_total{result=not_modified} = %v, want 3", got)
	}

	// Rebuilt with the same content: same ETag, same Last-Modified.
	f.clock.Add(time.Minute)
	r = f.get(t, "/feeds/ips.txt")
	if r.Header.Get("ETag") != etag || r.Header.Get("Last-Modified") != lastMod {
		t.Errorf("unchanged feed rebuilt: ETag %q, Last-Modified %q; want %q, %q", r.Header.Get("ETag"), r.Header.Get("Last-Modified"), etag, lastMod)
	}

	// A new decision changes both.
	add(t, f.store, dec(decision.ActionBlock, decision.ScopeIP, "192.0.2.2", 3))
	f.clock.Add(time.Minute)
	r = f.get(t, "/feeds/ips.txt", "If-None-Match", etag)
	if r.Code != http.StatusOK || r.Body != "192.0.2.2\n192.0.2.1\n" {
		t.Errorf("If-None-Match with a stale ETag: %d %q, want 200 and the new list", r.Code, r.Body)
	}
	if r.Header.Get("ETag") == etag {
		t.Error("the ETag did not change with the body")
	}
	if want := t0.Add(2 * time.Minute).Format(http.TimeFormat); r.Header.Get("Last-Modified") != want {
		t.Errorf("Last-Modified %q, want %q", r.Header.Get("Last-Modified"), want)
	}
}

func TestHEAD(t *testing.T) {
	f := newFixture(t, Config{}, nil)
	add(t, f.store, dec(decision.ActionBlock, decision.ScopeDomain, "phish.example", 3))
	get := f.get(t, "/feeds/domains.txt")
	head := f.do(t, http.MethodHead, "/feeds/domains.txt")
	if head.Code != http.StatusOK || head.Body != "" {
		t.Fatalf("HEAD: %d %q", head.Code, head.Body)
	}
	for _, h := range []string{"Content-Length", "ETag", "Content-Type", "X-Campusguard-Entries", "Last-Modified"} {
		if head.Header.Get(h) != get.Header.Get(h) {
			t.Errorf("HEAD %s %q, GET %q", h, head.Header.Get(h), get.Header.Get(h))
		}
	}
	if head.Header.Get("Content-Length") != strconv.Itoa(len(get.Body)) {
		t.Errorf("HEAD Content-Length %q, body %d bytes", head.Header.Get("Content-Length"), len(get.Body))
	}
	if r := f.do(t, http.MethodHead, "/feeds/domains.txt", "If-None-Match", get.Header.Get("ETag")); r.Code != http.StatusNotModified {
		t.Errorf("conditional HEAD: %d, want 304", r.Code)
	}
}

func TestMethodsAndPaths(t *testing.T) {
	f := newFixture(t, Config{}, nil)
	for _, m := range []string{http.MethodPost, http.MethodPut, http.MethodDelete} {
		r := f.do(t, m, "/feeds/ips.txt")
		if r.Code != http.StatusMethodNotAllowed || r.Header.Get("Allow") != "GET, HEAD" || !strings.Contains(r.Body, `"error"`) {
			t.Errorf("%s: %d, Allow %q, %q", m, r.Code, r.Header.Get("Allow"), r.Body)
		}
	}
	for _, p := range []string{"/feeds/", "/feeds/hosts.txt", "/feeds/ips.txt/x", "/feeds/IPS.TXT", "/ips.txt"} {
		if r := f.get(t, p); r.Code != http.StatusNotFound || !strings.Contains(r.Body, `"error"`) {
			t.Errorf("GET %s: %d %q, want 404", p, r.Code, r.Body)
		}
	}
}

func TestAuth(t *testing.T) {
	s, db := openStore(t)
	ctx := context.Background()
	feedsTok, _, err := db.AddToken(ctx, "pa-edge", state.ScopeFeeds)
	if err != nil {
		t.Fatal(err)
	}
	bouncerTok, _, err := db.AddToken(ctx, "bouncer-1", state.ScopeBouncer)
	if err != nil {
		t.Fatal(err)
	}
	revokedTok, _, err := db.AddToken(ctx, "old-fw", state.ScopeFeeds)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.RevokeToken(ctx, "old-fw"); err != nil {
		t.Fatal(err)
	}
	add(t, s, dec(decision.ActionBlock, decision.ScopeIP, "192.0.2.1", 3))

	var mu sync.Mutex
	var callers []string
	auth := TokenAuth(db)
	h, err := New(Options{Store: s, Now: func() time.Time { return t0 }, Auth: func(r *http.Request) (string, error) {
		name, err := auth(r)
		if err == nil {
			mu.Lock()
			callers = append(callers, name)
			mu.Unlock()
		}
		return name, err
	}})
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{store: s, db: db, h: h}
	f.srv = newServer(t, h)
	basic := func(user, pw string) string { return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pw)) }
	for _, c := range []struct {
		name   string
		path   string
		header []string
		ok     bool
	}{
		{"bearer", "/feeds/ips.txt", []string{"Authorization", "Bearer " + feedsTok}, true},
		{"bearer, lower-case scheme", "/feeds/ips.txt", []string{"Authorization", "bearer " + feedsTok}, true},
		{"basic, token as password", "/feeds/ips.txt", []string{"Authorization", basic("paloalto", feedsTok)}, true},
		{"basic, no user name", "/feeds/ips.txt", []string{"Authorization", basic("", feedsTok)}, true},
		{"query parameter", "/feeds/ips.txt?token=" + feedsTok, nil, true},
		{"query parameter among others", "/feeds/ips.txt?v=2&token=" + feedsTok, nil, true},
		{"missing", "/feeds/ips.txt", nil, false},
		{"bouncer token", "/feeds/ips.txt", []string{"Authorization", "Bearer " + bouncerTok}, false},
		{"bouncer token as password", "/feeds/ips.txt", []string{"Authorization", basic("x", bouncerTok)}, false},
		{"bouncer token in the query", "/feeds/ips.txt?token=" + bouncerTok, nil, false},
		{"revoked token", "/feeds/ips.txt", []string{"Authorization", "Bearer " + revokedTok}, false},
		{"wrong token", "/feeds/ips.txt", []string{"Authorization", "Bearer cg_nosuchtoken"}, false},
		{"token as basic user name", "/feeds/ips.txt", []string{"Authorization", basic(feedsTok, "")}, false},
		{"other scheme", "/feeds/ips.txt", []string{"Authorization", "Digest " + feedsTok}, false},
		{"empty bearer", "/feeds/ips.txt", []string{"Authorization", "Bearer "}, false},
		// A bad header is refused, not passed over for a good ?token.
		{"bad header, good query", "/feeds/ips.txt?token=" + feedsTok, []string{"Authorization", "Bearer cg_nosuchtoken"}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := f.get(t, c.path, c.header...)
			if c.ok {
				if r.Code != http.StatusOK || r.Body != "192.0.2.1\n" {
					t.Errorf("%d %q, want 200 and the list", r.Code, r.Body)
				}
				return
			}
			if r.Code != http.StatusUnauthorized || strings.Contains(r.Body, "192.0.2.1") || !strings.Contains(r.Body, `"error"`) {
				t.Errorf("%d %q, want 401 and a JSON error", r.Code, r.Body)
			}
			challenges := r.Header.Values("WWW-Authenticate")
			if len(challenges) != 2 || !strings.HasPrefix(challenges[0], "Bearer ") || !strings.HasPrefix(challenges[1], "Basic ") {
				t.Errorf("WWW-Authenticate %q: want a Bearer and a Basic challenge", challenges)
			}
		})
	}
	mu.Lock()
	defer mu.Unlock()
	if len(callers) == 0 || callers[0] != "token:pa-edge" {
		t.Errorf("callers %q: want token:pa-edge", callers)
	}
	if got := testutil.ToFloat64(h.m.requests.WithLabelValues("ips", resultUnauthorized)); got != 10 {
		t.Errorf("requests_total{result=unauthorized} = %v, want 10", got)
	}
}

func TestNewRefusesOpenFeedsByAccident(t *testing.T) {
	s, _ := openStore(t)
	if _, err := New(Options{Store: s}); err == nil || !strings.Contains(err.Error(), "allow_anonymous") {
		t.Errorf("New without Auth = %v; want an error naming allow_anonymous", err)
	}
	if _, err := New(Options{Store: s, Config: Config{AllowAnonymous: true}}); err != nil {
		t.Errorf("anonymous feeds: %v", err)
	}
	if _, err := New(Options{Config: Config{AllowAnonymous: true}}); err == nil {
		t.Error("New without a store succeeded")
	}
	if _, err := New(Options{Store: s, Config: Config{AllowAnonymous: true, CacheTTL: -time.Second}}); err == nil || !strings.Contains(err.Error(), "cache_ttl") {
		t.Errorf("New with a bad config = %v", err)
	}
}

func TestCacheTTL(t *testing.T) {
	f := newFixture(t, Config{CacheTTL: 10 * time.Second}, nil)
	add(t, f.store, dec(decision.ActionBlock, decision.ScopeIP, "192.0.2.1", 3))
	if got := f.body(t, "/feeds/ips.txt"); got != "192.0.2.1\n" {
		t.Fatalf("ips.txt = %q", got)
	}
	add(t, f.store, dec(decision.ActionBlock, decision.ScopeIP, "192.0.2.2", 3))
	for _, step := range []time.Duration{0, 5 * time.Second, 5*time.Second - time.Millisecond} {
		f.clock.Add(step)
		if got := f.body(t, "/feeds/ips.txt"); got != "192.0.2.1\n" {
			t.Fatalf("%s into the TTL: ips.txt = %q, want the cached list", f.clock.Now().Sub(t0), got)
		}
		// The other feeds come from the same read.
		f.body(t, "/feeds/domains.txt")
	}
	if got := testutil.ToFloat64(f.h.m.builds.WithLabelValues("ok")); got != 1 {
		t.Errorf("%v builds within the TTL, want 1", got)
	}
	f.clock.Add(time.Millisecond)
	if got := f.body(t, "/feeds/ips.txt"); got != "192.0.2.2\n192.0.2.1\n" {
		t.Errorf("after the TTL: ips.txt = %q", got)
	}
	if got := testutil.ToFloat64(f.h.m.builds.WithLabelValues("ok")); got != 2 {
		t.Errorf("%v builds, want 2", got)
	}
	// A clock that goes back does not keep a list from the future.
	f.clock.Add(-time.Hour)
	f.body(t, "/feeds/ips.txt")
	if got := testutil.ToFloat64(f.h.m.builds.WithLabelValues("ok")); got != 3 {
		t.Errorf("%v builds after the clock went back, want 3", got)
	}
}

// TestConcurrentPolls: many firewalls polling at once cost one read.
func TestConcurrentPolls(t *testing.T) {
	f := newFixture(t, Config{}, nil)
	add(t, f.store, dec(decision.ActionBlock, decision.ScopeDomain, "phish.example", 3))
	var wg sync.WaitGroup
	errs := make(chan string, 40)
	for i := range 40 {
		wg.Go(func() {
			p := []string{"/feeds/domains.txt", "/feeds/ips.txt", "/feeds/urls.txt"}[i%3]
			resp, err := f.srv.Client().Get(f.srv.URL + p)
			if err != nil {
				errs <- err.Error()
				return
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				errs <- p + ": " + resp.Status
			}
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	if got := testutil.ToFloat64(f.h.m.builds.WithLabelValues("ok")); got != 1 {
		t.Errorf("%v builds for 40 concurrent polls, want 1", got)
	}
}

func TestStoreUnavailable(t *testing.T) {
	f := newFixture(t, Config{}, nil)
	f.db.Close()
	r := f.get(t, "/feeds/ips.txt")
	if r.Code != http.StatusServiceUnavailable || !strings.Contains(r.Body, `"error"`) || r.Header.Get("Retry-After") == "" {
		t.Errorf("closed store: %d %q %v, want 503 with a JSON error and Retry-After", r.Code, r.Body, r.Header)
	}
	if !strings.Contains(f.logs.String(), "cannot build the feeds") {
		t.Errorf("no error logged:\n%s", f.logs.String())
	}
	if got := testutil.ToFloat64(f.h.m.builds.WithLabelValues("error")); got != 1 {
		t.Errorf("builds_total{result=error} = %v, want 1", got)
	}
}

func TestConfigValidate(t *testing.T) {
	if err := (Config{}).Validate(); err != nil {
		t.Errorf("zero config: %v", err)
	}
	if err := DefaultConfig().Validate(); err != nil {
		t.Errorf("default config: %v", err)
	}
	if got := (Config{}).withDefaults(); got != DefaultConfig() {
		t.Errorf("zero config with defaults %+v, want %+v", got, DefaultConfig())
	}
	for _, c := range []struct {
		cfg  Config
		want string
	}{
		{Config{CacheTTL: -time.Second}, "cache_ttl"},
		{Config{CacheTTL: time.Hour}, "cache_ttl"},
		{Config{Subdomains: "all"}, "subdomains"},
		{Config{MaxEntries: Limits{Domains: -1}}, "max_entries.domains"},
		{Config{MaxEntries: Limits{IPs: -5}}, "max_entries.ips"},
		{Config{MaxEntries: Limits{URLs: MaxMaxEntries + 1}}, "max_entries.urls"},
		{Config{MaxEntries: Limits{Domains: 1}}, "max_entries"},
	} {
		err := c.cfg.Validate()
		if err == nil || !strings.HasPrefix(err.Error(), c.want) {
			t.Errorf("%+v: %v, want an error about %s", c.cfg, err, c.want)
		}
	}
	if err := (Config{Subdomains: SubdomainsExact, MaxEntries: Limits{Domains: 1, URLs: 1, IPs: 1}}).Validate(); err != nil {
		t.Errorf("exact with caps of 1: %v", err)
	}
}

func TestMetricsLint(t *testing.T) {
	f := newFixture(t, Config{}, nil)
	f.body(t, "/feeds/ips.txt")
	problems, err := testutil.GatherAndLint(f.reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("%s: %s", p.Metric, p.Text)
	}
	n, err := testutil.GatherAndCount(f.reg, "campusguard_feed_entries", "campusguard_feed_truncated")
	if err != nil || n != 6 {
		t.Errorf("%d entries/truncated series (%v), want 3 feeds × 2", n, err)
	}
	// A second handler on the same registry is an error, not a panic.
	if _, err := New(Options{Store: f.store, Config: Config{AllowAnonymous: true}, Registerer: f.reg}); err == nil {
		t.Error("a second handler registered the same metrics")
	}
}

// TestServesPreviousFeedsDuringRebuild: while one request rebuilds, the
// others get the previous feeds instead of waiting.
func TestServesPreviousFeedsDuringRebuild(t *testing.T) {
	f := newFixture(t, Config{}, nil)
	add(t, f.store, dec(decision.ActionBlock, decision.ScopeIP, "192.0.2.1", 3))
	f.body(t, "/feeds/ips.txt")
	add(t, f.store, dec(decision.ActionBlock, decision.ScopeIP, "192.0.2.2", 3))
	f.clock.Add(time.Minute)

	underway := make(chan struct{})
	f.h.mu.Lock()
	f.h.building = underway // as if another request were reading the store
	f.h.mu.Unlock()
	if got := f.body(t, "/feeds/ips.txt"); got != "192.0.2.1\n" {
		t.Errorf("during a rebuild: %q, want the previous list", got)
	}
	f.h.mu.Lock()
	f.h.building = nil
	close(underway)
	f.h.mu.Unlock()
	if got := f.body(t, "/feeds/ips.txt"); got != "192.0.2.2\n192.0.2.1\n" {
		t.Errorf("after it: %q, want the new list", got)
	}
}
