// Package feeds publishes the firewall decisions in force as the plain-text
// lists that firewalls poll: GET /feeds/domains.txt, /feeds/ips.txt and
// /feeds/urls.txt, one entry a line, in the formats Palo Alto Networks
// external dynamic lists (EDL) and FortiGate external threat feeds read.
// The lists are built from decision.Store.Active at most once per cache TTL,
// capped per feed with the least severe decisions left out first, and
// served with a strong ETag so a firewall that has the current list gets a
// 304.
//
// It knows the decision record, its store and API tokens. It knows nothing
// of policies or the engine, and nothing of any firewall's API: firewalls
// pull, nothing here pushes.
package feeds

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/campusguard/campusguard/alerts/decision"
)

// Prefix is where serve mounts the handler: mux.Handle(feeds.Prefix, h).
// The handler answers Prefix + "domains.txt", "ips.txt" and "urls.txt".
const Prefix = "/feeds/"

// buildTimeout bounds one read of the decisions in force.
const buildTimeout = 30 * time.Second

// Options configure the handler.
type Options struct {
	// Store is where the decisions in force are read.
	Store *decision.Store
	// Config holds the cache TTL, the caps and the subdomain mode.
	Config Config
	// Auth names the caller or refuses the request; TokenAuth checks
	// tokens of scope feeds. It is required unless
	// Config.AllowAnonymous, and then not called.
	Auth func(*http.Request) (string, error)
	// Now is the clock (nil: time.Now); tests set it.
	Now func() time.Time
	// Registerer receives the metrics; nil leaves them unregistered.
	Registerer prometheus.Registerer
	// Logger receives a warning when a feed starts being truncated and
	// errors reading the decisions; nil discards them.
	Logger *slog.Logger
}

// Handler serves the three feeds. It is safe for concurrent use.
type Handler struct {
	store *decision.Store
	cfg   Config
	auth  func(*http.Request) (string, error)
	now   func() time.Time
	log   *slog.Logger
	m     *metrics

	// One build at a time: while it runs, requests get the previous
	// feeds, or wait for it when there are none yet.
	mu       sync.Mutex
	cur      *snapshot
	building chan struct{} // closed when the build under way ends; nil when none is
}

// snapshot is the three feeds built from one read of the store.
type snapshot struct {
	at    time.Time
	feeds [numFeeds]served
}

type served struct {
	list
	etag     string
	modified time.Time // when this feed's body last changed
}

// New checks opts and returns the handler.
func New(opts Options) (*Handler, error) {
	if opts.Store == nil {
		return nil, errors.New("feeds: no decision store")
	}
	if err := opts.Config.Validate(); err != nil {
		return nil, fmt.Errorf("feeds: %w", err)
	}
	if opts.Auth == nil && !opts.Config.AllowAnonymous {
		return nil, errors.New("feeds: no token check (Options.Auth) and allow_anonymous is off")
	}
	h := &Handler{store: opts.Store, cfg: opts.Config.withDefaults(), auth: opts.Auth, now: opts.Now, log: opts.Logger}
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

func writeError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(struct {
		Error string `json:"error"`
	}{msg})
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	feed := numFeeds
	if name, ok := strings.CutPrefix(r.URL.Path, Prefix); ok {
		for f := range numFeeds {
			if name == f.File() {
				feed = f
			}
		}
	}
	if feed == numFeeds {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no feed at %s: want %sdomains.txt, %sips.txt or %surls.txt", r.URL.Path, Prefix, Prefix, Prefix))
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		writeError(w, http.StatusMethodNotAllowed, "use GET or HEAD")
		return
	}
	if !h.cfg.AllowAnonymous {
		if _, err := h.auth(r); err != nil {
			// Firewalls that only do basic auth send credentials after
			// a Basic challenge.
			w.Header().Add("WWW-Authenticate", `Bearer realm="campusguard"`)
			w.Header().Add("WWW-Authenticate", `Basic realm="campusguard", charset="UTF-8"`)
			h.m.requests.WithLabelValues(feed.String(), resultUnauthorized).Inc()
			writeError(w, http.StatusUnauthorized, err.Error())
			return
		}
	}
	snap, err := h.snapshot(r.Context())
	if err != nil {
		h.log.Error("feeds: cannot build the feeds", "err", err)
		h.m.requests.WithLabelValues(feed.String(), resultError).Inc()
		w.Header().Set("Retry-After", "30")
		writeError(w, http.StatusServiceUnavailable, "the decisions in force cannot be read; try again later")
		return
	}
	s := snap.feeds[feed]
	hdr := w.Header()
	hdr.Set("Content-Type", "text/plain; charset=utf-8")
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("Cache-Control", "private, no-cache")
	hdr.Set("ETag", s.etag)
	hdr.Set("X-Campusguard-Entries", strconv.Itoa(s.entries))
	hdr.Set("X-Campusguard-Truncated", strconv.FormatBool(s.truncated()))
	hdr.Set("X-Campusguard-Omitted", strconv.Itoa(s.omitted))
	sw := &statusWriter{ResponseWriter: w, code: http.StatusOK}
	// ServeContent answers If-None-Match and If-Modified-Since with 304,
	// HEAD without a body, and sets Content-Length and Last-Modified.
	http.ServeContent(sw, r, "", s.modified, bytes.NewReader(s.body))
	result := resultOK
	if sw.code == http.StatusNotModified {
		result = resultNotModified
	}
	h.m.requests.WithLabelValues(feed.String(), result).Inc()
}

