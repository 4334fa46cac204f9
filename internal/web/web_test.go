package web

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/campusguard/campusguard/internal/moderation"
	"github.com/campusguard/campusguard/internal/state"
)

func TestSecurityHeaders(t *testing.T) {
	f := newFixture(t)
	anon := f.anon()
	admin := f.login("alice")
	for _, c := range []struct {
		who  *client
		path string
	}{{anon, "/login"}, {anon, "/"}, {anon, "/static/app.css"}, {anon, "/nope"}, {admin, "/"}, {admin, "/queue"}, {admin, "/tokens"}} {
		resp, _ := c.who.get(c.path)
		want := map[string]string{
			"Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'",
			"X-Content-Type-Options":  "nosniff",
			"Referrer-Policy":         "same-origin",
			"X-Frame-Options":         "DENY",
		}
		for h, v := range want {
			if got := resp.Header.Get(h); got != v {
				t.Errorf("GET %s: %s = %q, want %q", c.path, h, got, v)
			}
		}
	}
	// The API's answers carry them too.
	req, _ := http.NewRequest("POST", f.srv.URL+"/api/v1/queue/1/claim", nil)
	resp, _ := anon.do(req)
	if resp.Header.Get("Content-Security-Policy") == "" || resp.Header.Get("X-Frame-Options") != "DENY" {
		t.Error("API answer without security headers")
	}
	// Pages with personal data are not cached.
	resp, _ = admin.get("/queue")
	if resp.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("queue Cache-Control = %q", resp.Header.Get("Cache-Control"))
	}
}

func TestSessionCookie(t *testing.T) {
	for _, secure := range []bool{false, true} {
		t.Run(fmt.Sprint("secure=", secure), func(t *testing.T) {
			f := newFixture(t, func(o *Options) { o.Secure = secure })
			c := f.anon()
			resp := c.loginAs("mod", testPassword)
			var ck *http.Cookie
			for _, k := range resp.Cookies() {
				if strings.HasSuffix(k.Name, "cg_session") && k.Value != "" {
					ck = k
				}
			}
			if ck == nil {
				t.Fatal("no session cookie")
			}
			if !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode || ck.Path != "/" || ck.Secure != secure {
				t.Errorf("cookie %+v", ck)
			}
			if secure != strings.HasPrefix(ck.Name, "__Host-") {
				t.Errorf("cookie name %q with Secure=%v", ck.Name, secure)
			}
			// The cookie holds a session the database knows (by hash).
			if _, err := f.db.Session(context.Background(), ck.Value); err != nil {
				t.Errorf("session: %v", err)
			}
		})
	}
}

func TestUnauthenticated(t *testing.T) {
	f := newFixture(t)
	c := f.anon()
	for _, p := range []string{"/", "/queue", "/queue/1", "/hits?search=1", "/rules", "/decisions", "/decisions/subject?scope=ip&value=10.1.2.3",
		"/decisions/1", "/audit", "/users", "/tokens"} {
		resp, _ := c.get(p)
		loc := resp.Header.Get("Location")
		if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, "/login?next=") {
			t.Errorf("GET %s: %d → %q, want 303 to /login", p, resp.StatusCode, loc)
		}
		if next, _ := url.ParseQuery(strings.TrimPrefix(loc, "/login?")); next.Get("next") != p {
			t.Errorf("GET %s: next=%q", p, next.Get("next"))
		}
	}
	for _, p := range []string{"/logout", "/lang", "/users", "/tokens", "/rules/test", "/queue/1/act", "/queue/bulk", "/decisions", "/decisions/1/revoke"} {
		resp := c.postForm(p, url.Values{"csrf": {"x"}})
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/login" {
			t.Errorf("POST %s: %d → %q", p, resp.StatusCode, resp.Header.Get("Location"))
		}
	}
	for _, p := range []string{"/api/v1/queue/1/claim", "/api/v1/queue/bulk", "/api/v1/queue/1/decide", "/api/v1/queue/x",
		"/api/v1/decisions", "/api/v1/decisions/1/revoke", "/api/v1/decisions/x/y"} {
		code, body := c.api(p, "", map[string]any{"version": 1})
		if code != http.StatusUnauthorized || body["code"] != "unauthenticated" || body["error"] == "" {
			t.Errorf("POST %s: %d %v, want 401 JSON", p, code, body)
		}
	}
	// A forged or ended session is no session.
	jarURL, _ := url.Parse(f.srv.URL)
	c.hc.Jar.SetCookies(jarURL, []*http.Cookie{{Name: "cg_session", Value: "forged"}})
	if resp, _ := c.get("/"); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("forged session: %d", resp.StatusCode)
	}
	m := f.login("mod")
	if resp := m.postForm("/logout", url.Values{"csrf": {m.csrf}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("logout: %d", resp.StatusCode)
	}
	if resp, _ := m.get("/queue"); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("after logout: %d", resp.StatusCode)
	}
	if !contains(f.auditActions(), "mod logout user:mod") {
		t.Error("logout not audited")
	}
}

