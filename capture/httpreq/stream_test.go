package httpreq

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// req is a Request copied out of the callback.
type req struct{ Method, Target, Host, Proto string }

func (r req) String() string {
	return fmt.Sprintf("%s %s %s Host=%q", r.Method, r.Target, r.Proto, r.Host)
}

// run feeds chunks to s and returns the requests and the first error.
func run(s *Stream, chunks ...[]byte) ([]req, error) {
	var got []req
	fn := func(r *Request) {
		got = append(got, req{string(r.Method), string(r.Target), string(r.Host), string(r.Proto)})
	}
	for _, c := range chunks {
		if err := s.Feed(c, fn); err != nil {
			return got, err
		}
	}
	return got, nil
}

// clientHello is the start of a TLS 1.3 ClientHello record.
const clientHello = "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + "0123456789abcdef0123456789abcdef"

var streamTests = []struct {
	name    string
	in      string
	maxHead int
	want    []req
	err     error
}{{
	name: "GET",
	in:   "GET /index.html?q=1 HTTP/1.1\r\nHost: www.example.com\r\nUser-Agent: test\r\nAccept: */*\r\n\r\n",
	want: []req{{"GET", "/index.html?q=1", "www.example.com", "HTTP/1.1"}},
}, {
	name: "pipelined GET, POST with body, GET",
	in: "GET /a HTTP/1.1\r\nHost: a.example\r\n\r\n" +
		"POST /form HTTP/1.1\r\nHost: b.example\r\nContent-Type: text/plain\r\nContent-Length: 27\r\n\r\n" +
		"GET /not-a-request HTTP/1.1" +
		"GET /c HTTP/1.1\r\nHost: c.example\r\n\r\n",
	want: []req{{"GET", "/a", "a.example", "HTTP/1.1"}, {"POST", "/form", "b.example", "HTTP/1.1"}, {"GET", "/c", "c.example", "HTTP/1.1"}},
}, {
	name: "chunked with extensions and trailers",
	in: "POST /upload HTTP/1.1\r\nHost: up.example\r\nTransfer-Encoding: gzip, Chunked\r\nTrailer: X-Sum\r\n\r\n" +
		"5;name=value;quoted=\"a;b\"\r\nGET /\r\n" +
		"1A \t;ext\r\nabcdefghijklmnopqrstuvwxyz\r\n" +
		"0\r\nX-Sum: 42\r\nX-Other: GET / HTTP/1.1\r\n\r\n" +
		"GET /after HTTP/1.1\r\nHost: up.example\r\n\r\n",
	want: []req{{"POST", "/upload", "up.example", "HTTP/1.1"}, {"GET", "/after", "up.example", "HTTP/1.1"}},
}, {
	name: "chunked, plain size lines",
	in: "POST /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n" +
		"4\r\nwiki\r\n5\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\n\r\n" +
		"GET /next HTTP/1.1\r\nHost: h\r\n\r\n",
	want: []req{{"POST", "/c", "h", "HTTP/1.1"}, {"GET", "/next", "h", "HTTP/1.1"}},
}, {
	name: "chunked with bare LF, no trailers",
	in: "PUT /x HTTP/1.1\nHost: h\ntransfer-encoding: chunked\n\n" +
		"3\nabc\n0\n\n" +
		"DELETE /x HTTP/1.1\nHost: h\n\n",
	want: []req{{"PUT", "/x", "h", "HTTP/1.1"}, {"DELETE", "/x", "h", "HTTP/1.1"}},
}, {
	name: "one-byte trailer lines",
	in:   "POST / HTTP/1.0\nTransfer-Encoding: chunked\n\n0\nX\n\r\n\nGET /next HTTP/1.0\n\n",
	want: []req{{"POST", "/", "", "HTTP/1.0"}, {"GET", "/next", "", "HTTP/1.0"}},
}, {
	name: "Transfer-Encoding wins over Content-Length",
	in: "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 100\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" +
		"GET /next HTTP/1.1\r\nHost: h\r\n\r\n",
	want: []req{{"POST", "/", "h", "HTTP/1.1"}, {"GET", "/next", "h", "HTTP/1.1"}},
}, {
	name: "absolute form",
	in:   "GET http://proxied.example:8080/p?q=1 HTTP/1.1\r\nHost: proxied.example:8080\r\nProxy-Connection: keep-alive\r\n\r\n",
	want: []req{{"GET", "http://proxied.example:8080/p?q=1", "proxied.example:8080", "HTTP/1.1"}},
}, {
	name: "CONNECT, then the tunnel",
	in:   "CONNECT secure.example:443 HTTP/1.1\r\nHost: secure.example:443\r\n\r\n" + clientHello,
	want: []req{{"CONNECT", "secure.example:443", "secure.example:443", "HTTP/1.1"}},
	err:  ErrNotHTTP,
}, {
	name: "HTTP/1.0 without Host",
	in:   "GET / HTTP/1.0\r\n\r\n",
	want: []req{{"GET", "/", "", "HTTP/1.0"}},
}, {
	name: "first Host wins, any case, whitespace trimmed",
	in:   "GET / HTTP/1.1\r\nhOsT: \t first.example \t\r\nHost: second.example\r\n\r\n",
	want: []req{{"GET", "/", "first.example", "HTTP/1.1"}},
}, {
	name: "empty Host",
	in:   "GET / HTTP/1.1\r\nHost:\r\nHost: later.example\r\n\r\n",
	want: []req{{"GET", "/", "", "HTTP/1.1"}},
}, {
	name: "obs-fold",
	in: "POST / HTTP/1.1\r\nHost: folded\r\n  .example\r\nX-Long: a\r\n\tb\r\nContent-Length:\r\n 3\r\n\r\nabc" +
		"GET / HTTP/1.1\r\nX: 1\r\n 2\r\nHost: plain.example\r\n\r\n",
	want: []req{{"POST", "/", "folded .example", "HTTP/1.1"}, {"GET", "/", "plain.example", "HTTP/1.1"}},
}, {
	name: "empty lines between requests, odd header lines",
	in:   "\r\n\r\nHEAD / HTTP/1.1\r\nno colon here\r\n: empty name\r\nHost : spaced.example\r\n\r\n\r\nOPTIONS * HTTP/1.1\r\n\r\n",
	want: []req{{"HEAD", "/", "spaced.example", "HTTP/1.1"}, {"OPTIONS", "*", "", "HTTP/1.1"}},
}, {
	name: "WebDAV",
	in:   "PROPFIND /dav/ HTTP/1.1\r\nHost: dav.example\r\nDepth: 1\r\nContent-Length: 4\r\n\r\n<a/>MKCOL /dav/new/ HTTP/1.1\r\nHost: dav.example\r\n\r\n",
	want: []req{{"PROPFIND", "/dav/", "dav.example", "HTTP/1.1"}, {"MKCOL", "/dav/new/", "dav.example", "HTTP/1.1"}},
}, {
	name:    "head at the limit",
	in:      "GET / HTTP/1.1\r\nHost: h\r\nX: " + strings.Repeat("y", 32) + "\r\n\r\n",
	maxHead: 64,
	want:    []req{{"GET", "/", "h", "HTTP/1.1"}},
}, {
	name:    "head one byte over the limit",
	in:      "GET / HTTP/1.1\r\nHost: h\r\nX: " + strings.Repeat("y", 33) + "\r\n\r\n",
	maxHead: 64,
	err:     ErrTooLong,
}, {
	name:    "head never ends",
	in:      "GET / HTTP/1.1\r\nHost: h\r\nX: " + strings.Repeat("y", 100),
	maxHead: 64,
	err:     ErrTooLong,
}, {
	name: "default limit",
	in:   "GET / HTTP/1.1\r\nCookie: " + strings.Repeat("c", DefaultMaxHead) + "\r\n\r\n",
	err:  ErrTooLong,
}, {
	name:    "trailers over the limit",
	in:      "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: " + strings.Repeat("t", 64) + "\r\n\r\n",
	maxHead: 64,
	want:    []req{{"POST", "/", "", "HTTP/1.1"}},
	err:     ErrTooLong,
}, {
	name: "binary garbage",
	in:   "\x00\x01\x02\xff\xfe GET / HTTP/1.1\r\n\r\n",
	err:  ErrNotHTTP,
}, {
	name: "TLS ClientHello",
	in:   clientHello,
	err:  ErrNotHTTP,
}, {
	name: "HTTP/2 preface",
	in:   "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
	err:  ErrNotHTTP,
}, {
	name: "lower-case method",
	in:   "get / HTTP/1.1\r\n\r\n",
	err:  ErrNotHTTP,
}, {
	name: "method prefix then garbage",
	in:   "GETX / HTTP/1.1\r\n\r\n",
	err:  ErrNotHTTP,
}, {
	name: "garbage after a request",
	in:   "GET / HTTP/1.1\r\nHost: h\r\n\r\nSSH-2.0-OpenSSH_9.6\r\n",
	want: []req{{"GET", "/", "h", "HTTP/1.1"}},
	err:  ErrNotHTTP,
}, {
	name: "HTTP/0.9 request line",
	in:   "GET /\r\n\r\n",
	err:  ErrMalformed,
}, {
	name: "unknown version",
	in:   "GET / HTTP/2.0\r\n\r\n",
	err:  ErrMalformed,
}, {
	name: "no target",
	in:   "GET  HTTP/1.1\r\n\r\n",
	err:  ErrMalformed,
}, {
	name: "Content-Length not a number",
	in:   "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: abc\r\n\r\n",
	want: []req{{"POST", "/", "h", "HTTP/1.1"}},
	err:  ErrContentLength,
}, {
	name: "Content-Length negative",
	in:   "POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
	want: []req{{"POST", "/", "", "HTTP/1.1"}},
	err:  ErrContentLength,
}, {
	name: "Content-Length empty",
	in:   "POST / HTTP/1.1\r\nContent-Length:\r\n\r\n",
	want: []req{{"POST", "/", "", "HTTP/1.1"}},
	err:  ErrContentLength,
}, {
	name: "Content-Length overflow",
	in:   "POST / HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n",
	want: []req{{"POST", "/", "", "HTTP/1.1"}},
	err:  ErrContentLength,
}, {
	name: "Content-Length values differ",
	in:   "POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
	want: []req{{"POST", "/", "", "HTTP/1.1"}},
	err:  ErrContentLength,
}, {
	name: "Content-Length list differs",
	in:   "POST / HTTP/1.1\r\nContent-Length: 3, 4\r\n\r\nabcd",
	want: []req{{"POST", "/", "", "HTTP/1.1"}},
	err:  ErrContentLength,
}, {
	name: "Content-Length repeated with the same value",
	in:   "POST / HTTP/1.1\r\nContent-Length: 3, 3\r\nContent-Length: 3\r\n\r\nabcGET /2 HTTP/1.1\r\n\r\n",
	want: []req{{"POST", "/", "", "HTTP/1.1"}, {"GET", "/2", "", "HTTP/1.1"}},
}, {
	name: "Transfer-Encoding not chunked",
	in:   "POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n",
	want: []req{{"POST", "/", "", "HTTP/1.1"}},
	err:  ErrTransferEncoding,
}, {
	name: "bad chunk size",
	in:   "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
	want: []req{{"POST", "/", "", "HTTP/1.1"}},
	err:  ErrChunk,
}, {
	name: "empty chunk size",
	in:   "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n\r\n",
	want: []req{{"POST", "/", "", "HTTP/1.1"}},
	err:  ErrChunk,
}, {
	name: "chunk size overflow",
	in:   "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1000000000000000\r\n",
	want: []req{{"POST", "/", "", "HTTP/1.1"}},
	err:  ErrChunk,
}, {
	name: "chunk data longer than its size",
	in:   "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n0\r\n\r\n",
	want: []req{{"POST", "/", "", "HTTP/1.1"}},
	err:  ErrChunk,
}}

