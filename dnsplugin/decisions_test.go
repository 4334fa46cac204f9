package dnsplugin_test

import (
	"context"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/campusguard/campusguard/alerts/decision"
	"github.com/campusguard/campusguard/alerts/firewall/dnsdecisions"
	"github.com/campusguard/campusguard/dnsplugin"
)

// TestServeDecisions: the alert engine's decisions answer queries too: a
// domain decision for everybody, a client warning for that client's
// rule-hitting queries only, and the allowlist still wins.
func TestServeDecisions(t *testing.T) {
	addr := startServer(t, `	campusguard testdata/packs/phish.yaml testdata/packs/scam.yaml {
		allow allowed.decided.test
		action pack
	}
`)
	set := dnsdecisions.New(nil)
	now := time.Now()
	err := set.Apply(context.Background(), []decision.Decision{
		{ID: 1, Action: decision.ActionBlock, Scope: decision.ScopeDomain, Value: "decided.test", Created: now, Expires: now.Add(time.Hour)},
		{ID: 2, Action: decision.ActionWarn, Scope: decision.ScopeIP, Value: "127.0.0.7", Created: now, Expires: now.Add(time.Hour)},
	}, now)
	if err != nil {
		t.Fatal(err)
	}
	dnsplugin.SetDecisions(set)
	t.Cleanup(func() { dnsplugin.SetDecisions(nil) })

	const byDecision = "Blocked:campusguard: campusguard-decision (decision)"
	for _, tc := range []struct {
		src, name string
		rcode     int
		ans, ede  string
	}{
		{"", "decided.test", dns.RcodeNameError, "", byDecision},
		{"", "www.decided.test", dns.RcodeNameError, "", byDecision},
		{"", "allowed.decided.test", dns.RcodeSuccess, "192.0.2.1", ""}, // the allowlist wins
		{"", "scam.test", dns.RcodeSuccess, "192.0.2.1", ""},            // an alert-only pack lets it through
		{"127.0.0.7", "scam.test", dns.RcodeNameError, "", "Blocked:campusguard: scam-test (fraud)"},
		{"127.0.0.7", "good.example", dns.RcodeSuccess, "192.0.2.1", ""}, // a warned client's clean queries pass
	} {
		r := query(t, client(tc.src), addr, tc.name, dns.TypeA, true)
		want(t, r, tc.rcode, tc.ans, tc.ede)
	}
	ev := waitEvent(t, "scam.test", "A", "127.0.0.7")
	if ev.Hits[0].Action != "block" || ev.RCode != "NXDOMAIN" {
		t.Errorf("the warned client's event: %+v", ev)
	}
}
