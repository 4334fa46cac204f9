package web

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/campusguard/campusguard/internal/moderation"
	"github.com/campusguard/campusguard/internal/state"
	"github.com/campusguard/campusguard/internal/testclock"
	"github.com/campusguard/campusguard/matcher"
	"github.com/campusguard/campusguard/rules"
)

const testPassword = "correct horse battery"

var (
	matcherOnce sync.Once
	testMatcher *matcher.Matcher
	matcherErr  error
)

// builtinMatcher is the example packs shipped with the binary, loaded once.
func builtinMatcher(t testing.TB) *matcher.Matcher {
	t.Helper()
	matcherOnce.Do(func() {
		m, rep, err := matcher.New(matcher.Options{Packs: []string{"builtin"}, Builtin: rules.FS, TraditionalToSimplified: true})
		if err == nil {
			err = rep.Err()
		}
		testMatcher, matcherErr = m, err
	})
	if matcherErr != nil {
		t.Fatal(matcherErr)
	}
	return testMatcher
}

// clock is the shared settable test clock.
type clock = testclock.Clock

func newClock() *clock { return testclock.New(time.Now().UTC().Truncate(time.Second)) }

type fixture struct {
	t      *testing.T
	db     *state.DB
	queue  *moderation.Service
	m      *matcher.Matcher
	c      *Console
	srv    *httptest.Server
	clock  *clock
	misses *missRecorder
	reg    *prometheus.Registry
	items  []int64 // queue items of the demo posts, in ingest order
}

