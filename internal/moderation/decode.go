package moderation

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// FieldError is a bad post in a request: Line is 1-based for NDJSON (0 for
// a single JSON object), Field the JSON field ("" when the error is not
// about one field).
type FieldError struct {
	Line  int
	Field string
	Msg   string

	tooLarge bool // a post over the size any valid post can have: HTTP 413
}

// Error renders "line 3: field body: too long (70000 bytes, at most 65536)",
// leaving out the line when it is 0 and the field when it is "".
func (e *FieldError) Error() string {
	var b strings.Builder
	if e.Line > 0 {
		b.WriteString("line ")
		b.WriteString(strconv.Itoa(e.Line))
		b.WriteString(": ")
	}
	if e.Field != "" {
		b.WriteString("field ")
		b.WriteString(e.Field)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Limits bound one request.
type Limits struct {
	MaxBodyBytes    int   // 65536
	MaxTitleBytes   int   // 1024
	MaxPosts        int   // 1000 per request
	MaxRequestBytes int64 // 16 MiB
}

// DefaultLimits are the limits IngestHandler applies unless Options.Limits
// says otherwise.
func DefaultLimits() Limits {
	return Limits{MaxBodyBytes: 65536, MaxTitleBytes: 1024, MaxPosts: 1000, MaxRequestBytes: 16 << 20}
}

func (l Limits) withDefaults() Limits {
	d := DefaultLimits()
	if l.MaxBodyBytes <= 0 {
		l.MaxBodyBytes = d.MaxBodyBytes
	}
	if l.MaxTitleBytes <= 0 {
		l.MaxTitleBytes = d.MaxTitleBytes
	}
	if l.MaxPosts <= 0 {
		l.MaxPosts = d.MaxPosts
	}
	if l.MaxRequestBytes <= 0 {
		l.MaxRequestBytes = d.MaxRequestBytes
	}
	return l
}

// Fixed limits on the other fields.
const (
	MaxIDBytes     = 256  // id, forum and author
	MaxURLBytes    = 2048 // url
	jsonEscapeGrow = 6    // "\u0001" is 6 bytes for 1
)

// maxObjectBytes bounds one encoded post: every field at its limit, every
// byte escaped, plus room for keys and white space. Longer lines are
// refused before they are parsed.
func (l Limits) maxObjectBytes() int {
	return jsonEscapeGrow*(l.MaxBodyBytes+l.MaxTitleBytes+3*MaxIDBytes+MaxURLBytes+64) + 4096
}

// errTooLarge is the request over Limits.MaxRequestBytes when DecodePosts
// enforces the limit itself (IngestHandler's http.MaxBytesReader usually
// gets there first).
type errTooLarge struct{ limit int64 }

func (e *errTooLarge) Error() string {
	return fmt.Sprintf("request too large (more than %d bytes)", e.limit)
}

// IsTooLarge reports whether err from DecodePosts means the request was
// over Limits.MaxRequestBytes (HTTP 413).
func IsTooLarge(err error) bool {
	var a *errTooLarge
	var b *http.MaxBytesError
	var f *FieldError
	return errors.As(err, &a) || errors.As(err, &b) || errors.As(err, &f) && f.tooLarge
}

// limitReader fails with errTooLarge after n bytes, unlike io.LimitReader,
// which would end the body silently.
type limitReader struct {
	r     io.Reader
	left  int64
	limit int64
}

func (l *limitReader) Read(p []byte) (int, error) {
	if l.left <= 0 {
		// One byte more tells a body of exactly the limit from a longer one.
		var one [1]byte
		n, err := l.r.Read(one[:])
		if n > 0 {
			return 0, &errTooLarge{l.limit}
		}
		return 0, err
	}
	if int64(len(p)) > l.left {
		p = p[:l.left]
	}
	n, err := l.r.Read(p)
	l.left -= int64(n)
	return n, err
}

// DecodePosts reads one JSON object, or NDJSON (one object a line) when
// the body's first non-space byte is '{' and more lines follow, or
// Content-Type application/x-ndjson (see DecodePostsNDJSON). Unknown fields
// are errors naming them. Every post is checked against lim; the first bad
// one refuses the whole request (a *FieldError, or an error IsTooLarge
// recognizes), so a forum's retry never half-applies a batch.
//
// A single object may be spread over several lines (pretty-printed); its
// errors have Line 0. NDJSON errors carry the 1-based line, counting blank
// lines, which are skipped.
func DecodePosts(r io.Reader, lim Limits) ([]Post, error) {
	posts, _, err := decodePosts(r, lim, false)
	return posts, err
}

// DecodePostsNDJSON is DecodePosts for a body declared as NDJSON: even a
// one-line body is a batch, and a post must fit on its line.
func DecodePostsNDJSON(r io.Reader, lim Limits) ([]Post, error) {
	posts, _, err := decodePosts(r, lim, true)
	return posts, err
}

var readerPool = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 32<<10) }}