func TestStream(t *testing.T) {
	for _, tt := range streamTests {
		t.Run(tt.name, func(t *testing.T) {
			in := []byte(tt.in)
			check := func(how string, got []req, err error) {
				t.Helper()
				if !errors.Is(err, tt.err) || (tt.err == nil && err != nil) {
					t.Fatalf("%s: err = %v, want %v", how, err, tt.err)
				}
				if diff := cmp.Diff(tt.want, got); diff != "" {
					t.Fatalf("%s: requests (-want +got):\n%s", how, diff)
				}
			}
			got, err := run(&Stream{MaxHead: tt.maxHead}, in)
			check("whole", got, err)

			var bytewise [][]byte
			for i := range in {
				bytewise = append(bytewise, in[i:i+1])
			}
			got, err = run(&Stream{MaxHead: tt.maxHead}, bytewise...)
			check("byte by byte", got, err)

			for cut := range len(in) + 1 {
				got, err = run(&Stream{MaxHead: tt.maxHead}, in[:cut], in[cut:])
				check(fmt.Sprintf("split at %d", cut), got, err)
			}
		})
	}
}

func TestStreamStaysFailedUntilReset(t *testing.T) {
	s := &Stream{MaxHead: 100}
	if _, err := run(s, []byte(clientHello)); !errors.Is(err, ErrNotHTTP) {
		t.Fatalf("err = %v, want %v", err, ErrNotHTTP)
	}
	if got, err := run(s, []byte("GET / HTTP/1.1\r\n\r\n")); !errors.Is(err, ErrNotHTTP) || len(got) != 0 {
		t.Fatalf("after failure: %v, %v; want still failed", got, err)
	}
	s.Reset()
	if s.MaxHead != 100 {
		t.Errorf("Reset lost MaxHead")
	}
	if got, err := run(s, []byte("GET / HTTP/1.1\r\nHost: h\r\n\r\n")); err != nil || len(got) != 1 {
		t.Fatalf("after Reset: %v, %v", got, err)
	}
	// Reset in the middle of a head or body forgets it.
	if _, err := run(s, []byte("POST / HTTP/1.1\r\nContent-Length: 1000\r\n\r\nabc")); err != nil {
		t.Fatal(err)
	}
	s.Reset()
	if got, err := run(s, []byte("GET /fresh HTTP/1.1\r\n\r\n")); err != nil || len(got) != 1 || got[0].Target != "/fresh" {
		t.Fatalf("after Reset mid-body: %v, %v", got, err)
	}
}

