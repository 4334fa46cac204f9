package web

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"gopkg.in/yaml.v3"

	"github.com/campusguard/campusguard/alerts"
	"github.com/campusguard/campusguard/alerts/decision"
	"github.com/campusguard/campusguard/internal/event"
)

// The alert engine is what serve gives the console.
var _ Decisions = (*alerts.Engine)(nil)

const testPolicies = `
- name: phishing-clients
  categories: [phishing]
  threshold: 3
  window: 10m
  ladder: [{action: notify}, {action: warn, duration: 1h}, {action: block, duration: 2h}]
  dry_run: false
- name: gambling-watch
  categories: [gambling]
  threshold: 2
`

// withEngine gives the console a real alert engine on the fixture's state
// database and clock: two policies (one in dry-run mode, the default
// here) and an allowlist of 10.0.0.0/24 and campus.example.edu.
func withEngine(t *testing.T) func(*Options) {
	return func(o *Options) {
		t.Helper()
		var raw []map[string]any
		if err := yaml.Unmarshal([]byte(testPolicies), &raw); err != nil {
			t.Fatal(err)
		}
		ps, err := alerts.ParsePolicies(raw, true)
		if err != nil {
			t.Fatal(err)
		}
		allow, err := alerts.ParseAllowlist([]string{"10.0.0.0/24", "campus.example.edu"})
		if err != nil {
			t.Fatal(err)
		}
		e, err := alerts.New(context.Background(), o.DB, alerts.Options{Policies: ps, Allowlist: allow, Now: o.Now})
		if err != nil {
			t.Fatal(err)
		}
		o.Decisions = e
	}
}

func (f *fixture) engine() *alerts.Engine { return f.c.decisions.(*alerts.Engine) }

// observe has the engine count one DNS hit of client on name.
func (f *fixture) observe(client, name, category string) []decision.Decision {
	f.t.Helper()
	f.clock.Add(2 * time.Second)
	ev := &event.Event{Time: f.clock.Now(), Sensor: "core-1", Kind: event.KindDNS, Src: client, Dst: "10.0.0.53", Name: name,
		Hits: []event.Hit{{Pack: "phishing-example", Rule: "phishing.txt:12", Category: category, Severity: event.SeverityHigh, Action: "alert"}}}
	ds, err := f.engine().Observe(context.Background(), ev)
	if err != nil {
		f.t.Fatal(err)
	}
	return ds
}

// seedDecisions has the policies decide: a notice and then a one-hour
// warn on 10.1.2.3, and a dry-run notice on 10.1.2.4.
func (f *fixture) seedDecisions() {
	f.t.Helper()
	var got []string
	for i := range 6 {
		for _, d := range f.observe("10.1.2.3", fmt.Sprintf("login-verify%d.example", i), "phishing") {
			got = append(got, string(d.Action))
		}
	}
	for i := range 2 {
		for _, d := range f.observe("10.1.2.4", fmt.Sprintf("bet%d.example", i), "gambling") {
			got = append(got, fmt.Sprintf("%s dry=%v", d.Action, d.DryRun))
		}
	}
	if fmt.Sprint(got) != "[notify warn notify dry=true]" {
		f.t.Fatalf("seeded decisions: %v", got)
	}
}

// getJSON fetches an API path with the session.
func (c *client) getJSON(path string) (int, map[string]any) {
	c.t.Helper()
	resp, text := c.get(path)
	var out map[string]any
	if err := json.Unmarshal([]byte(text), &out); err != nil {
		c.t.Fatalf("GET %s: %d, not JSON: %q", path, resp.StatusCode, text)
	}
	return resp.StatusCode, out
}

// rawAPI posts a body as it is.
func (c *client) rawAPI(path, contentType, body string) (int, map[string]any) {
	c.t.Helper()
	req, _ := http.NewRequest("POST", c.f.srv.URL+path, strings.NewReader(body))
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("X-CSRF-Token", c.csrf)
	resp, text := c.do(req)
	var out map[string]any
	if err := json.Unmarshal([]byte(text), &out); err != nil {
		c.t.Fatalf("POST %s: %d, not JSON: %q", path, resp.StatusCode, text)
	}
	return resp.StatusCode, out
}

func decisionForm(csrf string, kv ...string) url.Values {
	v := url.Values{"csrf": {csrf}, "action": {"block"}, "scope": {"ip"}, "value": {"10.9.8.7"}, "duration": {"2h"},
		"severity": {"high"}, "reason": {"port scan from a lab PC"}}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Set(kv[i], kv[i+1])
	}
	return v
}

