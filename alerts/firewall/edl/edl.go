// Package edl serves the decisions in force as plain-text lists that
// commercial campus firewalls poll: Palo Alto External Dynamic Lists and
// FortiGate external threat feeds. One entry a line, no comments (some
// firewalls reject them), highest severity first so a per-feed cap drops
// the least severe, an ETag so a poll that finds nothing new costs a 304.
//
//	GET /feeds/ips.txt      block decisions on addresses and CIDR ranges (IPv4 and IPv6)
//	GET /feeds/domains.txt  warn and block decisions on domains, each also as *.domain
//	GET /feeds/urls.txt     the same domains as URL-list entries (domain/ and *.domain/)
//
// It reads the decision store and knows nothing of policies or of how the
// decisions were made.
package edl

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
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

// The feeds.
const (
	FeedIPs     = "ips"
	FeedDomains = "domains"
	FeedURLs    = "urls"
)

// Feeds lists the feed names.
var Feeds = []string{FeedIPs, FeedDomains, FeedURLs}

// DefaultCap is the entries a feed lists at most unless configured: the
// smallest Palo Alto model's limit per list (50,000; larger models take
// 100,000–150,000, FortiGate 128k or 300k by model — see the vendor docs
// and set Caps to yours).
const DefaultCap = 50_000

// Options configure the handler.
type Options struct {
	Store *decision.Store
	// CheckToken checks a feeds-scope API token and names its owner; nil
	// serves the feeds without authentication.
	CheckToken func(ctx context.Context, secret string) (string, error)
	Caps       map[string]int // entries per feed; missing or 0: DefaultCap
	// NoWildcards leaves out the *.domain entries (each domain decision
	// covers its subdomains, so they are on by default).
	NoWildcards bool
	// CacheTTL is how long a built list is served before the store is
	// read again (default 10s): a hundred firewalls polling cost one query.
	CacheTTL   time.Duration
	Now        func() time.Time
	Registerer prometheus.Registerer
	Logger     *slog.Logger
}

// Handler serves the feeds under /feeds/.
type Handler struct {
	opts    Options
	metrics *metrics

	mu    sync.Mutex
	cache map[string]*list
}

// list is one built feed.
type list struct {
	body      []byte
	etag      string
	entries   int
	truncated bool
	built     time.Time
}

// New returns the feeds handler.
func New(opts Options) (*Handler, error) {
	if opts.Store == nil {
		return nil, errors.New("feeds: no decision store")
	}
	for name, n := range opts.Caps {
		if !known(name) {
			return nil, fmt.Errorf("feeds: cap for unknown feed %q (want ips, domains or urls)", name)
		}
		if n < 0 || n > 10_000_000 {
			return nil, fmt.Errorf("feeds: cap of %s: %d, want 0 (default %d) to 10000000", name, n, DefaultCap)
		}
	}
	if opts.CacheTTL <= 0 {
		opts.CacheTTL = 10 * time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	h := &Handler{opts: opts, cache: map[string]*list{}, metrics: newMetrics()}
	if opts.Registerer != nil {
		if err := h.metrics.register(opts.Registerer); err != nil {
			return nil, fmt.Errorf("feeds metrics: %w", err)
		}
	}
	return h, nil
}

func known(feed string) bool {
	for _, f := range Feeds {
		if f == feed {
			return true
		}
	}
	return false
}

func (h *Handler) cap(feed string) int {
	if n := h.opts.Caps[feed]; n > 0 {
		return n
	}
	return DefaultCap
}

// ServeHTTP answers GET and HEAD of /feeds/NAME.txt.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	feed, ok := strings.CutPrefix(r.URL.Path, "/feeds/")
	feed, isTxt := strings.CutSuffix(feed, ".txt")
	if !ok || !isTxt || !known(feed) {
		http.Error(w, "no such feed; there are /feeds/ips.txt, /feeds/domains.txt and /feeds/urls.txt", http.StatusNotFound)
		return
	}
	code := h.serve(w, r, feed)
	h.metrics.requests.WithLabelValues(feed, strconv.Itoa(code)).Inc()
}

func (h *Handler) serve(w http.ResponseWriter, r *http.Request, feed string) int {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "use GET", http.StatusMethodNotAllowed)
		return http.StatusMethodNotAllowed
	}
	if h.opts.CheckToken != nil {
		secret := TokenFrom(r)
		if secret == "" {
			w.Header().Set("WWW-Authenticate", `Basic realm="campusguard feeds"`)
			http.Error(w, "a feeds token is required: Authorization: Bearer TOKEN, basic auth with the token as password, or ?token=", http.StatusUnauthorized)
			return http.StatusUnauthorized
		}
		if _, err := h.opts.CheckToken(r.Context(), secret); err != nil {
			w.Header().Set("WWW-Authenticate", `Basic realm="campusguard feeds"`)
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return http.StatusUnauthorized
		}
	}
	l, err := h.get(r.Context(), feed)
	if err != nil {
		h.opts.Logger.Error("feeds: build", "feed", feed, "err", err)
		http.Error(w, "the decision store cannot be read", http.StatusServiceUnavailable)
		return http.StatusServiceUnavailable
	}
	hd := w.Header()
	hd.Set("ETag", l.etag)
	hd.Set("Cache-Control", "no-cache")
	hd.Set("Last-Modified", l.built.UTC().Format(http.TimeFormat))
	hd.Set("X-Campusguard-Entries", strconv.Itoa(l.entries))
	hd.Set("X-Campusguard-Truncated", strconv.FormatBool(l.truncated))
	if etagMatches(r.Header.Get("If-None-Match"), l.etag) {
		w.WriteHeader(http.StatusNotModified)
		return http.StatusNotModified
	}
	hd.Set("Content-Type", "text/plain; charset=utf-8")
	hd.Set("Content-Length", strconv.Itoa(len(l.body)))
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodGet {
		_, _ = w.Write(l.body)
	}
	return http.StatusOK
}

