package moderation

import (
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

const (
	okLine  = `{"id":"1","forum":"bbs","author":"u1","title":"t","body":"hello","url":"https://bbs.example/t/1","ts":"2026-11-26T12:00:00Z"}`
	okLine2 = `{"id":"2","forum":"bbs","body":"second"}`
)

func TestDecodePosts(t *testing.T) {
	ts := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	full := Post{ID: "1", Forum: "bbs", Author: "u1", Title: "t", Body: "hello", URL: "https://bbs.example/t/1", Time: ts}
	second := Post{ID: "2", Forum: "bbs", Body: "second"}
	for _, c := range []struct {
		name   string
		in     string
		ndjson bool // Content-Type application/x-ndjson
		want   []Post
		batch  bool
	}{
		{"single", okLine, false, []Post{full}, false},
		{"single with newline", okLine + "\n", false, []Post{full}, false},
		{"single in white space and blank lines", "\n \r\n\t" + okLine + " \r\n\n", false, []Post{full}, false},
		{"byte order mark", "\xef\xbb\xbf" + okLine, false, []Post{full}, false},
		{"pretty-printed", "{\n  \"id\": \"2\",\n  \"forum\": \"bbs\",\n  \"body\": \"second\"\n}\n", false, []Post{second}, false},
		{"pretty-printed, first line complete key", "{\"id\":\"2\",\n\"forum\":\"bbs\",\"body\":\"second\"}", false, []Post{second}, false},
		{"ndjson", okLine + "\n" + okLine2 + "\n", false, []Post{full, second}, true},
		{"ndjson, CRLF and blank lines", okLine + "\r\n\r\n\r\n" + okLine2, false, []Post{full, second}, true},
		{"one line declared ndjson", okLine, true, []Post{full}, true},
		{"null fields", `{"id":"2","forum":"bbs","author":null,"title":null,"body":"second","url":null,"ts":null}`, false, []Post{second}, false},
		{"title only", `{"id":"3","forum":"bbs","title":"只有标题"}`, false, []Post{{ID: "3", Forum: "bbs", Title: "只有标题"}}, false},
		{"escaped unicode", `{"id":"4","forum":"bbs","body":"\u5237\u5355"}`, false, []Post{{ID: "4", Forum: "bbs", Body: "刷单"}}, false},
		{"fractional ts with offset", `{"id":"5","forum":"bbs","body":"x","ts":"2026-11-26T20:00:00.5+08:00"}`, false,
			[]Post{{ID: "5", Forum: "bbs", Body: "x", Time: ts.Add(500 * time.Millisecond)}}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, batch, err := decodePosts(strings.NewReader(c.in), DefaultLimits(), c.ndjson)
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(c.want, got, cmp.Comparer(func(a, b time.Time) bool { return a.Equal(b) })); d != "" {
				t.Errorf("posts (-want +got):\n%s", d)
			}
			if batch != c.batch {
				t.Errorf("batch = %v, want %v", batch, c.batch)
			}
		})
	}
}

