package web

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/campusguard/campusguard/alerts"
	"github.com/campusguard/campusguard/alerts/decision"
	"github.com/campusguard/campusguard/internal/event"
	"github.com/campusguard/campusguard/internal/state"
)

// Decisions is what the console needs of the alert engine
// (*alerts.Engine): the recorded decisions, a subject's standing under
// each policy, and the manual decide and revoke.
type Decisions interface {
	List(ctx context.Context, f decision.Filter) ([]decision.Decision, error)
	Get(ctx context.Context, id int64) (decision.Decision, error)
	Decide(ctx context.Context, d decision.Decision) (decision.Decision, error)
	Revoke(ctx context.Context, id int64, actor, reason string) (decision.Decision, error)
	Standings(scope decision.Scope, value string) ([]alerts.Standing, error)
	Policies() []*alerts.Policy
}

const (
	decisionsPageSize  = 50
	subjectPageSize    = 100
	maxDecisionsLimit  = 1000
	maxDecisionBody    = 16 << 10
	maxDecisionReason  = 1000
	maxCategoryBytes   = 64
	maxPolicyNameBytes = 64
	// Manual decisions last at least a minute and at most a year.
	minDecisionDuration = time.Minute
	maxDecisionDuration = 365 * 24 * time.Hour
	defaultDecisionSev  = 3 // high
)

var (
	decisionActions = []string{string(decision.ActionBlock), string(decision.ActionWarn), string(decision.ActionNotify)}
	decisionScopes  = []string{string(decision.ScopeIP), string(decision.ScopeRange), string(decision.ScopeDomain)}
	decisionSevs    = []string{"low", "medium", "high", "critical"}
)

// decisionState names where a decision stands at now, for a badge and the
// API: active (in force), expired, revoked, dryrun (recorded, never
// enforced) or notice (a one-off notify, which is never "in force").
func decisionState(d decision.Decision, now time.Time) string {
	switch {
	case d.DryRun:
		return "dryrun"
	case !d.Revoked.IsZero():
		return "revoked"
	case d.Action == decision.ActionNotify:
		return "notice"
	case now.Before(d.Expires):
		return "active"
	}
	return "expired"
}

// subjectURL is the console page of one subject's history.
func subjectURL(scope decision.Scope, value string) string {
	return "/decisions/subject?" + url.Values{"scope": {string(scope)}, "value": {value}}.Encode()
}

// guessScope picks the scope a search value is most likely in: an
// address, a range (it has a slash), else a domain.
func guessScope(v string) string {
	if _, err := netip.ParseAddr(v); err == nil {
		return string(decision.ScopeIP)
	}
	if strings.Contains(v, "/") {
		return string(decision.ScopeRange)
	}
	return string(decision.ScopeDomain)
}

func validScope(s string) bool {
	switch decision.Scope(s) {
	case decision.ScopeIP, decision.ScopeRange, decision.ScopeDomain:
		return true
	}
	return false
}

// validPolicyName is the shape alerts.ParsePolicies allows.
func validPolicyName(s string) bool {
	return s != "" && len(s) <= maxPolicyNameBytes && utf8.ValidString(s) &&
		strings.IndexFunc(s, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) || r == ':' }) < 0
}

// cleanText reports whether s is text a person may type in a field: valid
// UTF-8 without control characters (newlines and tabs allowed where
// multiline is).
func cleanText(s string, multiline bool) bool {
	return utf8.ValidString(s) && strings.IndexFunc(s, func(r rune) bool {
		return unicode.IsControl(r) && !(multiline && (r == '\n' || r == '\t' || r == '\r'))
	}) < 0
}

// decisionsQuery is the list's filter, from a query string (the page's
// form or the API's parameters).
type decisionsQuery struct {
	Live   bool
	Policy string
	Scope  string // as asked; "" guesses from the value
	Value  string // as typed
	Before int64
	Limit  int
	Errs   []fieldErr
	Filter decision.Filter // what goes to the engine; Limit is one more than asked, to see if there are more
}

