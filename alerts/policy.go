package alerts

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"net/netip"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/campusguard/campusguard/alerts/decision"
	"github.com/campusguard/campusguard/internal/config"
	"github.com/campusguard/campusguard/internal/event"
)

// Subject says what a policy counts hits against.
type Subject string

const (
	SubjectClient Subject = "client" // the address that asked (event src)
	SubjectServer Subject = "server" // the address that served (event dst)
	SubjectDomain Subject = "domain" // the name that was asked for
)

// Step is one rung of a policy's ladder.
type Step struct {
	Action   decision.Action `yaml:"action"`
	Duration config.Duration `yaml:"duration"` // for warn and block
}

// Escalation lengthens the last step for repeat offenders, as fail2ban's
// bantime.increment does: the n-th time past the top of the ladder lasts
// duration × factor^n, capped at Max.
type Escalation struct {
	Factor float64         `yaml:"factor"`
	Max    config.Duration `yaml:"max"`
}

// Policy turns repeated hits into decisions.
type Policy struct {
	Name       string          `yaml:"name"`
	Categories []string        `yaml:"categories"` // hit categories counted; empty: all
	Kinds      []string        `yaml:"kinds"`      // event kinds counted; empty: dns, tls, quic, http
	Actions    []string        `yaml:"actions"`    // pack network actions counted; default alert, block
	Subject    Subject         `yaml:"subject"`
	Threshold  int             `yaml:"threshold"` // hits within Window that take the next step
	Window     config.Duration `yaml:"window"`
	// Coalesce counts hits on the same name from the same subject within
	// this much traffic time once: a lookup's A and AAAA queries and their
	// answers are one hit, not four. 0 counts every event.
	Coalesce   *config.Duration `yaml:"coalesce"`
	Ladder     []Step           `yaml:"ladder"`
	Escalation Escalation       `yaml:"escalation"`
	// Decay is the clean period (no hits, nothing in force) after which a
	// subject's strikes are forgotten: the reward for good behaviour.
	Decay  config.Duration `yaml:"decay"`
	DryRun *bool           `yaml:"dry_run"` // default: alerts.dry_run

	kinds    []event.Kind
	dryRun   bool
	coalesce time.Duration
}

// DefaultLadder warns first, then blocks for an hour.
var DefaultLadder = []Step{
	{Action: decision.ActionNotify},
	{Action: decision.ActionWarn, Duration: config.Duration(time.Hour)},
	{Action: decision.ActionBlock, Duration: config.Duration(time.Hour)},
}

// ParsePolicies reads the opaque alerts.policies entries of the config,
// strictly: an unknown key or a bad value names the policy and the key.
func ParsePolicies(raw []map[string]any, globalDryRun bool) ([]*Policy, error) {
	var out []*Policy
	names := map[string]bool{}
	for i, m := range raw {
		p := &Policy{}
		if err := DecodeYAML(m, p); err != nil {
			return nil, fmt.Errorf("alerts.policies[%d]: %w", i, err)
		}
		if err := p.normalize(globalDryRun); err != nil {
			return nil, fmt.Errorf("alerts.policies[%d] (%s): %w", i, p.Name, err)
		}
		if names[p.Name] {
			return nil, fmt.Errorf("alerts.policies[%d]: name %q is used twice", i, p.Name)
		}
		names[p.Name] = true
		out = append(out, p)
	}
	return out, nil
}

// DecodeYAML decodes config data kept opaque by internal/config (a
// policy, the notify outputs) into out, strictly: an unknown key is an
// error naming it.
func DecodeYAML(raw, out any) error {
	var buf bytes.Buffer
	if err := yaml.NewEncoder(&buf).Encode(raw); err != nil {
		return err
	}
	dec := yaml.NewDecoder(&buf)
	dec.KnownFields(true)
	if err := dec.Decode(out); err != nil && !errors.Is(err, io.EOF) {
		return errors.New(yamlProblem(err))
	}
	return nil
}

