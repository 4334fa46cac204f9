// Package dnsdecisions is the resolver's view of the alert engine's
// decisions: an Enforcer the engine applies decisions to and the
// in-process DNS plugin asks on every query (dnsplugin.Decisions). Domain
// decisions answer for the domain and its subdomains; warn and block
// decisions on a client answer that client's rule-hitting queries with
// the block response (a sinkhole shows the warning page). It knows nothing
// of policies, and the resolver knows nothing of it but the interface.
package dnsdecisions

import (
	"context"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/campusguard/campusguard/alerts/decision"
)

// Set holds the decisions the resolver enforces. Lookups read an immutable
// snapshot without locks; changes rebuild it.
type Set struct {
	now  func() time.Time
	mu   sync.Mutex
	held map[int64]decision.Decision
	snap atomic.Pointer[snapshot]
}

type until struct {
	action string
	end    time.Time
}

type snapshot struct {
	domains map[string]until
	clients map[netip.Addr]time.Time
	ranges  []rangeUntil
}

type rangeUntil struct {
	p   netip.Prefix
	end time.Time
}

// New returns an empty set; now is the clock lookups check expiry with
// (nil: time.Now).
func New(now func() time.Time) *Set {
	if now == nil {
		now = time.Now
	}
	s := &Set{now: now, held: map[int64]decision.Decision{}}
	s.snap.Store(&snapshot{})
	return s
}

// relevant reports whether the resolver acts on d.
func relevant(d decision.Decision, now time.Time) bool {
	return d.Enforced(now) && (d.Action == decision.ActionWarn || d.Action == decision.ActionBlock)
}

// Apply adds decisions in force.
func (s *Set) Apply(_ context.Context, ds []decision.Decision, now time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, d := range ds {
		if relevant(d, now) {
			s.held[d.ID] = d
		}
	}
	s.rebuild()
	return nil
}

// Remove drops decisions (revoked or expired).
func (s *Set) Remove(_ context.Context, ds []decision.Decision) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, d := range ds {
		delete(s.held, d.ID)
	}
	s.rebuild()
	return nil
}

// Reconcile holds exactly the active decisions.
func (s *Set) Reconcile(_ context.Context, active []decision.Decision, now time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.held = map[int64]decision.Decision{}
	for _, d := range active {
		if relevant(d, now) {
			s.held[d.ID] = d
		}
	}
	s.rebuild()
	return nil
}

// rebuild publishes a new snapshot; callers hold mu.
func (s *Set) rebuild() {
	n := &snapshot{domains: map[string]until{}, clients: map[netip.Addr]time.Time{}}
	for _, d := range s.held {
		switch d.Scope {
		case decision.ScopeDomain:
			old, ok := n.domains[d.Value]
			// A block outranks a warning; of two alike, the later end.
			if !ok || d.Action.Severity() > actionSeverity(old.action) ||
				(d.Action.Severity() == actionSeverity(old.action) && d.Expires.After(old.end)) {
				n.domains[d.Value] = until{string(d.Action), d.Expires}
			}
		case decision.ScopeIP:
			if a, err := netip.ParseAddr(d.Value); err == nil && d.Expires.After(n.clients[a]) {
				n.clients[a] = d.Expires
			}
		case decision.ScopeRange:
			if p, err := netip.ParsePrefix(d.Value); err == nil {
				n.ranges = append(n.ranges, rangeUntil{p, d.Expires})
			}
		}
	}
	s.snap.Store(n)
}

func actionSeverity(a string) int { return decision.Action(a).Severity() }

// Domain reports the action of a decision on name or a parent of it.
func (s *Set) Domain(name string) (string, bool) {
	n := s.snap.Load()
	if len(n.domains) == 0 {
		return "", false
	}
	now := s.now()
	for {
		if u, ok := n.domains[name]; ok && now.Before(u.end) {
			return u.action, true
		}
		_, rest, ok := strings.Cut(name, ".")
		if !ok {
			return "", false
		}
		name = rest
	}
}

// ClientWarned reports whether a warn or block decision covers client.
func (s *Set) ClientWarned(client netip.Addr) bool {
	n := s.snap.Load()
	if len(n.clients) == 0 && len(n.ranges) == 0 {
		return false
	}
	now := s.now()
	if end, ok := n.clients[client]; ok && now.Before(end) {
		return true
	}
	for _, r := range n.ranges {
		if r.p.Contains(client) && now.Before(r.end) {
			return true
		}
	}
	return false
}
