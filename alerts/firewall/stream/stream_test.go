package stream

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/campusguard/campusguard/alerts/decision"
	"github.com/campusguard/campusguard/internal/state"
)

// streamDecisions are three decisions a bouncer is sent and four it is
// not (ids 4 to 7).
func streamDecisions(t *testing.T, f *fixture) []decision.Decision {
	manual := block(decision.ScopeRange, "198.51.100.7/24", 2*time.Hour)
	manual.Origin, manual.Policy, manual.Actor = decision.OriginManual, "", "alice"
	brute := block(decision.ScopeIP, "2001:DB8::1", 30*time.Minute)
	brute.Policy = "ssh-brute-force"
	warn := block(decision.ScopeIP, "192.0.2.9", time.Hour)
	warn.Action = decision.ActionWarn
	notify := block(decision.ScopeIP, "192.0.2.10", time.Hour)
	notify.Action = decision.ActionNotify
	dry := block(decision.ScopeIP, "192.0.2.11", time.Hour)
	dry.DryRun = true
	return f.add(t,
		block(decision.ScopeIP, "192.0.2.1", 4*time.Hour), // 1
		manual, // 2
		brute,  // 3
		block(decision.ScopeDomain, "phish.example", time.Hour), // 4: not asked for
		warn,   // 5: warnings are not sent by default
		notify, // 6
		dry,    // 7
	)
}

const goldenStartup = `{"new":[` +
	`{"duration":"3h59m50s","id":1,"origin":"policy","scenario":"phish","scope":"Ip","type":"ban","until":"2026-11-26T16:00:00Z","value":"192.0.2.1"},` +
	`{"duration":"1h59m50s","id":2,"origin":"manual","scenario":"manual","scope":"Range","type":"ban","until":"2026-11-26T14:00:00Z","value":"198.51.100.0/24"},` +
	`{"duration":"29m50s","id":3,"origin":"policy","scenario":"ssh-brute-force","scope":"Ip","type":"ban","until":"2026-11-26T12:30:00Z","value":"2001:db8::1"}` +
	`],"deleted":null}` + "\n"

