package web

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"strings"
	"time"

	"github.com/campusguard/campusguard/alerts/decision"
	"github.com/campusguard/campusguard/internal/event"
	"github.com/campusguard/campusguard/internal/state"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

type pageTemplate struct {
	t *template.Template
}

// pageNames are the page templates; each is parsed with the layout.
var pageNames = []string{"login", "error", "overview", "queue", "item", "hits", "rules", "decisions", "subject", "audit", "users", "tokens"}

var funcs = template.FuncMap{
	"add":      func(a, b int) int { return a + b },
	"args":     func(v ...any) []any { return v },
	"join":     strings.Join,
	"sevclass": func(s event.Severity) string { return "sev-" + s.String() },
	"sevname":  func(s uint8) string { return event.Severity(s).String() },
	// dsev names a decision's severity, 1 (low) to 4 (critical).
	"dsev":       func(n int) string { return event.Severity(min(max(n, 0), 255)).String() },
	"hasPrefix":  strings.HasPrefix,
	"trimPrefix": strings.TrimPrefix,
	// subjectLink is the page of a subject named "scope:value".
	"subjectLink": func(s string) string {
		scope, value, _ := strings.Cut(s, ":")
		return subjectURL(decision.Scope(scope), value)
	},
	"has": func(list []string, s string) bool {
		for _, x := range list {
			if x == s {
				return true
			}
		}
		return false
	},
}

func parsePages() (map[string]*pageTemplate, error) {
	out := map[string]*pageTemplate{}
	for _, name := range pageNames {
		t, err := template.New(name).Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("web console: template %s: %w", name, err)
		}
		out[name] = &pageTemplate{t: t}
	}
	return out, nil
}

// view is what every template gets: the translator, the user, the CSRF
// token for forms, and the page's own data in D.
type view struct {
	tr
	TitleKey string
	Title    string
	Page     string
	User     *state.User
	CSRF     string
	Path     string // this request's URI, where a language switch returns
	Flash    string
	FlashErr string
	D        any
	now      time.Time
}

// Can reports whether the user has role need.
func (v *view) Can(need string) bool {
	return v.User != nil && v.User.Role.Allows(state.Role(need))
}

// Time formats a time in the server's zone.
func (v *view) Time(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.Local().Format("2006-01-02 15:04:05")
}

// ISO is a time for <time datetime>.
func (v *view) ISO(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// Age is how long ago t was, in the user's language, to the second.
func (v *view) Age(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return v.Duration(max(v.now.Sub(t), 0).Truncate(time.Second))
}

// Duration renders d coarsely: milliseconds, seconds, minutes, hours and
// minutes, days and hours.
func (v *view) Duration(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	switch {
	case d > 0 && d < time.Second:
		return v.T("dur.ms", int(d/time.Millisecond))
	case d < time.Minute:
		return v.T("dur.s", int(d/time.Second))
	case d < time.Hour:
		return v.T("dur.m", int(d/time.Minute))
	case d < 24*time.Hour:
		return v.T("dur.hm", int(d/time.Hour), int(d%time.Hour/time.Minute))
	}
	return v.T("dur.dh", int(d/(24*time.Hour)), int(d%(24*time.Hour)/time.Hour))
}

// Bytes renders a size in binary units.
func (v *view) Bytes(n float64) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB"}
	i := 0
	for n >= 1024 && i < len(units)-1 {
		n /= 1024
		i++
	}
	if i == 0 {
		return fmt.Sprintf("%.0f %s", n, units[i])
	}
	return fmt.Sprintf("%.1f %s", n, units[i])
}