// parseDecisionsQuery reads the list's filter, bounded and checked like
// every query string; limit is read for the API only.
func parseDecisionsQuery(q url.Values, api bool) decisionsQuery {
	p := decisionsQuery{Limit: decisionsPageSize}
	bad := func(field, key string) { p.Errs = append(p.Errs, fieldErr{field, key}) }
	text := func(field string) string {
		v := strings.TrimSpace(q.Get(field))
		switch {
		case len(v) > maxFilterBytes:
			bad(field, "hits.err.toolong")
			return ""
		case !cleanText(v, false):
			bad(field, "hits.err.chars")
			return ""
		}
		return v
	}
	switch strings.ToLower(strings.TrimSpace(q.Get("live"))) {
	case "", "0", "false", "off", "no":
	case "1", "true", "on", "yes":
		p.Live = true
	default:
		bad("live", "decisions.err.live")
	}
	if p.Policy = text("policy"); p.Policy != "" && !validPolicyName(p.Policy) {
		bad("policy", "decisions.err.policy")
		p.Policy = ""
	}
	if p.Scope = text("scope"); p.Scope != "" && !validScope(p.Scope) {
		bad("scope", "decisions.err.scope")
		p.Scope = ""
	}
	if p.Value = text("value"); p.Value != "" {
		scope := p.Scope
		if scope == "" {
			scope = guessScope(p.Value)
		}
		v, err := decision.NormalizeValue(decision.Scope(scope), p.Value)
		if err != nil {
			bad("value", "decisions.err.value."+scope)
		} else {
			p.Scope = scope
			p.Filter.Scope, p.Filter.Value = decision.Scope(scope), v
		}
	}
	if s := q.Get("before"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n <= 0 {
			bad("before", "decisions.err.before")
		} else {
			p.Before = n
		}
	}
	if s := q.Get("limit"); api && s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > maxDecisionsLimit {
			bad("limit", "decisions.err.limit")
		} else {
			p.Limit = n
		}
	}
	p.Filter.Policy, p.Filter.Live, p.Filter.BeforeID = p.Policy, p.Live, p.Before
	p.Filter.Limit = p.Limit + 1
	return p
}

// pageURL is the list with this filter, from before (0: the newest).
func (p decisionsQuery) pageURL(before int64) string {
	v := url.Values{}
	if p.Live {
		v.Set("live", "1")
	}
	if p.Policy != "" {
		v.Set("policy", p.Policy)
	}
	if p.Value != "" {
		v.Set("scope", p.Scope)
		v.Set("value", p.Value)
	}
	if before > 0 {
		v.Set("before", strconv.FormatInt(before, 10))
	}
	if len(v) == 0 {
		return "/decisions"
	}
	return "/decisions?" + v.Encode()
}

// decisionRow is a decision as the pages show it.
type decisionRow struct {
	decision.Decision
	State      string
	Remaining  time.Duration
	SubjectURL string
}

func toRows(ds []decision.Decision, now time.Time) []decisionRow {
	out := make([]decisionRow, len(ds))
	for i, d := range ds {
		out[i] = decisionRow{Decision: d, State: decisionState(d, now), Remaining: d.Remaining(now),
			SubjectURL: subjectURL(d.Scope, d.Value)}
	}
	return out
}

// decideForm is the manual decision form, as typed, with its problems.
type decideForm struct {
	decideBody
	Errs   []fieldErr
	Err    string // what went wrong as a whole, translated
	Detail string // the engine's own words, when it refused
}

// Bad reports whether field has a problem, for aria-invalid.
func (f decideForm) Bad(field string) bool {
	for _, e := range f.Errs {
		if e.Field == field {
			return true
		}
	}
	return false
}

type decisionsData struct {
	Enabled  bool
	Q        decisionsQuery
	Policies []string
	Rows     []decisionRow
	Next     string
	Newest   string
	Err      string
	Filtered bool
	Form     decideForm
	Actions  []string
	Scopes   []string
	Sevs     []string
}

func (c *Console) policyNames(extra string) []string {
	var out []string
	found := extra == ""
	for _, p := range c.decisions.Policies() {
		out = append(out, p.Name)
		found = found || p.Name == extra
	}
	if !found {
		out = append(out, extra) // a policy since removed from the configuration
	}
	return out
}

func (c *Console) decisionsPage(rq *req) {
	c.renderDecisions(rq, 0, decideForm{})
}

// renderDecisions shows the list with the filter of this request's query
// and, for admins, the manual decision form (as typed, after a failed
// post). code 0 means: as the list came out.
func (c *Console) renderDecisions(rq *req, code int, form decideForm) {
	d := decisionsData{Enabled: c.decisions != nil, Actions: decisionActions, Scopes: decisionScopes, Sevs: decisionSevs}
	status := http.StatusOK
	if d.Enabled {
		d.Q = parseDecisionsQuery(rq.r.URL.Query(), false)
		d.Filtered = d.Q.Live || d.Q.Policy != "" || d.Q.Value != "" || d.Q.Before > 0
		d.Policies = c.policyNames(d.Q.Policy)
		if len(d.Q.Errs) > 0 {
			status = http.StatusBadRequest
		} else {
			ds, err := c.decisions.List(rq.r.Context(), d.Q.Filter)
			if err != nil {
				c.log.Error("decisions list", "err", err)
				d.Err = rq.T("decisions.err.list")
				status = http.StatusInternalServerError
			}
			if len(ds) > d.Q.Limit {
				ds = ds[:d.Q.Limit]
				d.Next = d.Q.pageURL(ds[len(ds)-1].ID)
			}
			if d.Q.Before > 0 {
				d.Newest = d.Q.pageURL(0)
			}
			d.Rows = toRows(ds, c.now())
		}
		if form.Action == "" && len(form.Errs) == 0 && form.Err == "" {
			// A fresh form: what the search names, else a one-hour block.
			form.Action, form.Duration, form.Severity = string(decision.ActionBlock), "1h", decisionSevs[defaultDecisionSev-1]
			form.Scope, form.Value = d.Q.Scope, d.Q.Value
		}
		d.Form = form
	}
	if code != 0 {
		status = code
	}
	c.render(rq, status, "decisions", "decisions.title", d)
}

