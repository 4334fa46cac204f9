package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"testing"
	"time"
)

// The web servers the client reaches in the gateway namespace: the
// capture sees a ClientHello or a request only after a handshake, so
// something has to answer. Both answer every request with 200.
const (
	httpPort = 8081 // plain HTTP on gwIP
	tlsPort  = 443  // HTTPS on gwIP, a self-signed certificate
)

func (l *lab) startWebServers(t *testing.T) {
	t.Helper()
	cert := selfSigned(t, phishName)
	var httpLn, tlsLn net.Listener
	var err1, err2 error
	l.doInGW(t, func() {
		httpLn, err1 = net.Listen("tcp", net.JoinHostPort(gwIP, fmt.Sprint(httpPort)))
		tlsLn, err2 = net.Listen("tcp", net.JoinHostPort(gwIP, fmt.Sprint(tlsPort)))
	})
	for _, err := range []error{err1, err2} {
		if err != nil {
			t.Fatalf("listen in %s: %v", l.gw, err)
		}
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "e2e web server: %s %s\n", r.Host, r.URL.Path)
	})
	for _, s := range []struct {
		ln  net.Listener
		tls bool
	}{{httpLn, false}, {tlsLn, true}} {
		srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
		if s.tls {
			srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
		}
		go func() {
			if s.tls {
				_ = srv.ServeTLS(s.ln, "", "")
			} else {
				_ = srv.Serve(s.ln)
			}
		}()
		t.Cleanup(func() { srv.Close() })
	}
}

func selfSigned(t *testing.T, name string) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: name},
		DNSNames:     []string{name},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}
