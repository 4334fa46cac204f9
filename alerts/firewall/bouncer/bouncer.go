// Package bouncer serves GET /api/v1/decisions/stream in the shape of
// CrowdSec's Local API, so enforcement points written for CrowdSec (its
// firewall and web-server bouncers) can pull campusguard's decisions:
// ?startup=true returns every decision in force, later pulls what came
// into force and what ended since that bouncer's last pull. Each bouncer
// is an API token of scope bouncer; its cursor is kept per token name.
// It reads the decision store and knows nothing of policies.
package bouncer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/campusguard/campusguard/alerts/decision"
)

// Decision is a decision as CrowdSec's models.Decision has it.
type Decision struct {
	ID        int64  `json:"id"`
	Origin    string `json:"origin"`   // "campusguard" (a policy) or "manual"
	Type      string `json:"type"`     // "ban" for block, "captcha" for warn
	Scope     string `json:"scope"`    // "Ip", "Range" or "Domain"
	Value     string `json:"value"`    // 10.0.0.5, 10.1.0.0/16, evil.example
	Duration  string `json:"duration"` // time left, as a Go duration ("3h59m50s")
	Until     string `json:"until"`    // expiry, RFC 3339
	Scenario  string `json:"scenario"` // "campusguard/POLICY" or "manual: REASON"
	Simulated bool   `json:"simulated"`
}

// Stream is one pull's answer; CrowdSec sends null, not [], for "nothing".
type Stream struct {
	New     []Decision `json:"new"`
	Deleted []Decision `json:"deleted"`
}

// Options configure the handler.
type Options struct {
	Store *decision.Store
	// CheckToken checks a bouncer-scope API token and returns its name,
	// the bouncer's cursor. Required.
	CheckToken func(ctx context.Context, secret string) (string, error)
	Now        func() time.Time
	Registerer prometheus.Registerer
	Logger     *slog.Logger
}

// Handler serves the stream.
type Handler struct {
	opts  Options
	pulls *prometheus.CounterVec
	sent  *prometheus.CounterVec
}

// New returns the stream handler.
func New(opts Options) (*Handler, error) {
	if opts.Store == nil || opts.CheckToken == nil {
		return nil, errors.New("decision stream: a store and a token check are required")
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	h := &Handler{opts: opts,
		pulls: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "campusguard", Subsystem: "stream", Name: "pulls_total",
			Help: "Bouncer pulls of /api/v1/decisions/stream, by startup (true: the full list)."}, []string{"startup"}),
		sent: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "campusguard", Subsystem: "stream", Name: "decisions_sent_total",
			Help: "Decisions sent to bouncers, as new or deleted."}, []string{"kind"}),
	}
	for _, l := range []string{"true", "false"} {
		h.pulls.WithLabelValues(l)
	}
	for _, l := range []string{"new", "deleted"} {
		h.sent.WithLabelValues(l)
	}
	if opts.Registerer != nil {
		for _, c := range []prometheus.Collector{h.pulls, h.sent} {
			if err := opts.Registerer.Register(c); err != nil {
				return nil, fmt.Errorf("decision stream metrics: %w", err)
			}
		}
	}
	return h, nil
}

type apiError struct {
	Message string `json:"message"` // CrowdSec's error field
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// ServeHTTP answers a pull.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		writeJSON(w, http.StatusMethodNotAllowed, apiError{"use GET"})
		return
	}
	secret := r.Header.Get("X-Api-Key") // what CrowdSec bouncers send
	if secret == "" {
		secret, _ = strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	}
	if strings.TrimSpace(secret) == "" {
		w.Header().Set("WWW-Authenticate", `Bearer realm="campusguard"`)
		writeJSON(w, http.StatusUnauthorized, apiError{"a bouncer token is required in X-Api-Key (campusguard tokens add --scope bouncer NAME)"})
		return
	}
	name, err := h.opts.CheckToken(r.Context(), strings.TrimSpace(secret))
	if err != nil {
		w.Header().Set("WWW-Authenticate", `Bearer realm="campusguard"`)
		writeJSON(w, http.StatusForbidden, apiError{err.Error()})
		return
	}
	q, err := ParseQuery(r.URL.RawQuery)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, apiError{err.Error()})
		return
	}
	now := h.opts.Now().UTC()
	added, deleted, err := h.opts.Store.Pull(r.Context(), name, q.Startup, now)
	if err != nil {
		h.opts.Logger.Error("decision stream", "bouncer", name, "err", err)
		writeJSON(w, http.StatusServiceUnavailable, apiError{"the decision store cannot be read"})
		return
	}
	out := Stream{New: q.convert(added, now), Deleted: q.convert(deleted, now)}
	h.pulls.WithLabelValues(strconv.FormatBool(q.Startup)).Inc()
	h.sent.WithLabelValues("new").Add(float64(len(out.New)))
	h.sent.WithLabelValues("deleted").Add(float64(len(out.Deleted)))
	writeJSON(w, http.StatusOK, out)
}