// decideBody is a manual decision as the form or the API sends it.
type decideBody struct {
	Action   string
	Scope    string
	Value    string
	Duration string // e.g. 30m, 1h, 7d, 1d12h; ignored for notify
	Severity string // low..critical or 1..4; default high
	Category string // optional
	Reason   string
}

// parseDecisionDuration reads a duration of whole units: s, m (minutes),
// h, d, w, and 秒, 分钟, 小时, 天, 周, combined as in 1d12h, between a
// minute and a year.
func parseDecisionDuration(s string) (time.Duration, string) {
	s = strings.ToLower(strings.TrimSpace(s))
	if s == "" || len(s) > 32 {
		return 0, "decisions.err.duration"
	}
	units := map[string]time.Duration{
		"s": time.Second, "sec": time.Second, "秒": time.Second,
		"m": time.Minute, "min": time.Minute, "分": time.Minute, "分钟": time.Minute,
		"h": time.Hour, "hr": time.Hour, "小时": time.Hour, "时": time.Hour,
		"d": 24 * time.Hour, "天": 24 * time.Hour, "日": 24 * time.Hour,
		"w": 7 * 24 * time.Hour, "周": 7 * 24 * time.Hour,
	}
	var total time.Duration
	for s != "" {
		i := 0
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		if i == 0 || i > 9 {
			return 0, "decisions.err.duration"
		}
		n, _ := strconv.ParseInt(s[:i], 10, 64)
		s = s[i:]
		j := 0
		for j < len(s) && (s[j] < '0' || s[j] > '9') && s[j] != ' ' {
			j++
		}
		unit, ok := units[s[:j]]
		if !ok {
			return 0, "decisions.err.duration"
		}
		s = strings.TrimLeft(s[j:], " ")
		if n > int64(maxDecisionDuration/unit) {
			return 0, "decisions.err.duration.range"
		}
		if total += time.Duration(n) * unit; total > maxDecisionDuration {
			return 0, "decisions.err.duration.range"
		}
	}
	if total < minDecisionDuration {
		return 0, "decisions.err.duration.range"
	}
	return total, ""
}

// parseDecisionSeverity reads low..critical or 1..4; "" is high.
func parseDecisionSeverity(s string) (int, bool) {
	switch s = strings.ToLower(strings.TrimSpace(s)); s {
	case "":
		return defaultDecisionSev, true
	case "1", "2", "3", "4":
		return int(s[0] - '0'), true
	}
	sev, err := event.ParseSeverity(s)
	if err != nil || sev < event.SeverityLow || sev > event.SeverityCritical {
		return 0, false
	}
	return int(sev), true
}

// decision checks b and makes the decision actor asks for at now. Every
// problem names its field and a translation key.
func (b decideBody) decision(actor string, now time.Time) (decision.Decision, []fieldErr) {
	var errs []fieldErr
	bad := func(field, key string) { errs = append(errs, fieldErr{field, key}) }
	d := decision.Decision{Origin: decision.OriginManual, Actor: actor, Created: now.UTC().Truncate(time.Millisecond)}
	switch a := decision.Action(strings.TrimSpace(b.Action)); a {
	case decision.ActionNotify, decision.ActionWarn, decision.ActionBlock:
		d.Action = a
	default:
		bad("action", "decisions.err.action")
	}
	scope := strings.TrimSpace(b.Scope)
	if !validScope(scope) {
		bad("scope", "decisions.err.scope")
	}
	value := strings.TrimSpace(b.Value)
	switch {
	case value == "":
		bad("value", "decisions.err.value.empty")
	case len(value) > maxFilterBytes || !cleanText(value, false):
		bad("value", "hits.err.chars")
	case validScope(scope):
		v, err := decision.NormalizeValue(decision.Scope(scope), value)
		if err != nil {
			bad("value", "decisions.err.value."+scope)
		}
		d.Scope, d.Value = decision.Scope(scope), v
	}
	if d.Action != decision.ActionNotify {
		dur, key := parseDecisionDuration(b.Duration)
		if key != "" {
			bad("duration", key)
		}
		d.Expires = d.Created.Add(dur)
	}
	if sev, ok := parseDecisionSeverity(b.Severity); ok {
		d.Severity = sev
	} else {
		bad("severity", "decisions.err.severity")
	}
	d.Category = strings.TrimSpace(b.Category)
	if len(d.Category) > maxCategoryBytes || !cleanText(d.Category, false) {
		bad("category", "decisions.err.category")
	}
	d.Reason = strings.TrimSpace(b.Reason)
	switch {
	case d.Reason == "":
		bad("reason", "decisions.err.reason")
	case len(d.Reason) > maxDecisionReason:
		bad("reason", "decisions.err.reason.long")
	case !cleanText(d.Reason, true):
		bad("reason", "hits.err.chars")
	}
	if actor == "" {
		bad("actor", "error.unauthenticated")
	}
	return d, errs
}

