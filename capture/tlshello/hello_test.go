package tlshello

import (
	"crypto/tls"
	"errors"
	"net"
	"sync"
	"testing"
	"time"
)

// captureConn is a net.Conn that records what a TLS client writes and fails
// every read, so tls.Client's Handshake writes its ClientHello and gives up.
type captureConn struct {
	mu  sync.Mutex
	out []byte
}

func (c *captureConn) Write(b []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.out = append(c.out, b...)
	return len(b), nil
}

func (c *captureConn) Read([]byte) (int, error)         { return 0, errors.New("capture only") }
func (c *captureConn) Close() error                     { return nil }
func (c *captureConn) LocalAddr() net.Addr              { return &net.TCPAddr{} }
func (c *captureConn) RemoteAddr() net.Addr             { return &net.TCPAddr{} }
func (c *captureConn) SetDeadline(time.Time) error      { return nil }
func (c *captureConn) SetReadDeadline(time.Time) error  { return nil }
func (c *captureConn) SetWriteDeadline(time.Time) error { return nil }

// clientHelloRecords returns the bytes a crypto/tls client writes first: its
// ClientHello in one or more records. An empty serverName sends no SNI.
func clientHelloRecords(tb testing.TB, cfg *tls.Config) []byte {
	tb.Helper()
	c := &captureConn{}
	err := tls.Client(c, cfg).Handshake()
	if err == nil {
		tb.Fatal("handshake against a capture-only conn succeeded")
	}
	if len(c.out) == 0 {
		tb.Fatalf("tls client wrote nothing: %v", err)
	}
	return c.out
}

// helloConfigs are the hellos the tests and fuzz seeds use: default curve
// preferences (X25519MLKEM768 key share, a hello bigger than one MTU), a
// classic X25519-only hello, and one without SNI.
func helloConfigs() []struct {
	name, sni string
	cfg       *tls.Config
} {
	return []struct {
		name, sni string
		cfg       *tls.Config
	}{
		{"default-pq", "www.example.edu", &tls.Config{ServerName: "www.example.edu", NextProtos: []string{"h2", "http/1.1"}}},
		{"x25519", "login-verify.example", &tls.Config{ServerName: "login-verify.example", CurvePreferences: []tls.CurveID{tls.X25519}}},
		{"tls12-max", "old.example.org", &tls.Config{ServerName: "old.example.org", MaxVersion: tls.VersionTLS12}},
		{"no-sni", "", &tls.Config{InsecureSkipVerify: true}},
		{"ip-no-sni", "", &tls.Config{ServerName: "192.0.2.1", InsecureSkipVerify: true}},
	}
}

// handshakeOf strips the record headers from a single-record stream.
func handshakeOf(tb testing.TB, stream []byte) []byte {
	tb.Helper()
	var msg []byte
	for len(stream) > 0 {
		if len(stream) < 5 {
			tb.Fatalf("short record header")
		}
		n := int(stream[3])<<8 | int(stream[4])
		msg = append(msg, stream[5:5+n]...)
		stream = stream[5+n:]
	}
	return msg
}

// rerecord splits a handshake message into records of at most size bytes.
func rerecord(msg []byte, size int, version byte) []byte {
	var out []byte
	for len(msg) > 0 {
		n := min(size, len(msg))
		out = append(out, 0x16, 0x03, version, byte(n>>8), byte(n))
		out = append(out, msg[:n]...)
		msg = msg[n:]
	}
	return out
}
