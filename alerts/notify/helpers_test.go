package notify

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/campusguard/campusguard/alerts/decision"
)

var (
	created = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	testNow = created.Add(5 * time.Minute)
)

func fixedNow() time.Time { return testNow }

func quiet() *slog.Logger { return slog.New(slog.DiscardHandler) }

// block is a policy block of an IPv4 client: the decision most tests send.
func block(id int64) decision.Decision {
	return decision.Decision{
		ID: id, Action: decision.ActionBlock, Scope: decision.ScopeIP, Value: "10.1.2.3",
		Category: "phishing", Severity: 3, Origin: decision.OriginPolicy, Policy: "phishing-clients",
		Actor: "system", Reason: "12 lookups of phishing domains in 10m", Strike: 2,
		Hits: []decision.HitRef{
			{Time: created, Kind: "dns", Name: "login-verify.example", Pack: "phishing-example", Rule: "phishing.txt:12"},
			{Time: created, Kind: "dns", Name: "login-verify.example", Pack: "phishing-example", Rule: "phishing.txt:12"},
			{Time: created, Kind: "tls", Name: "login-verify.example", Pack: "phishing-example", Rule: "phishing.txt:12"},
		},
		Created: created, Expires: created.Add(time.Hour),
	}
}

// within fails the test if cond does not hold within d.
func within(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %s", d, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// --- webhook receiver ---

type hookReq struct {
	at     time.Time
	header http.Header
	body   []byte
}

// hookServer is a real HTTP server on loopback that records every request
// and answers with respond(n) for the n-th (from 1).
type hookServer struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []hookReq
}

func newHookServer(t *testing.T, respond func(n int, w http.ResponseWriter)) *hookServer {
	t.Helper()
	s := &hookServer{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		s.mu.Lock()
		s.reqs = append(s.reqs, hookReq{time.Now(), r.Header.Clone(), body})
		n := len(s.reqs)
		s.mu.Unlock()
		if respond == nil {
			w.WriteHeader(http.StatusOK)
			return
		}
		respond(n, w)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *hookServer) requests() []hookReq {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]hookReq(nil), s.reqs...)
}

func (s *hookServer) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.reqs)
}

// --- syslog receivers ---

// udpServer collects datagrams on 127.0.0.1.
type udpServer struct {
	conn net.PacketConn
	msgs chan string
}

func newUDPServer(t *testing.T) *udpServer {
	t.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &udpServer{conn: c, msgs: make(chan string, 100)}
	go func() {
		buf := make([]byte, 65536)
		for {
			n, _, err := c.ReadFrom(buf)
			if err != nil {
				return
			}
			s.msgs <- string(buf[:n])
		}
	}()
	t.Cleanup(func() { c.Close() })
	return s
}

func (s *udpServer) addr() string { return s.conn.LocalAddr().String() }

func (s *udpServer) next(t *testing.T) string {
	t.Helper()
	return next(t, s.msgs)
}

func next(t *testing.T, ch <-chan string) string {
	t.Helper()
	select {
	case m := <-ch:
		return m
	case <-time.After(5 * time.Second):
		t.Fatal("no syslog message within 5s")
		return ""
	}
}

// streamServer accepts TCP (or TLS) connections on 127.0.0.1 and reads
// octet-counted frames strictly: a frame that breaks RFC 6587 is reported
// on errs and ends its connection.
type streamServer struct {
	ln    net.Listener
	msgs  chan string
	errs  chan error
	mu    sync.Mutex
	conns []net.Conn
	wg    sync.WaitGroup
}

func newStreamServer(t *testing.T, addr string, tlsConf *tls.Config) *streamServer {
	t.Helper()
	var ln net.Listener
	var err error
	for try := 0; ; try++ { // the port of a just-closed listener may take a moment
		ln, err = net.Listen("tcp", addr)
		if err == nil || try == 50 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	if tlsConf != nil {
		ln = tls.NewListener(ln, tlsConf)
	}
	s := &streamServer{ln: ln, msgs: make(chan string, 100), errs: make(chan error, 10)}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.conns = append(s.conns, c)
			s.mu.Unlock()
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				s.read(c)
			}()
		}
	}()
	t.Cleanup(s.close)
	return s
}