// yamlProblem rewords a decode error of re-encoded data: its line numbers
// are of the re-encoding, not of the operator's file, so they go.
func yamlProblem(err error) string {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return strings.TrimPrefix(err.Error(), "yaml: ")
	}
	var msgs []string
	for _, m := range te.Errors {
		if _, rest, ok := strings.Cut(m, ": "); ok && strings.HasPrefix(m, "line ") {
			m = rest
		}
		if i := strings.Index(m, " in type "); i >= 0 {
			m = m[:i]
		}
		if name, ok := strings.CutPrefix(m, "field "); ok {
			m = "unknown key " + strings.TrimSuffix(name, " not found")
		}
		msgs = append(msgs, m)
	}
	return strings.Join(msgs, "; ")
}

func (p *Policy) normalize(globalDryRun bool) error {
	if p.Name == "" || strings.ContainsAny(p.Name, " \t\r\n:") || len(p.Name) > 64 {
		return errors.New("name: want a short name without spaces or colons")
	}
	switch p.Subject {
	case SubjectClient, SubjectServer, SubjectDomain:
	case "":
		p.Subject = SubjectClient
	default:
		return fmt.Errorf("subject %q: want client, server or domain", p.Subject)
	}
	if p.Threshold == 0 {
		p.Threshold = 5
	}
	if p.Threshold < 1 || p.Threshold > 100000 {
		return fmt.Errorf("threshold %d: want 1 to 100000", p.Threshold)
	}
	if p.Window == 0 {
		p.Window = config.Duration(10 * time.Minute)
	}
	if p.Window < config.Duration(time.Second) {
		return fmt.Errorf("window %s: want at least 1s", time.Duration(p.Window))
	}
	p.coalesce = time.Second
	if p.Coalesce != nil {
		p.coalesce = time.Duration(*p.Coalesce)
	}
	if p.coalesce < 0 || p.coalesce >= time.Duration(p.Window) {
		return fmt.Errorf("coalesce %s: want 0 or more, and less than the window", p.coalesce)
	}
	if len(p.Ladder) == 0 {
		p.Ladder = slices.Clone(DefaultLadder)
	}
	for i, s := range p.Ladder {
		switch s.Action {
		case decision.ActionNotify:
		case decision.ActionWarn, decision.ActionBlock:
			if s.Duration <= 0 {
				return fmt.Errorf("ladder[%d]: a %s step needs a duration", i, s.Action)
			}
		default:
			return fmt.Errorf("ladder[%d].action %q: want notify, warn or block", i, s.Action)
		}
		if i > 0 && s.Action.Severity() < p.Ladder[i-1].Action.Severity() {
			return fmt.Errorf("ladder[%d]: %s after %s; a ladder only goes up", i, s.Action, p.Ladder[i-1].Action)
		}
	}
	if p.Escalation.Factor == 0 {
		p.Escalation.Factor = 2
	}
	if p.Escalation.Factor < 1 || p.Escalation.Factor > 100 || math.IsNaN(p.Escalation.Factor) {
		return fmt.Errorf("escalation.factor %g: want 1 to 100", p.Escalation.Factor)
	}
	if p.Escalation.Max == 0 {
		p.Escalation.Max = config.Duration(7 * 24 * time.Hour)
	}
	if p.Escalation.Max < 0 {
		return errors.New("escalation.max: must not be negative")
	}
	if p.Decay == 0 {
		p.Decay = config.Duration(24 * time.Hour)
	}
	if p.Decay < 0 {
		return errors.New("decay: must not be negative")
	}
	if len(p.Kinds) == 0 {
		p.kinds = []event.Kind{event.KindDNS, event.KindTLS, event.KindQUIC, event.KindHTTP}
	}
	for _, k := range p.Kinds {
		kind, err := event.ParseKind(k)
		if err != nil {
			return fmt.Errorf("kinds: %w", err)
		}
		if kind == event.KindPost && p.Subject != SubjectDomain {
			return errors.New("kinds: posts carry no address; a post policy needs subject: domain")
		}
		p.kinds = append(p.kinds, kind)
	}
	if len(p.Actions) == 0 {
		p.Actions = []string{"alert", "block"}
	}
	for _, a := range p.Actions {
		if a != "log" && a != "alert" && a != "block" {
			return fmt.Errorf("actions: %q: want log, alert or block", a)
		}
	}
	p.dryRun = globalDryRun
	if p.DryRun != nil {
		p.dryRun = *p.DryRun
	}
	return nil
}

