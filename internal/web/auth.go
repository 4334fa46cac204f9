package web

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/campusguard/campusguard/internal/state"
)

// Login throttling: this many failures in this window per user name, or
// per client address, and further attempts get 429 until the oldest
// failure leaves the window. An address gets more tries than a name: a
// campus office shares one address behind NAT, and one guesser there
// should not lock out all its colleagues at the fifth wrong password.
const (
	loginFailures   = 5
	loginIPFailures = 20
	loginWindow     = 10 * time.Minute
	// maxLimiterKeys bounds the limiter's memory under a spray of names.
	maxLimiterKeys = 20000
)

const (
	loginCSRFCookie = "cg_login"
	maxNameBytes    = 64
	maxPasswordLen  = 1024
)

// sessionCookie is the cookie's name: with Secure, the __Host- prefix
// also binds it to this host and path /.
func (c *Console) sessionCookie() string {
	if c.opts.Secure {
		return "__Host-cg_session"
	}
	return "cg_session"
}

// req is one request with its session (nil before login) and language.
type req struct {
	w    http.ResponseWriter
	r    *http.Request
	sess *state.Session
	tr
}

func (rq *req) user() string {
	if rq.sess == nil {
		return ""
	}
	return rq.sess.User.Name
}

func (rq *req) role() state.Role {
	if rq.sess == nil {
		return ""
	}
	return rq.sess.User.Role
}

// newReq finds the session and the language.
func (c *Console) newReq(w http.ResponseWriter, r *http.Request) *req {
	rq := &req{w: w, r: r, tr: tr{lang: langEN, miss: c.opts.missing}}
	if ck, err := r.Cookie(c.sessionCookie()); err == nil {
		if s, err := c.db.Session(r.Context(), ck.Value); err == nil {
			rq.sess = &s
		} else if !errors.Is(err, state.ErrNotFound) {
			c.log.Error("session lookup", "err", err)
		}
	}
	switch {
	case rq.sess != nil && supportedLang(rq.sess.Lang) != "":
		rq.lang = supportedLang(rq.sess.Lang)
	default:
		rq.lang = langFromAcceptLanguage(r.Header.Get("Accept-Language"))
	}
	return rq
}

// page wraps an HTML handler: it needs a session with at least role need
// (else a redirect to /login, or 403), and a valid CSRF token on anything
// but GET and HEAD.
func (c *Console) page(need state.Role, h func(*req)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		rq := c.newReq(w, r)
		if rq.sess == nil {
			if r.Method == http.MethodGet || r.Method == http.MethodHead {
				http.Redirect(w, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
				return
			}
			http.Redirect(w, r, "/login", http.StatusSeeOther)
			return
		}
		if !rq.role().Allows(need) {
			c.errorPage(rq, http.StatusForbidden, "error.forbidden")
			return
		}
		if !safeMethod(r.Method) && !c.csrfOK(rq) {
			c.metrics.csrfRejected.Inc()
			c.errorPage(rq, http.StatusForbidden, "error.csrf")
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		h(rq)
	}
}

// api wraps a JSON handler: 401 without a session, 403 for a lower role or
// a missing or wrong X-CSRF-Token.
func (c *Console) api(need state.Role, h func(*req)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		rq := c.newReq(w, r)
		w.Header().Set("Cache-Control", "no-store")
		if rq.sess == nil {
			writeJSON(w, http.StatusUnauthorized, apiError{Error: rq.T("error.unauthenticated"), Code: "unauthenticated"})
			return
		}
		if !rq.role().Allows(need) {
			writeJSON(w, http.StatusForbidden, apiError{Error: rq.T("error.forbidden"), Code: "forbidden"})
			return
		}
		if !safeMethod(r.Method) && !c.csrfOK(rq) {
			c.metrics.csrfRejected.Inc()
			writeJSON(w, http.StatusForbidden, apiError{Error: rq.T("error.csrf"), Code: "csrf"})
			return
		}
		h(rq)
	}
}

func safeMethod(m string) bool { return m == http.MethodGet || m == http.MethodHead }

// csrfOK compares the session's CSRF token with the X-CSRF-Token header or
// the form field "csrf", in constant time.
func (c *Console) csrfOK(rq *req) bool {
	got := rq.r.Header.Get("X-CSRF-Token")
	if got == "" {
		if ct := rq.r.Header.Get("Content-Type"); strings.HasPrefix(ct, "application/x-www-form-urlencoded") || strings.HasPrefix(ct, "multipart/form-data") {
			rq.r.Body = http.MaxBytesReader(rq.w, rq.r.Body, maxFormBytes)
			got = rq.r.PostFormValue("csrf")
		}
	}
	return tokensEqual(got, rq.sess.CSRF)
}

