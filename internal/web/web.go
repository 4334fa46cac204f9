// Package web is campusguard's console: server-rendered pages (html/template,
// assets embedded, no CDN, no inline script, charts drawn as SVG in Go) for
// the overview, the moderation queue, hit search, rules, firewall decisions
// and each subject's history, the audit log, users and tokens, in English
// and Simplified Chinese; the queue's and the decisions' JSON API for the
// console's own session; and the mount of the post ingest API. Sessions,
// CSRF tokens, roles and the audit of every read of personal data are
// enforced here.
//
// It knows the moderation queue, the hit store's queries, the matcher, the
// alert engine (through the small Decisions interface) and the state
// database only through their exported APIs, and nothing of how serve
// wires them, of how decisions are enforced, of capture or of DNS beyond
// the metrics it reads from a prometheus.Gatherer.
package web

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/campusguard/campusguard/internal/hitlog"
	"github.com/campusguard/campusguard/internal/moderation"
	"github.com/campusguard/campusguard/internal/state"
	"github.com/campusguard/campusguard/matcher"
)

// Options are the console's dependencies.
type Options struct {
	DB         *state.DB           // users, sessions, tokens, audit
	Queue      *moderation.Service // the moderation queue
	Hits       *hitlog.Queries     // may be nil: no hit store configured (pages say so)
	Decisions  Decisions           // the alert engine; may be nil: decisions not enabled (pages say so)
	Matcher    *matcher.Matcher    // the rules page and its tester
	Gatherer   prometheus.Gatherer // capture, DNS and hit-log health on the overview; may be nil
	Secure     bool                // Secure cookies (behind TLS)
	SessionTTL time.Duration       // default 12h
	Logger     *slog.Logger
	Registerer prometheus.Registerer // may be nil
	Now        func() time.Time      // tests; default time.Now

	// missing, set by tests, hears of every translation key that fell
	// back to English or to the key.
	missing func(lang, key string)
}

// Console serves the web console.
type Console struct {
	opts      Options
	db        *state.DB
	queue     *moderation.Service
	hits      *hitlog.Queries
	decisions Decisions
	match     *matcher.Matcher
	log       *slog.Logger
	now       func() time.Time
	limiter   *loginLimiter // per user name
	ipLimiter *loginLimiter // per client address
	metrics   *metrics
	pages     map[string]*pageTemplate
	mux       *http.ServeMux
}