// decodePosts reads posts and says whether the body was a batch (NDJSON).
func decodePosts(r io.Reader, lim Limits, ndjson bool) ([]Post, bool, error) {
	lim = lim.withDefaults()
	br := readerPool.Get().(*bufio.Reader)
	br.Reset(&limitReader{r: r, left: lim.MaxRequestBytes, limit: lim.MaxRequestBytes})
	defer func() {
		br.Reset(nil)
		readerPool.Put(br)
	}()
	d := lineDecoder{br: br, max: lim.maxObjectBytes()}

	// Find the first non-blank line.
	first, err := d.next()
	if err != nil {
		return nil, false, err
	}
	if first == nil {
		return nil, false, &FieldError{Msg: "empty request: want a JSON object, or NDJSON with one post a line"}
	}
	firstLine := d.line
	if !ndjson {
		// A complete object on the first line starts NDJSON (perhaps of
		// one line); an incomplete one is a single pretty-printed object.
		var p Post
		ferr := decodeOne(first, &p)
		if isIncomplete(ferr) {
			return decodeSingle(append([]byte(nil), first...), br, lim)
		}
		rest, err := d.next()
		if err != nil {
			return nil, false, err
		}
		if rest == nil { // one line: a single object
			if ferr != nil {
				return nil, false, ferr
			}
			if err := checkPost(&p, lim); err != nil {
				return nil, false, err
			}
			return []Post{p}, false, nil
		}
		if ferr != nil {
			ferr.Line = firstLine
			return nil, true, ferr
		}
		if err := checkPost(&p, lim); err != nil {
			err.Line = firstLine
			return nil, true, err
		}
		posts := []Post{p}
		return d.rest(posts, rest, lim)
	}
	return d.rest(nil, first, lim)
}

// rest decodes NDJSON lines, starting with line, which d just read.
func (d *lineDecoder) rest(posts []Post, line []byte, lim Limits) ([]Post, bool, error) {
	for line != nil {
		if len(posts) == lim.MaxPosts {
			return nil, true, &FieldError{Line: d.line, Msg: fmt.Sprintf("too many posts: at most %d in one request", lim.MaxPosts)}
		}
		var p Post
		if err := decodeOne(line, &p); err != nil {
			if isIncomplete(err) {
				err.Msg = "not JSON: the object does not end on its line (NDJSON wants one post a line)"
			}
			err.Line = d.line
			return nil, true, err
		}
		if err := checkPost(&p, lim); err != nil {
			err.Line = d.line
			return nil, true, err
		}
		posts = append(posts, p)
		var err error
		if line, err = d.next(); err != nil {
			return nil, true, err
		}
	}
	return posts, true, nil
}