func (s *streamServer) addr() string { return s.ln.Addr().String() }

// close closes the listener and every connection, and waits for the
// readers.
func (s *streamServer) close() {
	s.ln.Close()
	s.mu.Lock()
	for _, c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

func (s *streamServer) read(c net.Conn) {
	r := bufio.NewReader(c)
	for {
		msg, err := readFrame(r)
		if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) {
			return
		}
		if err != nil {
			s.errs <- err
			return
		}
		s.msgs <- msg
	}
}

// readFrame reads one RFC 6587 octet-counted frame: MSG-LEN SP MSG, where
// MSG-LEN is a decimal without leading zeros.
func readFrame(r *bufio.Reader) (string, error) {
	var digits []byte
	for {
		c, err := r.ReadByte()
		if err != nil {
			if len(digits) == 0 {
				return "", err
			}
			return "", fmt.Errorf("frame: length %q cut short: %w", digits, err)
		}
		if c == ' ' {
			break
		}
		if c < '0' || c > '9' || len(digits) == 0 && c == '0' || len(digits) > 9 {
			return "", fmt.Errorf("frame: bad length byte %q after %q", c, digits)
		}
		digits = append(digits, c)
	}
	if len(digits) == 0 {
		return "", errors.New("frame: no length")
	}
	n, _ := strconv.Atoi(string(digits))
	msg := make([]byte, n)
	if _, err := io.ReadFull(r, msg); err != nil {
		return "", fmt.Errorf("frame: %d bytes announced: %w", n, err)
	}
	return string(msg), nil
}

func (s *streamServer) next(t *testing.T) string {
	t.Helper()
	select {
	case m := <-s.msgs:
		return m
	case err := <-s.errs:
		t.Fatal(err)
	case <-time.After(5 * time.Second):
		t.Fatal("no syslog frame within 5s")
	}
	return ""
}

// selfSigned makes a certificate for 127.0.0.1 and writes it, as the CA
// bundle a client trusts, to a file.
func selfSigned(t *testing.T) (tls.Certificate, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "siem.test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(file, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, file
}

// --- parsers: what a receiver would do ---

// syslogMsg is a parsed RFC 5424 message.
type syslogMsg struct {
	pri                      int
	ts                       time.Time
	host, app, procid, msgid string
	sd, msg                  string
	header                   []string          // CEF header fields, unescaped; [0] is "CEF:0"
	ext                      map[string]string // CEF extension, unescaped
}

var rfc5424 = regexp.MustCompile(`(?s)^<(\d{1,3})>1 (\S+) (\S{1,255}) (\S{1,48}) (\S{1,128}) (\S{1,32}) (-|\[.*?\]) (.*)$`)

// parseSyslog parses an RFC 5424 message whose MSG is CEF.
func parseSyslog(s string) (syslogMsg, error) {
	m := rfc5424.FindStringSubmatch(s)
	if m == nil {
		return syslogMsg{}, fmt.Errorf("not RFC 5424: %q", s)
	}
	var p syslogMsg
	p.pri, _ = strconv.Atoi(m[1])
	if p.pri > 191 {
		return p, fmt.Errorf("PRI %d out of range", p.pri)
	}
	ts, err := time.Parse(time.RFC3339Nano, m[2])
	if err != nil {
		return p, fmt.Errorf("TIMESTAMP %q: %w", m[2], err)
	}
	p.ts = ts
	p.host, p.app, p.procid, p.msgid, p.sd, p.msg = m[3], m[4], m[5], m[6], m[7], m[8]
	for _, f := range []string{p.host, p.app, p.procid, p.msgid} {
		if !printUSASCII(f, 255) {
			return p, fmt.Errorf("header field %q: not PRINTUSASCII", f)
		}
	}
	p.header, p.ext, err = parseCEF(p.msg)
	return p, err
}