// decide hands a checked decision to the engine and sorts its refusal:
// an HTTP status, a stable code, a translated message and the engine's
// own words.
func (c *Console) decide(rq *req, d decision.Decision) (decision.Decision, int, string, string, string) {
	got, err := c.decisions.Decide(rq.r.Context(), d)
	switch {
	case err == nil:
		return got, http.StatusCreated, "", "", ""
	case errors.Is(err, alerts.ErrAllowlisted):
		return got, http.StatusConflict, "allowlisted", rq.T("decisions.err.allowlisted", d.Subject()), ""
	case strings.HasPrefix(err.Error(), "store decision"):
		c.log.Error("manual decision", "subject", d.Subject(), "err", err)
		return got, http.StatusInternalServerError, "internal", rq.T("error.internal"), ""
	}
	return got, http.StatusUnprocessableEntity, "refused", rq.T("decisions.err.refused"), err.Error()
}

// decisionsAdd is the manual decision form's post (admins).
func (c *Console) decisionsAdd(rq *req) {
	if c.decisions == nil {
		c.errorPage(rq, http.StatusNotFound, "decisions.disabled")
		return
	}
	pf := rq.r.PostFormValue
	form := decideForm{decideBody: decideBody{Action: pf("action"), Scope: pf("scope"), Value: pf("value"),
		Duration: pf("duration"), Severity: pf("severity"), Category: pf("category"), Reason: pf("reason")}}
	d, errs := form.decision(rq.user(), c.now())
	if len(errs) > 0 {
		form.Errs = errs
		form.Err = rq.T("decisions.err.form")
		c.renderDecisions(rq, http.StatusBadRequest, form)
		return
	}
	_, code, _, msg, detail := c.decide(rq, d)
	if code != http.StatusCreated {
		form.Err, form.Detail = msg, detail
		c.renderDecisions(rq, code, form)
		return
	}
	redirect(rq, "/decisions?done=decide")
}

// revokeProblem sorts a failed revoke: status, code and flash key.
func (c *Console) revokeProblem(id int64, err error) (int, string, string) {
	switch {
	case errors.Is(err, decision.ErrNotFound):
		return http.StatusNotFound, "not_found", "decisionnotfound"
	case strings.Contains(err.Error(), "not in force"):
		return http.StatusConflict, "not_in_force", "notinforce"
	}
	c.log.Error("revoke decision", "id", id, "err", err)
	return http.StatusInternalServerError, "internal", ""
}

// decisionsRevoke is a revoke form's post (admins); it goes back to the
// page it came from with a message.
func (c *Console) decisionsRevoke(rq *req) {
	if c.decisions == nil {
		c.errorPage(rq, http.StatusNotFound, "decisions.disabled")
		return
	}
	id, err := strconv.ParseInt(rq.r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		c.errorPage(rq, http.StatusNotFound, "error.notfound")
		return
	}
	next := rq.r.PostFormValue("next")
	if next == "" {
		next = "/decisions"
	}
	reason := strings.TrimSpace(rq.r.PostFormValue("reason"))
	if reason == "" || len(reason) > maxDecisionReason || !cleanText(reason, true) {
		http.Redirect(rq.w, rq.r, withParam(next, "fail", "revokereason")+"#d-"+strconv.FormatInt(id, 10), http.StatusSeeOther)
		return
	}
	if _, err := c.decisions.Revoke(rq.r.Context(), id, rq.user(), reason); err != nil {
		_, _, key := c.revokeProblem(id, err)
		if key == "" {
			c.errorPage(rq, http.StatusInternalServerError, "error.internal")
			return
		}
		http.Redirect(rq.w, rq.r, withParam(next, "fail", key), http.StatusSeeOther)
		return
	}
	http.Redirect(rq.w, rq.r, withParam(next, "done", "revoke")+"#d-"+strconv.FormatInt(id, 10), http.StatusSeeOther)
}