// counts reports whether hit h of event ev counts toward p.
func (p *Policy) counts(ev *event.Event, h *event.Hit) bool {
	if h.Pack == decision.HitPack || !slices.Contains(p.kinds, ev.Kind) || !slices.Contains(p.Actions, h.Action) {
		return false
	}
	return len(p.Categories) == 0 || slices.Contains(p.Categories, h.Category)
}

// subjectOf names what ev is counted against, or "" when the event lacks
// it (a pseudonymized client cannot be blocked by address).
func (p *Policy) subjectOf(ev *event.Event) (decision.Scope, string) {
	var raw string
	switch p.Subject {
	case SubjectClient:
		if ev.ClientAddr.IsValid() {
			return decision.ScopeIP, ev.ClientAddr.Unmap().String()
		}
		raw = ev.Src
	case SubjectServer:
		raw = ev.Dst
	case SubjectDomain:
		if ev.Name == "" {
			return "", ""
		}
		v, err := decision.NormalizeValue(decision.ScopeDomain, ev.Name)
		if err != nil {
			return "", ""
		}
		return decision.ScopeDomain, v
	}
	a, err := netip.ParseAddr(raw)
	if err != nil || a.Zone() != "" {
		return "", ""
	}
	return decision.ScopeIP, a.Unmap().String()
}

// step returns the ladder step for a subject's strike-th offence and how
// long it lasts: past the top of the ladder the last step repeats, each
// time Factor longer, up to Max.
func (p *Policy) step(strike int) (decision.Action, time.Duration) {
	i := min(strike, len(p.Ladder)) - 1
	s := p.Ladder[i]
	d := time.Duration(s.Duration)
	if over := strike - len(p.Ladder); over > 0 && d > 0 {
		f := math.Pow(p.Escalation.Factor, float64(over))
		max := time.Duration(p.Escalation.Max)
		if scaled := float64(d) * f; scaled >= float64(max) || math.IsInf(scaled, 0) {
			d = max
		} else {
			d = time.Duration(scaled)
		}
	}
	return s.Action, d
}

// Allowlist holds addresses, ranges and domains no decision may touch.
type Allowlist struct {
	prefixes []netip.Prefix
	domains  map[string]bool
}

// ParseAllowlist reads alerts.allowlist: CIDRs, addresses and domains (a
// domain covers its subdomains).
func ParseAllowlist(entries []string) (*Allowlist, error) {
	a := &Allowlist{domains: map[string]bool{}}
	for i, e := range entries {
		e = strings.TrimSpace(e)
		if p, err := netip.ParsePrefix(e); err == nil {
			a.prefixes = append(a.prefixes, p.Masked())
			continue
		}
		if ip, err := netip.ParseAddr(e); err == nil {
			a.prefixes = append(a.prefixes, netip.PrefixFrom(ip.Unmap(), ip.Unmap().BitLen()))
			continue
		}
		d, err := decision.NormalizeValue(decision.ScopeDomain, e)
		if err != nil {
			return nil, fmt.Errorf("alerts.allowlist[%d]: %q is not an address, a CIDR range or a domain", i, e)
		}
		a.domains[d] = true
	}
	return a, nil
}

// Covers reports whether the allowlist protects any part of what a
// decision on scope and value would touch: an address inside an allowed
// range, a range overlapping one, a domain at or below an allowed one.
func (a *Allowlist) Covers(scope decision.Scope, value string) bool {
	if a == nil {
		return false
	}
	switch scope {
	case decision.ScopeIP, decision.ScopeRange:
		d := decision.Decision{Scope: scope, Value: value}
		p, err := d.Prefix()
		if err != nil {
			return false
		}
		for _, q := range a.prefixes {
			if q.Overlaps(p) {
				return true
			}
		}
	case decision.ScopeDomain:
		for name := value; name != ""; {
			if a.domains[name] {
				return true
			}
			_, rest, ok := strings.Cut(name, ".")
			if !ok {
				break
			}
			name = rest
		}
	}
	return false
}