// decodeSingle decodes one object that starts with first (its opening
// line) and continues on br; nothing but white space may follow it.
func decodeSingle(first []byte, br *bufio.Reader, lim Limits) ([]Post, bool, error) {
	max := int64(lim.maxObjectBytes())
	rest := &limitReader{r: br, left: max - int64(len(first)), limit: max}
	dec := json.NewDecoder(io.MultiReader(bytes.NewReader(first), strings.NewReader("\n"), rest))
	dec.DisallowUnknownFields()
	var w wirePost
	if err := dec.Decode(&w); err != nil {
		var tl *errTooLarge
		if errors.As(err, &tl) {
			if tl.limit == max {
				return nil, false, &FieldError{Msg: fmt.Sprintf("post too large (more than %d bytes)", max), tooLarge: true}
			}
			return nil, false, err
		}
		var mb *http.MaxBytesError
		if errors.As(err, &mb) {
			return nil, false, err
		}
		return nil, false, jsonError(err)
	}
	// Only white space may follow.
	if _, err := dec.Token(); err != io.EOF {
		if IsTooLarge(err) {
			return nil, false, err
		}
		return nil, false, &FieldError{Msg: "unexpected data after the post (NDJSON wants one post a line)"}
	}
	var p Post
	if err := w.post(&p); err != nil {
		return nil, false, err
	}
	if err := checkPost(&p, lim); err != nil {
		return nil, false, err
	}
	return []Post{p}, false, nil
}

// lineDecoder hands out non-blank lines, counting every line.
type lineDecoder struct {
	br   *bufio.Reader
	max  int
	line int    // number of the line last returned
	buf  []byte // holds a line longer than the bufio buffer
}

// next returns the next non-blank line without its line ending, or nil at
// the end. The slice is valid until the next call.
func (d *lineDecoder) next() ([]byte, error) {
	for {
		b, err := d.readLine()
		if err != nil {
			return nil, err
		}
		if b == nil {
			return nil, nil
		}
		d.line++
		if d.line == 1 {
			b = bytes.TrimPrefix(b, []byte("\xef\xbb\xbf")) // a UTF-8 byte order mark
		}
		if t := trimJSONSpace(b); len(t) > 0 {
			return t, nil
		}
	}
}

// readLine returns the next line (nil at the end of input).
func (d *lineDecoder) readLine() ([]byte, error) {
	d.buf = d.buf[:0]
	for {
		chunk, err := d.br.ReadSlice('\n')
		if len(d.buf)+len(chunk) > d.max {
			return nil, &FieldError{Line: d.line + 1, Msg: fmt.Sprintf("line too long (more than %d bytes)", d.max), tooLarge: true}
		}
		switch {
		case err == nil:
			if len(d.buf) == 0 {
				return chunk, nil
			}
			return append(d.buf, chunk...), nil
		case errors.Is(err, bufio.ErrBufferFull):
			d.buf = append(d.buf, chunk...)
		case errors.Is(err, io.EOF):
			if len(d.buf)+len(chunk) == 0 {
				return nil, nil
			}
			return append(d.buf, chunk...), nil
		default:
			return nil, err
		}
	}
}

// trimJSONSpace trims what JSON counts as white space (not, as
// bytes.TrimSpace would, \v, \f, NEL or NBSP).
func trimJSONSpace(b []byte) []byte {
	isSpace := func(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }
	for len(b) > 0 && isSpace(b[0]) {
		b = b[1:]
	}
	for len(b) > 0 && isSpace(b[len(b)-1]) {
		b = b[:len(b)-1]
	}
	return b
}

// Post times outside these are refused: they cannot be real, and Unix
// nanoseconds (how times are stored) do not reach past 1678–2262.
var (
	minPostTime = time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC)
	maxPostTime = time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC)
)

// wirePost is a Post as sent: every field a string, so a wrong JSON type
// names its field, and ts parsed by us.
type wirePost struct {
	ID     string `json:"id"`
	Forum  string `json:"forum"`
	Author string `json:"author"`
	Title  string `json:"title"`
	Body   string `json:"body"`
	URL    string `json:"url"`
	Time   string `json:"ts"`
}