// decisionGoto sends /decisions/{id} (the audit log links there) to the
// decision on its subject's page.
func (c *Console) decisionGoto(rq *req) {
	id, err := strconv.ParseInt(rq.r.PathValue("id"), 10, 64)
	if c.decisions == nil || err != nil || id <= 0 {
		c.errorPage(rq, http.StatusNotFound, "error.notfound")
		return
	}
	d, err := c.decisions.Get(rq.r.Context(), id)
	if errors.Is(err, decision.ErrNotFound) {
		c.errorPage(rq, http.StatusNotFound, "error.notfound")
		return
	}
	if err != nil {
		c.log.Error("decision", "id", id, "err", err)
		c.errorPage(rq, http.StatusInternalServerError, "error.internal")
		return
	}
	http.Redirect(rq.w, rq.r, subjectURL(d.Scope, d.Value)+"#d-"+strconv.FormatInt(id, 10), http.StatusSeeOther)
}

type subjectData struct {
	Enabled   bool
	Scope     string
	Value     string
	Subject   string
	Errs      []fieldErr
	Standings []alerts.Standing
	StandErr  string
	Rows      []decisionRow
	ListErr   string
	ShowNames bool // moderators and admins see the evidence's names and addresses
	Next      string
	Newest    string
	Self      string // this page, where a revoke returns
}

// subjectQuery reads scope and value; the value is normalized.
func subjectQuery(scope, value string) (decision.Scope, string, []fieldErr) {
	scope, value = strings.TrimSpace(scope), strings.TrimSpace(value)
	switch {
	case !validScope(scope):
		return "", "", []fieldErr{{"scope", "decisions.err.scope"}}
	case value == "":
		return "", "", []fieldErr{{"value", "decisions.err.value.empty"}}
	case len(value) > maxFilterBytes || !cleanText(value, false):
		return "", "", []fieldErr{{"value", "hits.err.chars"}}
	}
	v, err := decision.NormalizeValue(decision.Scope(scope), value)
	if err != nil {
		return "", "", []fieldErr{{"value", "decisions.err.value." + scope}}
	}
	return decision.Scope(scope), v, nil
}

// hasEvidence reports whether any of ds carries hits.
func hasEvidence(ds []decision.Decision) bool {
	for _, d := range ds {
		if len(d.Hits) > 0 {
			return true
		}
	}
	return false
}

// hideEvidenceNames drops what a viewer may not see of the evidence: the
// names asked for and the addresses, as the hit search does (moderators
// only).
func hideEvidenceNames(ds []decision.Decision) {
	for i := range ds {
		hits := make([]decision.HitRef, len(ds[i].Hits))
		for j, h := range ds[i].Hits {
			h.Name, h.Client, h.Server = "", "", ""
			hits[j] = h
		}
		ds[i].Hits = hits
	}
}

// subjectPage is one subject's standing under each policy and every
// decision on it with its evidence. The evidence names what a client
// looked up: a read of personal data, audited (for the roles that see
// it) before it is shown.
func (c *Console) subjectPage(rq *req) {
	d := subjectData{Enabled: c.decisions != nil}
	q := rq.r.URL.Query()
	d.Scope, d.Value = q.Get("scope"), q.Get("value")
	title := rq.T("subject.title.none")
	status := http.StatusOK
	if d.Enabled {
		scope, value, errs := subjectQuery(d.Scope, d.Value)
		var before int64
		if s := q.Get("before"); s != "" {
			n, err := strconv.ParseInt(s, 10, 64)
			if err != nil || n <= 0 {
				errs = append(errs, fieldErr{"before", "decisions.err.before"})
			}
			before = n
		}
		d.Errs = errs
		if len(errs) > 0 {
			status = http.StatusBadRequest
		} else {
			d.Scope, d.Value, d.Subject = string(scope), value, string(scope)+":"+value
			title = rq.T("subject.title", d.Subject)
			d.Self = subjectURL(scope, value)
			var err error
			if d.Standings, err = c.decisions.Standings(scope, value); err != nil {
				c.log.Error("standings", "subject", d.Subject, "err", err)
				d.StandErr = rq.T("decisions.err.list")
			}
			ds, err := c.decisions.List(rq.r.Context(), decision.Filter{Scope: scope, Value: value, BeforeID: before, Limit: subjectPageSize + 1})
			if err != nil {
				c.log.Error("subject decisions", "subject", d.Subject, "err", err)
				d.ListErr = rq.T("decisions.err.list")
				status = http.StatusInternalServerError
			}
			if len(ds) > subjectPageSize {
				ds = ds[:subjectPageSize]
				d.Next = withParam(d.Self, "before", strconv.FormatInt(ds[len(ds)-1].ID, 10))
			}
			if before > 0 {
				d.Newest = d.Self
			}
			d.ShowNames = rq.role().Allows(state.RoleModerator)
			if !d.ShowNames {
				hideEvidenceNames(ds)
			} else if hasEvidence(ds) {
				if err := c.audit(rq.r.Context(), state.AuditEntry{Actor: rq.user(), Action: "decision.subject",
					Object: "subject:" + d.Subject}); err != nil {
					c.errorPage(rq, http.StatusInternalServerError, "error.audit")
					return
				}
			}
			d.Rows = toRows(ds, c.now())
		}
	}
	v := c.newView(rq, "subject", "subject.title.none", d)
	v.Title = title
	c.renderView(rq, status, v)
}