func TestRoles(t *testing.T) {
	f := newFixture(t)
	id := strconv.FormatInt(f.items[0], 10)
	pages := []string{"/", "/queue", "/queue/" + id, "/hits", "/rules", "/decisions", "/audit", "/users", "/tokens"}
	allowed := map[string][]string{
		"view":  {"/", "/queue", "/rules", "/decisions"},
		"mod":   {"/", "/queue", "/queue/" + id, "/hits", "/rules", "/decisions", "/audit"},
		"alice": pages,
	}
	for _, who := range []string{"view", "mod", "alice"} {
		c := f.login(who)
		for _, p := range pages {
			resp, body := c.get(p)
			want := http.StatusForbidden
			if contains(allowed[who], p) {
				want = http.StatusOK
			}
			if resp.StatusCode != want {
				t.Errorf("%s GET %s: %d, want %d", who, p, resp.StatusCode, want)
			}
			if want == http.StatusForbidden && !strings.Contains(body, "role does not allow") {
				t.Errorf("%s GET %s: 403 page does not say why", who, p)
			}
		}
		// Queue actions: moderators and admins only.
		code, body := c.api("/api/v1/queue/"+id+"/note", c.csrf, map[string]any{"text": "seen by " + who})
		want := http.StatusOK
		if who == "view" {
			want = http.StatusForbidden
		}
		if code != want {
			t.Errorf("%s note: %d %v, want %d", who, code, body, want)
		}
		if who == "view" && body["code"] != "forbidden" {
			t.Errorf("viewer note: %v", body)
		}
		// Admin pages' posts: admins only.
		resp := c.postForm("/tokens", url.Values{"csrf": {c.csrf}, "name": {"t-" + who}, "scope": {"feeds"}})
		if want := map[bool]int{true: 200, false: 403}[who == "alice"]; resp.StatusCode != want {
			t.Errorf("%s POST /tokens: %d, want %d", who, resp.StatusCode, want)
		}
		resp = c.postForm("/users", url.Values{"csrf": {c.csrf}, "name": {"u-" + who}, "role": {"admin"},
			"password": {testPassword}, "password2": {testPassword}})
		if want := map[bool]int{true: 303, false: 403}[who == "alice"]; resp.StatusCode != want {
			t.Errorf("%s POST /users: %d, want %d", who, resp.StatusCode, want)
		}
	}
	// Viewers see the queue list without actions, titles, authors or bodies.
	v := f.login("view")
	_, body := v.get("/queue")
	for _, bad := range []string{`action="/queue/`, "student", "<mark", `name="ids"`, `href="/queue/` + id + `"`} {
		if strings.Contains(body, bad) {
			t.Errorf("viewer's queue page contains %q", bad)
		}
	}
	if !strings.Contains(body, "#"+id) {
		t.Error("viewer's queue page does not list the items")
	}
	// Moderators see highlighted titles and the actions.
	m := f.login("mod")
	_, body = m.get("/queue")
	for _, want := range []string{`action="/queue/` + id + `/act"`, "<mark", `name="ids"`, "student"} {
		if !strings.Contains(body, want) {
			t.Errorf("moderator's queue page lacks %q", want)
		}
	}
}

func TestCSRF(t *testing.T) {
	f := newFixture(t)
	m := f.login("mod")
	id := f.items[0]
	path := fmt.Sprintf("/api/v1/queue/%d/claim", id)
	v := f.item(id).Version
	for _, tok := range []string{"", "wrong", m.csrf + "x", strings.ToUpper(m.csrf)} {
		code, body := m.api(path, tok, map[string]any{"version": v})
		if code != http.StatusForbidden || body["code"] != "csrf" {
			t.Errorf("token %q: %d %v, want 403 csrf", tok, code, body)
		}
	}
	if it := f.item(id); it.State != moderation.StatePending {
		t.Fatalf("a refused request changed the item: %s", it.State)
	}
	if code, body := m.api(path, m.csrf, map[string]any{"version": v}); code != 200 {
		t.Fatalf("with the token: %d %v", code, body)
	}
	// Another session's token does not work here.
	m2 := f.login("mod2")
	if code, _ := m.api(path, m2.csrf, map[string]any{"version": v + 1}); code != http.StatusForbidden {
		t.Errorf("another session's token: %d", code)
	}
	// Forms: field missing or wrong.
	for _, form := range []url.Values{{"lang": {"zh-CN"}}, {"lang": {"zh-CN"}, "csrf": {"nope"}}} {
		if resp := m.postForm("/lang", form); resp.StatusCode != http.StatusForbidden {
			t.Errorf("POST /lang %v: %d", form, resp.StatusCode)
		}
	}
	a := f.login("alice")
	for _, p := range []string{"/users", "/users/remove", "/tokens", "/tokens/revoke", "/logout", "/rules/test",
		fmt.Sprintf("/queue/%d/act", id), "/queue/bulk"} {
		if resp := a.postForm(p, url.Values{"name": {"mod2"}, "op": {"approve"}, "ids": {"1"}}); resp.StatusCode != http.StatusForbidden {
			t.Errorf("POST %s without token: %d", p, resp.StatusCode)
		}
	}
	if _, err := f.db.Session(context.Background(), "x"); err == nil {
		t.Fatal("unexpected session")
	}
	// Login itself needs the form's double-submit token.
	c := f.anon()
	resp := c.postForm("/login", url.Values{"name": {"mod"}, "password": {testPassword}})
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("login without its token: %d", resp.StatusCode)
	}
	if got := testutil.ToFloat64(f.c.metrics.csrfRejected); got < 10 {
		t.Errorf("csrf_rejected_total = %v", got)
	}
}