func (w *wirePost) post(p *Post) *FieldError {
	*p = Post{ID: w.ID, Forum: w.Forum, Author: w.Author, Title: w.Title, Body: w.Body, URL: w.URL}
	if w.Time != "" {
		t, err := time.Parse(time.RFC3339Nano, w.Time)
		if err != nil {
			return &FieldError{Field: "ts", Msg: fmt.Sprintf("%q is not an RFC 3339 time (like 2026-11-26T12:00:00Z)", truncate(w.Time, 64))}
		}
		p.Time = t
	}
	return nil
}

// decodeOne decodes a line holding one object.
func decodeOne(line []byte, p *Post) *FieldError {
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	var w wirePost
	if err := dec.Decode(&w); err != nil {
		return jsonError(err)
	}
	if off := dec.InputOffset(); len(trimJSONSpace(line[off:])) > 0 {
		return &FieldError{Msg: "unexpected data after the post on its line (NDJSON wants one post a line)"}
	}
	return w.post(p)
}

const msgIncomplete = "not JSON: unexpected end of input"

func isIncomplete(e *FieldError) bool { return e != nil && e.Msg == msgIncomplete && e.Field == "" }

// jsonError turns an encoding/json error into a FieldError.
func jsonError(err error) *FieldError {
	var te *json.UnmarshalTypeError
	var se *json.SyntaxError
	switch {
	case errors.As(err, &te):
		if te.Field == "" {
			return &FieldError{Msg: fmt.Sprintf("want a JSON object, got %s", jsonKind(te.Value))}
		}
		return &FieldError{Field: te.Field, Msg: fmt.Sprintf("want a string, got %s", jsonKind(te.Value))}
	case errors.As(err, &se):
		return &FieldError{Msg: "not JSON: " + strings.TrimPrefix(se.Error(), "json: ")}
	case errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF):
		return &FieldError{Msg: msgIncomplete}
	}
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		if n, uerr := strconv.Unquote(name); uerr == nil {
			name = n
		}
		return &FieldError{Field: truncate(name, 64), Msg: "unknown field (want id, forum, author, title, body, url, ts)"}
	}
	return &FieldError{Msg: "not JSON: " + err.Error()}
}

func jsonKind(v string) string {
	switch v {
	case "array", "object":
		return "an " + v
	case "bool":
		return "a boolean"
	case "number", "string":
		return "a " + v
	}
	return v
}

// checkPost applies the limits to a decoded post.
func checkPost(p *Post, lim Limits) *FieldError {
	for _, f := range [...]struct {
		name, v  string
		max      int
		required bool
		line     bool // a name: no control characters
	}{
		{"id", p.ID, MaxIDBytes, true, true},
		{"forum", p.Forum, MaxIDBytes, true, true},
		{"author", p.Author, MaxIDBytes, false, true},
		{"url", p.URL, MaxURLBytes, false, true},
		{"title", p.Title, lim.MaxTitleBytes, false, false},
		{"body", p.Body, lim.MaxBodyBytes, false, false},
	} {
		if f.required && strings.TrimSpace(f.v) == "" {
			return &FieldError{Field: f.name, Msg: "required"}
		}
		if len(f.v) > f.max {
			return &FieldError{Field: f.name, Msg: fmt.Sprintf("too long (%d bytes, at most %d)", len(f.v), f.max)}
		}
		if !utf8.ValidString(f.v) {
			return &FieldError{Field: f.name, Msg: "not valid UTF-8"}
		}
		if f.line && hasControl(f.v) {
			return &FieldError{Field: f.name, Msg: "contains control characters"}
		}
	}
	if !p.Time.IsZero() && (p.Time.Before(minPostTime) || !p.Time.Before(maxPostTime)) {
		return &FieldError{Field: "ts", Msg: fmt.Sprintf("%s is out of range (want a time from 1970 to 2199)", p.Time.Format(time.RFC3339))}
	}
	if strings.TrimSpace(p.Title) == "" && strings.TrimSpace(p.Body) == "" {
		return &FieldError{Field: "body", Msg: "empty: a post needs a title or a body"}
	}
	return nil
}

func hasControl(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == 0x7f {
			return true
		}
	}
	return false
}

// truncate shortens s to at most n bytes on a rune boundary, for error
// messages that quote input.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