func TestStartupThenChanges(t *testing.T) {
	f := newFixture(t, Config{}, "fw-1")
	ds := streamDecisions(t, f)
	f.clock.Add(10 * time.Second)
	if diff := cmp.Diff(goldenStartup, f.raw(t, "fw-1", "?startup=true")); diff != "" {
		t.Errorf("startup (-want +got):\n%s", diff)
	}
	// Nothing changed: both lists null, as CrowdSec.
	if got := f.raw(t, "fw-1", "?startup=false"); got != `{"new":null,"deleted":null}`+"\n" {
		t.Errorf("no changes: %s", got)
	}
	if got := f.raw(t, "fw-1", ""); got != `{"new":null,"deleted":null}`+"\n" {
		t.Errorf("no changes, no startup parameter: %s", got)
	}

	// A new block, a revocation and an expiry.
	f.clock.Add(time.Minute)
	nd := block(decision.ScopeIP, "192.0.2.2", time.Hour)
	nd.Created = f.clock.Now()
	added := f.add(t, nd)[0]
	f.revoke(t, ds[0].ID)
	revokedAt := f.clock.Now()
	f.clock.Add(30 * time.Minute) // 2001:db8::1 expired at t0+30m
	got := f.pull(t, "fw-1", "")
	if diff := cmp.Diff([]string{"192.0.2.2"}, values(got.New)); diff != "" {
		t.Errorf("new (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"192.0.2.1", "2001:db8::1"}, values(got.Deleted)); diff != "" {
		t.Errorf("deleted (-want +got):\n%s", diff)
	}
	if got.New[0].ID != added.ID || got.New[0].Duration != "28m50s" {
		t.Errorf("new decision %+v: want id %d, 28m50s left", got.New[0], added.ID)
	}
	// A deleted decision's duration is how long ago it ended, negative,
	// as CrowdSec's for an expired decision.
	if d := got.Deleted[0]; d.Duration != "-30m0s" || d.Until != revokedAt.Format(time.RFC3339) {
		t.Errorf("revoked decision %+v: want -30m0s, until %s", d, revokedAt.Format(time.RFC3339))
	}
	if d := got.Deleted[1]; d.Duration != "-1m10s" || d.Until != "2026-11-26T12:30:00Z" {
		t.Errorf("expired decision %+v: want -1m10s, until its expiry", d)
	}
	if got := f.raw(t, "fw-1", ""); got != `{"new":null,"deleted":null}`+"\n" {
		t.Errorf("changes sent twice: %s", got)
	}

	// A restarted bouncer gets what is in force, with less time left.
	got = f.pull(t, "fw-1", "?startup=true")
	if diff := cmp.Diff([]string{"198.51.100.0/24", "192.0.2.2"}, values(got.New)); diff != "" || got.Deleted != nil {
		t.Errorf("startup after changes: new %v (-want +got):\n%s deleted %v", values(got.New), diff, got.Deleted)
	}
	if d, err := time.ParseDuration(got.New[0].Duration); err != nil || d != 2*time.Hour-10*time.Second-31*time.Minute {
		t.Errorf("198.51.100.0/24 has %s (%v) left", got.New[0].Duration, err)
	}
}

func TestDurationDecreases(t *testing.T) {
	f := newFixture(t, Config{}, "fw-1")
	f.add(t, block(decision.ScopeIP, "192.0.2.1", 4*time.Hour))
	prev := 5 * time.Hour
	for _, step := range []time.Duration{0, time.Second, 1500 * time.Millisecond, time.Hour} {
		f.clock.Add(step)
		got := f.pull(t, "fw-1", "?startup=true")
		d, err := time.ParseDuration(got.New[0].Duration)
		if err != nil {
			t.Fatal(err)
		}
		if want := t0.Add(4 * time.Hour).Sub(f.clock.Now()).Round(time.Second); d != want {
			t.Errorf("at %s: duration %s, want %s", f.clock.Now().Sub(t0), d, want)
		}
		if step > 0 && d >= prev {
			t.Errorf("at %s: duration %s, not less than %s", f.clock.Now().Sub(t0), d, prev)
		}
		prev = d
	}
}

func TestBouncersAreIndependent(t *testing.T) {
	f := newFixture(t, Config{}, "fw-a", "fw-b")
	f.add(t, block(decision.ScopeIP, "192.0.2.1", time.Hour))
	if got := values(f.pull(t, "fw-a", "?startup=true").New); !cmp.Equal(got, []string{"192.0.2.1"}) {
		t.Fatalf("fw-a startup: %v", got)
	}
	f.add(t, block(decision.ScopeIP, "192.0.2.2", time.Hour))
	if got := values(f.pull(t, "fw-a", "").New); !cmp.Equal(got, []string{"192.0.2.2"}) {
		t.Errorf("fw-a: %v, want the new block", got)
	}
	// fw-b has never pulled: a first pull is a startup.
	if got := values(f.pull(t, "fw-b", "").New); !cmp.Equal(got, []string{"192.0.2.1", "192.0.2.2"}) {
		t.Errorf("fw-b's first pull: %v, want everything in force", got)
	}
	for _, b := range []string{"fw-a", "fw-b"} {
		if got := f.raw(t, b, ""); got != `{"new":null,"deleted":null}`+"\n" {
			t.Errorf("%s: %s, want nothing", b, got)
		}
	}
}

// TestOverlappingDecisions: a bouncer holds an address once, under the
// decision that lasts longest, and is never told to delete an address
// another decision still blocks.
func TestOverlappingDecisions(t *testing.T) {
	f := newFixture(t, Config{}, "fw-1")
	ds := f.add(t,
		block(decision.ScopeIP, "192.0.2.1", time.Hour),
		block(decision.ScopeIP, "192.0.2.1", 4*time.Hour),
		block(decision.ScopeIP, "192.0.2.1", 2*time.Hour),
	)
	got := f.pull(t, "fw-1", "?startup=true")
	if len(got.New) != 1 || got.New[0].ID != ds[1].ID || got.New[0].Duration != "4h0m0s" {
		t.Fatalf("startup: %+v, want only the 4h decision", got.New)
	}

	// Lifting the longest: the bouncer keeps the address, now for 2h.
	f.clock.Add(time.Minute)
	f.revoke(t, ds[1].ID)
	got = f.pull(t, "fw-1", "")
	if len(got.New) != 1 || got.New[0].ID != ds[2].ID || got.New[0].Duration != "1h59m0s" || got.Deleted != nil {
		t.Errorf("after revoking the 4h block: %+v, want the 2h block again and nothing deleted", got)
	}

	// A new, shorter block does not shorten it.
	f.add(t, block(decision.ScopeIP, "192.0.2.1", 30*time.Minute))
	got = f.pull(t, "fw-1", "")
	if len(got.New) != 1 || got.New[0].ID != ds[2].ID || got.Deleted != nil {
		t.Errorf("after a shorter block: %+v, want the 2h block", got)
	}

	// The 30m and 1h blocks expire under the 2h one: nothing to do but
	// resend it.
	f.clock.Add(time.Hour)
	got = f.pull(t, "fw-1", "")
	if len(got.New) != 1 || got.New[0].ID != ds[2].ID || got.Deleted != nil {
		t.Errorf("after shorter blocks expired: %+v", got)
	}
	// The last one expires: now the address goes.
	f.clock.Add(time.Hour)
	got = f.pull(t, "fw-1", "")
	if got.New != nil || len(got.Deleted) != 1 || got.Deleted[0].ID != ds[2].ID || got.Deleted[0].Value != "192.0.2.1" {
		t.Errorf("after the last block expired: %+v, want 192.0.2.1 deleted once", got)
	}
}

// TestManySubjects takes the path that reads every decision in force
// rather than one subject at a time.
func TestManySubjects(t *testing.T) {
	f := newFixture(t, Config{}, "fw-1")
	n := perKeyLookups + 6
	var longer []decision.Decision
	for i := range n {
		v := fmt.Sprintf("10.0.0.%d", i+1)
		ds := f.add(t, block(decision.ScopeIP, v, time.Hour), block(decision.ScopeIP, v, 2*time.Hour))
		longer = append(longer, ds[1])
	}
	f.add(t, block(decision.ScopeIP, "192.0.2.1", time.Hour))
	if got := f.pull(t, "fw-1", "?startup=true"); len(got.New) != n+1 {
		t.Fatalf("startup: %d decisions, want %d", len(got.New), n+1)
	}
	for _, d := range longer {
		f.revoke(t, d.ID)
	}
	gone := f.add(t, block(decision.ScopeIP, "192.0.2.2", time.Hour))[0]
	f.revoke(t, gone.ID)
	got := f.pull(t, "fw-1", "")
	if len(got.New) != n {
		t.Errorf("%d new, want the %d shorter blocks again", len(got.New), n)
	}
	for _, d := range got.New {
		if d.Duration != "1h0m0s" {
			t.Errorf("%s: %s left, want the 1h block", d.Value, d.Duration)
			break
		}
	}
	// 192.0.2.2 came and went between two pulls: the bouncer never had
	// it and hears nothing of it.
	if got.Deleted != nil {
		t.Errorf("deleted %v, want nothing", values(got.Deleted))
	}
}

func TestFilters(t *testing.T) {
	f := newFixture(t, Config{WarnType: "captcha"}, "fw-1")
	manual := block(decision.ScopeIP, "192.0.2.2", time.Hour)
	manual.Origin, manual.Policy, manual.Actor = decision.OriginManual, "", "alice"
	brute := block(decision.ScopeRange, "198.51.100.0/24", time.Hour)
	brute.Policy = "SSH-Brute-Force"
	warn := block(decision.ScopeIP, "192.0.2.1", time.Hour)
	warn.Action = decision.ActionWarn
	f.add(t,
		block(decision.ScopeIP, "192.0.2.1", time.Hour),
		manual, brute, warn,
		block(decision.ScopeDomain, "phish.example", time.Hour),
	)
	for _, c := range []struct {
		query string
		want  []string
	}{
		{"", []string{"192.0.2.1", "192.0.2.2", "198.51.100.0/24", "captcha:192.0.2.1"}},
		{"&scopes=ip", []string{"192.0.2.1", "192.0.2.2", "captcha:192.0.2.1"}},
		{"&scopes=Range", []string{"198.51.100.0/24"}},
		{"&scopes=domain", []string{"phish.example"}},
		{"&scope=ip,range,domain", []string{"192.0.2.1", "192.0.2.2", "198.51.100.0/24", "captcha:192.0.2.1", "phish.example"}},
		{"&scopes=country", nil},
		{"&scopes=", []string{"192.0.2.1", "192.0.2.2", "198.51.100.0/24", "captcha:192.0.2.1"}},
		{"&origins=manual", []string{"192.0.2.2"}},
		{"&origins=policy,cscli", []string{"192.0.2.1", "198.51.100.0/24", "captcha:192.0.2.1"}},
		{"&origins=crowdsec", nil},
		{"&scenarios_containing=brute", []string{"198.51.100.0/24"}},
		{"&scenarios_containing=BRUTE,manual", []string{"192.0.2.2", "198.51.100.0/24"}},
		{"&scenarios_not_containing=phish", []string{"192.0.2.2", "198.51.100.0/24"}},
		{"&scopes=ip&origins=policy&scenarios_not_containing=manual", []string{"192.0.2.1", "captcha:192.0.2.1"}},
	} {
		got := f.pull(t, "fw-1", "?startup=true"+c.query)
		if diff := cmp.Diff(c.want, values(got.New)); diff != "" {
			t.Errorf("%q (-want +got):\n%s", c.query, diff)
		}
	}

	// Filters apply to deletions too.
	f.pull(t, "fw-1", "?startup=true&scopes=ip,range")
	f.clock.Add(2 * time.Hour)
	if got := f.pull(t, "fw-1", "?scopes=range"); !cmp.Equal(values(got.Deleted), []string{"198.51.100.0/24"}) || got.New != nil {
		t.Errorf("expired, scopes=range: %+v", got)
	}
}

func TestWarnType(t *testing.T) {
	warn := block(decision.ScopeIP, "192.0.2.1", time.Hour)
	warn.Action = decision.ActionWarn
	for _, c := range []struct {
		cfg  Config
		want []string
	}{
		{Config{}, nil},
		{Config{WarnType: "captcha"}, []string{"captcha:192.0.2.1"}},
	} {
		f := newFixture(t, c.cfg, "fw-1")
		f.add(t, warn)
		if got := values(f.pull(t, "fw-1", "?startup=true").New); !cmp.Equal(got, c.want) {
			t.Errorf("warn_type %q: %v, want %v", c.cfg.WarnType, got, c.want)
		}
	}
}

// crowdsecDecision is models.Decision of crowdsecurity/crowdsec
// (pkg/models/decision.go) as of 2026: required fields are pointers.
type crowdsecDecision struct {
	Duration  *string `json:"duration"`
	ID        int64   `json:"id,omitempty"`
	Origin    *string `json:"origin"`
	Scenario  *string `json:"scenario"`
	Scope     *string `json:"scope"`
	Simulated *bool   `json:"simulated,omitempty"`
	Type      *string `json:"type"`
	Until     string  `json:"until,omitempty"`
	UUID      string  `json:"uuid,omitempty"`
	Value     *string `json:"value"`
}

// TestCrowdSecModel reads the stream the way a bouncer built on CrowdSec's
// models does: no field it does not know, every required field present, a
// duration time.ParseDuration reads.
func TestCrowdSecModel(t *testing.T) {
	f := newFixture(t, Config{}, "fw-1")
	ds := streamDecisions(t, f)
	f.pull(t, "fw-1", "?startup=true")
	f.revoke(t, ds[0].ID)
	f.add(t, block(decision.ScopeIP, "192.0.2.3", time.Hour))
	for _, q := range []string{"", "?startup=true"} {
		dec := json.NewDecoder(bytes.NewReader([]byte(f.raw(t, "fw-1", q))))
		dec.DisallowUnknownFields()
		var resp struct {
			New     []*crowdsecDecision `json:"new"`
			Deleted []*crowdsecDecision `json:"deleted"`
		}
		if err := dec.Decode(&resp); err != nil {
			t.Fatalf("%q: %v", q, err)
		}
		if len(resp.New) == 0 {
			t.Fatalf("%q: nothing new", q)
		}
		for _, d := range append(resp.New, resp.Deleted...) {
			if d.Duration == nil || d.Origin == nil || d.Scenario == nil || d.Scope == nil || d.Type == nil || d.Value == nil || d.ID == 0 {
				t.Fatalf("%q: a required field is missing: %+v", q, d)
			}
			if _, err := time.ParseDuration(*d.Duration); err != nil {
				t.Errorf("%q: duration %q: %v", q, *d.Duration, err)
			}
			if _, err := time.Parse(time.RFC3339, d.Until); err != nil {
				t.Errorf("%q: until %q: %v", q, d.Until, err)
			}
		}
	}
}

func TestAuth(t *testing.T) {
	f := newFixture(t, Config{}, "fw-1")
	ctx := context.Background()
	feedsTok, _, err := f.db.AddToken(ctx, "pa-edge", state.ScopeFeeds)
	if err != nil {
		t.Fatal(err)
	}
	gone, _, err := f.db.AddToken(ctx, "gone", state.ScopeBouncer)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.db.RevokeToken(ctx, "gone"); err != nil {
		t.Fatal(err)
	}
	f.add(t, block(decision.ScopeIP, "192.0.2.1", time.Hour))
	tok := f.tokens["fw-1"]
	for _, c := range []struct {
		name   string
		target string
		header []string
		ok     bool
	}{
		{"X-Api-Key", Path + "?startup=true", []string{"X-Api-Key", tok}, true},
		{"bearer", Path + "?startup=true", []string{"Authorization", "Bearer " + tok}, true},
		{"missing", Path, nil, false},
		{"feeds token", Path, []string{"X-Api-Key", feedsTok}, false},
		{"revoked token", Path, []string{"X-Api-Key", gone}, false},
		{"wrong key", Path, []string{"X-Api-Key", "cg_wrong"}, false},
		{"basic", Path, []string{"Authorization", "Basic Zm9vOmJhcg=="}, false},
		{"query token", Path + "?token=" + tok, nil, false},
	} {
		r := f.do(t, http.MethodGet, c.target, c.header...)
		if c.ok {
			if r.Code != http.StatusOK || !strings.Contains(r.Body, "192.0.2.1") {
				t.Errorf("%s: %d %s", c.name, r.Code, r.Body)
			}
			continue
		}
		if r.Code != http.StatusUnauthorized || r.Header.Get("WWW-Authenticate") == "" || strings.Contains(r.Body, "192.0.2.1") {
			t.Errorf("%s: %d %q %v, want 401 with WWW-Authenticate", c.name, r.Code, r.Body, r.Header)
		}
		var e struct{ Error, Message string }
		if err := json.Unmarshal([]byte(r.Body), &e); err != nil || e.Error == "" || e.Message != e.Error {
			t.Errorf("%s: error body %q: want error and message", c.name, r.Body)
		}
	}
}

func TestHEADLeavesTheCursor(t *testing.T) {
	f := newFixture(t, Config{}, "fw-1")
	f.pull(t, "fw-1", "?startup=true")
	f.add(t, block(decision.ScopeIP, "192.0.2.1", time.Hour))
	r := f.do(t, http.MethodHead, Path, "X-Api-Key", f.tokens["fw-1"])
	if r.Code != http.StatusOK || r.Body != "" {
		t.Errorf("HEAD: %d %q", r.Code, r.Body)
	}
	if r := f.do(t, http.MethodHead, Path); r.Code != http.StatusUnauthorized {
		t.Errorf("HEAD without a key: %d", r.Code)
	}
	if got := values(f.pull(t, "fw-1", "").New); !cmp.Equal(got, []string{"192.0.2.1"}) {
		t.Errorf("after HEAD: %v, want the block HEAD must not have consumed", got)
	}
}

func TestBadRequests(t *testing.T) {
	f := newFixture(t, Config{}, "fw-1")
	key := []string{"X-Api-Key", f.tokens["fw-1"]}
	r := f.do(t, http.MethodPost, Path, key...)
	if r.Code != http.StatusMethodNotAllowed || r.Header.Get("Allow") != "GET, HEAD" {
		t.Errorf("POST: %d, Allow %q", r.Code, r.Header.Get("Allow"))
	}
	if r := f.do(t, http.MethodGet, Path+"/x", key...); r.Code != http.StatusNotFound {
		t.Errorf("GET %s/x: %d", Path, r.Code)
	}
	var items []string
	for i := range maxItems + 1 {
		items = append(items, fmt.Sprint("s", i))
	}
	many := strings.Join(items, ",")
	if r := f.do(t, http.MethodGet, Path+"?scopes="+many, key...); r.Code != http.StatusBadRequest || !strings.Contains(r.Body, "scopes") {
		t.Errorf("33 scopes: %d %s", r.Code, r.Body)
	}
}

func TestNew(t *testing.T) {
	f := newFixture(t, Config{}, "fw-1")
	auth := func(*http.Request) (string, error) { return "x", nil }
	for name, opts := range map[string]Options{
		"no store":        {Auth: auth},
		"no auth":         {Store: f.store},
		"bad warn type":   {Store: f.store, Auth: auth, Config: Config{WarnType: BanType}},
		"same registry":   {Store: f.store, Auth: auth, Registerer: f.reg},
		"upper-case type": {Store: f.store, Auth: auth, Config: Config{WarnType: "Captcha"}},
	} {
		if _, err := New(opts); err == nil {
			t.Errorf("%s: New succeeded", name)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	for _, c := range []struct {
		typ string
		ok  bool
	}{{"", true}, {"captcha", true}, {"throttle_1", true}, {"ban", false}, {"Captcha", false}, {"a b", false}, {strings.Repeat("x", 33), false}} {
		err := Config{WarnType: c.typ}.Validate()
		if (err == nil) != c.ok || err != nil && !strings.HasPrefix(err.Error(), "warn_type") {
			t.Errorf("warn_type %q: %v", c.typ, err)
		}
	}
	if err := DefaultConfig().Validate(); err != nil {
		t.Error(err)
	}
}

func TestMetrics(t *testing.T) {
	f := newFixture(t, Config{}, "fw-1")
	ds := f.add(t, block(decision.ScopeIP, "192.0.2.1", time.Hour), block(decision.ScopeIP, "192.0.2.2", time.Hour))
	f.pull(t, "fw-1", "?startup=true")
	f.revoke(t, ds[0].ID)
	f.pull(t, "fw-1", "")
	f.pull(t, "fw-1", "")
	for _, c := range []struct {
		name string
		got  float64
		want float64
	}{
		{"pulls_total{startup=true}", testutil.ToFloat64(f.h.m.pulls.WithLabelValues("true")), 1},
		{"pulls_total{startup=false}", testutil.ToFloat64(f.h.m.pulls.WithLabelValues("false")), 2},
		{"decisions_sent_total{list=new}", testutil.ToFloat64(f.h.m.sent.WithLabelValues("new")), 2},
		{"decisions_sent_total{list=deleted}", testutil.ToFloat64(f.h.m.sent.WithLabelValues("deleted")), 1},
	} {
		if c.got != c.want {
			t.Errorf("campusguard_stream_%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	problems, err := testutil.GatherAndLint(f.reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("%s: %s", p.Metric, p.Text)
	}
}

// TestStoreError: a store that fails answers 500 and counts it.
func TestStoreError(t *testing.T) {
	f := newFixture(t, Config{}, "fw-1")
	h, err := New(Options{Store: f.store, Auth: func(*http.Request) (string, error) { return "fw-1", nil }, Now: f.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	f.db.Close()
	f.srv = httptest.NewServer(h)
	t.Cleanup(f.srv.Close)
	r := f.do(t, http.MethodGet, Path)
	if r.Code != http.StatusInternalServerError || !strings.Contains(r.Body, `"error"`) {
		t.Errorf("closed store: %d %s", r.Code, r.Body)
	}
	if got := testutil.ToFloat64(h.m.errors); got != 1 {
		t.Errorf("errors_total = %v", got)
	}
}