func TestDecisionPagesAndRoles(t *testing.T) {
	f := newFixture(t, withEngine(t))
	f.seedDecisions()
	view, mod, admin := f.login("view"), f.login("mod"), f.login("alice")

	// Everyone reads the list; only admins get the form.
	for who, c := range map[string]*client{"view": view, "mod": mod, "alice": admin} {
		resp, body := c.get("/decisions")
		if resp.StatusCode != 200 {
			t.Fatalf("GET /decisions: %d", resp.StatusCode)
		}
		for _, want := range []string{`href="/decisions/subject?scope=ip&amp;value=10.1.2.3"`, "ip:10.1.2.3", "policy phishing-clients",
			`data-state="active"`, `data-state="notice"`, `data-state="dryrun"`, "left", "3 phishing hits within 10m0s (strike 2)"} {
			if !strings.Contains(body, want) {
				t.Errorf("decisions page lacks %q", want)
			}
		}
		if hasForm := strings.Contains(body, `id="f-reason"`); hasForm != (c == admin) {
			t.Errorf("decision form shown to %s: %v", who, hasForm)
		}
	}
	// Viewers and moderators may not decide, with or without a token.
	for _, c := range []*client{view, mod} {
		if resp := c.postForm("/decisions", decisionForm(c.csrf)); resp.StatusCode != http.StatusForbidden {
			t.Errorf("non-admin POST /decisions: %d", resp.StatusCode)
		}
		if resp := c.postForm("/decisions/2/revoke", url.Values{"csrf": {c.csrf}, "reason": {"x"}}); resp.StatusCode != http.StatusForbidden {
			t.Errorf("non-admin revoke: %d", resp.StatusCode)
		}
	}
	// An admin needs the form's token.
	for _, tok := range []string{"", "wrong"} {
		if resp := admin.postForm("/decisions", decisionForm(tok)); resp.StatusCode != http.StatusForbidden {
			t.Errorf("POST /decisions with token %q: %d", tok, resp.StatusCode)
		}
		if resp := admin.postForm("/decisions/2/revoke", url.Values{"csrf": {tok}, "reason": {"x"}}); resp.StatusCode != http.StatusForbidden {
			t.Errorf("revoke with token %q: %d", tok, resp.StatusCode)
		}
	}
	if ds, _ := f.engine().List(context.Background(), decision.Filter{Scope: decision.ScopeIP, Value: "10.9.8.7"}); len(ds) != 0 {
		t.Fatalf("a refused post made decisions: %+v", ds)
	}

	// Bad input: the form comes back with the field marked and the
	// problem named, nothing recorded.
	for _, c := range []struct {
		kv   []string
		code int
		want []string
	}{
		{[]string{"duration", "forever"}, 400, []string{"Not a duration", `id="f-duration" `, `aria-invalid="true"`}},
		{[]string{"duration", "400d"}, 400, []string{"between 1 minute and 365 days"}},
		{[]string{"duration", "30s"}, 400, []string{"between 1 minute and 365 days"}},
		{[]string{"value", "10.9.8"}, 400, []string{"Not an IP address", `value="10.9.8"`}},
		{[]string{"scope", "range", "value", "0.0.0.0/0"}, 400, []string{"Not a CIDR range"}},
		{[]string{"scope", "domain", "value", "localhost"}, 400, []string{"Not a domain name"}},
		{[]string{"reason", "  "}, 400, []string{"A reason is required", "please correct the fields"}},
		{[]string{"action", "drop"}, 400, []string{"Choose block, warn or notify"}},
		{[]string{"severity", "dire"}, 400, []string{"Choose low, medium, high or critical"}},
		{[]string{"value", "10.0.0.77"}, 409, []string{"ip:10.0.0.77 is covered by the allowlist"}},
		{[]string{"scope", "range", "value", "10.0.0.128/25"}, 409, []string{"covered by the allowlist"}},
		{[]string{"scope", "domain", "value", "WWW.Campus.Example.EDU."}, 409, []string{"domain:www.campus.example.edu is covered by the allowlist"}},
	} {
		resp, body := admin.postFormBody("/decisions", decisionForm(admin.csrf, c.kv...))
		if resp.StatusCode != c.code {
			t.Errorf("%v: %d, want %d", c.kv, resp.StatusCode, c.code)
		}
		for _, w := range c.want {
			if !strings.Contains(body, w) {
				t.Errorf("%v: page lacks %q", c.kv, w)
			}
		}
		if !strings.Contains(body, `role="alert"`) {
			t.Errorf("%v: no alert on the page", c.kv)
		}
	}
	if ds, _ := f.engine().List(context.Background(), decision.Filter{Live: true}); len(ds) != 1 {
		t.Fatalf("bad posts made decisions: %d in force", len(ds))
	}

	// A good one: recorded as the admin's, in force, listed.
	resp := admin.postForm("/decisions", decisionForm(admin.csrf, "duration", "1d 12h", "category", "scan"))
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/decisions?done=decide" {
		t.Fatalf("decide: %d → %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	ds, err := f.engine().List(context.Background(), decision.Filter{Scope: decision.ScopeIP, Value: "10.9.8.7"})
	if err != nil || len(ds) != 1 {
		t.Fatalf("manual decision: %v %+v", err, ds)
	}
	d := ds[0]
	if d.Origin != decision.OriginManual || d.Actor != "alice" || d.Action != decision.ActionBlock || d.Severity != 3 ||
		d.Expires.Sub(d.Created) != 36*time.Hour || d.Category != "scan" || !d.Active(f.clock.Now()) {
		t.Errorf("manual decision %+v", d)
	}
	_, body := admin.get("/decisions?done=decide")
	if !strings.Contains(body, "Decision recorded.") || !strings.Contains(body, "alice (manual)") || !strings.Contains(body, "1 d 12 h left") {
		t.Errorf("list after deciding lacks the message or the row")
	}
	// A notify takes no duration, whatever the field says.
	if resp := admin.postForm("/decisions", decisionForm(admin.csrf, "action", "notify", "duration", "nonsense", "scope", "domain", "value", "phish.example")); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("notify: %d", resp.StatusCode)
	}

	// Revoke: a reason is required; then it is lifted, once.
	id := strconv.FormatInt(d.ID, 10)
	next := subjectURL(decision.ScopeIP, "10.9.8.7")
	resp = admin.postForm("/decisions/"+id+"/revoke", url.Values{"csrf": {admin.csrf}, "reason": {" "}, "next": {next}})
	if loc := resp.Header.Get("Location"); !strings.Contains(loc, "fail=revokereason") || !strings.HasPrefix(loc, "/decisions/subject?") {
		t.Errorf("revoke without reason → %q", loc)
	}
	resp = admin.postForm("/decisions/"+id+"/revoke", url.Values{"csrf": {admin.csrf}, "reason": {"false positive: lab scanner"}, "next": {next}})
	if loc := resp.Header.Get("Location"); resp.StatusCode != 303 || !strings.Contains(loc, "done=revoke") || !strings.HasSuffix(loc, "#d-"+id) {
		t.Fatalf("revoke: %d → %q", resp.StatusCode, loc)
	}
	if got, _ := f.engine().Get(context.Background(), d.ID); got.RevokedBy != "alice" || got.RevokeReason != "false positive: lab scanner" {
		t.Errorf("revoked decision %+v", got)
	}
	resp = admin.postForm("/decisions/"+id+"/revoke", url.Values{"csrf": {admin.csrf}, "reason": {"again"}, "next": {next}})
	if loc := resp.Header.Get("Location"); !strings.Contains(loc, "fail=notinforce") {
		t.Errorf("second revoke → %q", loc)
	}
	_, body = admin.get(resp.Header.Get("Location"))
	if !strings.Contains(body, "no longer in force") {
		t.Error("not-in-force message not shown")
	}
	if resp := admin.postForm("/decisions/99999/revoke", url.Values{"csrf": {admin.csrf}, "reason": {"x"}}); !strings.Contains(resp.Header.Get("Location"), "fail=decisionnotfound") {
		t.Errorf("revoke of a missing decision → %q", resp.Header.Get("Location"))
	}
	if resp := admin.postForm("/decisions/abc/revoke", url.Values{"csrf": {admin.csrf}, "reason": {"x"}}); resp.StatusCode != 404 {
		t.Errorf("revoke of a bad id: %d", resp.StatusCode)
	}
	// A foreign next is not followed.
	if resp := admin.postForm("/decisions/1/revoke", url.Values{"csrf": {admin.csrf}, "reason": {"x"}, "next": {"https://evil.example/"}}); strings.Contains(resp.Header.Get("Location"), "evil") {
		t.Errorf("revoke followed a foreign next: %q", resp.Header.Get("Location"))
	}

	// The subject page: the revoked decision with who and why.
	_, body = view.get(next)
	for _, want := range []string{"Subject ip:10.9.8.7", "revoked", "by alice at", "false positive: lab scanner", "Decision #" + id} {
		if !strings.Contains(body, want) {
			t.Errorf("subject page lacks %q", want)
		}
	}
	if strings.Contains(body, "/revoke") {
		t.Error("viewer's subject page has a revoke form")
	}

	// The audit log has both, translated and linked to the decision.
	acts := f.auditActions()
	for _, want := range []string{"alice decision.add decision:" + id, "alice decision.revoke decision:" + id, "system decision.add decision:1",
		"system decision.dry_run decision:3"} {
		if !contains(acts, want) {
			t.Errorf("audit lacks %q: %v", want, acts)
		}
	}
	_, body = mod.get("/audit")
	for _, want := range []string{"recorded a decision", "revoked a decision", "recorded a dry-run decision", `href="/decisions/` + id + `"`} {
		if !strings.Contains(body, want) {
			t.Errorf("audit page lacks %q", want)
		}
	}
	// /decisions/{id} goes to the decision on its subject's page.
	resp, _ = mod.get("/decisions/" + id)
	if loc := resp.Header.Get("Location"); resp.StatusCode != 303 || loc != next+"#d-"+id {
		t.Errorf("GET /decisions/%s: %d → %q", id, resp.StatusCode, loc)
	}
	if resp, _ := mod.get("/decisions/424242"); resp.StatusCode != 404 {
		t.Errorf("missing decision: %d", resp.StatusCode)
	}
}

