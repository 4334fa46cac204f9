package alerts

import (
	"context"
	"fmt"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/campusguard/campusguard/alerts/decision"
	"github.com/campusguard/campusguard/internal/event"
	"github.com/campusguard/campusguard/internal/state"
	"github.com/campusguard/campusguard/internal/testclock"
)

// clock is the shared settable test clock.
type clock = testclock.Clock

// recorder is an Enforcer and a Notifier that remembers what it was told.
type recorder struct {
	mu        sync.Mutex
	applied   []int64
	removed   []int64
	held      map[int64]time.Time // what a firewall would hold: id -> expiry
	notified  []string
	reconcile int
}

func newRecorder() *recorder { return &recorder{held: map[int64]time.Time{}} }

func (r *recorder) Apply(_ context.Context, ds []decision.Decision, _ time.Time) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, d := range ds {
		r.applied = append(r.applied, d.ID)
		r.held[d.ID] = d.Expires
	}
	return nil
}

func (r *recorder) Remove(_ context.Context, ds []decision.Decision) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, d := range ds {
		r.removed = append(r.removed, d.ID)
		delete(r.held, d.ID)
	}
	return nil
}

func (r *recorder) Reconcile(_ context.Context, active []decision.Decision, _ time.Time) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reconcile++
	r.held = map[int64]time.Time{}
	for _, d := range active {
		r.held[d.ID] = d.Expires
	}
	return nil
}

func (r *recorder) Notify(d decision.Decision) {
	r.mu.Lock()
	defer r.mu.Unlock()
	status := "firing"
	if !d.Revoked.IsZero() {
		status = "revoked"
	} else if d.Action != decision.ActionNotify && !d.Expires.After(time.Now().Add(-time.Hour*24*365*50)) {
		status = "?"
	}
	r.notified = append(r.notified, fmt.Sprintf("%s %s %s", status, d.Action, d.Value))
}

var start = time.Date(2026, 11, 26, 8, 0, 0, 0, time.UTC)

type fixture struct {
	t   *testing.T
	db  *state.DB
	clk *clock
	rec *recorder
	e   *Engine
}

func policies(t *testing.T, yaml string, dryRun bool) []*Policy {
	t.Helper()
	raw := parseYAMLList(t, yaml)
	ps, err := ParsePolicies(raw, dryRun)
	if err != nil {
		t.Fatal(err)
	}
	return ps
}

func newFixture(t *testing.T, path string, ps []*Policy, allow ...string) *fixture {
	t.Helper()
	if path == "" {
		path = filepath.Join(t.TempDir(), "state.db")
	}
	db, err := state.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	al, err := ParseAllowlist(allow)
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, db: db, clk: testclock.New(start), rec: newRecorder()}
	f.e, err = New(context.Background(), db, Options{Policies: ps, Allowlist: al, Now: f.clk.Now,
		Enforcers: map[string]Enforcer{"rec": f.rec}, Notifiers: []Notifier{f.rec}})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func dnsHit(client, name, category string) *event.Event {
	return &event.Event{Time: start, Kind: event.KindDNS, Src: client, Dst: "10.0.0.53", Name: name,
		Hits: []event.Hit{{Pack: "phishing", Rule: "lists/phish.txt:3", Category: category, Severity: event.SeverityHigh, Action: "alert"}}}
}

// hits observes n hits a second apart and returns the actions decided.
func (f *fixture) hits(n int, ev *event.Event) []string {
	f.t.Helper()
	var out []string
	for range n {
		f.clk.Add(time.Second)
		ev.Time = f.clk.Now()
		ds, err := f.e.Observe(context.Background(), ev)
		if err != nil {
			f.t.Fatal(err)
		}
		for _, d := range ds {
			s := string(d.Action)
			if d.Action != decision.ActionNotify {
				s += " " + d.Expires.Sub(d.Created).String()
			}
			if d.DryRun {
				s += " (dry run)"
			}
			out = append(out, s)
		}
	}
	return out
}

