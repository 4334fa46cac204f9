// Package stream serves the firewall decisions to bouncers the way
// CrowdSec's Local API does: GET /api/v1/decisions/stream answers
// {"new": [...], "deleted": [...]} with the decisions that came into force
// and those that ended since the bouncer's last pull (with startup=true,
// every decision in force), so an existing CrowdSec bouncer (the firewall
// bouncer, for one) can enforce campusguard's blocks. Each bouncer token
// has its own place in the stream, kept by decision.Store.Pull.
//
// It knows the decision record, its store and API tokens, and CrowdSec's
// wire format. It knows nothing of policies or the engine, and nothing of
// what a bouncer does with a decision.
package stream

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/campusguard/campusguard/alerts/decision"
	"github.com/campusguard/campusguard/internal/state"
)

// Path is where serve mounts the handler: mux.Handle(stream.Path, h).
const Path = "/api/v1/decisions/stream"

// perKeyLookups is how many subjects a pull looks up one by one, to see
// which of their decisions are still in force; past it, one read of every
// decision in force is cheaper.
const perKeyLookups = 64

// Options configure the handler.
type Options struct {
	// Store is where the decisions and the bouncers' cursors are kept.
	Store *decision.Store
	// Config holds the warn type.
	Config Config
	// Auth returns the name of the consumer whose cursor a pull moves,
	// or refuses the request. TokenAuth checks tokens of scope bouncer
	// and returns the token's name. Required.
	Auth func(*http.Request) (string, error)
	// Now is the clock (nil: time.Now); tests set it.
	Now func() time.Time
	// Registerer receives the metrics; nil leaves them unregistered.
	Registerer prometheus.Registerer
	// Logger receives a line per pull at debug level and store errors;
	// nil discards them.
	Logger *slog.Logger
}

// Handler serves the decision stream. It is safe for concurrent use.
type Handler struct {
	store *decision.Store
	cfg   Config
	auth  func(*http.Request) (string, error)
	now   func() time.Time
	log   *slog.Logger
	m     *metrics
}

// New checks opts and returns the handler.
func New(opts Options) (*Handler, error) {
	if opts.Store == nil {
		return nil, errors.New("stream: no decision store")
	}
	if opts.Auth == nil {
		return nil, errors.New("stream: no token check (Options.Auth)")
	}
	if err := opts.Config.Validate(); err != nil {
		return nil, fmt.Errorf("stream: %w", err)
	}
	h := &Handler{store: opts.Store, cfg: opts.Config, auth: opts.Auth, now: opts.Now, log: opts.Logger}
	if h.now == nil {
		h.now = time.Now
	}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	var err error
	if h.m, err = newMetrics(opts.Registerer); err != nil {
		return nil, err
	}
	return h, nil
}

// errNoKey is the refusal of a request without a key.
var errNoKey = errors.New(`missing API key: send "X-Api-Key: TOKEN" or "Authorization: Bearer TOKEN" (create one with campusguard tokens add --scope bouncer)`)

// Secret returns the API token a bouncer request carries: the X-Api-Key
// header CrowdSec bouncers send, or "Authorization: Bearer TOKEN".
func Secret(r *http.Request) (string, error) {
	if k := strings.TrimSpace(r.Header.Get("X-Api-Key")); k != "" {
		return k, nil
	}
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, rest, _ := strings.Cut(h, " ")
		if !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(rest) == "" {
			return "", errors.New("authorization: want Bearer TOKEN")
		}
		return strings.TrimSpace(rest), nil
	}
	return "", errNoKey
}

// TokenAuth checks the token a request carries (see Secret) against the
// API tokens of scope bouncer and returns the token's name, which is the
// consumer the stream keeps a cursor for: one token a bouncer.
func TokenAuth(db *state.DB) func(*http.Request) (string, error) {
	return func(r *http.Request) (string, error) {
		secret, err := Secret(r)
		if err != nil {
			return "", err
		}
		t, err := db.CheckToken(r.Context(), secret, state.ScopeBouncer)
		if err != nil {
			return "", err
		}
		return t.Name, nil
	}
}

// writeError answers with our {"error": ...} and CrowdSec's
// {"message": ...}, which bouncers print.
func writeError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(struct {
		Error   string `json:"error"`
		Message string `json:"message"`
	}{msg, msg})
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != Path {
		writeError(w, http.StatusNotFound, "no such endpoint: the stream is "+Path)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		writeError(w, http.StatusMethodNotAllowed, "use GET or HEAD")
		return
	}
	consumer, err := h.auth(r)
	if err != nil {
		w.Header().Set("WWW-Authenticate", `Bearer realm="campusguard"`)
		writeError(w, http.StatusUnauthorized, err.Error())
		return
	}
	q := r.URL.Query()
	filter, err := ParseFilter(q)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	// CrowdSec answers HEAD without a body and without moving the
	// bouncer's place in the stream; so does this.
	if r.Method == http.MethodHead {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		return
	}
	startup, _ := strconv.ParseBool(q.Get("startup"))
	now := h.now()
	resp, err := h.pull(r.Context(), consumer, startup, filter, now)
	if err != nil {
		h.m.errors.Inc()
		h.log.Error("stream: pull failed", "consumer", consumer, "startup", startup, "err", err)
		writeError(w, http.StatusInternalServerError, "the decisions cannot be read; try again later")
		return
	}
	h.m.pulls.WithLabelValues(strconv.FormatBool(startup)).Inc()
	h.m.sent.WithLabelValues("new").Add(float64(len(resp.New)))
	h.m.sent.WithLabelValues("deleted").Add(float64(len(resp.Deleted)))
	h.log.Debug("stream: pull", "consumer", consumer, "startup", startup, "new", len(resp.New), "deleted", len(resp.Deleted))
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_ = json.NewEncoder(w).Encode(resp)
}