func TestDecodePostsErrors(t *testing.T) {
	small := Limits{MaxBodyBytes: 100, MaxTitleBytes: 10, MaxPosts: 3, MaxRequestBytes: 4096}
	post := func(fields string) string { return `{"id":"1","forum":"bbs",` + fields + `}` }
	for _, c := range []struct {
		name   string
		in     string
		ndjson bool
		lim    Limits
		msg    string // the exact Error()
		line   int
		field  string
		large  bool // IsTooLarge (HTTP 413)
	}{
		{name: "empty", in: "", msg: "empty request: want a JSON object, or NDJSON with one post a line"},
		{name: "only white space", in: " \n\r\n\t\n", msg: "empty request: want a JSON object, or NDJSON with one post a line"},
		{name: "not JSON", in: "hello", msg: "not JSON: invalid character 'h' looking for beginning of value"},
		{name: "not JSON, then a post", in: "hello\n" + okLine2, msg: "line 1: not JSON: invalid character 'h' looking for beginning of value", line: 1},
		{name: "truncated", in: `{"id":"1","forum":"bbs","body":"x"`, msg: "not JSON: unexpected end of input"},
		{name: "truncated ndjson line", in: okLine2 + "\n" + `{"id":"3"`, msg: "line 2: not JSON: the object does not end on its line (NDJSON wants one post a line)", line: 2},
		{name: "object over two lines declared ndjson", in: "{\"id\":\"2\",\n\"forum\":\"bbs\",\"body\":\"x\"}", ndjson: true,
			msg: "line 1: not JSON: the object does not end on its line (NDJSON wants one post a line)", line: 1},
		{name: "array", in: `[` + okLine2 + `]`, msg: "want a JSON object, got an array"},
		{name: "string", in: `"post"`, msg: "want a JSON object, got a string"},
		{name: "null", in: `null`, msg: "field id: required", field: "id"},
		{name: "id a number", in: `{"id":1,"forum":"bbs","body":"x"}`, msg: "field id: want a string, got a number", field: "id"},
		{name: "forum an object", in: `{"id":"1","forum":{"name":"bbs"},"body":"x"}`, msg: "field forum: want a string, got an object", field: "forum"},
		{name: "body an array", in: post(`"body":["x"]`), msg: "field body: want a string, got an array", field: "body"},
		{name: "title a boolean", in: post(`"title":true,"body":"x"`), msg: "field title: want a string, got a boolean", field: "title"},
		{name: "ts a number", in: post(`"body":"x","ts":1764158400`), msg: "field ts: want a string, got a number", field: "ts"},
		{name: "ts not RFC 3339", in: post(`"body":"x","ts":"yesterday"`), msg: `field ts: "yesterday" is not an RFC 3339 time (like 2026-11-26T12:00:00Z)`, field: "ts"},
		{name: "ts in year 0", in: post(`"body":"x","ts":"0000-01-01T00:00:00Z"`), msg: "field ts: 0000-01-01T00:00:00Z is out of range (want a time from 1970 to 2199)", field: "ts"},
		{name: "ts in 9999", in: post(`"body":"x","ts":"9999-12-31T23:59:59+01:00"`), msg: "field ts: 9999-12-31T23:59:59+01:00 is out of range (want a time from 1970 to 2199)", field: "ts"},
		{name: "ts with a bad offset", in: post(`"body":"x","ts":"2026-11-26T12:00:00+25:00"`), msg: `field ts: "2026-11-26T12:00:00+25:00" is not an RFC 3339 time (like 2026-11-26T12:00:00Z)`, field: "ts"},
		{name: "no-break space before the object", in: "\u00a0" + okLine2, msg: "not JSON: invalid character 'Â' looking for beginning of value"},
		{name: "vertical tab line", in: okLine2 + "\n\v\n" + okLine2, msg: "line 2: not JSON: invalid character '\\v' looking for beginning of value", line: 2},
		{name: "unknown field", in: post(`"body":"x","tags":["a"]`), msg: "field tags: unknown field (want id, forum, author, title, body, url, ts)", field: "tags"},
		{name: "unknown field on line 2", in: okLine + "\n" + post(`"body":"x","text":"y"`),
			msg: "line 2: field text: unknown field (want id, forum, author, title, body, url, ts)", line: 2, field: "text"},
		{name: "missing id", in: `{"forum":"bbs","body":"x"}`, msg: "field id: required", field: "id"},
		{name: "blank id", in: `{"id":"  ","forum":"bbs","body":"x"}`, msg: "field id: required", field: "id"},
		{name: "missing forum", in: `{"id":"1","body":"x"}`, msg: "field forum: required", field: "forum"},
		{name: "missing forum on line 3", in: okLine + "\n\n" + `{"id":"1","body":"x"}`, msg: "line 3: field forum: required", line: 3, field: "forum"},
		{name: "no title or body", in: post(`"author":"u"`), msg: "field body: empty: a post needs a title or a body", field: "body"},
		{name: "blank title and body", in: post(`"title":" ","body":"\n"`), msg: "field body: empty: a post needs a title or a body", field: "body"},
		{name: "id too long", in: `{"id":"` + strings.Repeat("a", 257) + `","forum":"bbs","body":"x"}`, msg: "field id: too long (257 bytes, at most 256)", field: "id"},
		{name: "forum too long", in: `{"id":"1","forum":"` + strings.Repeat("f", 300) + `","body":"x"}`, msg: "field forum: too long (300 bytes, at most 256)", field: "forum"},
		{name: "author too long", in: post(`"author":"` + strings.Repeat("名", 100) + `","body":"x"`), msg: "field author: too long (300 bytes, at most 256)", field: "author"},
		{name: "url too long", in: post(`"body":"x","url":"https://` + strings.Repeat("u", 2048) + `"`), msg: "field url: too long (2056 bytes, at most 2048)", field: "url"},
		{name: "control character in id", in: `{"id":"a\u0000b","forum":"bbs","body":"x"}`, msg: "field id: contains control characters", field: "id"},
		{name: "newline in forum", in: `{"id":"1","forum":"b\nbs","body":"x"}`, msg: "field forum: contains control characters", field: "forum"},
		{name: "body too long", in: post(`"body":"` + strings.Repeat("x", 101) + `"`), lim: small, msg: "field body: too long (101 bytes, at most 100)", field: "body"},
		{name: "body too long after unescaping", in: post(`"body":"` + strings.Repeat(`\u5237`, 34) + `"`), lim: small, msg: "field body: too long (102 bytes, at most 100)", field: "body"},
		{name: "title too long", in: post(`"title":"标题太长了","body":"x"`), lim: small, msg: "field title: too long (15 bytes, at most 10)", field: "title"},
		{name: "body too long on line 3", in: okLine2 + "\n" + okLine2 + "\n" + post(`"body":"`+strings.Repeat("x", 70000)+`"`),
			lim: Limits{MaxRequestBytes: 1 << 20}, msg: "line 3: field body: too long (70000 bytes, at most 65536)", line: 3, field: "body"},
		{name: "too many posts", in: strings.Repeat(okLine2+"\n", 4), lim: small, msg: "line 4: too many posts: at most 3 in one request", line: 4},
		{name: "too many posts, blank lines counted", in: strings.Repeat(okLine2+"\n\n", 4), lim: small, msg: "line 7: too many posts: at most 3 in one request", line: 7},
		{name: "request too large", in: strings.Repeat(okLine2+"\n", 200), lim: Limits{MaxRequestBytes: 4096}, msg: "request too large (more than 4096 bytes)", large: true},
		{name: "request one byte too large", in: okLine2 + strings.Repeat(" ", 4097-len(okLine2)), lim: Limits{MaxRequestBytes: 4096}, msg: "request too large (more than 4096 bytes)", large: true},
		{name: "line too long", in: okLine2 + "\n" + strings.Repeat(" ", 30000) + okLine2, lim: Limits{MaxBodyBytes: 100, MaxTitleBytes: 10, MaxRequestBytes: 1 << 20},
			msg: "line 2: line too long (more than 22036 bytes)", line: 2, large: true},
		{name: "pretty-printed post too large", in: "{\n" + strings.Repeat(" ", 30000) + `"id":"1"}`, lim: Limits{MaxBodyBytes: 100, MaxTitleBytes: 10, MaxRequestBytes: 1 << 20},
			msg: "post too large (more than 22036 bytes)", large: true},
		{name: "two objects on one line", in: okLine2 + okLine2, msg: "unexpected data after the post on its line (NDJSON wants one post a line)"},
		{name: "two objects on line 2", in: okLine + "\n" + okLine2 + " " + okLine2, msg: "line 2: unexpected data after the post on its line (NDJSON wants one post a line)", line: 2},
		{name: "garbage after a pretty-printed post", in: "{\"id\":\"2\",\n\"forum\":\"bbs\",\"body\":\"x\"}\n{\"id\":\"3\",", msg: "unexpected data after the post (NDJSON wants one post a line)"},
	} {
		t.Run(c.name, func(t *testing.T) {
			lim := c.lim
			if lim == (Limits{}) {
				lim = DefaultLimits()
			}
			posts, _, err := decodePosts(strings.NewReader(c.in), lim, c.ndjson)
			if err == nil {
				t.Fatalf("accepted: %+v", posts)
			}
			if err.Error() != c.msg {
				t.Errorf("error\n got %q\nwant %q", err.Error(), c.msg)
			}
			var fe *FieldError
			if errors.As(err, &fe) {
				if fe.Line != c.line || fe.Field != c.field {
					t.Errorf("line %d field %q, want line %d field %q", fe.Line, fe.Field, c.line, c.field)
				}
			} else if c.line != 0 || c.field != "" {
				t.Errorf("%T is not a *FieldError", err)
			}
			if IsTooLarge(err) != c.large {
				t.Errorf("IsTooLarge = %v", !c.large)
			}
		})
	}
}