// The JSON API, with the console's session (viewers read; admins decide
// and revoke, with X-CSRF-Token).

// decisionJSON is a decision with where it stands now.
type decisionJSON struct {
	decision.Decision
	Subject   string `json:"subject"`
	State     string `json:"state"`
	Remaining int64  `json:"remaining_seconds"`
	HitCount  int    `json:"hit_count"`
}

func toDecisionJSON(d decision.Decision, now time.Time, withHits bool) decisionJSON {
	j := decisionJSON{Decision: d, Subject: d.Subject(), State: decisionState(d, now),
		Remaining: int64(d.Remaining(now) / time.Second), HitCount: len(d.Hits)}
	if !withHits {
		j.Hits = nil
	}
	return j
}

// apiProblem is the decision API's error: apiError's error and code,
// with the field at fault and, when the engine refused, its own words.
type apiProblem struct {
	Error  string         `json:"error"`
	Code   string         `json:"code"`
	Field  string         `json:"field,omitempty"`
	Detail string         `json:"detail,omitempty"`
	Fields []fieldProblem `json:"fields,omitempty"`
}

type fieldProblem struct {
	Field string `json:"field"`
	Error string `json:"error"`
}

func (c *Console) decisionsDisabled(rq *req) bool {
	if c.decisions != nil {
		return false
	}
	writeJSON(rq.w, http.StatusNotFound, apiError{Error: rq.T("decisions.disabled"), Code: "decisions_disabled"})
	return true
}

// fieldsProblem answers a request with field errors: 422 need_reason when
// the reason is all that is missing, else 400 invalid.
func fieldsProblem(rq *req, errs []fieldErr) {
	p := apiProblem{Code: "invalid", Field: errs[0].Field}
	for _, e := range errs {
		p.Fields = append(p.Fields, fieldProblem{Field: e.Field, Error: rq.T(e.Key)})
	}
	p.Error = rq.T("decisions.err.field", errs[0].Field, p.Fields[0].Error)
	code := http.StatusBadRequest
	if len(errs) == 1 && errs[0].Key == "decisions.err.reason" {
		code, p.Code = http.StatusUnprocessableEntity, "need_reason"
	}
	writeJSON(rq.w, code, p)
}

func bodyProblem(rq *req, err error) {
	var be *bodyError
	if !errors.As(err, &be) {
		be = &bodyError{Field: "body", Msg: err.Error()}
	}
	code := http.StatusBadRequest
	if be.Status != 0 {
		code = be.Status
	}
	writeJSON(rq.w, code, apiProblem{Error: rq.T("decisions.err.body", be.Field, be.Msg), Code: "invalid", Field: be.Field, Detail: be.Msg})
}

func (c *Console) apiDecisionsList(rq *req) {
	if c.decisionsDisabled(rq) {
		return
	}
	p := parseDecisionsQuery(rq.r.URL.Query(), true)
	if len(p.Errs) > 0 {
		fieldsProblem(rq, p.Errs)
		return
	}
	ds, err := c.decisions.List(rq.r.Context(), p.Filter)
	if err != nil {
		c.log.Error("decisions list", "err", err)
		writeJSON(rq.w, http.StatusInternalServerError, apiError{Error: rq.T("error.internal"), Code: "internal"})
		return
	}
	out := struct {
		Decisions  []decisionJSON `json:"decisions"`
		NextBefore int64          `json:"next_before,omitempty"`
	}{Decisions: []decisionJSON{}}
	if len(ds) > p.Limit {
		ds = ds[:p.Limit]
		out.NextBefore = ds[len(ds)-1].ID
	}
	now := c.now()
	for _, d := range ds {
		// The list leaves the evidence out: it is personal data, read one
		// decision or subject at a time, audited.
		out.Decisions = append(out.Decisions, toDecisionJSON(d, now, false))
	}
	writeJSON(rq.w, http.StatusOK, out)
}

