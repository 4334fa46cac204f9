package decision

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/campusguard/campusguard/internal/state"
)

func openStore(t *testing.T) (*Store, *state.DB) {
	t.Helper()
	db, err := state.Open(context.Background(), ":memory:")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	s, err := Open(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	return s, db
}

var t0 = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

func block(value string, created time.Time, d time.Duration) Decision {
	scope := ScopeIP
	if strings.Contains(value, "/") {
		scope = ScopeRange
	} else if strings.ContainsAny(value, "abcdefghijklmnopqrstuvwxyz") && !strings.Contains(value, ":") {
		scope = ScopeDomain
	}
	return Decision{Action: ActionBlock, Scope: scope, Value: value, Category: "phishing", Severity: 3,
		Origin: OriginPolicy, Policy: "phish", Actor: "system", Reason: "5 phishing hits in 10m",
		Created: created, Expires: created.Add(d)}
}

func TestNormalizeValue(t *testing.T) {
	for _, c := range []struct {
		scope     Scope
		in, want  string
		wantError bool
	}{
		{ScopeIP, "10.0.0.5", "10.0.0.5", false},
		{ScopeIP, "::ffff:10.0.0.5", "10.0.0.5", false},
		{ScopeIP, "2001:DB8::0:1", "2001:db8::1", false},
		{ScopeIP, "10.0.0.0/8", "", true},
		{ScopeIP, "fe80::1%eth0", "", true},
		{ScopeRange, "10.1.2.3/16", "10.1.0.0/16", false},
		{ScopeRange, "::ffff:10.1.2.3/112", "10.1.0.0/16", false},
		{ScopeRange, "0.0.0.0/0", "", true},
		{ScopeRange, "10.0.0.1", "", true},
		{ScopeDomain, "Phish.Example.", "phish.example", false},
		{ScopeDomain, "校园贷.example", "xn--fcs331b241a.example", false},
		{ScopeDomain, "localhost", "", true},
		{ScopeDomain, "*.evil.test", "", true},
		{ScopeDomain, "..", "", true},
		{ScopeDomain, "a..b.test", "", true},
		{ScopeDomain, "http://evil.test/", "", true},
		{"host", "x", "", true},
	} {
		got, err := NormalizeValue(c.scope, c.in)
		if (err != nil) != c.wantError || got != c.want {
			t.Errorf("NormalizeValue(%s, %q) = %q, %v; want %q, error %v", c.scope, c.in, got, err, c.want, c.wantError)
		}
	}
}

func TestValidateRejects(t *testing.T) {
	for name, mutate := range map[string]func(*Decision){
		"no reason":         func(d *Decision) { d.Reason = "  " },
		"bad action":        func(d *Decision) { d.Action = "ban" },
		"no expiry":         func(d *Decision) { d.Expires = d.Created },
		"manual, no actor":  func(d *Decision) { d.Origin, d.Actor = OriginManual, "system" },
		"policy, no name":   func(d *Decision) { d.Policy = "" },
		"severity 0":        func(d *Decision) { d.Severity = 0 },
		"no creation time":  func(d *Decision) { d.Created = time.Time{} },
		"bad value":         func(d *Decision) { d.Value = "not-an-ip" },
		"unknown origin":    func(d *Decision) { d.Origin = "feed" },
		"very long reason":  func(d *Decision) { d.Reason = strings.Repeat("x", 1001) },
		"range of everyone": func(d *Decision) { d.Scope, d.Value = ScopeRange, "::/0" },
	} {
		d := block("10.0.0.5", t0, time.Hour)
		mutate(&d)
		if err := d.Validate(); err == nil {
			t.Errorf("%s: Validate accepted %+v", name, d)
		}
	}
}

func TestAddGetRevokeAudited(t *testing.T) {
	s, db := openStore(t)
	ctx := context.Background()
	d := block("10.0.0.5", t0, time.Hour)
	d.Hits = make([]HitRef, MaxHits+5)
	for i := range d.Hits {
		d.Hits[i] = HitRef{Time: t0.Add(time.Duration(i) * time.Second), Kind: "dns", Name: "phish.test", Pack: "p", Rule: "r"}
	}
	got, err := s.Add(ctx, d)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID == 0 || len(got.Hits) != MaxHits || !got.Hits[MaxHits-1].Time.Equal(t0.Add((MaxHits+4)*time.Second)) {
		t.Fatalf("stored decision %d with %d hits; want an id and the last %d hits", got.ID, len(got.Hits), MaxHits)
	}
	back, err := s.Get(ctx, got.ID)
	if err != nil {
		t.Fatal(err)
	}
	if back.Value != "10.0.0.5" || !back.Expires.Equal(t0.Add(time.Hour)) || back.Reason != d.Reason || len(back.Hits) != MaxHits {
		t.Fatalf("read back %+v", back)
	}
	if !back.Enforced(t0.Add(time.Minute)) || back.Enforced(t0.Add(time.Hour)) {
		t.Fatal("a one-hour block should be enforced inside the hour and not at its end")
	}
	if _, err := s.Revoke(ctx, got.ID, "alice", "", t0.Add(time.Minute)); err == nil {
		t.Fatal("revoke without a reason was accepted")
	}
	r, err := s.Revoke(ctx, got.ID, "alice", "false positive: lab scanner", t0.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if r.Active(t0.Add(2*time.Minute)) || r.RevokedBy != "alice" {
		t.Fatalf("revoked decision still active: %+v", r)
	}
	if _, err := s.Revoke(ctx, got.ID, "bob", "again", t0.Add(2*time.Minute)); err == nil {
		t.Fatal("second revoke of the same decision was accepted")
	}
	if _, err := s.Get(ctx, 999); err == nil {
		t.Fatal("Get of a missing id succeeded")
	}
	log, err := db.AuditLog(ctx, 10, 0)
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, e := range log {
		actions = append(actions, e.Action+" "+e.Actor)
	}
	if strings.Join(actions, ",") != "decision.revoke alice,decision.add system" {
		t.Fatalf("audit log %v; want the add and the revoke", actions)
	}
	if n, err := db.VerifyAudit(ctx); err != nil || n != 2 {
		t.Fatalf("VerifyAudit = %d, %v", n, err)
	}
}

func TestActiveAndList(t *testing.T) {
	s, _ := openStore(t)
	ctx := context.Background()
	short, _ := s.Add(ctx, block("10.0.0.1", t0, time.Minute))
	long, _ := s.Add(ctx, block("10.9.0.0/16", t0, time.Hour))
	dry := block("10.0.0.3", t0, time.Hour)
	dry.DryRun = true
	if _, err := s.Add(ctx, dry); err != nil {
		t.Fatal(err)
	}
	note := block("phish.test", t0, 0)
	note.Action, note.Expires = ActionNotify, time.Time{}
	if _, err := s.Add(ctx, note); err != nil {
		t.Fatal(err)
	}
	crit := block("phish.test", t0, time.Hour)
	crit.Severity = 4
	crit, _ = s.Add(ctx, crit)

	active, err := s.Active(ctx, t0.Add(2*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if len(active) != 2 || active[0].ID != crit.ID || active[1].ID != long.ID {
		t.Fatalf("active = %v; want the critical domain block, then the range (not the expired, dry-run or notify ones)", ids(active))
	}
	hist, err := s.List(ctx, Filter{Scope: ScopeDomain, Value: "PHISH.test."})
	if err != nil || len(hist) != 2 {
		t.Fatalf("history of phish.test = %v, %v; want the notify and the block", ids(hist), err)
	}
	page, _ := s.List(ctx, Filter{Limit: 2})
	rest, _ := s.List(ctx, Filter{BeforeID: page[1].ID})
	if len(page) != 2 || len(rest) != 3 || rest[len(rest)-1].ID != short.ID {
		t.Fatalf("paging: %v then %v", ids(page), ids(rest))
	}
	if _, err := s.List(ctx, Filter{Scope: ScopeIP, Value: "nope"}); err == nil {
		t.Fatal("List with a bad value succeeded")
	}
}

func ids(ds []Decision) []int64 {
	var out []int64
	for _, d := range ds {
		out = append(out, d.ID)
	}
	return out
}

func TestPullStream(t *testing.T) {
	s, _ := openStore(t)
	ctx := context.Background()
	a, _ := s.Add(ctx, block("10.0.0.1", t0, time.Minute))
	b, _ := s.Add(ctx, block("10.0.0.2", t0, time.Hour))

	added, deleted, err := s.Pull(ctx, "fw1", false, t0.Add(time.Second))
	if err != nil || len(added) != 2 || len(deleted) != 0 {
		t.Fatalf("first pull: added %v deleted %v, %v; want both, none", ids(added), ids(deleted), err)
	}
	c, _ := s.Add(ctx, block("10.0.0.3", t0.Add(2*time.Second), time.Hour))
	if _, err := s.Revoke(ctx, b.ID, "alice", "cleaned", t0.Add(3*time.Second)); err != nil {
		t.Fatal(err)
	}
	added, deleted, _ = s.Pull(ctx, "fw1", false, t0.Add(2*time.Minute))
	if len(added) != 1 || added[0].ID != c.ID || len(deleted) != 2 || deleted[0].ID != a.ID || deleted[1].ID != b.ID {
		t.Fatalf("second pull: added %v deleted %v; want [%d], [%d %d] (expired and revoked)", ids(added), ids(deleted), c.ID, a.ID, b.ID)
	}
	added, deleted, _ = s.Pull(ctx, "fw1", false, t0.Add(3*time.Minute))
	if len(added)+len(deleted) != 0 {
		t.Fatalf("quiet pull: added %v deleted %v; want nothing", ids(added), ids(deleted))
	}
	// A decision that came and went between two pulls is never sent.
	d, _ := s.Add(ctx, block("10.0.0.4", t0.Add(3*time.Minute), time.Second))
	added, deleted, _ = s.Pull(ctx, "fw1", false, t0.Add(4*time.Minute))
	if len(added)+len(deleted) != 0 {
		t.Fatalf("pull after the short decision %d: added %v deleted %v; want nothing", d.ID, ids(added), ids(deleted))
	}
	added, deleted, _ = s.Pull(ctx, "fw1", true, t0.Add(4*time.Minute))
	if len(added) != 1 || added[0].ID != c.ID || len(deleted) != 0 {
		t.Fatalf("startup pull: added %v deleted %v; want only [%d]", ids(added), ids(deleted), c.ID)
	}
	// Another consumer has its own cursor.
	added, _, _ = s.Pull(ctx, "fw2", false, t0.Add(4*time.Minute))
	if len(added) != 1 {
		t.Fatalf("fw2 first pull: %v", ids(added))
	}
}

// TestPullThenFailureKeepsCursor: when the answer cannot be built, the
// cursor stays, and the next pull sends the same changes.
func TestPullThenFailureKeepsCursor(t *testing.T) {
	s, _ := openStore(t)
	ctx := context.Background()
	if _, _, err := s.Pull(ctx, "fw", false, t0); err != nil {
		t.Fatal(err)
	}
	d, _ := s.Add(ctx, block("10.0.0.1", t0.Add(time.Second), time.Hour))
	err := s.PullThen(ctx, "fw", false, t0.Add(2*time.Second), func(r Reader, added, _ []Decision) error {
		if len(added) != 1 {
			t.Errorf("added %v", ids(added))
		}
		// The reader sees the store inside the pull's transaction.
		if live, err := r.Active(ctx, t0.Add(2*time.Second)); err != nil || len(live) != 1 {
			t.Errorf("Reader.Active = %v, %v", ids(live), err)
		}
		return errors.New("the answer could not be written")
	})
	if err == nil {
		t.Fatal("PullThen hid its callback's error")
	}
	added, _, err := s.Pull(ctx, "fw", false, t0.Add(3*time.Second))
	if err != nil || len(added) != 1 || added[0].ID != d.ID {
		t.Fatalf("after a failed pull: %v, %v; want decision %d again", ids(added), err, d.ID)
	}
}
