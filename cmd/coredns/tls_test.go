package main

import (
	"crypto/tls"
	"crypto/x509"
	"os"
	"testing"
)

func tlsConfig(t *testing.T, crt string) *tls.Config {
	t.Helper()
	pem, err := os.ReadFile(crt)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	return &tls.Config{RootCAs: pool, ServerName: "dns.example.edu"}
}