func tokensEqual(a, b string) bool {
	return a != "" && b != "" && subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

// maxFormBytes bounds a form post (the rules tester's text is the largest).
const maxFormBytes = 256 << 10

func randomToken() string {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// clientIP is the peer's address. Behind a reverse proxy that is the
// proxy; the console does not trust forwarded headers.
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// localPath returns next when it is a path on this site, else "/": a
// redirect after login or a language switch must not leave the console.
func localPath(next string) string {
	if next == "" || len(next) > 2048 || next[0] != '/' || strings.HasPrefix(next, "//") ||
		strings.ContainsAny(next, "\\\r\n\t") {
		return "/"
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.Path == "/login" {
		return "/"
	}
	return next
}

type loginData struct {
	Next, Name, LoginCSRF string
	Error                 string
	Lang                  string
}

func (c *Console) loginPage(w http.ResponseWriter, r *http.Request) {
	rq := c.newReq(w, r)
	if l := supportedLang(r.URL.Query().Get("lang")); l != "" {
		rq.lang = l
	}
	if rq.sess != nil {
		http.Redirect(w, r, localPath(r.URL.Query().Get("next")), http.StatusSeeOther)
		return
	}
	c.renderLogin(rq, http.StatusOK, loginData{Next: localPath(r.URL.Query().Get("next"))})
}

// renderLogin shows the form with a fresh double-submit token: there is no
// session yet to hold one, so the token goes in a cookie and a field that
// must match.
func (c *Console) renderLogin(rq *req, code int, d loginData) {
	tok := randomToken()
	http.SetCookie(rq.w, &http.Cookie{Name: loginCSRFCookie, Value: tok, Path: "/login", HttpOnly: true,
		Secure: c.opts.Secure, SameSite: http.SameSiteStrictMode, MaxAge: 3600})
	d.LoginCSRF = tok
	d.Lang = rq.lang
	rq.w.Header().Set("Cache-Control", "no-store")
	c.render(rq, code, "login", "login.title", d)
}

func (c *Console) loginSubmit(w http.ResponseWriter, r *http.Request) {
	rq := c.newReq(w, r)
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		c.errorPage(rq, http.StatusBadRequest, "error.badform")
		return
	}
	if l := supportedLang(r.PostFormValue("lang")); l != "" {
		rq.lang = l
	}
	next := localPath(r.PostFormValue("next"))
	ck, err := r.Cookie(loginCSRFCookie)
	if err != nil || !tokensEqual(ck.Value, r.PostFormValue("csrf")) {
		c.metrics.csrfRejected.Inc()
		c.renderLogin(rq, http.StatusForbidden, loginData{Next: next, Error: rq.T("login.expired")})
		return
	}
	name := strings.TrimSpace(r.PostFormValue("name"))
	password := r.PostFormValue("password")
	if len(name) > maxNameBytes {
		name = name[:maxNameBytes]
	}
	ip := clientIP(r)
	userKey := strings.ToLower(name)
	if wait := max(c.ipLimiter.wait(ip), c.limiter.wait(userKey)); wait > 0 {
		c.metrics.logins.WithLabelValues("limited").Inc()
		secs := int((wait + time.Second - 1) / time.Second)
		w.Header().Set("Retry-After", strconv.Itoa(secs))
		c.renderLogin(rq, http.StatusTooManyRequests, loginData{Next: next, Name: name,
			Error: rq.T("login.limited", (secs+59)/60)})
		return
	}
	var user state.User
	if name == "" || password == "" || len(password) > maxPasswordLen {
		err = state.ErrBadLogin
	} else {
		user, err = c.db.Authenticate(r.Context(), name, password)
	}
	if err != nil {
		if !errors.Is(err, state.ErrBadLogin) {
			c.log.Error("login", "err", err)
			c.errorPage(rq, http.StatusInternalServerError, "error.internal")
			return
		}
		c.ipLimiter.fail(ip)
		c.limiter.fail(userKey)
		c.metrics.logins.WithLabelValues("failure").Inc()
		_ = c.audit(r.Context(), state.AuditEntry{Actor: name, Action: "login.failed", Object: "user:" + name,
			After: state.MarshalAudit(map[string]string{"client": ip})})
		c.renderLogin(rq, http.StatusUnauthorized, loginData{Next: next, Name: name, Error: rq.T("login.failed")})
		return
	}
	c.limiter.reset(userKey)
	sess, err := c.db.NewSession(r.Context(), user, c.opts.SessionTTL)
	if err != nil {
		c.log.Error("new session", "err", err)
		c.errorPage(rq, http.StatusInternalServerError, "error.internal")
		return
	}
	if l := supportedLang(r.PostFormValue("lang")); l != "" {
		if err := c.db.SetSessionLang(r.Context(), sess.ID, l); err != nil {
			c.log.Error("session language", "err", err)
		}
	}
	c.metrics.logins.WithLabelValues("success").Inc()
	_ = c.audit(r.Context(), state.AuditEntry{Actor: user.Name, Action: "login", Object: "user:" + user.Name,
		After: state.MarshalAudit(map[string]string{"client": ip, "role": string(user.Role)})})
	http.SetCookie(w, &http.Cookie{Name: c.sessionCookie(), Value: sess.ID, Path: "/", HttpOnly: true,
		Secure: c.opts.Secure, SameSite: http.SameSiteStrictMode, Expires: sess.Expires})
	http.SetCookie(w, &http.Cookie{Name: loginCSRFCookie, Value: "", Path: "/login", MaxAge: -1, HttpOnly: true,
		Secure: c.opts.Secure, SameSite: http.SameSiteStrictMode})
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (c *Console) logout(rq *req) {
	if err := c.db.EndSession(rq.r.Context(), rq.sess.ID); err != nil {
		c.log.Error("end session", "err", err)
	}
	_ = c.audit(rq.r.Context(), state.AuditEntry{Actor: rq.user(), Action: "logout", Object: "user:" + rq.user()})
	http.SetCookie(rq.w, &http.Cookie{Name: c.sessionCookie(), Value: "", Path: "/", MaxAge: -1, HttpOnly: true,
		Secure: c.opts.Secure, SameSite: http.SameSiteStrictMode})
	http.Redirect(rq.w, rq.r, "/login?lang="+url.QueryEscape(rq.lang), http.StatusSeeOther)
}

// setLang remembers the language picked for this session.
func (c *Console) setLang(rq *req) {
	l := supportedLang(rq.r.PostFormValue("lang"))
	if l == "" {
		c.errorPage(rq, http.StatusBadRequest, "error.badlang")
		return
	}
	if err := c.db.SetSessionLang(rq.r.Context(), rq.sess.ID, l); err != nil {
		c.log.Error("session language", "err", err)
		c.errorPage(rq, http.StatusInternalServerError, "error.internal")
		return
	}
	http.Redirect(rq.w, rq.r, localPath(rq.r.PostFormValue("next")), http.StatusSeeOther)
}

// loginLimiter counts recent login failures per key (a client address or
// a user name) in memory.
type loginLimiter struct {
	mu     sync.Mutex
	max    int
	window time.Duration
	now    func() time.Time
	fails  map[string][]time.Time
}

func newLoginLimiter(max int, window time.Duration, now func() time.Time) *loginLimiter {
	return &loginLimiter{max: max, window: window, now: now, fails: map[string][]time.Time{}}
}

// recent drops failures older than the window; mu must be held.
func (l *loginLimiter) recent(key string, now time.Time) []time.Time {
	ts := l.fails[key]
	i := 0
	for i < len(ts) && now.Sub(ts[i]) >= l.window {
		i++
	}
	ts = ts[i:]
	if len(ts) == 0 {
		delete(l.fails, key)
		return nil
	}
	l.fails[key] = ts
	return ts
}

// wait is how long until any of keys may try again; 0 when all may.
func (l *loginLimiter) wait(keys ...string) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	var longest time.Duration
	for _, k := range keys {
		ts := l.recent(k, now)
		if len(ts) >= l.max {
			if d := ts[len(ts)-l.max].Add(l.window).Sub(now); d > longest {
				longest = d
			}
		}
	}
	return longest
}

func (l *loginLimiter) fail(keys ...string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	if len(l.fails) >= maxLimiterKeys {
		for k := range l.fails {
			l.recent(k, now)
		}
		// Still full (a spray of names): forget half of the keys rather
		// than grow without bound.
		if len(l.fails) >= maxLimiterKeys {
			n := 0
			for k := range l.fails {
				delete(l.fails, k)
				if n++; n >= maxLimiterKeys/2 {
					break
				}
			}
		}
	}
	for _, k := range keys {
		ts := l.recent(k, now)
		if len(ts) >= 2*l.max {
			ts = ts[1:]
		}
		l.fails[k] = append(ts, now)
	}
}

func (l *loginLimiter) reset(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.fails, key)
}