const phishPolicy = `
- name: phish
  categories: [phishing]
  threshold: 3
  window: 1m
  ladder:
    - {action: notify}
    - {action: warn, duration: 10m}
    - {action: block, duration: 1h}
  escalation: {factor: 2, max: 5h}
  decay: 24h
  dry_run: false
`

func TestLadderAndEscalation(t *testing.T) {
	f := newFixture(t, "", policies(t, phishPolicy, true))
	ev := dnsHit("10.1.2.3", "login-campus.phish.test", "phishing")
	if got := f.hits(2, ev); len(got) != 0 {
		t.Fatalf("below the threshold: %v", got)
	}
	var got []string
	got = append(got, f.hits(1, ev)...) // notify
	got = append(got, f.hits(3, ev)...) // warn 10m
	got = append(got, f.hits(5, ev)...) // absorbed while the warning is in force
	f.clk.Add(10 * time.Minute)
	got = append(got, f.hits(3, ev)...) // block 1h
	for _, want := range []time.Duration{2 * time.Hour, 4 * time.Hour, 5 * time.Hour, 5 * time.Hour} {
		f.clk.Add(5 * time.Hour)
		got = append(got, f.hits(3, ev)...)
		_ = want
	}
	want := []string{"notify", "warn 10m0s", "block 1h0m0s", "block 2h0m0s", "block 4h0m0s", "block 5h0m0s", "block 5h0m0s"}
	if !slices.Equal(got, want) {
		t.Fatalf("ladder: got %v\nwant %v", got, want)
	}
	if len(f.rec.applied) != 6 {
		t.Fatalf("enforcer applied %d decisions; want the warn and the five blocks", len(f.rec.applied))
	}
	ds, _ := f.e.Store().List(context.Background(), decision.Filter{Scope: decision.ScopeIP, Value: "10.1.2.3"})
	if len(ds) != 7 || ds[0].Strike != 7 || ds[6].Strike != 1 || len(ds[0].Hits) != 3 || ds[0].Hits[0].Name != ev.Name {
		t.Fatalf("stored history: %d decisions, newest %+v", len(ds), ds[0])
	}
	if !strings.Contains(ds[0].Reason, "3 phishing hits within 1m0s (strike 7) under policy phish") {
		t.Fatalf("reason %q", ds[0].Reason)
	}
}

func TestWindowForgetsOldHits(t *testing.T) {
	f := newFixture(t, "", policies(t, phishPolicy, false))
	ev := dnsHit("10.1.2.3", "x.phish.test", "phishing")
	f.hits(2, ev)
	f.clk.Add(time.Minute)
	if got := f.hits(2, ev); len(got) != 0 {
		t.Fatalf("hits from two windows added up: %v", got)
	}
	if got := f.hits(1, ev); !slices.Equal(got, []string{"notify"}) {
		t.Fatalf("three hits in one window: %v", got)
	}
}

func TestDecayForgetsStrikes(t *testing.T) {
	f := newFixture(t, "", policies(t, phishPolicy, false))
	ev := dnsHit("10.1.2.3", "x.phish.test", "phishing")
	f.hits(3, ev)                            // notify
	f.hits(3, ev)                            // warn until +10m
	f.clk.Add(10*time.Minute + 23*time.Hour) // clean, but not yet for 24h after the warning ended
	if got := f.hits(3, ev); !slices.Equal(got, []string{"block 1h0m0s"}) {
		t.Fatalf("within the decay period the ladder goes on: %v", got)
	}
	f.clk.Add(time.Hour + 24*time.Hour) // a full clean day after the block ended
	if got := f.hits(3, ev); !slices.Equal(got, []string{"notify"}) {
		t.Fatalf("after a clean day the ladder restarts: %v", got)
	}
}

func TestNotifyDeduplicated(t *testing.T) {
	f := newFixture(t, "", policies(t, `
- {name: noc, threshold: 2, window: 10m, ladder: [{action: notify}]}
`, false))
	ev := dnsHit("10.1.2.3", "x.phish.test", "malware")
	got := f.hits(10, ev)
	f.clk.Add(10 * time.Minute)
	got = append(got, f.hits(2, ev)...)
	if !slices.Equal(got, []string{"notify", "notify"}) {
		t.Fatalf("a notify-only policy: %v; want one notice per window", got)
	}
}