// evidenceFor prepares ds' evidence for rq's user: hidden names for
// viewers; for the others an audit entry first. false: the audit failed
// and the answer has been written.
func (c *Console) evidenceFor(rq *req, ds []decision.Decision, action, object string) bool {
	if !rq.role().Allows(state.RoleModerator) {
		hideEvidenceNames(ds)
		return true
	}
	if !hasEvidence(ds) {
		return true
	}
	if err := c.audit(rq.r.Context(), state.AuditEntry{Actor: rq.user(), Action: action, Object: object}); err != nil {
		writeJSON(rq.w, http.StatusInternalServerError, apiError{Error: rq.T("error.audit"), Code: "audit"})
		return false
	}
	return true
}

func (c *Console) apiDecisionGet(rq *req) {
	if c.decisionsDisabled(rq) {
		return
	}
	id, err := strconv.ParseInt(rq.r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		c.apiNotFound(rq)
		return
	}
	d, err := c.decisions.Get(rq.r.Context(), id)
	if errors.Is(err, decision.ErrNotFound) {
		c.apiNotFound(rq)
		return
	}
	if err != nil {
		c.log.Error("decision", "id", id, "err", err)
		writeJSON(rq.w, http.StatusInternalServerError, apiError{Error: rq.T("error.internal"), Code: "internal"})
		return
	}
	ds := []decision.Decision{d}
	if !c.evidenceFor(rq, ds, "decision.view", "decision:"+strconv.FormatInt(id, 10)) {
		return
	}
	writeJSON(rq.w, http.StatusOK, map[string]any{"decision": toDecisionJSON(ds[0], c.now(), true)})
}

func (c *Console) apiSubject(rq *req) {
	if c.decisionsDisabled(rq) {
		return
	}
	scope, value, errs := subjectQuery(rq.r.PathValue("scope"), rq.r.PathValue("value"))
	if len(errs) > 0 {
		fieldsProblem(rq, errs)
		return
	}
	standings, err := c.decisions.Standings(scope, value)
	if err != nil {
		c.log.Error("standings", "scope", scope, "value", value, "err", err)
		writeJSON(rq.w, http.StatusInternalServerError, apiError{Error: rq.T("error.internal"), Code: "internal"})
		return
	}
	ds, err := c.decisions.List(rq.r.Context(), decision.Filter{Scope: scope, Value: value, Limit: subjectPageSize})
	if err != nil {
		c.log.Error("subject decisions", "scope", scope, "value", value, "err", err)
		writeJSON(rq.w, http.StatusInternalServerError, apiError{Error: rq.T("error.internal"), Code: "internal"})
		return
	}
	subject := string(scope) + ":" + value
	if !c.evidenceFor(rq, ds, "decision.subject", "subject:"+subject) {
		return
	}
	out := struct {
		Subject   string            `json:"subject"`
		Scope     decision.Scope    `json:"scope"`
		Value     string            `json:"value"`
		Standings []alerts.Standing `json:"standings"`
		Decisions []decisionJSON    `json:"decisions"`
	}{Subject: subject, Scope: scope, Value: value, Standings: standings, Decisions: []decisionJSON{}}
	if out.Standings == nil {
		out.Standings = []alerts.Standing{}
	}
	now := c.now()
	for _, d := range ds {
		out.Decisions = append(out.Decisions, toDecisionJSON(d, now, true))
	}
	writeJSON(rq.w, http.StatusOK, out)
}

// jsonBody checks the content type: a form post from another site cannot
// send JSON.
func jsonBody(rq *req) error {
	mt, _, err := mime.ParseMediaType(rq.r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		return &bodyError{Field: "body", Msg: "want Content-Type application/json", Status: http.StatusUnsupportedMediaType}
	}
	return nil
}

func (c *Console) apiDecide(rq *req) {
	if c.decisionsDisabled(rq) {
		return
	}
	if err := jsonBody(rq); err != nil {
		bodyProblem(rq, err)
		return
	}
	b, err := decodeDecideBody(rq.r.Body)
	if err != nil {
		bodyProblem(rq, err)
		return
	}
	d, errs := b.decision(rq.user(), c.now())
	if len(errs) > 0 {
		fieldsProblem(rq, errs)
		return
	}
	got, code, name, msg, detail := c.decide(rq, d)
	if code != http.StatusCreated {
		writeJSON(rq.w, code, apiProblem{Error: msg, Code: name, Detail: detail})
		return
	}
	rq.w.Header().Set("Location", "/api/v1/decisions/"+strconv.FormatInt(got.ID, 10))
	writeJSON(rq.w, http.StatusCreated, map[string]any{"decision": toDecisionJSON(got, c.now(), true)})
}

