package alerts

import (
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/campusguard/campusguard/alerts/decision"
)

func parseYAMLList(t *testing.T, s string) []map[string]any {
	t.Helper()
	var raw []map[string]any
	if err := yaml.Unmarshal([]byte(s), &raw); err != nil {
		t.Fatal(err)
	}
	return raw
}

func TestParsePoliciesDefaults(t *testing.T) {
	ps, err := ParsePolicies(parseYAMLList(t, `[{name: p}]`), true)
	if err != nil {
		t.Fatal(err)
	}
	p := ps[0]
	if p.Subject != SubjectClient || p.Threshold != 5 || time.Duration(p.Window) != 10*time.Minute || len(p.Ladder) != 3 ||
		!p.dryRun || p.Escalation.Factor != 2 || time.Duration(p.Decay) != 24*time.Hour || len(p.kinds) != 4 {
		t.Fatalf("defaults: %+v", p)
	}
}

func TestParsePoliciesErrors(t *testing.T) {
	for _, c := range []struct{ yaml, want string }{
		{`[{name: p, threshhold: 3}]`, "alerts.policies[0]: unknown key threshhold"},
		{`[{name: "a b"}]`, "name: want a short name"},
		{`[{name: p, subject: user}]`, `subject "user"`},
		{`[{name: p, threshold: -1}]`, "threshold -1"},
		{`[{name: p, window: 10ms}]`, "window 10ms"},
		{`[{name: p, window: soon}]`, "alerts.policies[0]"},
		{`[{name: p, ladder: [{action: block}]}]`, "ladder[0]: a block step needs a duration"},
		{`[{name: p, ladder: [{action: ban, duration: 1h}]}]`, `ladder[0].action "ban"`},
		{`[{name: p, ladder: [{action: block, duration: 1h}, {action: notify}]}]`, "ladder[1]: notify after block"},
		{`[{name: p, escalation: {factor: 0.5}}]`, "escalation.factor 0.5"},
		{`[{name: p, kinds: [smtp]}]`, `kinds: unknown event kind "smtp"`},
		{`[{name: p, kinds: [post]}]`, "post policy needs subject: domain"},
		{`[{name: p, actions: [drop]}]`, `actions: "drop"`},
		{`[{name: p}, {name: p}]`, `name "p" is used twice`},
	} {
		_, err := ParsePolicies(parseYAMLList(t, c.yaml), false)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v; want it to contain %q", c.yaml, err, c.want)
		}
	}
}

func TestStepEscalationCapped(t *testing.T) {
	ps, err := ParsePolicies(parseYAMLList(t, `[{name: p, ladder: [{action: block, duration: 1h}], escalation: {factor: 3, max: 1d}}]`), false)
	if err != nil {
		t.Fatal(err)
	}
	for strike, want := range map[int]time.Duration{1: time.Hour, 2: 3 * time.Hour, 3: 9 * time.Hour, 4: 24 * time.Hour, 1000: 24 * time.Hour} {
		if a, d := ps[0].step(strike); a != decision.ActionBlock || d != want {
			t.Errorf("strike %d: %s %s; want block %s", strike, a, d, want)
		}
	}
}

func TestAllowlist(t *testing.T) {
	a, err := ParseAllowlist([]string{"10.0.0.0/8", "2001:db8::1", "Campus.EDU.cn.", " 192.0.2.7 "})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		scope decision.Scope
		value string
		want  bool
	}{
		{decision.ScopeIP, "10.200.0.1", true},
		{decision.ScopeIP, "11.0.0.1", false},
		{decision.ScopeIP, "192.0.2.7", true},
		{decision.ScopeRange, "8.0.0.0/6", true}, // overlaps 10/8
		{decision.ScopeRange, "192.0.2.0/24", true},
		{decision.ScopeRange, "198.51.100.0/24", false},
		{decision.ScopeIP, "2001:db8::1", true},
		{decision.ScopeIP, "2001:db8::2", false},
		{decision.ScopeDomain, "campus.edu.cn", true},
		{decision.ScopeDomain, "mail.campus.edu.cn", true},
		{decision.ScopeDomain, "notcampus.edu.cn", false},
		{decision.ScopeDomain, "edu.cn", false},
	} {
		if got := a.Covers(c.scope, c.value); got != c.want {
			t.Errorf("Covers(%s, %s) = %v", c.scope, c.value, got)
		}
	}
	if _, err := ParseAllowlist([]string{"10.0.0.0/33"}); err == nil {
		t.Error("a bad CIDR was accepted")
	}
}
