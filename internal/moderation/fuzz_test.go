package moderation

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/campusguard/campusguard/internal/state"
)

// fuzzSeeds are inputs worth starting from; the nasty ones found while
// fuzzing are in testdata/fuzz too.
var fuzzSeeds = []string{
	okLine,
	okLine + "\n" + okLine2 + "\n",
	okLine + "\r\n\r\n" + okLine2,
	"{\n  \"id\": \"2\",\n  \"forum\": \"bbs\",\n  \"body\": \"second\"\n}\n",
	"{\"id\":\"2\",\n\"forum\":\"bbs\",\"body\":\"x\"}\n{\"id\":\"3\",",
	`{"id":"1","forum":"bbs","body":"` + fraudBody + `"}`,
	`{"id":"1","forum":"bbs","title":"rejectword","body":"flagword"}` + "\n" + `{"id":"1","forum":"bbs","body":"clean now"}`,
	`{"id":"a\u0000b","forum":"bbs","body":"x"}`,
	`{"id":"1","forum":"bbs","body":"\ud800"}`,
	`{"id":"1","forum":"bbs","body":"x","ts":"2026-13-01T00:00:00Z"}`,
	`{"ID":"1","Forum":"bbs","BODY":"x"}`,
	`{"id":"1","id":"2","forum":"bbs","body":"x"}`,
	`[{"id":"1"}]`,
	`null`,
	"\xef\xbb\xbf" + okLine2,
	okLine2 + okLine2,
	"\n\n\n",
	`{"id":"1","forum":"bbs","body":"` + strings.Repeat(`\u0001`, 40) + `"}`,
	`{"id":"1","forum":"bbs","body":"x","extra":{"a":[1,2,{"b":null}]}}`,
	`{"id":"1","forum":"bbs","body":"` + "\xff\xfe" + `"}`,
}

var fuzzLimits = Limits{MaxBodyBytes: 200, MaxTitleBytes: 50, MaxPosts: 5, MaxRequestBytes: 8192}

// FuzzDecodePosts: never a panic; an error is a *FieldError or "too
// large"; an accepted request holds 1..MaxPosts posts that satisfy every
// limit and decode back to themselves.
func FuzzDecodePosts(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s), false)
		f.Add([]byte(s), true)
	}
	f.Fuzz(func(t *testing.T, data []byte, ndjson bool) {
		posts, batch, err := decodePosts(bytes.NewReader(data), fuzzLimits, ndjson)
		if err != nil {
			var fe *FieldError
			if !errors.As(err, &fe) && !IsTooLarge(err) {
				t.Fatalf("error of type %T: %v", err, err)
			}
			if err.Error() == "" || fe != nil && fe.Line < 0 {
				t.Fatalf("bad error %#v", err)
			}
			if len(data) <= int(fuzzLimits.MaxRequestBytes) && IsTooLarge(err) && (fe == nil || !fe.tooLarge) {
				t.Fatalf("a request of %d bytes is too large", len(data))
			}
			return
		}
		if len(posts) == 0 || len(posts) > fuzzLimits.MaxPosts {
			t.Fatalf("%d posts accepted", len(posts))
		}
		if len(data) > int(fuzzLimits.MaxRequestBytes) {
			t.Fatalf("a request of %d bytes was accepted", len(data))
		}
		if (ndjson || len(posts) > 1) && !batch {
			t.Fatalf("%d posts (ndjson %v) answered as a single post", len(posts), ndjson)
		}
		var again bytes.Buffer
		for i := range posts {
			if err := checkPost(&posts[i], fuzzLimits); err != nil {
				t.Fatalf("post %d accepted against the limits: %v", i, err)
			}
			w := wirePost{ID: posts[i].ID, Forum: posts[i].Forum, Author: posts[i].Author, Title: posts[i].Title,
				Body: posts[i].Body, URL: posts[i].URL}
			if !posts[i].Time.IsZero() {
				w.Time = posts[i].Time.Format(time.RFC3339Nano)
			}
			line, _ := json.Marshal(w)
			again.Write(line)
			again.WriteByte('\n')
		}
		back, _, err := decodePosts(&again, Limits{MaxBodyBytes: 200, MaxTitleBytes: 50, MaxPosts: 5, MaxRequestBytes: 1 << 20}, true)
		if err != nil {
			t.Fatalf("re-encoded posts refused: %v\n%s", err, again.String())
		}
		for i := range posts {
			a, b := posts[i], back[i]
			if !a.Time.Equal(b.Time) {
				t.Fatalf("post %d time %v → %v", i, a.Time, b.Time)
			}
			a.Time, b.Time = time.Time{}, time.Time{}
			if a != b {
				t.Fatalf("post %d: %+v → %+v", i, a, b)
			}
		}
	})
}

var (
	fuzzSvcOnce sync.Once
	fuzzSvc     *Service
	fuzzDB      *state.DB
	fuzzSvcErr  error
)

// FuzzIngestHandler: whatever the body and content type, the answer is one
// of the documented codes with a JSON body; a refused request records
// nothing; an accepted one is answered the same, byte for byte, when sent
// again (idempotency), with one result per post.
func FuzzIngestHandler(f *testing.F) {
	for i, s := range fuzzSeeds {
		f.Add([]byte(s), uint8(i%4))
	}
	rules := builtinRules(f)
	f.Fuzz(func(t *testing.T, body []byte, ct uint8) {
		fuzzSvcOnce.Do(func() {
			fuzzDB, fuzzSvcErr = state.Open(context.Background(), ":memory:")
			if fuzzSvcErr == nil {
				fuzzSvc, fuzzSvcErr = New(fuzzDB, Options{Rules: rules, Limits: fuzzLimits})
			}
		})
		if fuzzSvcErr != nil {
			t.Fatal(fuzzSvcErr)
		}
		h := fuzzSvc.IngestHandler(bearer)
		ctype := []string{"", "application/json", "application/x-ndjson", "text/plain"}[ct%4]
		posts := func() int {
			var n int
			fuzzDB.QueryRow(`SELECT COUNT(*) + COALESCE(SUM(edits), 0) FROM moderation_posts`).Scan(&n)
			return n
		}
		before := posts()
		r := do(t, h, "POST", "cg_good", ctype, "", string(body))
		var answer map[string]any
		if err := json.Unmarshal([]byte(r.body), &answer); err != nil {
			t.Fatalf("%d: not JSON: %q", r.code, r.body)
		}
		switch r.code {
		case 200:
		case 400, 413, 415:
			if msg, _ := answer["error"].(string); msg == "" {
				t.Fatalf("%d without an error: %s", r.code, r.body)
			}
			if after := posts(); after != before {
				t.Fatalf("a refused request (%d) recorded %d posts", r.code, after-before)
			}
			return
		default:
			t.Fatalf("status %d: %s", r.code, r.body)
		}
		want, batch, err := decodePosts(bytes.NewReader(body), fuzzLimits, ct%4 == 2)
		if err != nil {
			t.Fatalf("answered 200 to what DecodePosts refuses: %v", err)
		}
		if res, ok := answer["results"].([]any); batch && (!ok || len(res) != len(want)) || !batch && answer["verdict"] == nil {
			t.Fatalf("%d posts (batch %v) answered %s", len(want), batch, r.body)
		}
		if again := do(t, h, "POST", "cg_good", ctype, "", string(body)); again.code != 200 || again.body != r.body {
			t.Fatalf("sent again:\n%s\nfirst:\n%s", again.body, r.body)
		}
	})
}