func TestSubjectPage(t *testing.T) {
	f := newFixture(t, withEngine(t))
	f.seedDecisions()
	mod, view := f.login("mod"), f.login("view")
	page := subjectURL(decision.ScopeIP, "10.1.2.3")

	resp, body := mod.get(page)
	if resp.StatusCode != 200 {
		t.Fatalf("subject page: %d", resp.StatusCode)
	}
	for _, want := range []string{
		"Standing under each policy", "phishing-clients", // the standing
		`class="num">2</td>`,                  // two strikes
		`<span class="badge act-block">block`, // the next step
		"0 of 3",                              // recent hits since the warn, of the threshold
		"login-verify5.example",               // evidence names, for a moderator
		"phishing.txt:12", "Evidence: 3 hits", "in force", "one-off notice",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("subject page lacks %q", want)
		}
	}
	if !contains(f.auditActions(), "mod decision.subject subject:ip:10.1.2.3") {
		t.Error("the evidence read was not audited")
	}
	// A viewer sees the history but not what the client looked up.
	_, body = view.get(page)
	if strings.Contains(body, "login-verify") || !strings.Contains(body, "shown to moderators and admins only") || !strings.Contains(body, "phishing.txt:12") {
		t.Error("viewer's evidence")
	}
	// Values are normalized; bad ones are named.
	if _, body := mod.get("/decisions/subject?scope=ip&value=%3A%3Affff%3A10.1.2.3"); !strings.Contains(body, "Subject ip:10.1.2.3") {
		t.Error("mapped address not normalized")
	}
	for _, q := range []string{"scope=ip&value=nope", "scope=host&value=x", "scope=ip", "scope=ip&value=10.1.2.3&before=x", "scope=domain&value=a%00b"} {
		if resp, body := mod.get("/decisions/subject?" + q); resp.StatusCode != 400 || !strings.Contains(body, `role="alert"`) {
			t.Errorf("?%s: %d", q, resp.StatusCode)
		}
	}
	// A subject nothing has touched.
	if _, body := mod.get(subjectURL(decision.ScopeDomain, "quiet.example")); !strings.Contains(body, "No decisions on this subject") || !strings.Contains(body, "No policy is counting") {
		t.Error("empty subject page")
	}
}

