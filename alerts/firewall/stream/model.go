package stream

import (
	"time"

	"github.com/campusguard/campusguard/alerts/decision"
)

// Decision is one decision as CrowdSec's LAPI sends it to bouncers: the
// fields and JSON names of models.Decision in crowdsecurity/crowdsec
// (pkg/models/decision.go), in its order. CrowdSec's uuid and simulated
// are left out: there is no CrowdSec console here, and dry runs are never
// sent.
type Decision struct {
	// Duration is how long the decision has left, a Go duration rounded
	// to the second ("3h59m50s"); negative for a deleted decision, whose
	// end has passed.
	Duration string `json:"duration"`
	ID       int64  `json:"id,omitempty"`
	// Origin is "policy" (the alert engine) or "manual" (a person).
	Origin string `json:"origin"`
	// Scenario is the policy's name, or "manual".
	Scenario string `json:"scenario"`
	// Scope is "Ip", "Range" or "Domain".
	Scope string `json:"scope"`
	// Type is "ban" for a block, Config.WarnType for a warning.
	Type string `json:"type"`
	// Until is when the decision ends (RFC 3339, UTC); for a deleted
	// decision, when it ended. CrowdSec's LAPI leaves it empty in the
	// stream; bouncers go by Duration.
	Until string `json:"until,omitempty"`
	Value string `json:"value"`
}

// Response is the body of GET /api/v1/decisions/stream. A list with
// nothing in it is null, as CrowdSec's LAPI sent it before chunked answers
// became its default (crowdsec#4413, 2026); bouncers read null and []
// alike.
type Response struct {
	New     []Decision `json:"new"`
	Deleted []Decision `json:"deleted"`
}

// CrowdSec scope names (types.Ip, types.Range in crowdsecurity/crowdsec)
// and ours for domains, which CrowdSec has no name for.
const (
	ScopeIP     = "Ip"
	ScopeRange  = "Range"
	ScopeDomain = "Domain"
)

func scopeName(s decision.Scope) string {
	switch s {
	case decision.ScopeIP:
		return ScopeIP
	case decision.ScopeRange:
		return ScopeRange
	case decision.ScopeDomain:
		return ScopeDomain
	}
	return string(s)
}

// wire is d as sent, without the times, which depend on when it is sent;
// ok is false for a decision no bouncer is sent (a notify, or a warning
// when Config.WarnType is empty).
func (h *Handler) wire(d decision.Decision) (Decision, bool) {
	var typ string
	switch d.Action {
	case decision.ActionBlock:
		typ = BanType
	case decision.ActionWarn:
		typ = h.cfg.WarnType
	}
	if typ == "" {
		return Decision{}, false
	}
	scenario := d.Policy
	if d.Origin == decision.OriginManual || scenario == "" {
		scenario = string(decision.OriginManual)
	}
	return Decision{ID: d.ID, Origin: string(d.Origin), Scenario: scenario, Scope: scopeName(d.Scope), Type: typ, Value: d.Value}, true
}

// timed sets the times of w, made from d: until its expiry, or for a
// deleted decision until it was revoked or expired.
func timed(w Decision, d decision.Decision, deleted bool, now time.Time) Decision {
	end := d.Expires
	if deleted && !d.Revoked.IsZero() && d.Revoked.Before(end) {
		end = d.Revoked
	}
	w.Duration = end.Sub(now).Round(time.Second).String()
	w.Until = end.UTC().Format(time.RFC3339)
	return w
}