type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	w.code = code
	w.ResponseWriter.WriteHeader(code)
}

// snapshot returns the feeds, built anew when the cached ones are older
// than the cache TTL (or from a clock that since went back). Only one
// request reads the store; the others are served the previous feeds
// meanwhile, or wait for the first ones.
func (h *Handler) snapshot(ctx context.Context) (*snapshot, error) {
	for {
		h.mu.Lock()
		now := h.now()
		prev := h.cur
		if prev != nil && !now.Before(prev.at) && now.Sub(prev.at) < h.cfg.CacheTTL {
			h.mu.Unlock()
			return prev, nil
		}
		if wait := h.building; wait != nil {
			h.mu.Unlock()
			if prev != nil {
				return prev, nil
			}
			select {
			case <-wait:
				continue
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		done := make(chan struct{})
		h.building = done
		h.mu.Unlock()

		next, err := h.rebuild(ctx, now, prev)
		h.mu.Lock()
		if err == nil {
			h.cur = next
		}
		h.building = nil
		close(done)
		h.mu.Unlock()
		return next, err
	}
}

// rebuild reads the decisions in force at now and builds the feeds; prev
// (nil at first) is what it replaces.
func (h *Handler) rebuild(ctx context.Context, now time.Time, prev *snapshot) (*snapshot, error) {
	// The read does not end with the request that started it: others may
	// be waiting for it.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), buildTimeout)
	defer cancel()
	start := time.Now()
	ds, err := h.store.Active(ctx, now)
	if err != nil {
		h.m.builds.WithLabelValues("error").Inc()
		return nil, fmt.Errorf("read the decisions in force: %w", err)
	}
	lists := build(ds, now, h.cfg)
	h.m.buildTime.Observe(time.Since(start).Seconds())
	h.m.builds.WithLabelValues("ok").Inc()

	next := &snapshot{at: now}
	limits := [numFeeds]int{Domains: h.cfg.MaxEntries.Domains, IPs: h.cfg.MaxEntries.IPs, URLs: h.cfg.MaxEntries.URLs}
	for f := range numFeeds {
		l := lists[f]
		sum := sha256.Sum256(l.body)
		s := served{list: l, etag: `"` + hex.EncodeToString(sum[:16]) + `"`, modified: now.UTC().Truncate(time.Second)}
		wasTruncated := false
		if prev != nil {
			if prev.feeds[f].etag == s.etag {
				s.modified = prev.feeds[f].modified
			}
			wasTruncated = prev.feeds[f].truncated()
		}
		switch {
		case l.truncated() && !wasTruncated:
			h.log.Warn("feeds: feed truncated: the least severe decisions are left out; raise max_entries if the firewalls take more",
				"feed", f.File(), "entries", l.entries, "omitted", l.omitted, "max_entries", limits[f])
		case !l.truncated() && wasTruncated:
			h.log.Info("feeds: feed no longer truncated", "feed", f.File(), "entries", l.entries)
		}
		h.m.entries.WithLabelValues(f.String()).Set(float64(l.entries))
		h.m.omitted.WithLabelValues(f.String()).Set(float64(l.omitted))
		t := 0.0
		if l.truncated() {
			t = 1
		}
		h.m.truncated.WithLabelValues(f.String()).Set(t)
		next.feeds[f] = s
	}
	return next, nil
}