// TokenFrom finds a token in a request: a Bearer header, the password of
// basic auth (what most firewalls can send), or the token query parameter
// (for those that only take a URL — it lands in access logs, so prefer
// the others).
func TokenFrom(r *http.Request) string {
	if t, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		return strings.TrimSpace(t)
	}
	if _, pw, ok := r.BasicAuth(); ok {
		return pw
	}
	return r.URL.Query().Get("token")
}

// etagMatches implements If-None-Match: a list of tags, weak or strong
// (weak comparison), or *.
func etagMatches(header, etag string) bool {
	if header == "" {
		return false
	}
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
		if t == "*" || t == etag {
			return true
		}
	}
	return false
}

// get returns the feed, built at most CacheTTL ago.
func (h *Handler) get(ctx context.Context, feed string) (*list, error) {
	now := h.opts.Now()
	h.mu.Lock()
	defer h.mu.Unlock()
	if l := h.cache[feed]; l != nil && now.Sub(l.built) < h.opts.CacheTTL {
		return l, nil
	}
	active, err := h.opts.Store.Active(ctx, now)
	if err != nil {
		return nil, err
	}
	l := build(feed, active, h.cap(feed), !h.opts.NoWildcards)
	l.built = now
	if l.truncated && (h.cache[feed] == nil || !h.cache[feed].truncated) {
		h.opts.Logger.Warn("feeds: list truncated at its cap; the least severe decisions are left out",
			"feed", feed, "cap", h.cap(feed))
	}
	h.cache[feed] = l
	h.metrics.entries.WithLabelValues(feed).Set(float64(l.entries))
	h.metrics.truncated.WithLabelValues(feed).Set(boolFloat(l.truncated))
	return l, nil
}

func boolFloat(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// build renders one feed from the active decisions, which come most
// severe first, then newest.
func build(feed string, active []decision.Decision, limit int, wildcards bool) *list {
	var b bytes.Buffer
	seen := map[string]bool{}
	l := &list{}
	add := func(lines ...string) bool {
		fresh := lines[:0:0]
		for _, s := range lines {
			if !seen[s] {
				fresh = append(fresh, s)
			}
		}
		if l.entries+len(fresh) > limit {
			l.truncated = true
			return false
		}
		for _, s := range fresh {
			seen[s] = true
			b.WriteString(s)
			b.WriteByte('\n')
		}
		l.entries += len(fresh)
		return true
	}
	for _, d := range active {
		var lines []string
		switch {
		case feed == FeedIPs && d.Action == decision.ActionBlock && (d.Scope == decision.ScopeIP || d.Scope == decision.ScopeRange):
			lines = []string{d.Value}
		case feed == FeedDomains && d.Scope == decision.ScopeDomain:
			lines = []string{d.Value}
			if wildcards {
				lines = append(lines, "*."+d.Value)
			}
		case feed == FeedURLs && d.Scope == decision.ScopeDomain:
			lines = []string{d.Value + "/"}
			if wildcards {
				lines = append(lines, "*."+d.Value+"/")
			}
		default:
			continue
		}
		if !add(lines...) {
			break
		}
	}
	l.body = b.Bytes()
	sum := sha256.Sum256(l.body)
	l.etag = `"` + hex.EncodeToString(sum[:16]) + `"`
	return l
}

type metrics struct {
	entries, truncated *prometheus.GaugeVec
	requests           *prometheus.CounterVec
}

func newMetrics() *metrics {
	const ns, sub = "campusguard", "feed"
	m := &metrics{
		entries: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "entries",
			Help: "Entries in a feed as last built."}, []string{"feed"}),
		truncated: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "truncated",
			Help: "1 when a feed was cut at its cap (the least severe decisions left out)."}, []string{"feed"}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "requests_total",
			Help: "Feed requests by answer code (200, 304, 401, ...)."}, []string{"feed", "code"}),
	}
	for _, f := range Feeds {
		m.entries.WithLabelValues(f)
		m.truncated.WithLabelValues(f)
	}
	return m
}

func (m *metrics) register(r prometheus.Registerer) error {
	for _, c := range []prometheus.Collector{m.entries, m.truncated, m.requests} {
		if err := r.Register(c); err != nil {
			return err
		}
	}
	return nil
}
