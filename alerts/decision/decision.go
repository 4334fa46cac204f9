// Package decision is the one record behind every enforcement output: a
// scope and value (an address, a range, a domain), an action with an
// expiry, where it came from (a policy or a person), why, and the hits that
// caused it. The engine writes decisions; nftables, the feeds, the bouncer
// stream, webhooks and the console read them. It knows nothing about how a
// decision is enforced or which policy produced it.
package decision

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"golang.org/x/net/idna"
)

// Scope says what a decision's value is.
type Scope string

const (
	ScopeIP     Scope = "ip"     // one IPv4 or IPv6 address
	ScopeRange  Scope = "range"  // a CIDR prefix
	ScopeDomain Scope = "domain" // a domain and everything below it
)

// Action is a step of the escalation ladder.
type Action string

const (
	ActionNotify Action = "notify" // tell the NOC; nothing is enforced
	ActionWarn   Action = "warn"   // DNS answers with the sinkhole warning page
	ActionBlock  Action = "block"  // firewalls drop the traffic until expiry
)

// Severity orders how bad an action is.
func (a Action) Severity() int {
	switch a {
	case ActionNotify:
		return 1
	case ActionWarn:
		return 2
	case ActionBlock:
		return 3
	}
	return 0
}

// Origin says who made a decision.
type Origin string

const (
	OriginPolicy Origin = "policy" // the engine, under a configured policy
	OriginManual Origin = "manual" // a person, from the console or the API
)

// HitRef is enough of a hit to find it again in the hit log.
type HitRef struct {
	Time   time.Time `json:"time"`
	Sensor string    `json:"sensor,omitempty"`
	Kind   string    `json:"kind"`
	Client string    `json:"client,omitempty"`
	Server string    `json:"server,omitempty"`
	Name   string    `json:"name,omitempty"`
	Pack   string    `json:"pack"`
	Rule   string    `json:"rule"`
}

// HitPack is the pack name of hits an enforcement point reports when a
// decision (not a rule pack) made it act, e.g. the resolver answering for
// a blocked domain. The engine does not count them: a decision must not
// feed itself.
const HitPack = "campusguard-decision"

// MaxHits bounds how many hits a decision keeps as evidence.
const MaxHits = 20

// Decision is one enforcement record.
type Decision struct {
	ID       int64     `json:"id"`
	Action   Action    `json:"action"`
	Scope    Scope     `json:"scope"`
	Value    string    `json:"value"`
	Category string    `json:"category,omitempty"`
	Severity int       `json:"severity"` // 1 (low) .. 4 (critical); feeds list higher first
	Origin   Origin    `json:"origin"`
	Policy   string    `json:"policy,omitempty"` // the policy name for OriginPolicy
	Actor    string    `json:"actor"`            // "system" or the user or token name
	Reason   string    `json:"reason"`
	Strike   int       `json:"strike"` // 1 for a first offence, n for the n-th
	DryRun   bool      `json:"dry_run,omitempty"`
	Hits     []HitRef  `json:"hits,omitempty"`
	Created  time.Time `json:"created"`
	Expires  time.Time `json:"expires"` // equal to Created for a one-off notify

	Revoked      time.Time `json:"revoked,omitzero"`
	RevokedBy    string    `json:"revoked_by,omitempty"`
	RevokeReason string    `json:"revoke_reason,omitempty"`
}

// Active reports whether d is in force at now: not revoked, not expired and
// not a dry run. Dry-run decisions are recorded but never enforced.
func (d Decision) Active(now time.Time) bool {
	return !d.DryRun && d.Revoked.IsZero() && now.Before(d.Expires)
}

// Enforced reports whether an output should act on d: an active warn or
// block. A notify is a message, not a state.
func (d Decision) Enforced(now time.Time) bool {
	return d.Action != ActionNotify && d.Active(now)
}

// Remaining is how long d stays in force after now; zero once it is not.
func (d Decision) Remaining(now time.Time) time.Duration {
	if !d.Active(now) {
		return 0
	}
	return d.Expires.Sub(now)
}

// Subject names what a decision is about, e.g. "ip:10.0.0.5".
func (d Decision) Subject() string { return string(d.Scope) + ":" + d.Value }