func TestStreamBuffersOnlyHeads(t *testing.T) {
	s := &Stream{}
	head := "POST /big HTTP/1.1\r\nHost: h\r\nContent-Length: 10000000\r\n\r\n"
	if _, err := run(s, []byte(head)); err != nil {
		t.Fatal(err)
	}
	chunk := bytes.Repeat([]byte("x"), 65536)
	for sent := 0; sent < 10000000; sent += len(chunk) {
		c := chunk[:min(len(chunk), 10000000-sent)]
		if _, err := run(s, c); err != nil {
			t.Fatal(err)
		}
		if s.Buffered() != 0 {
			t.Fatalf("body bytes buffered: %d", s.Buffered())
		}
	}
	if got, err := run(s, []byte("GET /after HTTP/1.1\r\n\r\n")); err != nil || len(got) != 1 {
		t.Fatalf("after the body: %v, %v", got, err)
	}
}

func TestStreamNoAllocs(t *testing.T) {
	in := []byte("GET /a HTTP/1.1\r\nHost: a.example\r\n\r\n" +
		"POST /b HTTP/1.1\r\nHost: b\r\n  .example\r\nContent-Length: 5\r\n\r\nhello" +
		"POST /c HTTP/1.1\r\nHost: c.example\r\nTransfer-Encoding: chunked\r\n\r\n5;x=y\r\nhello\r\n0\r\nT: 1\r\n\r\n")
	s := &Stream{}
	fn := func(*Request) {}
	feed := func() {
		for i := 0; i < len(in); i += 13 {
			if err := s.Feed(in[i:min(i+13, len(in))], fn); err != nil {
				t.Fatal(err)
			}
		}
	}
	feed() // grow the buffers
	if n := testing.AllocsPerRun(100, feed); n != 0 {
		t.Errorf("Feed allocates %v times per connection", n)
	}
}

func TestMethods(t *testing.T) {
	for _, m := range methods {
		if !isMethod([]byte(m)) || !methodPrefix([]byte(m+" /")) || !methodPrefix([]byte(m[:1])) || len(m) > maxMethod {
			t.Errorf("method %q not accepted", m)
		}
	}
	for _, bad := range []string{"", "GE", "get", "GETS", "PRI", "HTTP/1.1", "BASELINE-CONTROLX"} {
		if isMethod([]byte(bad)) {
			t.Errorf("isMethod(%q) = true", bad)
		}
	}
}

func TestStartsRequest(t *testing.T) {
	for _, m := range methods {
		if !StartsRequest([]byte(m + " /x HTTP/1.1\r\n")) {
			t.Errorf("StartsRequest(%q ...) = false", m)
		}
		if StartsRequest([]byte(m)) {
			t.Errorf("StartsRequest(%q) without a space = true", m)
		}
	}
	for _, bad := range []string{"", " GET /", "get / HTTP/1.1", "GETX / HTTP/1.1", "\x16\x03\x01\x02\x00\x01", "HTTP/1.1 200 OK"} {
		if StartsRequest([]byte(bad)) {
			t.Errorf("StartsRequest(%q) = true", bad)
		}
	}
}