// New builds a console. DB, Queue and Matcher are required.
func New(opts Options) (*Console, error) {
	switch {
	case opts.DB == nil:
		return nil, errors.New("web console: no state database")
	case opts.Queue == nil:
		return nil, errors.New("web console: no moderation queue")
	case opts.Matcher == nil:
		return nil, errors.New("web console: no matcher")
	}
	if opts.SessionTTL <= 0 {
		opts.SessionTTL = 12 * time.Hour
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	pages, err := parsePages()
	if err != nil {
		return nil, err
	}
	c := &Console{
		opts:      opts,
		db:        opts.DB,
		queue:     opts.Queue,
		hits:      opts.Hits,
		decisions: opts.Decisions,
		match:     opts.Matcher,
		log:       opts.Logger,
		now:       opts.Now,
		limiter:   newLoginLimiter(loginFailures, loginWindow, opts.Now),
		ipLimiter: newLoginLimiter(loginIPFailures, loginWindow, opts.Now),
		pages:     pages,
	}
	c.metrics, err = newMetrics(opts.Registerer)
	if err != nil {
		return nil, err
	}
	c.routes()
	return c, nil
}

// Handler serves every console route and /api/v1/posts; serve mounts
// /metrics, /healthz and /readyz itself, in front of it.
func (c *Console) Handler() http.Handler { return securityHeaders(c.mux) }

func (c *Console) routes() {
	m := http.NewServeMux()
	c.mux = m

	m.Handle("GET /static/", staticHandler())
	m.HandleFunc("GET /login", c.loginPage)
	m.HandleFunc("POST /login", c.loginSubmit)
	m.HandleFunc("POST /logout", c.page(state.RoleViewer, c.logout))
	m.HandleFunc("POST /lang", c.page(state.RoleViewer, c.setLang))

	m.HandleFunc("GET /{$}", c.page(state.RoleViewer, c.overview))
	m.HandleFunc("GET /queue", c.page(state.RoleViewer, c.queueList))
	m.HandleFunc("GET /queue/{id}", c.page(state.RoleModerator, c.queueItem))
	m.HandleFunc("POST /queue/{id}/act", c.page(state.RoleModerator, c.queueFormAction))
	m.HandleFunc("POST /queue/bulk", c.page(state.RoleModerator, c.queueFormBulk))
	m.HandleFunc("GET /hits", c.page(state.RoleModerator, c.hitsPage))
	m.HandleFunc("GET /rules", c.page(state.RoleViewer, c.rulesPage))
	m.HandleFunc("POST /rules/test", c.page(state.RoleViewer, c.rulesTest))
	m.HandleFunc("GET /decisions", c.page(state.RoleViewer, c.decisionsPage))
	m.HandleFunc("POST /decisions", c.page(state.RoleAdmin, c.decisionsAdd))
	m.HandleFunc("GET /decisions/subject", c.page(state.RoleViewer, c.subjectPage))
	m.HandleFunc("GET /decisions/{id}", c.page(state.RoleViewer, c.decisionGoto))
	m.HandleFunc("POST /decisions/{id}/revoke", c.page(state.RoleAdmin, c.decisionsRevoke))
	m.HandleFunc("GET /audit", c.page(state.RoleModerator, c.auditPage))
	m.HandleFunc("GET /users", c.page(state.RoleAdmin, c.usersPage))
	m.HandleFunc("POST /users", c.page(state.RoleAdmin, c.usersAdd))
	m.HandleFunc("POST /users/remove", c.page(state.RoleAdmin, c.usersRemove))
	m.HandleFunc("GET /tokens", c.page(state.RoleAdmin, c.tokensPage))
	m.HandleFunc("POST /tokens", c.page(state.RoleAdmin, c.tokensAdd))
	m.HandleFunc("POST /tokens/revoke", c.page(state.RoleAdmin, c.tokensRevoke))

	m.HandleFunc("POST /api/v1/queue/bulk", c.api(state.RoleModerator, c.apiBulk))
	m.HandleFunc("POST /api/v1/queue/{id}/{op}", c.api(state.RoleModerator, c.apiItemAction))
	m.HandleFunc("/api/v1/queue/", c.api(state.RoleModerator, c.apiNotFound))

	// GET /api/v1/decisions/stream is the bouncers' (token auth), which
	// serve mounts in front of this handler; nothing here names it.
	m.HandleFunc("GET /api/v1/decisions", c.api(state.RoleViewer, c.apiDecisionsList))
	m.HandleFunc("POST /api/v1/decisions", c.api(state.RoleAdmin, c.apiDecide))
	m.HandleFunc("GET /api/v1/decisions/{id}", c.api(state.RoleViewer, c.apiDecisionGet))
	m.HandleFunc("POST /api/v1/decisions/{id}/revoke", c.api(state.RoleAdmin, c.apiRevoke))
	m.HandleFunc("/api/v1/decisions/", c.api(state.RoleViewer, c.apiNotFound))
	m.HandleFunc("GET /api/v1/subjects/{scope}/{value...}", c.api(state.RoleViewer, c.apiSubject))
	m.HandleFunc("/api/v1/subjects/", c.api(state.RoleViewer, c.apiNotFound))

	m.Handle("/api/v1/posts", c.queue.IngestHandler(c.tokenAuth(state.ScopeIngest)))

	m.HandleFunc("/", c.notFound)
}

// tokenAuth is TokenAuth on the console's database.
func (c *Console) tokenAuth(scope state.Scope) func(*http.Request) (string, error) {
	return TokenAuth(c.db, scope)
}

// TokenAuth checks "Authorization: Bearer TOKEN" against the API tokens of
// scope and names the caller "token:NAME"; serve's APIs use it too.
func TokenAuth(db *state.DB, scope state.Scope) func(*http.Request) (string, error) {
	return func(r *http.Request) (string, error) {
		secret, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok {
			return "", errors.New(`missing "Authorization: Bearer TOKEN" (create one with campusguard tokens add)`)
		}
		t, err := db.CheckToken(r.Context(), strings.TrimSpace(secret), scope)
		if err != nil {
			return "", err
		}
		return "token:" + t.Name, nil
	}
}

// contentSecurityPolicy allows only the console's own files: no inline
// script or style, no framing, forms post only here.
const contentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'"

func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", contentSecurityPolicy)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "same-origin")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
		next.ServeHTTP(w, r)
	})
}

// audit records an action or a read of personal data; a failure is logged,
// and the caller decides whether to go on.
func (c *Console) audit(ctx context.Context, e state.AuditEntry) error {
	if e.Time.IsZero() {
		e.Time = c.now()
	}
	err := c.db.Audit(ctx, e)
	if err != nil {
		c.log.Error("audit log", "action", e.Action, "actor", e.Actor, "err", err)
	}
	return err
}