func TestAllowlistWins(t *testing.T) {
	f := newFixture(t, "", policies(t, phishPolicy+`
- {name: bad-servers, subject: server, threshold: 1, ladder: [{action: block, duration: 1h}], dry_run: false}
- {name: bad-names, subject: domain, threshold: 1, ladder: [{action: block, duration: 1h}], dry_run: false}
`, false), "10.1.0.0/16", "campus.edu.cn", "10.0.0.53")
	if got := f.hits(10, dnsHit("10.1.2.3", "x.phish.test", "phishing")); len(got) != 1 || got[0] != "block 1h0m0s" {
		// The client is allowlisted and so is the DNS server; only the
		// name is left to decide on.
		t.Fatalf("allowlisted client and server: %v; want only the domain block", got)
	}
	if got := f.hits(3, dnsHit("10.9.0.1", "mail.campus.edu.cn", "phishing")); !slices.Equal(got, []string{"notify"}) {
		t.Fatalf("an allowlisted domain under an outside client: %v; want only the client notify", got)
	}
	_, err := f.e.Decide(context.Background(), decision.Decision{Action: decision.ActionBlock, Scope: decision.ScopeRange,
		Value: "10.0.0.0/8", Actor: "alice", Reason: "everyone", Expires: start.Add(time.Hour)})
	if err == nil || !strings.Contains(err.Error(), "allowlist") {
		t.Fatalf("manual block over an allowlisted range: %v", err)
	}
}

func TestDryRunRecordsWithoutEnforcing(t *testing.T) {
	f := newFixture(t, "", policies(t, `
- {name: trial, threshold: 1, ladder: [{action: block, duration: 1h}]}
`, true))
	got := f.hits(1, dnsHit("10.1.2.3", "x.phish.test", "phishing"))
	if !slices.Equal(got, []string{"block 1h0m0s (dry run)"}) {
		t.Fatalf("dry run: %v", got)
	}
	if len(f.rec.applied) != 0 || len(f.rec.notified) != 1 {
		t.Fatalf("dry run applied %v, notified %v; want nothing enforced, one notice", f.rec.applied, f.rec.notified)
	}
	// It behaves as if the block were in force, so the record matches
	// what a real block would have done.
	if got := f.hits(5, dnsHit("10.1.2.3", "x.phish.test", "phishing")); len(got) != 0 {
		t.Fatalf("hits during a dry-run block: %v", got)
	}
	active, _ := f.e.Store().Active(context.Background(), f.clk.Now())
	if len(active) != 0 {
		t.Fatalf("a dry run is active: %v", active)
	}
	// Its end is announced as a real block's would be; nothing is lifted.
	f.e.expire(context.Background(), f.clk.Now().Add(time.Hour))
	if len(f.rec.notified) != 2 || len(f.rec.removed) != 0 {
		t.Fatalf("after the dry run's hour: notices %v, removed %v; want a second notice and nothing removed", f.rec.notified, f.rec.removed)
	}
}