// newFixture starts a console on a loopback server with a fresh state
// database, the builtin packs, a real moderation queue with the demo posts
// in it, and users alice (admin), mod (moderator), mod2 (moderator) and
// view (viewer).
func newFixture(t *testing.T, tweak ...func(*Options)) *fixture {
	t.Helper()
	ctx := context.Background()
	f := &fixture{t: t, clock: newClock(), misses: &missRecorder{}, m: builtinMatcher(t), reg: prometheus.NewRegistry()}
	db, err := state.Open(ctx, filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	f.db = db
	for _, u := range []struct {
		name string
		role state.Role
	}{{"alice", state.RoleAdmin}, {"mod", state.RoleModerator}, {"mod2", state.RoleModerator}, {"view", state.RoleViewer}} {
		if _, err := db.AddUser(ctx, u.name, u.role, testPassword); err != nil {
			t.Fatal(err)
		}
	}
	f.queue, err = moderation.New(db, moderation.Options{Rules: f.m.Set, Sensor: "test", Now: f.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.queue.Start(ctx); err != nil {
		t.Fatal(err)
	}
	opts := Options{DB: db, Queue: f.queue, Matcher: f.m, Now: f.clock.Now, Registerer: f.reg, missing: f.misses.record}
	for _, fn := range tweak {
		fn(&opts)
	}
	f.c, err = New(opts)
	if err != nil {
		t.Fatal(err)
	}
	f.srv = httptest.NewServer(f.c.Handler())
	t.Cleanup(func() {
		f.srv.Close()
		f.queue.Stop()
		db.Close()
	})
	f.items = f.ingestDemo()
	return f
}

// demoPosts reads deploy/demo/posts.txt: one post body a line.
func demoPosts(t testing.TB) []moderation.Post {
	t.Helper()
	fh, err := os.Open("../../deploy/demo/posts.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	var posts []moderation.Post
	sc := bufio.NewScanner(fh)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		title := []rune(line)
		if len(title) > 24 {
			title = append(title[:24], '…')
		}
		posts = append(posts, moderation.Post{ID: fmt.Sprintf("p%d", n), Forum: "bbs", Author: fmt.Sprintf("student%d", n%4),
			Title: string(title), Body: line, URL: fmt.Sprintf("https://bbs.example.edu/t/%d", n)})
	}
	return posts
}

func (f *fixture) ingestDemo() []int64 {
	res, err := f.queue.Ingest(context.Background(), demoPosts(f.t), "token:test")
	if err != nil {
		f.t.Fatal(err)
	}
	var items []int64
	for _, r := range res {
		if r.Item != 0 {
			items = append(items, r.Item)
		}
	}
	if len(items) < 4 {
		f.t.Fatalf("only %d demo posts reached the queue", len(items))
	}
	return items
}

// client is a browser-like HTTP client that does not follow redirects.
type client struct {
	t    *testing.T
	f    *fixture
	hc   *http.Client
	csrf string
	lang string
}

func (f *fixture) anon() *client {
	jar, _ := cookiejar.New(nil)
	return &client{t: f.t, f: f, hc: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}}
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// login signs name in through the form and keeps the session's CSRF token.
func (f *fixture) login(name string) *client {
	f.t.Helper()
	c := f.anon()
	resp := c.loginAs(name, testPassword)
	if resp.StatusCode != http.StatusSeeOther {
		f.t.Fatalf("login %s: status %d", name, resp.StatusCode)
	}
	_, body := c.get("/decisions")
	m := csrfField.FindStringSubmatch(body)
	if m == nil {
		f.t.Fatalf("no CSRF token on a page for %s", name)
	}
	c.csrf = m[1]
	return c
}

// loginAs fetches the form (for its double-submit token) and posts it.
func (c *client) loginAs(name, password string) *http.Response {
	c.t.Helper()
	_, body := c.get("/login")
	m := csrfField.FindStringSubmatch(body)
	if m == nil {
		c.t.Fatal("login form without a token")
	}
	return c.postForm("/login", url.Values{"csrf": {m[1]}, "name": {name}, "password": {password}})
}

func (c *client) do(req *http.Request) (*http.Response, string) {
	c.t.Helper()
	if c.lang != "" {
		req.Header.Set("Accept-Language", c.lang)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	return resp, string(b)
}

func (c *client) get(path string) (*http.Response, string) {
	c.t.Helper()
	req, _ := http.NewRequest("GET", c.f.srv.URL+path, nil)
	return c.do(req)
}

func (c *client) postForm(path string, v url.Values) *http.Response {
	c.t.Helper()
	resp, _ := c.postFormBody(path, v)
	return resp
}

func (c *client) postFormBody(path string, v url.Values) (*http.Response, string) {
	c.t.Helper()
	req, _ := http.NewRequest("POST", c.f.srv.URL+path, strings.NewReader(v.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return c.do(req)
}

// api posts JSON with the session's CSRF header (csrf "" leaves it out).
func (c *client) api(path, csrf string, body any) (int, map[string]any) {
	c.t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest("POST", c.f.srv.URL+path, strings.NewReader(string(b)))
	req.Header.Set("Content-Type", "application/json")
	if csrf != "" {
		req.Header.Set("X-CSRF-Token", csrf)
	}
	resp, text := c.do(req)
	var out map[string]any
	if err := json.Unmarshal([]byte(text), &out); err != nil {
		c.t.Fatalf("POST %s: %d, not JSON: %q", path, resp.StatusCode, text)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		c.t.Errorf("POST %s: Content-Type %q", path, ct)
	}
	return resp.StatusCode, out
}

func (f *fixture) item(id int64) moderation.Item {
	f.t.Helper()
	it, err := f.queue.Get(context.Background(), id)
	if err != nil {
		f.t.Fatal(err)
	}
	return it
}

// auditActions lists the audit log's entries as "actor action object".
func (f *fixture) auditActions() []string {
	f.t.Helper()
	log, err := f.db.AuditLog(context.Background(), 10000, 0)
	if err != nil {
		f.t.Fatal(err)
	}
	var out []string
	for i := len(log) - 1; i >= 0; i-- {
		e := log[i]
		out = append(out, e.Actor+" "+e.Action+" "+e.Object)
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func regexpMust(p string) *regexp.Regexp { return regexp.MustCompile(p) }

// healthGatherer reports capture and hit-log metrics as serve's registry
// would, and no DNS ones (no DNS server in that process).
func healthGatherer(t *testing.T) prometheus.Gatherer {
	t.Helper()
	reg := prometheus.NewRegistry()
	packets := prometheus.NewCounter(prometheus.CounterOpts{Name: "campusguard_capture_packets_total", Help: "x"})
	drops := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "campusguard_capture_kernel_drops_total", Help: "x"}, []string{"interface"})
	spool := prometheus.NewGauge(prometheus.GaugeOpts{Name: "campusguard_hitlog_spool_bytes", Help: "x"})
	lag := prometheus.NewGauge(prometheus.GaugeOpts{Name: "campusguard_hitlog_lag_seconds", Help: "x"})
	up := prometheus.NewGauge(prometheus.GaugeOpts{Name: "campusguard_hitlog_store_up", Help: "x"})
	reg.MustRegister(packets, drops, spool, lag, up)
	packets.Add(12345)
	drops.WithLabelValues("eth1").Add(60)
	drops.WithLabelValues("eth2").Add(7)
	spool.Set(1.5 * 1024 * 1024)
	lag.Set(2.5)
	up.Set(1)
	return reg
}
