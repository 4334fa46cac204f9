package httpreq

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// capture records what the client writes on each connection it dials.
type capture struct {
	mu    sync.Mutex
	conns []*bytes.Buffer
}

type capturedConn struct {
	net.Conn
	mu  *sync.Mutex
	out *bytes.Buffer
}

func (c *capturedConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	c.out.Write(p)
	c.mu.Unlock()
	return c.Conn.Write(p)
}

func (c *capture) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	conn, err := (&net.Dialer{}).DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	out := &bytes.Buffer{}
	c.conns = append(c.conns, out)
	return &capturedConn{Conn: conn, mu: &c.mu, out: out}, nil
}

// TestNetHTTPClient sends real requests with net/http's client to an
// httptest server, parses the bytes the client wrote, and checks them against
// what the server saw.
func TestNetHTTPClient(t *testing.T) {
	var mu sync.Mutex
	var seen []req
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.Copy(io.Discard, r.Body); err != nil {
			t.Errorf("server reading body: %v", err)
		}
		mu.Lock()
		seen = append(seen, req{r.Method, r.RequestURI, r.Host, r.Proto})
		mu.Unlock()
		io.WriteString(w, "ok")
	}))
	defer srv.Close()
	srvURL, _ := url.Parse(srv.URL)

	var direct, proxied capture
	directClient := &http.Client{Transport: &http.Transport{DialContext: direct.dial, MaxConnsPerHost: 1}}
	proxyClient := &http.Client{Transport: &http.Transport{DialContext: proxied.dial, MaxConnsPerHost: 1,
		Proxy: http.ProxyURL(srvURL)}}

	do := func(c *http.Client, r *http.Request) {
		t.Helper()
		resp, err := c.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	newReq := func(method, target string, body io.Reader) *http.Request {
		t.Helper()
		r, err := http.NewRequest(method, target, body)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}

	do(directClient, newReq("GET", srv.URL+"/index.html?q=a%20b&x=1", nil))
	do(directClient, newReq("POST", srv.URL+"/form", strings.NewReader("a=1&b="+strings.Repeat("x", 5000))))
	// A body of unknown length goes chunked.
	do(directClient, newReq("PUT", srv.URL+"/stream", struct{ io.Reader }{strings.NewReader(strings.Repeat("chunk", 3000))}))
	withTrailer := newReq("POST", srv.URL+"/trailer", struct{ io.Reader }{strings.NewReader("body")})
	withTrailer.Trailer = http.Header{"X-Checksum": {"abc"}}
	do(directClient, withTrailer)
	virtual := newReq("GET", srv.URL+"/vhost", nil)
	virtual.Host = "virtual.example"
	do(directClient, virtual)
	do(directClient, newReq("DELETE", srv.URL+"/item/7", nil))
	do(directClient, newReq("OPTIONS", srv.URL+"/", nil))
	do(proxyClient, newReq("GET", "http://proxied.example/p?q=1", nil))
	do(proxyClient, newReq("POST", "http://other.example:8080/submit", strings.NewReader("data")))

	var got []req
	for _, c := range append(direct.conns, proxied.conns...) {
		// Feed each connection in irregular segments.
		var s Stream
		b := c.Bytes()
		for i, n := 0, 1; i < len(b); i, n = i+n, n*3%1447+1 {
			err := s.Feed(b[i:min(i+n, len(b))], func(r *Request) {
				got = append(got, req{string(r.Method), string(r.Target), string(r.Host), string(r.Proto)})
			})
			if err != nil {
				t.Fatalf("Feed: %v", err)
			}
		}
		if s.Buffered() != 0 {
			t.Errorf("%d bytes left buffered", s.Buffered())
		}
	}
	if len(direct.conns) != 1 || len(proxied.conns) != 1 {
		t.Logf("connections: %d direct, %d proxied (keep-alive not reused)", len(direct.conns), len(proxied.conns))
	}
	if len(seen) != 9 {
		t.Fatalf("server saw %d requests, want 9", len(seen))
	}
	if diff := cmp.Diff(seen, got); diff != "" {
		t.Errorf("parsed requests differ from what the server saw (-server +parsed):\n%s", diff)
	}
}