// Prefix returns the address range of an ip or range decision.
func (d Decision) Prefix() (netip.Prefix, error) {
	switch d.Scope {
	case ScopeIP:
		a, err := netip.ParseAddr(d.Value)
		if err != nil {
			return netip.Prefix{}, err
		}
		return netip.PrefixFrom(a, a.BitLen()), nil
	case ScopeRange:
		return netip.ParsePrefix(d.Value)
	}
	return netip.Prefix{}, fmt.Errorf("decision %d: scope %s has no address range", d.ID, d.Scope)
}

// NormalizeValue checks a value for its scope and returns its canonical
// form: addresses unmapped and compressed, ranges masked to their prefix,
// domains lower-case punycode without a trailing dot.
func NormalizeValue(scope Scope, value string) (string, error) {
	value = strings.TrimSpace(value)
	switch scope {
	case ScopeIP:
		a, err := netip.ParseAddr(value)
		if err != nil || a.Zone() != "" {
			return "", fmt.Errorf("value %q: not an IP address", value)
		}
		return a.Unmap().String(), nil
	case ScopeRange:
		p, err := netip.ParsePrefix(value)
		if err != nil {
			return "", fmt.Errorf("value %q: not a CIDR range: %w", value, err)
		}
		if p.Addr().Is4In6() {
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
			if p.Bits() < 0 {
				return "", fmt.Errorf("value %q: not a CIDR range", value)
			}
		}
		p = p.Masked()
		if p.Bits() == 0 {
			return "", fmt.Errorf("value %q: a decision cannot cover every address", value)
		}
		return p.String(), nil
	case ScopeDomain:
		d := strings.TrimSuffix(strings.ToLower(value), ".")
		if d == "" || strings.ContainsAny(d, " \t\r\n/:*") {
			return "", fmt.Errorf("value %q: not a domain name", value)
		}
		ascii, err := idna.Lookup.ToASCII(d)
		if err != nil {
			return "", fmt.Errorf("value %q: not a domain name: %w", value, err)
		}
		labels := strings.Split(ascii, ".")
		if len(labels) < 2 {
			return "", fmt.Errorf("value %q: a decision needs a name below a top-level domain", value)
		}
		if len(ascii) > 253 {
			return "", fmt.Errorf("value %q: longer than a domain name can be", value)
		}
		for _, l := range labels {
			if l == "" || len(l) > 63 {
				return "", fmt.Errorf("value %q: not a domain name (empty or over-long label)", value)
			}
		}
		return ascii, nil
	}
	return "", fmt.Errorf("scope %q: want ip, range or domain", scope)
}

// Validate checks d before it is stored and normalizes its value.
func (d *Decision) Validate() error {
	switch d.Action {
	case ActionNotify, ActionWarn, ActionBlock:
	default:
		return fmt.Errorf("action %q: want notify, warn or block", d.Action)
	}
	v, err := NormalizeValue(d.Scope, d.Value)
	if err != nil {
		return err
	}
	d.Value = v
	switch d.Origin {
	case OriginPolicy:
		if d.Policy == "" {
			return errors.New("a policy decision needs its policy name")
		}
	case OriginManual:
		if d.Actor == "" || d.Actor == "system" {
			return errors.New("a manual decision needs the name of the person who made it")
		}
	default:
		return fmt.Errorf("origin %q: want policy or manual", d.Origin)
	}
	if strings.TrimSpace(d.Reason) == "" {
		return errors.New("a decision needs a reason")
	}
	if len(d.Reason) > 1000 {
		return errors.New("reason: longer than 1000 bytes")
	}
	if d.Created.IsZero() {
		return errors.New("a decision needs its creation time")
	}
	if d.Action != ActionNotify && !d.Expires.After(d.Created) {
		return fmt.Errorf("a %s decision needs an expiry after its creation", d.Action)
	}
	if d.Action == ActionNotify && d.Expires.IsZero() {
		d.Expires = d.Created
	}
	if d.Severity < 1 || d.Severity > 4 {
		return fmt.Errorf("severity %d: want 1 to 4", d.Severity)
	}
	if d.Strike < 1 {
		d.Strike = 1
	}
	if len(d.Hits) > MaxHits {
		d.Hits = d.Hits[len(d.Hits)-MaxHits:]
	}
	return nil
}