// Num groups digits in threes.
func (v *view) Num(n any) string {
	s := fmt.Sprint(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	if dot := strings.IndexByte(s, '.'); dot >= 0 {
		s = s[:dot]
	}
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// JSStrings are the translations the console's script needs, as a JSON
// data block (not executed; CSP allows it).
func (v *view) JSStrings() map[string]string {
	keys := []string{"js.conflict", "js.error", "js.done.claim", "js.done.release", "js.done.approve", "js.done.reject",
		"js.done.escalate", "js.done.undo", "js.done.note", "js.nothing.undo", "js.select.first", "js.bulk.done",
		"js.bulk.partial", "js.reason.required", "js.network", "act.claim", "act.release"}
	m := make(map[string]string, len(keys)+10)
	for _, k := range keys {
		m[k] = v.T(k)
	}
	for _, s := range []string{"pending", "claimed", "escalated", "approved", "rejected"} {
		m["state."+s] = v.V("state", s)
	}
	return m
}

func (c *Console) newView(rq *req, page, titleKey string, d any) *view {
	v := &view{tr: rq.tr, Page: page, TitleKey: titleKey, Title: rq.T(titleKey), D: d, now: c.now()}
	if rq.sess != nil {
		u := rq.sess.User
		v.User = &u
		v.CSRF = rq.sess.CSRF
	}
	// Where a language switch returns: this page without its one-time
	// message.
	u := *rq.r.URL
	q := u.Query()
	if q.Has("done") || q.Has("fail") {
		q.Del("done")
		q.Del("fail")
		u.RawQuery = q.Encode()
	}
	v.Path = u.RequestURI()
	if k := rq.r.URL.Query().Get("done"); k != "" && flashKeys[k] {
		v.Flash = rq.T("flash." + k)
	}
	if k := rq.r.URL.Query().Get("fail"); k != "" && failKeys[k] {
		v.FlashErr = rq.T("fail." + k)
	}
	return v
}

// Flash messages a redirect may ask for (?done=KEY, ?fail=KEY): only
// these, so a link cannot put arbitrary text on a page.
var flashKeys = map[string]bool{"claim": true, "release": true, "approve": true, "reject": true, "escalate": true,
	"undo": true, "note": true, "bulk": true, "useradd": true, "userremove": true, "tokenrevoke": true,
	"decide": true, "revoke": true}
var failKeys = map[string]bool{"conflict": true, "notfound": true, "needreason": true, "undoexpired": true,
	"notdecider": true, "invalid": true, "bulkpartial": true, "self": true,
	"revokereason": true, "notinforce": true, "decisionnotfound": true}

func (c *Console) render(rq *req, code int, page, titleKey string, d any) {
	c.renderView(rq, code, c.newView(rq, page, titleKey, d))
}

func (c *Console) renderView(rq *req, code int, v *view) {
	pt := c.pages[v.Page]
	var buf bytes.Buffer
	if err := pt.t.ExecuteTemplate(&buf, v.Page+".html", v); err != nil {
		c.log.Error("render", "page", v.Page, "err", err)
		http.Error(rq.w, "internal error", http.StatusInternalServerError)
		return
	}
	h := rq.w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Language", rq.lang)
	h.Set("Vary", "Cookie, Accept-Language")
	rq.w.WriteHeader(code)
	_, _ = rq.w.Write(buf.Bytes())
}

type errorData struct {
	Code    int
	Message string
}

func (c *Console) errorPage(rq *req, code int, key string) {
	rq.w.Header().Set("Cache-Control", "no-store")
	c.render(rq, code, "error", "error.title", errorData{Code: code, Message: rq.T(key)})
}

func (c *Console) notFound(w http.ResponseWriter, r *http.Request) {
	rq := c.newReq(w, r)
	if strings.HasPrefix(r.URL.Path, "/api/") {
		writeJSON(w, http.StatusNotFound, apiError{Error: rq.T("error.notfound"), Code: "not_found"})
		return
	}
	c.errorPage(rq, http.StatusNotFound, "error.notfound")
}

func (c *Console) apiNotFound(rq *req) {
	writeJSON(rq.w, http.StatusNotFound, apiError{Error: rq.T("error.notfound"), Code: "not_found"})
}

// apiError is the JSON error of the console's API: Error is translated for
// the user, Code is stable for scripts.
type apiError struct {
	Error string `json:"error"`
	Code  string `json:"code"`
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// staticHandler serves the embedded assets, cached for a day (the file
// names do not change between releases, so not longer).
func staticHandler() http.Handler {
	sub, err := fs.Sub(staticFS, "static")
	if err != nil {
		panic(err)
	}
	files := http.StripPrefix("/static/", http.FileServerFS(sub))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/") {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Cache-Control", "public, max-age=86400")
		files.ServeHTTP(w, r)
	})
}
