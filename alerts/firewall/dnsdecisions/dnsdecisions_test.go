package dnsdecisions

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/campusguard/campusguard/alerts"
	"github.com/campusguard/campusguard/alerts/decision"
	"github.com/campusguard/campusguard/dnsplugin"
)

var (
	_ alerts.Enforcer     = (*Set)(nil)
	_ dnsplugin.Decisions = (*Set)(nil)
)

var t0 = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

func dec(id int64, action decision.Action, scope decision.Scope, value string, d time.Duration) decision.Decision {
	return decision.Decision{ID: id, Action: action, Scope: scope, Value: value, Created: t0, Expires: t0.Add(d)}
}

func TestLookups(t *testing.T) {
	now := t0.Add(time.Minute)
	s := New(func() time.Time { return now })
	ctx := context.Background()
	if _, ok := s.Domain("x.phish.test"); ok || s.ClientWarned(netip.MustParseAddr("10.0.0.1")) {
		t.Fatal("an empty set answered")
	}
	dry := dec(6, decision.ActionBlock, decision.ScopeDomain, "dry.test", time.Hour)
	dry.DryRun = true
	_ = s.Apply(ctx, []decision.Decision{
		dec(1, decision.ActionWarn, decision.ScopeDomain, "phish.test", time.Hour),
		dec(2, decision.ActionBlock, decision.ScopeDomain, "phish.test", 10*time.Minute),
		dec(3, decision.ActionWarn, decision.ScopeIP, "10.0.0.7", time.Hour),
		dec(4, decision.ActionBlock, decision.ScopeRange, "10.9.0.0/16", time.Hour),
		dec(5, decision.ActionNotify, decision.ScopeDomain, "notice.test", 0),
		dry,
	}, now)
	for name, want := range map[string]string{"phish.test": "block", "login.phish.test": "block", "notphish.test": "", "test": "",
		"notice.test": "", "dry.test": ""} {
		if got, _ := s.Domain(name); got != want {
			t.Errorf("Domain(%s) = %q, want %q", name, got, want)
		}
	}
	for addr, want := range map[string]bool{"10.0.0.7": true, "10.0.0.8": false, "10.9.200.1": true, "10.10.0.1": false} {
		if got := s.ClientWarned(netip.MustParseAddr(addr)); got != want {
			t.Errorf("ClientWarned(%s) = %v", addr, got)
		}
	}
	// The block ends after 10 minutes; the warning on the domain goes on.
	now = t0.Add(11 * time.Minute)
	_ = s.Reconcile(ctx, []decision.Decision{dec(1, decision.ActionWarn, decision.ScopeDomain, "phish.test", time.Hour)}, now)
	if got, _ := s.Domain("a.phish.test"); got != "warn" {
		t.Errorf("after the block expired: %q, want warn", got)
	}
	if s.ClientWarned(netip.MustParseAddr("10.0.0.7")) {
		t.Error("a client not in the reconciled list is still warned")
	}
	_ = s.Remove(ctx, []decision.Decision{{ID: 1}})
	if _, ok := s.Domain("phish.test"); ok {
		t.Error("a removed decision still answers")
	}
	// Expiry is checked at lookup, between reconciles.
	_ = s.Apply(ctx, []decision.Decision{dec(7, decision.ActionBlock, decision.ScopeDomain, "short.test", 12*time.Minute)}, now)
	now = t0.Add(12 * time.Minute)
	if _, ok := s.Domain("short.test"); ok {
		t.Error("an expired decision answers")
	}
}