// A reader's own error is passed on, not mistaken for bad JSON.
func TestDecodePostsReadError(t *testing.T) {
	boom := errors.New("connection reset")
	_, err := DecodePosts(io.MultiReader(strings.NewReader(okLine2+"\n"), errReader{boom}), DefaultLimits())
	if !errors.Is(err, boom) {
		t.Fatalf("got %v, want the read error", err)
	}
}

type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }

// MaxPosts posts are fine, the one more is not.
func TestDecodePostsAtLimits(t *testing.T) {
	lim := Limits{MaxBodyBytes: 100, MaxTitleBytes: 10, MaxPosts: 3, MaxRequestBytes: 4096}
	posts, err := DecodePosts(strings.NewReader(strings.Repeat(okLine2+"\n", 3)), lim)
	if err != nil || len(posts) != 3 {
		t.Fatalf("%d posts, %v", len(posts), err)
	}
	exact := `{"id":"` + strings.Repeat("i", 256) + `","forum":"bbs","title":"` + strings.Repeat("t", 10) + `","body":"` + strings.Repeat("b", 100) + `"}`
	if _, err := DecodePosts(strings.NewReader(exact), lim); err != nil {
		t.Fatalf("fields at their limits: %v", err)
	}
	body := okLine2 + strings.Repeat(" ", 4096-len(okLine2))
	if _, err := DecodePosts(strings.NewReader(body), lim); err != nil {
		t.Fatalf("request of exactly MaxRequestBytes: %v", err)
	}
}