// parseCEF splits a CEF message into its seven header fields and its
// extension, undoing the escapes; it refuses any escape CEF does not
// define, a dangling backslash, a raw newline and an unescaped '=' inside
// a value.
func parseCEF(s string) ([]string, map[string]string, error) {
	if !strings.HasPrefix(s, "CEF:") {
		return nil, nil, fmt.Errorf("not CEF: %q", s)
	}
	var header []string
	var cur strings.Builder
	i := 0
	for len(header) < 7 {
		if i >= len(s) {
			return nil, nil, fmt.Errorf("CEF header: %d fields, want 7: %q", len(header), s)
		}
		switch c := s[i]; c {
		case '\\':
			if i+1 >= len(s) || s[i+1] != '\\' && s[i+1] != '|' {
				return nil, nil, fmt.Errorf("CEF header: bad escape at %d: %q", i, s)
			}
			cur.WriteByte(s[i+1])
			i += 2
		case '|':
			header = append(header, cur.String())
			cur.Reset()
			i++
		case '\n', '\r':
			return nil, nil, fmt.Errorf("CEF header: raw newline at %d", i)
		default:
			cur.WriteByte(c)
			i++
		}
	}
	ext, err := parseExt(s[i:])
	return header, ext, err
}

func isKeyByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_'
}

// parseExt parses "k1=v1 k2=v2 …": a key starts the text or follows a
// space and ends at an unescaped '='; its value runs to the space before
// the next key.
func parseExt(s string) (map[string]string, error) {
	type eq struct{ keyStart, at int }
	var eqs []eq
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			if i+1 >= len(s) {
				return nil, fmt.Errorf("extension: dangling backslash: %q", s)
			}
			i++
		case '=':
			j := i
			for j > 0 && isKeyByte(s[j-1]) {
				j--
			}
			if j == i || j > 0 && s[j-1] != ' ' {
				return nil, fmt.Errorf("extension: unescaped '=' in a value at %d: %q", i, s)
			}
			eqs = append(eqs, eq{j, i})
		case '\n', '\r':
			return nil, fmt.Errorf("extension: raw newline at %d", i)
		}
	}
	m := map[string]string{}
	if len(eqs) == 0 {
		if s != "" {
			return nil, fmt.Errorf("extension: no key: %q", s)
		}
		return m, nil
	}
	if eqs[0].keyStart != 0 {
		return nil, fmt.Errorf("extension: text before the first key: %q", s)
	}
	for k, e := range eqs {
		end := len(s)
		if k+1 < len(eqs) {
			end = eqs[k+1].keyStart - 1
		}
		key := s[e.keyStart:e.at]
		v, err := unescapeValue(s[e.at+1 : end])
		if err != nil {
			return nil, fmt.Errorf("extension: %s: %w", key, err)
		}
		if _, dup := m[key]; dup {
			return nil, fmt.Errorf("extension: %s twice", key)
		}
		m[key] = v
	}
	return m, nil
}

func unescapeValue(s string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' {
			b.WriteByte(s[i])
			continue
		}
		if i+1 >= len(s) {
			return "", errors.New("dangling backslash")
		}
		i++
		switch s[i] {
		case '\\', '=':
			b.WriteByte(s[i])
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		default:
			return "", fmt.Errorf("unknown escape \\%c", s[i])
		}
	}
	return b.String(), nil
}

func unescapeHeader(s string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			if i+1 >= len(s) || s[i+1] != '\\' && s[i+1] != '|' {
				return "", fmt.Errorf("bad escape at %d", i)
			}
			i++
			b.WriteByte(s[i])
		case '|':
			return "", fmt.Errorf("unescaped pipe at %d", i)
		default:
			b.WriteByte(s[i])
		}
	}
	return b.String(), nil
}
