package alerts

import (
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/campusguard/campusguard/alerts/decision"
)

// FuzzParsePolicies: any YAML an operator writes under alerts.policies is
// either refused with an error or gives policies whose ladders and
// durations the engine can use without panicking.
func FuzzParsePolicies(f *testing.F) {
	for _, s := range []string{
		`[{name: p}]`,
		`[{name: p, subject: domain, kinds: [post], threshold: 1, ladder: [{action: block, duration: 1h}]}]`,
		`[{name: p, escalation: {factor: 100, max: 1000000h}, ladder: [{action: notify}, {action: block, duration: 1s}]}]`,
		`[{name: p, window: 1s, coalesce: 999ms}]`,
		`[{name: p, coalesce: -1s}]`,
		`[{name: p, threshold: 1e9}]`,
		`[{name: "", ladder: []}]`,
		`[{name: p, ladder: [{action: block, duration: 9223372036854775807ns}]}]`,
		`[{name: p, escalation: {factor: .nan}}]`,
		`[{name: p, dry_run: yes}, {name: q, dry_run: ~}]`,
		`[{name: [a]}]`,
		`[{}]`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, doc string) {
		var raw []map[string]any
		if yaml.Unmarshal([]byte(doc), &raw) != nil {
			return
		}
		ps, err := ParsePolicies(raw, true)
		if err != nil {
			return
		}
		for _, p := range ps {
			if p.Threshold < 1 || len(p.Ladder) == 0 || p.Window < 1 {
				t.Fatalf("accepted a policy the engine cannot run: %+v", p)
			}
			for strike := 1; strike < 50; strike++ {
				a, d := p.step(strike)
				if a.Severity() == 0 || d < 0 || (a != decision.ActionNotify && d <= 0) {
					t.Fatalf("strike %d: %s for %v", strike, a, d)
				}
				if d > time.Duration(p.Escalation.Max) && d > time.Duration(p.Ladder[len(p.Ladder)-1].Duration) {
					t.Fatalf("strike %d: %v past the cap %v", strike, d, time.Duration(p.Escalation.Max))
				}
			}
		}
	})
}

// FuzzAllowlistAndValues: allowlist entries and decision values (both
// typed by people) parse or are refused, never panic, and a normalized
// value is a fixed point.
func FuzzAllowlistAndValues(f *testing.F) {
	for _, s := range []string{"10.0.0.0/8", "::ffff:10.1.2.3/120", "fe80::1%eth0", "Campus.EDU.cn.", "校园.example",
		"xn--", "a..b", "*.evil.test", "0.0.0.0/0", "::/0", "1.2.3.4/33", "", " ", "\x00", "a b.test"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := ParseAllowlist([]string{s})
		if err == nil {
			a.Covers(decision.ScopeDomain, "x.test")
			a.Covers(decision.ScopeIP, "10.0.0.1")
		}
		for _, scope := range []decision.Scope{decision.ScopeIP, decision.ScopeRange, decision.ScopeDomain} {
			v, err := decision.NormalizeValue(scope, s)
			if err != nil {
				continue
			}
			again, err := decision.NormalizeValue(scope, v)
			if err != nil || again != v {
				t.Fatalf("%s %q normalized to %q, then to %q (%v)", scope, s, v, again, err)
			}
		}
	})
}
