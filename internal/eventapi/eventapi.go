// Package eventapi receives network events from remote sensors over HTTP:
// `POST /api/v1/events` takes the NDJSON that `campusguard scan` prints and
// that the standalone CoreDNS build's `report` forwarder sends, and hands
// every event with hits to the pipeline. Posts have their own endpoint
// (internal/moderation), because they get verdicts and a queue.
package eventapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/campusguard/campusguard/internal/event"
)

// Limits bound one request.
type Limits struct {
	MaxRequestBytes int64 // 8 MiB
	MaxEvents       int   // 10 000 a request
	MaxHits         int   // 64 an event
	MaxFieldBytes   int   // 2 KiB for a name, URL or match
}

// DefaultLimits suit a resolver's batches (the forwarder sends ≤ 500 events).
func DefaultLimits() Limits {
	return Limits{MaxRequestBytes: 8 << 20, MaxEvents: 10_000, MaxHits: 64, MaxFieldBytes: 2048}
}

// Options configure the handler.
type Options struct {
	// Auth names the caller ("token:NAME") or refuses the request.
	Auth func(*http.Request) (string, error)
	// Sink receives each event with hits; it must not block.
	Sink       func(*event.Event)
	Limits     Limits
	Registerer prometheus.Registerer
}

// Handler serves POST /api/v1/events.
func Handler(opts Options) http.Handler {
	if opts.Limits == (Limits{}) {
		opts.Limits = DefaultLimits()
	}
	h := &handler{opts: opts, accepted: prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "campusguard", Subsystem: "api", Name: "events_total",
		Help: "Events received on /api/v1/events: accepted (with hits, to the pipeline), no_hits (ignored), rejected (whole request refused).",
	}, []string{"result"})}
	if opts.Registerer != nil {
		opts.Registerer.MustRegister(h.accepted)
	}
	return h
}

type handler struct {
	opts     Options
	accepted *prometheus.CounterVec
}

// apiError is the JSON error body every refusal carries.
type apiError struct {
	Error string `json:"error"`
	Line  int    `json:"line,omitempty"`
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeJSON(w, http.StatusMethodNotAllowed, apiError{Error: "use POST"})
		return
	}
	actor, err := h.opts.Auth(r)
	if err != nil {
		w.Header().Set("WWW-Authenticate", `Bearer realm="campusguard"`)
		writeJSON(w, http.StatusUnauthorized, apiError{Error: err.Error()})
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/x-ndjson") && !strings.HasPrefix(ct, "application/json") {
		writeJSON(w, http.StatusUnsupportedMediaType, apiError{Error: fmt.Sprintf("content type %q: want application/x-ndjson", ct)})
		return
	}
	body := http.MaxBytesReader(w, r.Body, h.opts.Limits.MaxRequestBytes)
	events, err := Decode(body, h.opts.Limits)
	if err != nil {
		code := http.StatusBadRequest
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			code = http.StatusRequestEntityTooLarge
		}
		var le *LineError
		line := 0
		if errors.As(err, &le) {
			line = le.Line
		}
		h.accepted.WithLabelValues("rejected").Inc()
		writeJSON(w, code, apiError{Error: err.Error(), Line: line})
		return
	}
	withHits := 0
	for i := range events {
		ev := &events[i]
		if len(ev.Hits) == 0 {
			continue
		}
		if ev.Sensor == "" {
			ev.Sensor = actor
		}
		withHits++
		h.opts.Sink(ev)
	}
	h.accepted.WithLabelValues("accepted").Add(float64(withHits))
	h.accepted.WithLabelValues("no_hits").Add(float64(len(events) - withHits))
	writeJSON(w, http.StatusOK, map[string]int{"received": len(events), "with_hits": withHits})
}

// LineError is a bad event, with its 1-based line.
type LineError struct {
	Line int
	Err  error
}

func (e *LineError) Error() string { return fmt.Sprintf("line %d: %v", e.Line, e.Err) }
func (e *LineError) Unwrap() error { return e.Err }

// Decode reads and checks a request's NDJSON events. A bad line refuses
// the whole request, so a sender's retry never half-duplicates a batch.
func Decode(r io.Reader, lim Limits) ([]event.Event, error) {
	dec := event.NewDecoder(r)
	var out []event.Event
	for {
		var ev event.Event
		err := dec.Decode(&ev)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			var tooBig *http.MaxBytesError
			if errors.As(err, &tooBig) {
				return nil, tooBig
			}
			return nil, err
		}
		line := len(out) + 1
		if len(out) == lim.MaxEvents {
			return nil, fmt.Errorf("more than %d events in one request", lim.MaxEvents)
		}
		if err := check(&ev, lim); err != nil {
			return nil, &LineError{Line: line, Err: err}
		}
		out = append(out, ev)
	}
}

// check refuses events that could not have come from a sensor.
func check(ev *event.Event, lim Limits) error {
	if !ev.Kind.IsNetwork() {
		return fmt.Errorf("kind %q: want dns, tls, quic or http (posts go to /api/v1/posts)", ev.Kind)
	}
	if ev.Time.IsZero() {
		return errors.New(`missing "ts"`)
	}
	if len(ev.Hits) > lim.MaxHits {
		return fmt.Errorf("%d hits, at most %d", len(ev.Hits), lim.MaxHits)
	}
	fields := [][2]string{{"sensor", ev.Sensor}, {"src", ev.Src}, {"dst", ev.Dst}, {"name", ev.Name}, {"url", ev.URL}, {"qtype", ev.QType}, {"rcode", ev.RCode}}
	for i, h := range ev.Hits {
		if h.Pack == "" || h.Rule == "" {
			return fmt.Errorf("hit %d: pack and rule are required", i)
		}
		if h.Start < 0 || h.End < h.Start {
			return fmt.Errorf("hit %d: span %d–%d", i, h.Start, h.End)
		}
		for _, f := range [][2]string{{"pack", h.Pack}, {"rule", h.Rule}, {"category", h.Category}, {"action", h.Action}, {"match", h.Match}, {"field", h.Field}} {
			fields = append(fields, [2]string{fmt.Sprintf("hits[%d].%s", i, f[0]), f[1]})
		}
	}
	for _, f := range fields {
		if len(f[1]) > lim.MaxFieldBytes {
			return fmt.Errorf("%s: %d bytes, at most %d", f[0], len(f[1]), lim.MaxFieldBytes)
		}
		if !utf8.ValidString(f[1]) {
			return fmt.Errorf("%s: not valid UTF-8", f[0])
		}
	}
	return nil
}