func TestDecisionsListFiltersAndPaging(t *testing.T) {
	f := newFixture(t, withEngine(t))
	f.seedDecisions()
	ctx := context.Background()
	for i := range decisionsPageSize + 5 {
		_, err := f.engine().Decide(ctx, decision.Decision{Action: decision.ActionWarn, Scope: decision.ScopeIP,
			Value: fmt.Sprintf("10.20.%d.%d", i/250, i%250+1), Actor: "alice", Reason: "bulk test", Created: f.clock.Now(), Expires: f.clock.Now().Add(time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
	}
	m := f.login("mod")
	_, body := m.get("/decisions")
	if n := strings.Count(body, "<tr data-decision="); n != decisionsPageSize {
		t.Errorf("first page: %d rows", n)
	}
	next := strings.ReplaceAll(regexpFind(`href="(/decisions\?before=\d+)" rel="next"`, body), "&amp;", "&")
	if next == "" {
		t.Fatal("no link to older decisions")
	}
	_, body = m.get(next)
	if n := strings.Count(body, "<tr data-decision="); n != 3+5 {
		t.Errorf("second page: %d rows", n)
	}
	if !strings.Contains(body, "ip:10.1.2.3") || strings.Contains(body, `rel="next"`) || !strings.Contains(body, "Newest entries") {
		t.Error("second page: oldest rows, no further link, a link back")
	}
	// Filters.
	for q, want := range map[string]int{
		"policy=phishing-clients":              2,
		"policy=gambling-watch":                1,
		"live=1&value=10.1.2.3":                1, // the warn; the notice is never in force
		"value=10.1.2.3":                       2, // the scope guessed
		"scope=ip&value=%3A%3Affff%3A10.1.2.4": 1,
		"policy=removed-policy":                0,
	} {
		resp, body := m.get("/decisions?" + q)
		if n := strings.Count(body, "<tr data-decision="); resp.StatusCode != 200 || n != want {
			t.Errorf("?%s: %d, %d rows, want %d", q, resp.StatusCode, n, want)
		}
	}
	if _, body := m.get("/decisions?policy=removed-policy"); !strings.Contains(body, `<option value="removed-policy" selected>`) {
		t.Error("an unknown policy is not kept in the filter")
	}
	for _, q := range []string{"live=maybe", "scope=host", "scope=ip&value=10.1.2", "before=-3", "policy=a%20b", "value=" + strings.Repeat("a", 300)} {
		resp, body := m.get("/decisions?" + q)
		if resp.StatusCode != 400 || !strings.Contains(body, "Please correct") {
			t.Errorf("?%s: %d", q, resp.StatusCode)
		}
	}
	// The overview counts what is in force.
	_, body = m.get("/")
	if !regexpMust(`In force</span>\s*<span class="stat-value">56</span>`).MatchString(body) {
		t.Errorf("overview: decisions in force not counted")
	}
}

func TestDecisionsAPI(t *testing.T) {
	f := newFixture(t, withEngine(t))
	f.seedDecisions()
	view, admin := f.login("view"), f.login("alice")

	// List, with the state of each and no evidence.
	code, body := view.getJSON("/api/v1/decisions?limit=2")
	list, _ := body["decisions"].([]any)
	if code != 200 || len(list) != 2 || body["next_before"] != float64(2) {
		t.Fatalf("list: %d %v", code, body)
	}
	d0 := list[0].(map[string]any)
	if d0["id"] != float64(3) || d0["state"] != "dryrun" || d0["subject"] != "ip:10.1.2.4" || d0["hits"] != nil || d0["hit_count"] != float64(2) {
		t.Errorf("list entry %v", d0)
	}
	code, body = view.getJSON("/api/v1/decisions?before=2")
	if list := body["decisions"].([]any); code != 200 || len(list) != 1 || body["next_before"] != nil {
		t.Errorf("older page: %d %v", code, body)
	}
	code, body = view.getJSON("/api/v1/decisions?live=1")
	if list := body["decisions"].([]any); code != 200 || len(list) != 1 || list[0].(map[string]any)["remaining_seconds"].(float64) < 3500 {
		t.Errorf("live: %d %v", code, body)
	}
	for q, field := range map[string]string{"limit=0": "limit", "limit=1001": "limit", "scope=ip&value=x": "value", "live=2": "live"} {
		code, body := view.getJSON("/api/v1/decisions?" + q)
		if code != 400 || body["code"] != "invalid" || body["field"] != field || body["error"] == "" {
			t.Errorf("?%s: %d %v", q, code, body)
		}
	}
	// One decision: evidence without names for a viewer.
	code, body = view.getJSON("/api/v1/decisions/2")
	dj := body["decision"].(map[string]any)
	hits := dj["hits"].([]any)
	if code != 200 || dj["action"] != "warn" || dj["state"] != "active" || len(hits) != 3 || hits[0].(map[string]any)["name"] != nil || hits[0].(map[string]any)["rule"] != "phishing.txt:12" {
		t.Errorf("get as viewer: %d %v", code, body)
	}
	if code, body := view.getJSON("/api/v1/decisions/999"); code != 404 || body["code"] != "not_found" {
		t.Errorf("missing: %d %v", code, body)
	}
	if code, body := view.getJSON("/api/v1/decisions/abc"); code != 404 || body["code"] != "not_found" {
		t.Errorf("bad id: %d %v", code, body)
	}
	// A subject: standings and decisions.
	code, body = view.getJSON("/api/v1/subjects/ip/10.1.2.3")
	st := body["standings"].([]any)
	if code != 200 || body["subject"] != "ip:10.1.2.3" || len(st) != 1 || st[0].(map[string]any)["strikes"] != float64(2) ||
		st[0].(map[string]any)["next_action"] != "block" || len(body["decisions"].([]any)) != 2 {
		t.Errorf("subject: %d %v", code, body)
	}
	if code, body := view.getJSON("/api/v1/subjects/range/10.1.2.0/24"); code != 200 || body["subject"] != "range:10.1.2.0/24" || len(body["standings"].([]any)) != 0 {
		t.Errorf("range subject: %d %v", code, body)
	}
	if code, body := view.getJSON("/api/v1/subjects/ip/nope"); code != 400 || body["field"] != "value" {
		t.Errorf("bad subject: %d %v", code, body)
	}

	// Deciding: admins only, with the token.
	good := map[string]any{"action": "block", "scope": "domain", "value": "Login-Verify.EXAMPLE.", "duration": "7d", "severity": 4, "reason": "phishing kit", "category": "phishing"}
	if code, body := view.api("/api/v1/decisions", view.csrf, good); code != 403 || body["code"] != "forbidden" {
		t.Errorf("viewer decides: %d %v", code, body)
	}
	if code, body := admin.api("/api/v1/decisions", "", good); code != 403 || body["code"] != "csrf" {
		t.Errorf("no token: %d %v", code, body)
	}
	if code, body := f.anon().api("/api/v1/decisions", "", good); code != 401 {
		t.Errorf("anonymous: %d %v", code, body)
	}
	code, body = admin.api("/api/v1/decisions", admin.csrf, good)
	if code != 201 {
		t.Fatalf("decide: %d %v", code, body)
	}
	dj = body["decision"].(map[string]any)
	if dj["value"] != "login-verify.example" || dj["actor"] != "alice" || dj["origin"] != "manual" || dj["severity"] != float64(4) ||
		dj["state"] != "active" || dj["remaining_seconds"] != float64(7*24*3600) {
		t.Errorf("decided %v", dj)
	}
	id := int64(dj["id"].(float64))

	// Bad bodies name the field.
	for _, c := range []struct {
		body  string
		code  int
		field string
		want  string
	}{
		{`{"action":"block","scope":"ip","value":"10.9.9.9","duration":"1h","reason":"x","surprise":1}`, 400, "surprise", "unknown field"},
		{`{"ACTION":"block"}`, 400, "ACTION", "unknown field"},
		{`{"action":"block","action":"notify"}`, 400, "action", "given twice"},
		{`{"action":"block","duration":3600}`, 400, "duration", "want a string"},
		{`{"action":null}`, 400, "action", "want a string"},
		{`{"severity":9}`, 400, "severity", "1 to 4"},
		{`{"severity":true}`, 400, "severity", "1 to 4"},
		{`[1,2]`, 400, "body", "want a JSON object"},
		{`{"action":"block"} {}`, 400, "body", "one JSON object"},
		{`{"action":"bl`, 400, "body", "JSON"},
		{``, 400, "body", "empty"},
		{`{"reason":"` + strings.Repeat("x", maxDecisionBody) + `"}`, 413, "body", "larger than"},
		{`{"action":"block","scope":"ip","value":"10.9.9.9","duration":"1h"}`, 422, "reason", "A reason is required"},
		{`{"action":"block","scope":"ip","value":"10.9.9.9","duration":"1y","reason":"x"}`, 400, "duration", "Not a duration"},
		{`{"action":"block","scope":"ip","value":"10.9.9","duration":"1h","reason":"x"}`, 400, "value", "Not an IP address"},
	} {
		code, body := admin.rawAPI("/api/v1/decisions", "application/json", c.body)
		if code != c.code || body["field"] != c.field || !strings.Contains(fmt.Sprint(body["error"]), c.want) || body["code"] == "" {
			t.Errorf("%.60s: %d %v, want %d field %q %q", c.body, code, body, c.code, c.field, c.want)
		}
	}
	if code, body := admin.rawAPI("/api/v1/decisions", "application/x-www-form-urlencoded", "action=block"); code != 415 || body["field"] != "body" {
		t.Errorf("form body: %d %v", code, body)
	}
	code, body = admin.api("/api/v1/decisions", admin.csrf, map[string]any{"action": "warn", "scope": "ip", "value": "10.0.0.9", "duration": "1h", "reason": "x"})
	if code != 409 || body["code"] != "allowlisted" || !strings.Contains(body["error"].(string), "allowlist") {
		t.Errorf("allowlisted: %d %v", code, body)
	}
	// The message is in the session's language.
	admin.postForm("/lang", url.Values{"csrf": {admin.csrf}, "lang": {"zh-CN"}})
	code, body = admin.api("/api/v1/decisions", admin.csrf, map[string]any{"action": "warn", "scope": "ip", "value": "10.0.0.9", "duration": "1h", "reason": "x"})
	if code != 409 || !strings.Contains(body["error"].(string), "白名单") {
		t.Errorf("allowlisted in Chinese: %d %v", code, body)
	}

	// Revoking.
	path := fmt.Sprintf("/api/v1/decisions/%d/revoke", id)
	if code, body := view.api(path, view.csrf, map[string]any{"reason": "x"}); code != 403 {
		t.Errorf("viewer revokes: %d %v", code, body)
	}
	if code, body := admin.api(path, admin.csrf, map[string]any{"reason": ""}); code != 422 || body["code"] != "need_reason" || body["field"] != "reason" {
		t.Errorf("revoke without reason: %d %v", code, body)
	}
	if code, body := admin.api(path, admin.csrf, map[string]any{"reason": "x", "force": true}); code != 400 || body["field"] != "force" {
		t.Errorf("revoke with an unknown field: %d %v", code, body)
	}
	code, body = admin.api(path, admin.csrf, map[string]any{"reason": "takedown confirmed"})
	if dj := body["decision"].(map[string]any); code != 200 || dj["state"] != "revoked" || dj["revoked_by"] != "alice" || dj["revoke_reason"] != "takedown confirmed" {
		t.Errorf("revoke: %d %v", code, body)
	}
	if code, body := admin.api(path, admin.csrf, map[string]any{"reason": "again"}); code != 409 || body["code"] != "not_in_force" {
		t.Errorf("revoke twice: %d %v", code, body)
	}
	if code, body := admin.api("/api/v1/decisions/99999/revoke", admin.csrf, map[string]any{"reason": "x"}); code != 404 || body["code"] != "not_found" {
		t.Errorf("revoke missing: %d %v", code, body)
	}
	// Anything else under the API prefixes is a JSON 404 once signed in,
	// a 401 before.
	if code, body := view.getJSON("/api/v1/decisions/1/nope"); code != 404 || body["code"] != "not_found" {
		t.Errorf("unknown path: %d %v", code, body)
	}
	if code, body := f.anon().getJSON("/api/v1/decisions"); code != 401 || body["code"] != "unauthenticated" {
		t.Errorf("anonymous list: %d %v", code, body)
	}
	// Reads of evidence by moderators and admins are audited.
	if code, _ := admin.getJSON("/api/v1/decisions/2"); code != 200 {
		t.Error("admin get")
	}
	acts := f.auditActions()
	for _, want := range []string{"alice decision.view decision:2", "alice decision.add decision:" + strconv.FormatInt(id, 10),
		"alice decision.revoke decision:" + strconv.FormatInt(id, 10)} {
		if !contains(acts, want) {
			t.Errorf("audit lacks %q", want)
		}
	}
	for _, a := range acts {
		if strings.HasPrefix(a, "view decision.") {
			t.Errorf("a viewer's read was audited as showing evidence: %s", a)
		}
	}
}

func TestDecisionsDisabled(t *testing.T) {
	f := newFixture(t)
	m, a := f.login("mod"), f.login("alice")
	for _, p := range []string{"/decisions", "/decisions/subject?scope=ip&value=10.1.2.3", "/"} {
		if resp, body := m.get(p); resp.StatusCode != 200 || !strings.Contains(body, "Decisions are not enabled") {
			t.Errorf("GET %s: %d", p, resp.StatusCode)
		}
	}
	if resp, body := a.postFormBody("/decisions", decisionForm(a.csrf)); resp.StatusCode != 404 || !strings.Contains(body, "not enabled") {
		t.Errorf("POST /decisions: %d", resp.StatusCode)
	}
	for _, p := range []string{"/api/v1/decisions", "/api/v1/decisions/1", "/api/v1/subjects/ip/10.1.2.3"} {
		if code, body := m.getJSON(p); code != 404 || body["code"] != "decisions_disabled" {
			t.Errorf("GET %s: %d %v", p, code, body)
		}
	}
	if code, body := a.api("/api/v1/decisions", a.csrf, map[string]any{}); code != 404 || body["code"] != "decisions_disabled" {
		t.Errorf("POST: %d %v", code, body)
	}
}

func TestParseDecisionDuration(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"1h": time.Hour, "30m": 30 * time.Minute, "7d": 7 * 24 * time.Hour, "2w": 14 * 24 * time.Hour, "1d12h": 36 * time.Hour,
		"1d 12h": 36 * time.Hour, " 90min ": 90 * time.Minute, "1H": time.Hour, "365d": 365 * 24 * time.Hour, "60s": time.Minute,
		"2小时": 2 * time.Hour, "7天": 7 * 24 * time.Hour, "30分钟": 30 * time.Minute, "1周": 7 * 24 * time.Hour,
	} {
		if got, key := parseDecisionDuration(in); key != "" || got != want {
			t.Errorf("%q: %v %q, want %v", in, got, key, want)
		}
	}
	for in, key := range map[string]string{
		"": "decisions.err.duration", "h": "decisions.err.duration", "1": "decisions.err.duration", "1y": "decisions.err.duration",
		"-1h": "decisions.err.duration", "1.5h": "decisions.err.duration", "1h-": "decisions.err.duration",
		"366d": "decisions.err.duration.range", "53w": "decisions.err.duration.range", "59s": "decisions.err.duration.range",
		"0m": "decisions.err.duration.range", "999999999w": "decisions.err.duration.range", "9999999999h": "decisions.err.duration",
		"300d100d": "decisions.err.duration.range",
	} {
		if got, k := parseDecisionDuration(in); k != key {
			t.Errorf("%q: %v %q, want %q", in, got, k, key)
		}
	}
}

// The decision API's body decoder and checks never panic, accept only what
// they say they accept, and name the field of every problem.
func FuzzDecodeDecisionBody(f *testing.F) {
	for _, s := range []string{
		`{"action":"block","scope":"ip","value":"10.1.2.3","duration":"1h","severity":"high","reason":"scan"}`,
		`{"action":"notify","scope":"domain","value":"例子.example","reason":"x","severity":2}`,
		`{"action":"warn","scope":"range","value":"10.0.0.0/8","duration":"1d12h","category":"scan","reason":"r"}`,
		`{"action":"block","action":"notify"}`, `{"Action":"block"}`, `{"reason":null}`, `[]`, `{}`, `{"a":{"b":[1,2,{"c":"d"}]}}`,
		`{"severity":1e400}`, `{"severity":-0}`, "\ufeff{}", `{"value":"\u0000"}`, `{"reason":"ok"} x`,
	} {
		f.Add([]byte(s))
	}
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	allowed := map[string]bool{"action": true, "scope": true, "value": true, "duration": true, "severity": true, "category": true, "reason": true}
	f.Fuzz(func(t *testing.T, body []byte) {
		b, err := decodeDecideBody(bytes.NewReader(body))
		if err != nil {
			var be *bodyError
			if !errors.As(err, &be) || be.Field == "" || be.Msg == "" || len(be.Field) > maxFieldNameBytes+len("…") || !utf8.ValidString(be.Field) {
				t.Fatalf("error %#v", err)
			}
			return
		}
		if len(body) > maxDecisionBody {
			t.Fatalf("a %d-byte body was accepted", len(body))
		}
		d, errs := b.decision("alice", now)
		for _, e := range errs {
			if !allowed[e.Field] || catalogs[langEN][e.Key] == "" || catalogs[langZH][e.Key] == "" {
				t.Fatalf("field error %+v", e)
			}
		}
		if len(errs) > 0 {
			return
		}
		if err := d.Validate(); err != nil {
			t.Fatalf("checked decision does not validate: %v (%+v)", err, d)
		}
		if v, err := decision.NormalizeValue(d.Scope, d.Value); err != nil || v != d.Value {
			t.Fatalf("value %q not normalized (%q, %v)", d.Value, v, err)
		}
		if d.Severity < 1 || d.Severity > 4 || d.Origin != decision.OriginManual || d.Actor != "alice" {
			t.Fatalf("decision %+v", d)
		}
		if d.Action != decision.ActionNotify {
			if dur := d.Expires.Sub(d.Created); dur < minDecisionDuration || dur > maxDecisionDuration {
				t.Fatalf("duration %v", dur)
			}
		}
		if strings.TrimSpace(d.Reason) == "" || len(d.Reason) > maxDecisionReason {
			t.Fatalf("reason %q", d.Reason)
		}
	})
}
