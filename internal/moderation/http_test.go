package moderation

import (
	"bufio"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/campusguard/campusguard/matcher"
)

func bearer(r *http.Request) (string, error) {
	if r.Header.Get("Authorization") != "Bearer cg_good" {
		return "", errors.New("invalid, revoked or out-of-scope API token")
	}
	return "token:bbs", nil
}

type httpResp struct {
	code   int
	header http.Header
	body   string
}

func do(t *testing.T, h http.Handler, method, token, ctype, accept, body string) httpResp {
	t.Helper()
	req := httptest.NewRequest(method, "/api/v1/posts", strings.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return httpResp{w.Code, w.Header(), w.Body.String()}
}

func TestIngestHandler(t *testing.T) {
	f := newFixture(t)
	h := f.s.IngestHandler(bearer)
	fraud := `{"id":"2","forum":"bbs","author":"u2","body":"` + fraudBody + `"}`
	clean := `{"id":"1","forum":"bbs","author":"u1","body":"` + cleanBody + `"}`

	r := do(t, h, "POST", "cg_good", "application/json", "", clean)
	if r.code != 200 || r.header.Get("Content-Type") != "application/json" || r.body != `{"id":"1","forum":"bbs","verdict":"allow","hits":[]}`+"\n" {
		t.Errorf("single clean post: %d %s", r.code, r.body)
	}
	r = do(t, h, "POST", "cg_good", "", "", fraud) // no content type
	var res Result
	if err := json.Unmarshal([]byte(r.body), &res); err != nil || r.code != 200 || res.Verdict != VerdictHold || res.Item == 0 || len(res.Hits) == 0 {
		t.Errorf("single held post: %d %s", r.code, r.body)
	}
	if e := lastAudit(t, f); e.Actor != "token:bbs" {
		t.Errorf("the actor is not the token: %+v", e)
	}

	// NDJSON: {"results": [...]}, the same answers again (idempotent).
	r = do(t, h, "POST", "cg_good", "application/x-ndjson; charset=utf-8", "", clean+"\n"+fraud+"\n")
	var batch struct{ Results []Result }
	if err := json.Unmarshal([]byte(r.body), &batch); err != nil || r.code != 200 || len(batch.Results) != 2 ||
		batch.Results[0].Verdict != VerdictAllow || batch.Results[1].Item != res.Item {
		t.Errorf("batch: %d %s", r.code, r.body)
	}
	// Two lines without a content type are NDJSON too.
	if r = do(t, h, "POST", "cg_good", "application/json", "", clean+"\n"+fraud); !strings.HasPrefix(r.body, `{"results":[`) {
		t.Errorf("two lines as application/json: %d %s", r.code, r.body)
	}
	// One line declared NDJSON is a batch of one.
	if r = do(t, h, "POST", "cg_good", "application/x-ndjson", "", clean); !strings.HasPrefix(r.body, `{"results":[{"id":"1"`) {
		t.Errorf("one NDJSON line: %d %s", r.code, r.body)
	}
	// NDJSON out when asked for.
	r = do(t, h, "POST", "cg_good", "application/x-ndjson", "application/json;q=0.5, application/x-ndjson", clean+"\n"+fraud)
	if r.code != 200 || r.header.Get("Content-Type") != "application/x-ndjson" {
		t.Fatalf("NDJSON answer: %d %s %s", r.code, r.header.Get("Content-Type"), r.body)
	}
	sc := bufio.NewScanner(strings.NewReader(r.body))
	var lines []Result
	for sc.Scan() {
		var res Result
		if err := json.Unmarshal(sc.Bytes(), &res); err != nil {
			t.Fatalf("NDJSON answer line %q: %v", sc.Text(), err)
		}
		lines = append(lines, res)
	}
	if len(lines) != 2 || lines[0].ID != "1" || lines[1].ID != "2" {
		t.Errorf("NDJSON answer: %s", r.body)
	}
}

func TestIngestHandlerErrors(t *testing.T) {
	f := newFixture(t, func(o *Options) { o.Limits = Limits{MaxRequestBytes: 4096, MaxPosts: 3, MaxBodyBytes: 1000} })
	h := f.s.IngestHandler(bearer)
	ok := `{"id":"1","forum":"bbs","body":"hi"}`
	for _, c := range []struct {
		name, method, token, ctype, body string
		code                             int
		want                             string // the exact JSON answer
	}{
		{"GET", "GET", "cg_good", "", "", 405, `{"error":"method GET not allowed: use POST","line":0,"field":""}`},
		{"no token", "POST", "", "", ok, 401, `{"error":"invalid, revoked or out-of-scope API token","line":0,"field":""}`},
		{"bad token", "POST", "cg_bad", "", ok, 401, `{"error":"invalid, revoked or out-of-scope API token","line":0,"field":""}`},
		{"text/plain", "POST", "cg_good", "text/plain", ok, 415, `{"error":"content type \"text/plain\": want application/json or application/x-ndjson","line":0,"field":""}`},
		{"form", "POST", "cg_good", "application/x-www-form-urlencoded", "id=1", 415, `{"error":"content type \"application/x-www-form-urlencoded\": want application/json or application/x-ndjson","line":0,"field":""}`},
		{"bad content type", "POST", "cg_good", "application/json; charset", ok, 415, `{"error":"content type \"application/json; charset\": mime: invalid media parameter","line":0,"field":""}`},
		{"empty", "POST", "cg_good", "", "", 400, `{"error":"empty request: want a JSON object, or NDJSON with one post a line","line":0,"field":""}`},
		{"not JSON", "POST", "cg_good", "", "id=1&forum=bbs", 400, `{"error":"not JSON: invalid character 'i' looking for beginning of value","line":0,"field":""}`},
		{"wrong type", "POST", "cg_good", "", `{"id":1,"forum":"bbs","body":"x"}`, 400, `{"error":"field id: want a string, got a number","line":0,"field":"id"}`},
		{"unknown field", "POST", "cg_good", "", `{"id":"1","forum":"bbs","body":"x","text":"y"}`, 400, `{"error":"field text: unknown field (want id, forum, author, title, body, url, ts)","line":0,"field":"text"}`},
		{"missing id", "POST", "cg_good", "", `{"forum":"bbs","body":"x"}`, 400, `{"error":"field id: required","line":0,"field":"id"}`},
		{"missing forum on line 2", "POST", "cg_good", "application/x-ndjson", ok + "\n" + `{"id":"2","body":"x"}`, 400, `{"error":"line 2: field forum: required","line":2,"field":"forum"}`},
		{"body too long", "POST", "cg_good", "", `{"id":"1","forum":"bbs","body":"` + strings.Repeat("长", 400) + `"}`, 400, `{"error":"field body: too long (1200 bytes, at most 1000)","line":0,"field":"body"}`},
		{"too many posts", "POST", "cg_good", "", strings.Repeat(ok+"\n", 4), 400, `{"error":"line 4: too many posts: at most 3 in one request","line":4,"field":""}`},
		{"too large", "POST", "cg_good", "", ok + strings.Repeat(" ", 5000), 413, `{"error":"request too large (more than 4096 bytes)","line":0,"field":""}`},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := do(t, h, c.method, c.token, c.ctype, "", c.body)
			if r.code != c.code || strings.TrimSpace(r.body) != c.want {
				t.Errorf("%d %s\nwant %d %s", r.code, r.body, c.code, c.want)
			}
			if r.header.Get("Content-Type") != "application/json" {
				t.Errorf("content type %q", r.header.Get("Content-Type"))
			}
		})
	}
	if n := f.count(t, `SELECT COUNT(*) FROM moderation_posts`); n != 0 {
		t.Errorf("refused requests recorded %d posts", n)
	}
	if r := do(t, h, "PUT", "cg_good", "", "", ok); r.header.Get("Allow") != "POST" {
		t.Errorf("405 without Allow: %v", r.header)
	}
	if r := do(t, h, "POST", "", "", "", ok); r.header.Get("WWW-Authenticate") == "" {
		t.Errorf("401 without WWW-Authenticate: %v", r.header)
	}
	if r := do(t, f.s.IngestHandler(nil), "POST", "cg_good", "", "", ok); r.code != 401 {
		t.Errorf("nil auth: %d", r.code)
	}
}