// key is what a bouncer holds a decision under, as CrowdSec deduplicates
// its stream: scope, type and value.
type key struct {
	scope decision.Scope
	typ   string
	value string
}

// touched is a subject a pull saw change.
type touched struct {
	wire  Decision          // as sent, without the times
	ended decision.Decision // the newest decision on it that ended; ID 0 if none
}

// pick keeps the decision that lasts longer; of two that end together,
// the newer.
func pick(held *decision.Decision, d decision.Decision) {
	if held.ID == 0 || d.Expires.After(held.Expires) || d.Expires.Equal(held.Expires) && d.ID > held.ID {
		*held = d
	}
}

// pull moves consumer's cursor and answers with one decision per subject
// (scope, type, value) the bouncer must change, as CrowdSec does:
//
//   - new: for every subject a decision came into force on, or one ended
//     on while another still holds it, the decision in force that lasts
//     longest (sent again if the bouncer has it: re-adding is harmless,
//     and it carries the right duration);
//   - deleted: for every subject whose last decision ended (revoked or
//     expired), that decision.
//
// So a bouncer never deletes an address that another decision still
// blocks. With startup, new is every subject in force and deleted is null.
func (h *Handler) pull(ctx context.Context, consumer string, startup bool, f Filter, now time.Time) (Response, error) {
	var resp Response
	// The answer is built inside the pull's transaction: if it cannot be,
	// the cursor stays and the next pull sends these changes again.
	err := h.store.PullThen(ctx, consumer, startup, now, func(r decision.Reader, added, deleted []decision.Decision) error {
		var err error
		resp, err = h.answer(ctx, r, startup, added, deleted, f, now)
		return err
	})
	return resp, err
}

// answer turns a pull's changes into the bouncer's answer.
func (h *Handler) answer(ctx context.Context, r decision.Reader, startup bool, added, deleted []decision.Decision, f Filter, now time.Time) (Response, error) {
	subjects := map[key]*touched{}
	note := func(d decision.Decision, ended bool) {
		w, ok := h.wire(d)
		if !ok || !f.Match(w) {
			return
		}
		k := key{d.Scope, w.Type, d.Value}
		t := subjects[k]
		if t == nil {
			t = &touched{wire: w}
			subjects[k] = t
		}
		if ended && d.ID > t.ended.ID {
			t.ended = d
		}
	}
	for _, d := range added {
		note(d, false)
	}
	for _, d := range deleted {
		note(d, true)
	}
	if len(subjects) == 0 {
		return Response{}, nil
	}

	var live map[key]decision.Decision
	if startup {
		// Pull's added is every decision in force.
		live = map[key]decision.Decision{}
		for _, d := range added {
			if w, ok := h.wire(d); ok && f.Match(w) {
				k := key{d.Scope, w.Type, d.Value}
				held := live[k]
				pick(&held, d)
				live[k] = held
			}
		}
	} else {
		var err error
		if live, err = inForce(ctx, r, subjects, f, now, h.wire); err != nil {
			return Response{}, err
		}
	}

	var resp Response
	for k, t := range subjects {
		if d, ok := live[k]; ok {
			w, _ := h.wire(d)
			resp.New = append(resp.New, timed(w, d, false, now))
		} else if t.ended.ID != 0 {
			resp.Deleted = append(resp.Deleted, timed(t.wire, t.ended, true, now))
		}
	}
	byID := func(a, b Decision) int { return cmp.Compare(a.ID, b.ID) }
	slices.SortFunc(resp.New, byID)
	slices.SortFunc(resp.Deleted, byID)
	return resp, nil
}

// inForce returns, for each subject, the longest-lasting decision in
// force on it that f lets through.
func inForce(ctx context.Context, r decision.Reader, subjects map[key]*touched, f Filter, now time.Time,
	wire func(decision.Decision) (Decision, bool)) (map[key]decision.Decision, error) {
	live := map[key]decision.Decision{}
	consider := func(d decision.Decision) {
		if !d.Enforced(now) {
			return
		}
		w, ok := wire(d)
		if !ok || !f.Match(w) {
			return
		}
		k := key{d.Scope, w.Type, d.Value}
		if _, want := subjects[k]; !want {
			return
		}
		held := live[k]
		pick(&held, d)
		live[k] = held
	}
	if len(subjects) > perKeyLookups {
		ds, err := r.Active(ctx, now)
		if err != nil {
			return nil, err
		}
		for _, d := range ds {
			consider(d)
		}
		return live, nil
	}
	type subject struct {
		scope decision.Scope
		value string
	}
	looked := map[subject]bool{}
	for k := range subjects {
		s := subject{k.scope, k.value}
		if looked[s] {
			continue
		}
		looked[s] = true
		ds, err := r.List(ctx, decision.Filter{Scope: k.scope, Value: k.value, Live: true, Now: now, Limit: 1000})
		if err != nil {
			return nil, err
		}
		for _, d := range ds {
			consider(d)
		}
	}
	return live, nil
}