func TestLoginRateLimit(t *testing.T) {
	f := newFixture(t)
	h := f.c.Handler()
	// A form post from a given address, with its double-submit token.
	try := func(ip, name, password string) *httptest.ResponseRecorder {
		form := url.Values{"csrf": {"tok"}, "name": {name}, "password": {password}}
		req := httptest.NewRequest("POST", "/login", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.AddCookie(&http.Cookie{Name: loginCSRFCookie, Value: "tok"})
		req.RemoteAddr = ip + ":4242"
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		return w
	}
	for i := 0; i < loginFailures; i++ {
		if w := try("192.0.2.1", "mod", "wrong password "+strconv.Itoa(i)); w.Code != http.StatusUnauthorized {
			t.Fatalf("failure %d: %d", i, w.Code)
		}
	}
	w := try("192.0.2.1", "mod", testPassword)
	if w.Code != http.StatusTooManyRequests {
		t.Fatalf("sixth attempt: %d, want 429", w.Code)
	}
	ra, err := strconv.Atoi(w.Header().Get("Retry-After"))
	if err != nil || ra <= 0 || ra > int(loginWindow/time.Second) {
		t.Errorf("Retry-After %q", w.Header().Get("Retry-After"))
	}
	// The name is limited from any address.
	if w := try("198.51.100.7", "mod", testPassword); w.Code != http.StatusTooManyRequests {
		t.Errorf("same name, other address: %d", w.Code)
	}
	if w := try("192.0.2.1", "alice", testPassword); w.Code != http.StatusSeeOther {
		t.Errorf("same address, other name: %d", w.Code)
	}
	// The address is limited for any name, after more failures.
	for i := loginFailures; i < loginIPFailures; i++ {
		if w := try("192.0.2.1", "user"+strconv.Itoa(i), "wrong password"); w.Code != http.StatusUnauthorized {
			t.Fatalf("failure %d from one address: %d", i, w.Code)
		}
	}
	if w := try("192.0.2.1", "alice", testPassword); w.Code != http.StatusTooManyRequests {
		t.Errorf("same address, other name, after %d failures: %d", loginIPFailures, w.Code)
	}
	if w := try("198.51.100.7", "alice", testPassword); w.Code != http.StatusSeeOther {
		t.Errorf("other address and name: %d", w.Code)
	}
	// The window passes.
	f.clock.Add(loginWindow + time.Second)
	if w := try("192.0.2.1", "mod", testPassword); w.Code != http.StatusSeeOther {
		t.Errorf("after the window: %d", w.Code)
	}
	// Logins are audited, failures too, without the password.
	log, _ := f.db.AuditLog(context.Background(), 100, 0)
	var failed, ok int
	failedNames := map[string]int{}
	for _, e := range log {
		if strings.Contains(e.Before+e.After+e.Reason+e.Object, "wrong password") || strings.Contains(e.After, testPassword) {
			t.Errorf("a password is in the audit log: %+v", e)
		}
		switch e.Action {
		case "login.failed":
			failed++
			failedNames[e.Actor]++
			if e.Object != "user:"+e.Actor || !strings.Contains(e.After, "192.0.2.1") {
				t.Errorf("failed login entry %+v", e)
			}
		case "login":
			ok++
		}
	}
	if failed != loginIPFailures || failedNames["mod"] != loginFailures || ok != 3 {
		t.Errorf("audit: %d failed (%d as mod) and %d successful logins, want %d (%d) and 3", failed, failedNames["mod"], ok, loginIPFailures, loginFailures)
	}
	if got := testutil.ToFloat64(f.c.metrics.logins.WithLabelValues("limited")); got != 3 {
		t.Errorf("limited logins = %v", got)
	}
}

func TestLoginLimiterBounded(t *testing.T) {
	clk := newClock()
	l := newLoginLimiter(5, time.Minute, clk.Now)
	for i := 0; i < maxLimiterKeys+100; i++ {
		l.fail("user:" + strconv.Itoa(i))
	}
	if n := len(l.fails); n > maxLimiterKeys {
		t.Errorf("%d keys kept", n)
	}
	for i := 0; i < 50; i++ {
		l.fail("ip:x")
	}
	if n := len(l.fails["ip:x"]); n > 10 {
		t.Errorf("%d failures kept for one key", n)
	}
	if l.wait("ip:x") <= 0 {
		t.Error("not limited")
	}
	clk.Add(time.Minute)
	if l.wait("ip:x") != 0 {
		t.Error("still limited after the window")
	}
}

func TestLanguage(t *testing.T) {
	f := newFixture(t)
	c := f.anon()
	c.lang = "zh-CN,zh;q=0.9,en;q=0.8"
	_, body := c.get("/login")
	if !strings.Contains(body, `<html lang="zh-CN">`) || !strings.Contains(body, "登录控制台") {
		t.Errorf("login page for a Chinese browser is not Chinese")
	}
	c.lang = "en-US,en;q=0.9"
	if _, body = c.get("/login"); !strings.Contains(body, "Sign in to the console") {
		t.Error("login page for an English browser")
	}
	if _, body = c.get("/login?lang=zh-CN"); !strings.Contains(body, "登录控制台") {
		t.Error("?lang=zh-CN on the login page")
	}

	m := f.login("mod")
	m.lang = "en"
	if _, body := m.get("/queue"); !strings.Contains(body, "Moderation queue") || !strings.Contains(body, `lang="en"`) {
		t.Fatal("queue page not in English")
	}
	resp := m.postForm("/lang", url.Values{"csrf": {m.csrf}, "lang": {"zh-CN"}, "next": {"/queue?state=all"}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/queue?state=all" {
		t.Fatalf("POST /lang: %d → %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	// Remembered for the session, whatever the browser says.
	resp, body = m.get("/queue")
	if !strings.Contains(body, `<html lang="zh-CN">`) || !strings.Contains(body, "审核队列") || resp.Header.Get("Content-Language") != "zh-CN" {
		t.Error("queue page not in Chinese after the switch")
	}
	// Another session of the same user is not affected.
	m2 := f.login("mod")
	m2.lang = "en"
	if _, body := m2.get("/queue"); !strings.Contains(body, "Moderation queue") {
		t.Error("the language leaked into another session")
	}
	// Bad languages and open redirects are refused.
	if resp := m.postForm("/lang", url.Values{"csrf": {m.csrf}, "lang": {"fr"}}); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("lang=fr: %d", resp.StatusCode)
	}
	for _, next := range []string{"https://evil.example/", "//evil.example/x", "/\\evil.example", "javascript:alert(1)"} {
		resp := m.postForm("/lang", url.Values{"csrf": {m.csrf}, "lang": {"en"}, "next": {next}})
		if loc := resp.Header.Get("Location"); loc != "/" {
			t.Errorf("next=%q → %q", next, loc)
		}
	}
	// A login form in Chinese keeps Chinese for the new session.
	c = f.anon()
	_, body = c.get("/login?lang=zh-CN")
	tok := csrfField.FindStringSubmatch(body)[1]
	c.postForm("/login", url.Values{"csrf": {tok}, "name": {"view"}, "password": {testPassword}, "lang": {"zh-CN"}})
	c.lang = "en"
	if _, body := c.get("/"); !strings.Contains(body, "总览") {
		t.Error("language picked on the login page not kept")
	}
}

func TestIngestEndpoint(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	ingest, _, err := f.db.AddToken(ctx, "forum-bbs", state.ScopeIngest)
	if err != nil {
		t.Fatal(err)
	}
	feeds, _, _ := f.db.AddToken(ctx, "edl", state.ScopeFeeds)
	post := func(auth string) (*http.Response, string) {
		req, _ := http.NewRequest("POST", f.srv.URL+"/api/v1/posts",
			strings.NewReader(`{"id":"x1","forum":"bbs","author":"a","title":"","body":"日结兼职，在家刷单每天轻松赚300","url":""}`))
		req.Header.Set("Content-Type", "application/json")
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		return f.anon().do(req)
	}
	resp, body := post("Bearer " + ingest)
	if resp.StatusCode != 200 || !strings.Contains(body, `"verdict":"hold"`) || !strings.Contains(body, `"item":`) {
		t.Fatalf("good token: %d %s", resp.StatusCode, body)
	}
	for _, auth := range []string{"", "Bearer cg_nope", "Bearer " + feeds, "Basic " + ingest} {
		resp, body := post(auth)
		if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, `"error"`) {
			t.Errorf("auth %q: %d %s", auth, resp.StatusCode, body)
		}
	}
	// The post is in the queue and the ingest audited with the token's name.
	found := false
	for _, a := range f.auditActions() {
		found = found || strings.HasPrefix(a, "token:forum-bbs queue.add post:bbs/x1")
	}
	if !found {
		t.Errorf("ingest not audited as token:forum-bbs: %v", f.auditActions())
	}
	// A session is not an ingest credential.
	m := f.login("mod")
	req, _ := http.NewRequest("POST", f.srv.URL+"/api/v1/posts", strings.NewReader(`{"id":"x2","forum":"bbs","body":"hi"}`))
	req.Header.Set("Content-Type", "application/json")
	if resp, _ := m.do(req); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("session on the ingest API: %d", resp.StatusCode)
	}
}

func TestQueueAPI(t *testing.T) {
	f := newFixture(t)
	m := f.login("mod")
	m2 := f.login("mod2")
	a, b, c3 := f.items[0], f.items[1], f.items[2]
	path := func(id int64, op string) string { return fmt.Sprintf("/api/v1/queue/%d/%s", id, op) }

	code, body := m.api(path(a, "claim"), m.csrf, map[string]any{"version": f.item(a).Version})
	if code != 200 {
		t.Fatalf("claim: %d %v", code, body)
	}
	item := body["item"].(map[string]any)
	if item["state"] != "claimed" || item["claimed_by"] != "mod" || item["state_label"] != "claimed" {
		t.Errorf("claimed item %v", item)
	}
	// Someone else's claim, and a stale version: 409 with a message.
	code, body = m2.api(path(a, "approve"), m2.csrf, map[string]any{"version": f.item(a).Version})
	if code != http.StatusConflict || body["code"] != "conflict" || !strings.Contains(body["error"].(string), "changed or claimed") {
		t.Errorf("decide on another's claim: %d %v", code, body)
	}
	code, body = m.api(path(a, "approve"), m.csrf, map[string]any{"version": f.item(a).Version - 1})
	if code != http.StatusConflict || body["code"] != "conflict" {
		t.Errorf("stale version: %d %v", code, body)
	}
	// The message is in the session's language.
	m2.postForm("/lang", url.Values{"csrf": {m2.csrf}, "lang": {"zh-CN"}})
	_, body = m2.api(path(a, "approve"), m2.csrf, map[string]any{"version": f.item(a).Version})
	if !strings.Contains(body["error"].(string), "已被他人修改或认领") {
		t.Errorf("conflict in Chinese: %v", body)
	}
	// A version is required; reject needs a reason.
	if code, body = m.api(path(a, "approve"), m.csrf, map[string]any{}); code != http.StatusBadRequest || body["code"] != "invalid" {
		t.Errorf("no version: %d %v", code, body)
	}
	code, body = m.api(path(a, "reject"), m.csrf, map[string]any{"version": f.item(a).Version, "reason": "  "})
	if code != http.StatusUnprocessableEntity || body["code"] != "need_reason" {
		t.Errorf("reject without reason: %d %v", code, body)
	}
	code, body = m.api(path(a, "reject"), m.csrf, map[string]any{"version": f.item(a).Version, "reason": "scam ad"})
	if code != 200 || body["item"].(map[string]any)["state"] != "rejected" {
		t.Fatalf("reject: %d %v", code, body)
	}
	// Undo: only the decider.
	if code, body = m2.api(path(a, "undo"), m2.csrf, map[string]any{}); code != http.StatusConflict || body["code"] != "not_decider" {
		t.Errorf("undo by another: %d %v", code, body)
	}
	if code, body = m.api(path(a, "undo"), m.csrf, map[string]any{}); code != 200 || body["item"].(map[string]any)["state"] == "rejected" {
		t.Errorf("undo: %d %v", code, body)
	}
	// Notes.
	if code, body = m.api(path(b, "note"), m.csrf, map[string]any{"text": "same author as last week"}); code != 200 || body["item"].(map[string]any)["notes"] != float64(1) {
		t.Errorf("note: %d %v", code, body)
	}
	if code, _ = m.api(path(b, "note"), m.csrf, map[string]any{"text": ""}); code != http.StatusBadRequest {
		t.Errorf("empty note: %d", code)
	}
	// Bad requests.
	for _, c := range []struct {
		path string
		body any
		want int
	}{
		{path(b, "explode"), map[string]any{"version": 1}, 404},
		{"/api/v1/queue/abc/claim", map[string]any{"version": 1}, 404},
		{path(999999, "claim"), map[string]any{"version": 1}, 404},
		{path(b, "claim"), map[string]any{"version": 1, "surprise": true}, 400},
		{path(b, "claim"), []int{1}, 400},
		{"/api/v1/queue/bulk", map[string]any{"ids": []int64{}, "decision": "approve"}, 400},
		{"/api/v1/queue/bulk", map[string]any{"ids": []int64{b}, "decision": "delete"}, 400},
		{"/api/v1/queue/bulk", map[string]any{"ids": []int64{b}, "decision": "reject"}, 422},
	} {
		if code, body := m.api(c.path, m.csrf, c.body); code != c.want || body["error"] == "" {
			t.Errorf("POST %s %v: %d %v, want %d", c.path, c.body, code, body, c.want)
		}
	}
	// Form-encoded bodies are not accepted by the JSON API.
	req, _ := http.NewRequest("POST", f.srv.URL+path(b, "claim"), strings.NewReader("version=1"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-CSRF-Token", m.csrf)
	if resp, _ := m.do(req); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("form body on the JSON API: %d", resp.StatusCode)
	}
	// Bulk: one item claimed by someone else fails alone.
	if code, _ := m2.api(path(c3, "claim"), m2.csrf, map[string]any{"version": f.item(c3).Version}); code != 200 {
		t.Fatal("claim for bulk")
	}
	code, body = m.api("/api/v1/queue/bulk", m.csrf, map[string]any{"ids": []int64{b, c3}, "decision": "escalate", "reason": "needs a senior"})
	if code != 200 || body["ok"] != float64(1) || body["failed"] != float64(1) {
		t.Fatalf("bulk: %d %v", code, body)
	}
	res := body["results"].([]any)
	if res[0].(map[string]any)["item"] == nil || res[1].(map[string]any)["code"] != "conflict" {
		t.Errorf("bulk results %v", res)
	}
	if f.item(b).State != moderation.StateEscalated {
		t.Errorf("item %d: %s", b, f.item(b).State)
	}
	// Every action is in the audit log, by the user who took it.
	acts := f.auditActions()
	for _, want := range []string{"mod queue.claim", "mod queue.reject", "mod queue.undo", "mod queue.note", "mod queue.escalate", "mod2 queue.claim"} {
		found := false
		for _, a := range acts {
			found = found || strings.HasPrefix(a, want+" ")
		}
		if !found {
			t.Errorf("audit log lacks %q", want)
		}
	}
	if got := testutil.ToFloat64(f.c.metrics.queueActions.WithLabelValues("claim", "ok")); got != 2 {
		t.Errorf("claims counted: %v", got)
	}
}

func TestQueueForms(t *testing.T) {
	f := newFixture(t)
	m := f.login("mod")
	id := f.items[0]
	act := func(v url.Values) *http.Response {
		v.Set("csrf", m.csrf)
		return m.postForm(fmt.Sprintf("/queue/%d/act", id), v)
	}
	resp := act(url.Values{"op": {"claim"}, "version": {strconv.Itoa(f.item(id).Version)}, "next": {"/queue?state=all"}})
	if loc := resp.Header.Get("Location"); resp.StatusCode != 303 || loc != "/queue?done=claim&state=all" {
		t.Errorf("claim form: %d → %q", resp.StatusCode, loc)
	}
	// Reject without a reason goes to the item's reason field.
	resp = act(url.Values{"op": {"reject"}, "version": {strconv.Itoa(f.item(id).Version)}})
	if loc := resp.Header.Get("Location"); !strings.Contains(loc, fmt.Sprintf("/queue/%d?fail=needreason#reason", id)) {
		t.Errorf("reject without reason → %q", loc)
	}
	resp = act(url.Values{"op": {"approve"}, "version": {"0"}})
	if loc := resp.Header.Get("Location"); !strings.Contains(loc, "fail=conflict") {
		t.Errorf("stale form → %q", loc)
	}
	_, body := m.get(resp.Header.Get("Location"))
	if !strings.Contains(body, "changed or claimed this item") {
		t.Error("conflict message not shown")
	}
	resp = act(url.Values{"op": {"reject"}, "reason": {"scam"}, "version": {strconv.Itoa(f.item(id).Version)}, "next": {"https://evil.example/"}})
	if loc := resp.Header.Get("Location"); loc != "/?done=reject" {
		t.Errorf("reject with a foreign next → %q", loc)
	}
	if f.item(id).State != moderation.StateRejected {
		t.Fatal("form reject did not land")
	}
	// Bulk form.
	v := url.Values{"csrf": {m.csrf}, "op": {"approve"}, "ids": {strconv.FormatInt(f.items[1], 10), strconv.FormatInt(f.items[2], 10)}}
	if resp := m.postForm("/queue/bulk", v); !strings.Contains(resp.Header.Get("Location"), "done=bulk") {
		t.Errorf("bulk form → %q", resp.Header.Get("Location"))
	}
	if f.item(f.items[1]).State != moderation.StateApproved || f.item(f.items[2]).State != moderation.StateApproved {
		t.Error("bulk approve did not land")
	}
}

func TestQueueItemPage(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	// A post with markup and multi-byte text around its match.
	res, err := f.queue.Ingest(ctx, []moderation.Post{{ID: "xss", Forum: "bbs", Author: "<b>eve</b>",
		Title: "<script>alert(1)</script> 校园贷", Body: "前文<img src=x onerror=alert(1)>【兼职】日结，刷单赚钱 & 后文"}}, "token:t")
	if err != nil || res[0].Item == 0 {
		t.Fatalf("ingest: %v %+v", err, res)
	}
	id := res[0].Item
	m := f.login("mod")
	resp, body := m.get(fmt.Sprintf("/queue/%d", id))
	if resp.StatusCode != 200 {
		t.Fatalf("item page: %d", resp.StatusCode)
	}
	for _, bad := range []string{"<script>alert", "<img src=x", "<b>eve"} {
		if strings.Contains(body, bad) {
			t.Errorf("item page contains unescaped %q", bad)
		}
	}
	for _, want := range []string{"&lt;script&gt;alert(1)&lt;/script&gt; <mark", ">校园贷</mark>", ">刷单</mark>", "&amp; 后文", "&lt;b&gt;eve&lt;/b&gt;"} {
		if !strings.Contains(body, want) {
			t.Errorf("item page lacks %q", want)
		}
	}
	// Opening it was audited, before it was shown.
	if !contains(f.auditActions(), "mod queue.view post:bbs/xss") {
		t.Error("queue.view not audited")
	}
	if resp, _ := m.get("/queue/999999"); resp.StatusCode != 404 {
		t.Errorf("missing item: %d", resp.StatusCode)
	}
	if resp, _ := m.get("/queue/abc"); resp.StatusCode != 404 {
		t.Errorf("bad id: %d", resp.StatusCode)
	}
}

func TestQueueListFilters(t *testing.T) {
	f := newFixture(t)
	m := f.login("mod")
	_, all := m.get("/queue")
	_, pii := m.get("/queue?category=pii")
	if strings.Count(pii, "data-item ") >= strings.Count(all, "data-item ") || strings.Count(pii, "data-item ") == 0 {
		t.Errorf("category filter: %d of %d rows", strings.Count(pii, "data-item "), strings.Count(all, "data-item "))
	}
	if _, body := m.get("/queue?state=approved"); strings.Contains(body, "data-item ") {
		t.Error("approved filter lists open items")
	}
	for _, q := range []string{"state=bogus", "offset=-1", "offset=x", "forum=" + strings.Repeat("a", 300)} {
		if resp, _ := m.get("/queue?" + q); resp.StatusCode != 400 {
			t.Errorf("?%s: %d", q, resp.StatusCode)
		}
	}
}

func TestAdminPages(t *testing.T) {
	f := newFixture(t)
	a := f.login("alice")
	// Users: add, refuse bad input, remove, never remove oneself.
	resp := a.postForm("/users", url.Values{"csrf": {a.csrf}, "name": {"carol"}, "role": {"moderator"}, "password": {testPassword}, "password2": {testPassword}})
	if resp.StatusCode != 303 {
		t.Fatalf("add user: %d", resp.StatusCode)
	}
	if _, err := f.db.Authenticate(context.Background(), "carol", testPassword); err != nil {
		t.Errorf("new user cannot log in: %v", err)
	}
	for _, c := range []struct {
		v    url.Values
		want string
	}{
		{url.Values{"name": {"carol"}, "role": {"viewer"}, "password": {testPassword}, "password2": {testPassword}}, "exists"},
		{url.Values{"name": {"dave"}, "role": {"viewer"}, "password": {"short"}, "password2": {"short"}}, "too short"},
		{url.Values{"name": {"dave"}, "role": {"root"}, "password": {testPassword}, "password2": {testPassword}}, "Unknown role"},
		{url.Values{"name": {"dave"}, "role": {"viewer"}, "password": {testPassword}, "password2": {"different pw 1"}}, "differ"},
		{url.Values{"name": {"da ve"}, "role": {"viewer"}, "password": {testPassword}, "password2": {testPassword}}, "without spaces"},
	} {
		c.v.Set("csrf", a.csrf)
		resp, body := a.postFormBody("/users", c.v)
		if resp.StatusCode != 400 || !strings.Contains(body, c.want) {
			t.Errorf("add user %v: %d, want message %q", c.v, resp.StatusCode, c.want)
		}
	}
	if resp := a.postForm("/users/remove", url.Values{"csrf": {a.csrf}, "name": {"alice"}}); !strings.Contains(resp.Header.Get("Location"), "fail=self") {
		t.Errorf("removing oneself → %q", resp.Header.Get("Location"))
	}
	if resp := a.postForm("/users/remove", url.Values{"csrf": {a.csrf}, "name": {"carol"}}); !strings.Contains(resp.Header.Get("Location"), "done=userremove") {
		t.Errorf("remove → %q", resp.Header.Get("Location"))
	}
	// Tokens: the secret is shown once.
	resp, body := a.postFormBody("/tokens", url.Values{"csrf": {a.csrf}, "name": {"forum-bbs"}, "scope": {"ingest"}})
	secret := regexpFind(`value="(cg_[a-z0-9]+)"`, body)
	if resp.StatusCode != 200 || secret == "" {
		t.Fatalf("add token: %d, secret %q", resp.StatusCode, secret)
	}
	if resp.Header.Get("Cache-Control") != "no-store" {
		t.Error("the page with a secret may be cached")
	}
	if _, err := f.db.CheckToken(context.Background(), secret, state.ScopeIngest); err != nil {
		t.Errorf("shown secret does not work: %v", err)
	}
	if _, body := a.get("/tokens"); strings.Contains(body, secret) || !strings.Contains(body, "forum-bbs") {
		t.Error("the token list shows the secret again, or not the token")
	}
	if resp, body := a.postFormBody("/tokens", url.Values{"csrf": {a.csrf}, "name": {"forum-bbs"}, "scope": {"ingest"}}); resp.StatusCode != 400 || !strings.Contains(body, "exists") {
		t.Errorf("duplicate token: %d", resp.StatusCode)
	}
	if resp, _ := a.postFormBody("/tokens", url.Values{"csrf": {a.csrf}, "name": {"x"}, "scope": {"admin"}}); resp.StatusCode != 400 {
		t.Errorf("bad scope: %d", resp.StatusCode)
	}
	if resp := a.postForm("/tokens/revoke", url.Values{"csrf": {a.csrf}, "name": {"forum-bbs"}}); resp.StatusCode != 303 {
		t.Errorf("revoke: %d", resp.StatusCode)
	}
	if _, err := f.db.CheckToken(context.Background(), secret, state.ScopeIngest); err == nil {
		t.Error("revoked token still works")
	}
	acts := f.auditActions()
	for _, want := range []string{"alice user.add user:carol", "alice user.remove user:carol", "alice token.add token:forum-bbs", "alice token.revoke token:forum-bbs"} {
		if !contains(acts, want) {
			t.Errorf("audit lacks %q", want)
		}
	}
}

func TestAuditPage(t *testing.T) {
	f := newFixture(t)
	m := f.login("mod")
	for i := 0; i < 60; i++ {
		if err := f.db.Audit(context.Background(), state.AuditEntry{Actor: "system", Action: "test", Object: fmt.Sprintf("x:%d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	_, body := m.get("/audit")
	if !strings.Contains(body, "hash chain is intact") {
		t.Error("chain check not shown")
	}
	next := regexpFind(`href="(/audit\?before=\d+)"`, body)
	if next == "" {
		t.Fatal("no link to older entries")
	}
	_, older := m.get(next)
	if !strings.Contains(older, "x:0") || strings.Contains(body, "<code>x:0</code>") {
		t.Error("paging: the oldest entry is not on the second page only")
	}
	// An edit behind the triggers' back shows.
	f.db.Exec(`DROP TRIGGER audit_log_no_update`)
	f.db.Exec(`UPDATE audit_log SET actor = 'mallory' WHERE id = 3`)
	_, body = m.get("/audit")
	if !strings.Contains(body, "hash chain is broken") || !strings.Contains(body, "entry 3 was changed") {
		t.Error("broken chain not shown")
	}
}

func TestRulesPage(t *testing.T) {
	f := newFixture(t)
	v := f.login("view")
	_, body := v.get("/rules")
	for _, want := range []string{"phishing-example", "anti-fraud-example", "pii-example"} {
		if !strings.Contains(body, want) {
			t.Errorf("rules page lacks %s", want)
		}
	}
	resp, body := v.postFormBody("/rules/test", url.Values{"csrf": {v.csrf}, "text": {"联系 138 1234 5678，<i>刷单</i>"}})
	if resp.StatusCode != 200 || !strings.Contains(body, "<mark") || strings.Contains(body, "<i>刷单") {
		t.Errorf("rules test: %d", resp.StatusCode)
	}
	if !strings.Contains(body, "pii-example") {
		t.Error("test result lacks the pack")
	}
	resp, _ = v.postFormBody("/rules/test", url.Values{"csrf": {v.csrf}, "text": {strings.Repeat("x", maxTestText+1)}})
	if resp.StatusCode != 400 {
		t.Errorf("oversized text: %d", resp.StatusCode)
	}
}

func TestDecisionsAndNoHitStore(t *testing.T) {
	f := newFixture(t)
	m := f.login("mod")
	_, body := m.get("/decisions")
	if !strings.Contains(body, "Decisions are not enabled") {
		t.Error("decisions page")
	}
	_, body = m.get("/")
	if !strings.Contains(body, "No hit store is configured") || !strings.Contains(body, "Decisions are not enabled") {
		t.Error("overview without a hit store")
	}
	if _, body = m.get("/hits?search=1"); !strings.Contains(body, "No hit store is configured") {
		t.Error("hits page without a hit store")
	}
}

func TestOverviewHealth(t *testing.T) {
	f := newFixture(t, func(o *Options) {})
	f.c.opts.Gatherer = healthGatherer(t)
	m := f.login("mod")
	_, body := m.get("/")
	for _, want := range []string{"12,345", "67", "1.5 MiB", "2.5 s", "accepting", "not running here"} {
		if !strings.Contains(body, want) {
			t.Errorf("overview health lacks %q", want)
		}
	}
}

func TestLocalPath(t *testing.T) {
	for in, want := range map[string]string{
		"": "/", "/queue?x=1": "/queue?x=1", "//evil": "/", "/\\evil": "/", "https://x/": "/", "queue": "/",
		"/login": "/", "/a\r\nb": "/", "/%2F%2Fevil": "/%2F%2Fevil",
	} {
		if got := localPath(in); got != want {
			t.Errorf("localPath(%q) = %q, want %q", in, got, want)
		}
	}
}

func regexpFind(pattern, s string) string {
	m := regexpMust(pattern).FindStringSubmatch(s)
	if m == nil {
		return ""
	}
	return m[1]
}

func TestMetricsLint(t *testing.T) {
	f := newFixture(t)
	f.login("mod")
	problems, err := testutil.GatherAndLint(f.reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		if strings.HasPrefix(p.Metric, "campusguard_console_") {
			t.Errorf("metric %s: %s", p.Metric, p.Text)
		}
	}
	if n, _ := testutil.GatherAndCount(f.reg, "campusguard_console_logins_total"); n != 3 {
		t.Errorf("logins_total has %d series, want 3", n)
	}
	// A second console on the same registry is refused, not a panic.
	if _, err := New(Options{DB: f.db, Queue: f.queue, Matcher: f.m, Registerer: f.reg}); err == nil {
		t.Error("duplicate registration accepted")
	}
}