// Query is a pull's parameters.
type Query struct {
	Startup bool
	Scopes  map[string]bool // lower-case CrowdSec scopes: ip, range, domain; nil = all
	Origins map[string]bool // campusguard, manual; nil = all
}

// ParseQuery reads startup, scopes and origins (comma-separated, any case)
// from a raw query string; unknown values are errors that say which.
func ParseQuery(raw string) (Query, error) {
	var q Query
	for _, kv := range strings.Split(raw, "&") {
		if kv == "" {
			continue
		}
		k, v, _ := strings.Cut(kv, "=")
		v, err := url.QueryUnescape(v)
		if err != nil {
			return q, fmt.Errorf("%.40q: %w", kv, err)
		}
		switch k {
		case "startup":
			b, err := strconv.ParseBool(v)
			if err != nil {
				return q, fmt.Errorf("startup=%.40q: want true or false", v)
			}
			q.Startup = b
		case "scopes", "scope":
			set, err := parseSet(k, v, "ip", "range", "domain")
			if err != nil {
				return q, err
			}
			q.Scopes = set
		case "origins":
			set, err := parseSet(k, v, "campusguard", "manual")
			if err != nil {
				return q, err
			}
			q.Origins = set
		}
		// Other parameters CrowdSec bouncers send (scenarios_containing,
		// community_pull, ...) are accepted and ignored.
	}
	return q, nil
}

func parseSet(key, raw string, allowed ...string) (map[string]bool, error) {
	set := map[string]bool{}
	for _, v := range strings.Split(strings.ToLower(raw), ",") {
		v = strings.TrimSpace(v)
		if v == "" {
			continue
		}
		ok := false
		for _, a := range allowed {
			ok = ok || v == a
		}
		if !ok {
			return nil, fmt.Errorf("%s: %.40q is not one of %s", key, v, strings.Join(allowed, ", "))
		}
		set[v] = true
	}
	return set, nil
}

var scopeNames = map[decision.Scope]string{decision.ScopeIP: "Ip", decision.ScopeRange: "Range", decision.ScopeDomain: "Domain"}

// convert renders the decisions the query asks for; nil when none.
func (q Query) convert(ds []decision.Decision, now time.Time) []Decision {
	var out []Decision
	for _, d := range ds {
		origin, scenario := "campusguard", "campusguard/"+d.Policy
		if d.Origin == decision.OriginManual {
			origin, scenario = "manual", "manual: "+d.Reason
		}
		scope := scopeNames[d.Scope]
		if (q.Scopes != nil && !q.Scopes[strings.ToLower(scope)]) || (q.Origins != nil && !q.Origins[origin]) {
			continue
		}
		typ := "ban"
		if d.Action == decision.ActionWarn {
			typ = "captcha" // CrowdSec's softer remediation: a page, not a drop
		}
		end := d.Expires
		if !d.Revoked.IsZero() && d.Revoked.Before(end) {
			end = d.Revoked
		}
		left := max(end.Sub(now), 0).Round(time.Second)
		out = append(out, Decision{ID: d.ID, Origin: origin, Type: typ, Scope: scope, Value: d.Value,
			Duration: left.String(), Until: end.UTC().Format(time.RFC3339), Scenario: scenario})
	}
	return out
}