func (c *Console) apiRevoke(rq *req) {
	if c.decisionsDisabled(rq) {
		return
	}
	id, err := strconv.ParseInt(rq.r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		c.apiNotFound(rq)
		return
	}
	var reason string
	if err := jsonBody(rq); err != nil {
		bodyProblem(rq, err)
		return
	}
	if err := decodeStrict(rq.r.Body, map[string]*string{"reason": &reason}); err != nil {
		bodyProblem(rq, err)
		return
	}
	reason = strings.TrimSpace(reason)
	switch {
	case reason == "":
		fieldsProblem(rq, []fieldErr{{"reason", "decisions.err.reason"}})
		return
	case len(reason) > maxDecisionReason:
		fieldsProblem(rq, []fieldErr{{"reason", "decisions.err.reason.long"}})
		return
	case !cleanText(reason, true):
		fieldsProblem(rq, []fieldErr{{"reason", "hits.err.chars"}})
		return
	}
	d, err := c.decisions.Revoke(rq.r.Context(), id, rq.user(), reason)
	if err != nil {
		code, name, key := c.revokeProblem(id, err)
		msg := rq.T("error.internal")
		if key != "" {
			msg = rq.T("fail." + key)
		}
		writeJSON(rq.w, code, apiError{Error: msg, Code: name})
		return
	}
	writeJSON(rq.w, http.StatusOK, map[string]any{"decision": toDecisionJSON(d, c.now(), false)})
}

// Strict JSON bodies.

// bodyError is what is wrong with a request body, naming the field (the
// JSON key, or "body" for the whole).
type bodyError struct {
	Field  string
	Msg    string
	Status int // 0: 400
}

func (e *bodyError) Error() string { return e.Field + ": " + e.Msg }

// maxFieldNameBytes bounds a field name quoted back in an error.
const maxFieldNameBytes = 64

// fields are b's JSON keys.
func (b *decideBody) fields() map[string]*string {
	return map[string]*string{"action": &b.Action, "scope": &b.Scope, "value": &b.Value, "duration": &b.Duration,
		"severity": &b.Severity, "category": &b.Category, "reason": &b.Reason}
}

// decodeDecideBody reads a manual decision from a JSON body.
func decodeDecideBody(r io.Reader) (decideBody, error) {
	var b decideBody
	err := decodeStrict(r, b.fields())
	return b, err
}

// decodeStrict decodes one JSON object of at most maxDecisionBody bytes
// into fields: its keys exactly as named (no case folding, no key twice,
// no other keys), each value a string (severity may be a number), nothing
// after the object. Every error names the field at fault.
func decodeStrict(r io.Reader, fields map[string]*string) error {
	body, err := io.ReadAll(io.LimitReader(r, maxDecisionBody+1))
	if err != nil {
		return &bodyError{Field: "body", Msg: "could not be read"}
	}
	if len(body) > maxDecisionBody {
		return &bodyError{Field: "body", Msg: fmt.Sprintf("larger than %d bytes", maxDecisionBody), Status: http.StatusRequestEntityTooLarge}
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return &bodyError{Field: "body", Msg: "empty; want a JSON object"}
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	syntax := func(err error) error {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return &bodyError{Field: "body", Msg: fmt.Sprintf("not valid JSON at byte %d", se.Offset)}
		}
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return &bodyError{Field: "body", Msg: "the JSON ends early"}
		}
		return &bodyError{Field: "body", Msg: "not valid JSON"}
	}
	tok, err := dec.Token()
	if err != nil {
		return syntax(err)
	}
	if tok != json.Delim('{') {
		return &bodyError{Field: "body", Msg: "want a JSON object"}
	}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return syntax(err)
		}
		key, _ := tok.(string)
		name := key
		switch {
		case name == "":
			name = `""`
		case len(name) > maxFieldNameBytes:
			name = strings.ToValidUTF8(name[:maxFieldNameBytes], "") + "…"
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return syntax(err)
		}
		dst, ok := fields[key]
		if !ok {
			return &bodyError{Field: name, Msg: "unknown field"}
		}
		if seen[key] {
			return &bodyError{Field: name, Msg: "given twice"}
		}
		seen[key] = true
		switch {
		case len(raw) > 0 && raw[0] == '"':
			if err := json.Unmarshal(raw, dst); err != nil {
				return &bodyError{Field: name, Msg: "not a valid string"}
			}
		case key == "severity" && len(raw) > 0 && (raw[0] == '-' || raw[0] >= '0' && raw[0] <= '9'):
			n, err := strconv.Atoi(string(raw))
			if err != nil || n < 1 || n > 4 {
				return &bodyError{Field: name, Msg: "want a name (low, medium, high, critical) or a whole number from 1 to 4"}
			}
			*dst = strconv.Itoa(n)
		case key == "severity":
			return &bodyError{Field: name, Msg: "want a name (low, medium, high, critical) or a whole number from 1 to 4"}
		default:
			return &bodyError{Field: name, Msg: "want a string"}
		}
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return syntax(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return &bodyError{Field: "body", Msg: "one JSON object expected, found more after it"}
	}
	return nil
}