func TestManualDecisionAndRevoke(t *testing.T) {
	f := newFixture(t, "", policies(t, phishPolicy, false))
	ctx := context.Background()
	if _, err := f.e.Decide(ctx, decision.Decision{Action: decision.ActionBlock, Scope: decision.ScopeIP, Value: "10.7.7.7",
		Actor: "alice", Expires: start.Add(time.Hour)}); err == nil {
		t.Fatal("a manual decision without a reason was accepted")
	}
	d, err := f.e.Decide(ctx, decision.Decision{Action: decision.ActionBlock, Scope: decision.ScopeRange, Value: "203.0.113.9/24",
		Actor: "alice", Reason: "scam call centre range", Expires: start.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if d.Value != "203.0.113.0/24" || d.Origin != decision.OriginManual || !slices.Contains(f.rec.applied, d.ID) {
		t.Fatalf("manual decision %+v, applied %v", d, f.rec.applied)
	}
	// A person lifts a policy block; the subject's hits count again.
	ev := dnsHit("10.1.2.3", "x.phish.test", "phishing")
	f.hits(3, ev)
	f.hits(3, ev)
	warn := f.rec.applied[len(f.rec.applied)-1]
	if _, err := f.e.Revoke(ctx, warn, "bob", ""); err == nil {
		t.Fatal("revoke without a reason accepted")
	}
	if _, err := f.e.Revoke(ctx, warn, "bob", "student called the help desk; laptop cleaned"); err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(f.rec.removed, warn) {
		t.Fatalf("revoked decision %d not removed from the enforcer: %v", warn, f.rec.removed)
	}
	if got := f.hits(3, ev); !slices.Equal(got, []string{"block 1h0m0s"}) {
		t.Fatalf("after a revoke the ladder goes on from where it was: %v", got)
	}
	st, err := f.e.Standings(decision.ScopeIP, "10.1.2.3")
	if err != nil || len(st) != 1 || st[0].Strikes != 3 || st[0].ActiveUntil.IsZero() || st[0].NextAction != "block" {
		t.Fatalf("standings: %+v, %v", st, err)
	}
	if !strings.HasPrefix(f.rec.notified[len(f.rec.notified)-2], "revoked warn") {
		t.Fatalf("notices: %v", f.rec.notified)
	}
}

func TestExpiryLiftsAndAnnounces(t *testing.T) {
	f := newFixture(t, "", policies(t, `
- {name: quick, threshold: 1, ladder: [{action: block, duration: 30s}], dry_run: false}
`, false))
	ctx := context.Background()
	f.hits(1, dnsHit("10.1.2.3", "x.phish.test", "phishing"))
	id := f.rec.applied[0]
	f.e.expire(ctx, f.clk.Now().Add(29*time.Second))
	if len(f.rec.removed) != 0 {
		t.Fatal("lifted before its expiry")
	}
	f.e.expire(ctx, f.clk.Now().Add(30*time.Second))
	if !slices.Equal(f.rec.removed, []int64{id}) || len(f.rec.notified) != 2 {
		t.Fatalf("after expiry: removed %v, notices %v", f.rec.removed, f.rec.notified)
	}
}

func TestRestartKeepsStrikesAndDecisions(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	ps := policies(t, phishPolicy, false)
	f := newFixture(t, path, ps)
	ev := dnsHit("10.1.2.3", "x.phish.test", "phishing")
	f.hits(3, ev)
	f.hits(3, ev) // warn for 10m
	f.db.Close()

	g := newFixture(t, path, ps)
	g.clk.Set(f.clk.Now())
	if err := g.e.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	g.e.Stop()
	if g.rec.reconcile != 1 || len(g.rec.held) != 1 {
		t.Fatalf("after restart the enforcer holds %v (reconciles %d); want the warning", g.rec.held, g.rec.reconcile)
	}
	if got := g.hits(3, ev); len(got) != 0 {
		t.Fatalf("hits during the restored warning: %v", got)
	}
	g.clk.Add(10 * time.Minute)
	if got := g.hits(3, ev); !slices.Equal(got, []string{"block 1h0m0s"}) {
		t.Fatalf("after restart the ladder continues: %v", got)
	}
}

// TestRestartKeepsDryRunTrials: a dry-run block running at a restart is
// still treated as in force (hits absorbed), and its end still announced.
func TestRestartKeepsDryRunTrials(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	ps := policies(t, `
- {name: trial, threshold: 1, ladder: [{action: block, duration: 1h}], dry_run: true}
`, true)
	f := newFixture(t, path, ps)
	ev := dnsHit("10.1.2.3", "x.phish.test", "phishing")
	if got := f.hits(1, ev); !slices.Equal(got, []string{"block 1h0m0s (dry run)"}) {
		t.Fatalf("dry run: %v", got)
	}
	f.db.Close()

	g := newFixture(t, path, ps)
	g.clk.Set(f.clk.Now())
	if got := g.hits(3, ev); len(got) != 0 {
		t.Fatalf("hits during the restored dry-run block: %v", got)
	}
	g.e.expire(context.Background(), g.clk.Now().Add(time.Hour))
	if len(g.rec.notified) != 1 || len(g.rec.removed) != 0 {
		t.Fatalf("after the hour: notices %v, removed %v; want the end announced, nothing removed", g.rec.notified, g.rec.removed)
	}
}

func TestSubmitDropsWhenFull(t *testing.T) {
	db, _ := state.Open(context.Background(), ":memory:")
	defer db.Close()
	e, err := New(context.Background(), db, Options{Policies: policies(t, phishPolicy, false), QueueSize: 2})
	if err != nil {
		t.Fatal(err)
	}
	ev := dnsHit("10.1.2.3", "x.phish.test", "phishing")
	for range 5 {
		e.Submit(ev)
	}
	e.Submit(&event.Event{Kind: event.KindDNS}) // no hits: not queued at all
	if len(e.queue) != 2 {
		t.Fatalf("queue holds %d", len(e.queue))
	}
	if err := e.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	e.Stop()
	if len(e.queue) != 0 {
		t.Fatal("Stop left queued events")
	}
}

func TestPseudonymousClient(t *testing.T) {
	f := newFixture(t, "", policies(t, phishPolicy, false))
	if got := f.hits(5, dnsHit("c-7f3a9e", "x.phish.test", "phishing")); len(got) != 0 {
		t.Fatalf("a pseudonym from elsewhere was decided on: %v", got)
	}
	// From this process's capture the real address rides along: the
	// decision names it, the evidence keeps the pseudonym.
	ev := dnsHit("c-7f3a9e", "x.phish.test", "phishing")
	ev.ClientAddr = netip.MustParseAddr("10.4.4.4")
	if got := f.hits(3, ev); !slices.Equal(got, []string{"notify"}) {
		t.Fatalf("pseudonymized client with its address: %v", got)
	}
	ds, _ := f.e.List(context.Background(), decision.Filter{Limit: 1})
	if ds[0].Value != "10.4.4.4" || ds[0].Hits[0].Client != "c-7f3a9e" {
		t.Fatalf("decision on %s with evidence client %s", ds[0].Value, ds[0].Hits[0].Client)
	}
}

// TestTrafficTime: hits are counted in the time the traffic happened, so a
// replayed capture counts the same as live traffic, and the answers and
// AAAA twin of one lookup count once.
func TestTrafficTime(t *testing.T) {
	f := newFixture(t, "", policies(t, phishPolicy, false))
	ctx := context.Background()
	observe := func(client, name string, at time.Time) int {
		ev := dnsHit(client, name, "phishing")
		ev.Time = at
		ds, err := f.e.Observe(ctx, ev)
		if err != nil {
			t.Fatal(err)
		}
		return len(ds)
	}
	old := start.Add(-48 * time.Hour) // a capture from two days ago, replayed now
	got := 0
	for i := range 5 {
		lookup := old.Add(time.Duration(i) * 10 * time.Minute) // 10 minutes apart: never 3 in a 1m window
		for j := range 4 {                                     // A, AAAA and their answers
			got += observe("10.1.1.1", "x.phish.test", lookup.Add(time.Duration(j)*time.Millisecond))
		}
	}
	if got != 0 {
		t.Fatalf("lookups 10 minutes apart in traffic time made %d decisions", got)
	}
	for i := range 3 {
		lookup := old.Add(time.Duration(i) * 5 * time.Second)
		for j := range 4 {
			got += observe("10.2.2.2", "y.phish.test", lookup.Add(time.Duration(j)*time.Millisecond))
		}
	}
	if got != 1 {
		t.Fatalf("three lookups (twelve events) 5 s apart in traffic time made %d decisions; want one notify", got)
	}
	ds, _ := f.e.List(ctx, decision.Filter{Limit: 1})
	if !ds[0].Created.Equal(f.clk.Now()) {
		t.Fatalf("a replayed decision was created at %s; want wall time %s", ds[0].Created, f.clk.Now())
	}
}
