package pcapgen

import (
	"bytes"
	"crypto/tls"
	"errors"
	"net"
	"time"
)

// helloCache keeps real ClientHellos made by crypto/tls, one per name and
// size: making one costs a key generation, and a capture needs thousands.
type helloCache struct {
	m map[string][]byte
}

func newHelloCache() *helloCache { return &helloCache{m: map[string][]byte{}} }

// get returns a TLS ClientHello record for sni; big ones carry a
// post-quantum key share (X25519MLKEM768) and exceed one segment.
func (h *helloCache) get(sni string, big bool) ([]byte, error) {
	key := sni
	if big {
		key += "/pq"
	}
	if b, ok := h.m[key]; ok {
		return b, nil
	}
	b, err := ClientHello(sni, big)
	if err != nil {
		return nil, err
	}
	h.m[key] = b
	return b, nil
}

// ClientHello returns the first flight crypto/tls sends to sni: one or more
// TLS records holding the ClientHello.
func ClientHello(sni string, postQuantum bool) ([]byte, error) {
	curves := []tls.CurveID{tls.X25519, tls.CurveP256}
	if postQuantum {
		curves = []tls.CurveID{tls.X25519MLKEM768, tls.X25519}
	}
	conn := &captureConn{}
	c := tls.Client(conn, &tls.Config{ServerName: sni, CurvePreferences: curves, InsecureSkipVerify: true, NextProtos: []string{"h2", "http/1.1"}})
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	_ = c.Handshake() // fails at the first read: the hello has been written by then
	if conn.out.Len() == 0 {
		return nil, errors.New("crypto/tls wrote no ClientHello")
	}
	return conn.out.Bytes(), nil
}

// captureConn records what is written and fails every read.
type captureConn struct {
	out bytes.Buffer
}

var errCaptured = errors.New("pcapgen: hello captured")

func (c *captureConn) Read([]byte) (int, error)         { return 0, errCaptured }
func (c *captureConn) Write(b []byte) (int, error)      { return c.out.Write(b) }
func (c *captureConn) Close() error                     { return nil }
func (c *captureConn) LocalAddr() net.Addr              { return &net.TCPAddr{} }
func (c *captureConn) RemoteAddr() net.Addr             { return &net.TCPAddr{} }
func (c *captureConn) SetDeadline(time.Time) error      { return nil }
func (c *captureConn) SetReadDeadline(time.Time) error  { return nil }
func (c *captureConn) SetWriteDeadline(time.Time) error { return nil }