// Over a real connection: http.MaxBytesReader stops reading a huge body
// and the client gets 413 (the body is not read to its end).
func TestIngestHandlerOverHTTP(t *testing.T) {
	f := newFixture(t, func(o *Options) { o.Limits = Limits{MaxRequestBytes: 1 << 20, MaxPosts: 1 << 20} })
	srv := httptest.NewServer(f.s.IngestHandler(bearer))
	defer srv.Close()
	pr, pw := io.Pipe()
	go func() {
		pw.Write([]byte(`{"id":"1","forum":"bbs","body":"x"}` + "\n"))
		chunk := []byte(strings.Repeat(`{"id":"2","forum":"bbs","body":"`+strings.Repeat("y", 900)+`"}`+"\n", 64))
		for i := 0; i < 1000; i++ { // ~60 MB, if anybody read it
			if _, err := pw.Write(chunk); err != nil {
				return
			}
		}
		pw.Close()
	}()
	req, _ := http.NewRequest("POST", srv.URL, pr)
	req.Header.Set("Authorization", "Bearer cg_good")
	req.Header.Set("Content-Type", "application/x-ndjson")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 413 || !strings.Contains(string(body), "request too large (more than 1048576 bytes)") {
		t.Errorf("%d %s", resp.StatusCode, body)
	}
	pr.CloseWithError(io.ErrClosedPipe)
}

func TestIngestHandlerWithoutRules(t *testing.T) {
	f := newFixture(t)
	f.s.opts.Rules = func() *matcher.Set { return nil }
	if r := do(t, f.s.IngestHandler(bearer), "POST", "cg_good", "", "", `{"id":"1","forum":"bbs","body":"x"}`); r.code != 503 {
		t.Errorf("%d %s", r.code, r.body)
	}
}

func TestCacheAuth(t *testing.T) {
	calls := 0
	revoked := false
	auth := CacheAuth(func(r *http.Request) (string, error) {
		calls++
		if revoked || r.Header.Get("Authorization") != "Bearer cg_good" {
			return "", errors.New("bad token")
		}
		return "token:bbs", nil
	}, 50*time.Millisecond)
	req := func(tok string) *http.Request {
		r := httptest.NewRequest("POST", "/", nil)
		if tok != "" {
			r.Header.Set("Authorization", "Bearer "+tok)
		}
		return r
	}
	for i := 0; i < 3; i++ {
		if a, err := auth(req("cg_good")); a != "token:bbs" || err != nil {
			t.Fatalf("%q %v", a, err)
		}
	}
	if calls != 1 {
		t.Errorf("%d calls for 3 requests with one token", calls)
	}
	for i := 0; i < 2; i++ {
		if _, err := auth(req("cg_bad")); err == nil {
			t.Error("bad token accepted")
		}
		if _, err := auth(req("")); err == nil {
			t.Error("no token accepted")
		}
	}
	if calls != 5 {
		t.Errorf("refusals were cached: %d calls", calls)
	}
	revoked = true
	if _, err := auth(req("cg_good")); err != nil {
		t.Error("cached acceptance not used")
	}
	time.Sleep(60 * time.Millisecond)
	if _, err := auth(req("cg_good")); err == nil {
		t.Error("revoked token accepted after the TTL")
	}
}
