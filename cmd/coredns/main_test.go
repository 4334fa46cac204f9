package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/miekg/dns"

	"github.com/campusguard/campusguard/dnsplugin/resolver"
	"github.com/campusguard/campusguard/internal/event"
)

// freePort returns a port free for both UDP and TCP on 127.0.0.1.
func freePort(t *testing.T) string {
	t.Helper()
	for range 20 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		u, err := net.ListenPacket("udp", "127.0.0.1:"+strconv.Itoa(port))
		l.Close()
		if err == nil {
			u.Close()
			return strconv.Itoa(port)
		}
	}
	t.Fatal("no free port")
	return ""
}

func exchange(t *testing.T, c *dns.Client, addr, name string, qtype uint16) (*dns.Msg, error) {
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), qtype)
	m.SetEdns0(1232, false)
	r, _, err := c.Exchange(m, addr)
	return r, err
}

func edeText(r *dns.Msg) string {
	if opt := r.IsEdns0(); opt != nil {
		for _, o := range opt.Option {
			if e, ok := o.(*dns.EDNS0_EDE); ok {
				return strconv.Itoa(int(e.InfoCode)) + " " + e.ExtraText
			}
		}
	}
	return ""
}

// TestBinaryDemoCorefile builds cmd/coredns and runs it as a user would with
// deploy/coredns/Corefile.demo: a name on a list is blocked with EDE, another
// one is answered.
func TestBinaryDemoCorefile(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "coredns")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "-plugins").Output()
	if err != nil || !strings.Contains(string(out), "campusguard") || strings.Contains(string(out), "kubernetes") {
		t.Fatalf("-plugins: %v\n%s", err, out)
	}
	src, err := os.ReadFile("../../deploy/coredns/Corefile.demo")
	if err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	corefile := filepath.Join(dir, "Corefile")
	if err := os.WriteFile(corefile, []byte(strings.Replace(string(src), ".:1053", ".:"+port, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-conf", corefile)
	var logs strings.Builder
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Kill()
		cmd.Wait()
	}()
	addr := "127.0.0.1:" + port
	c := &dns.Client{Timeout: 500 * time.Millisecond}
	var r *dns.Msg
	for deadline := time.Now().Add(20 * time.Second); ; {
		if r, err = exchange(t, c, addr, "login-verify.example", dns.TypeA); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("server did not answer: %v\n%s", err, logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	if r.Rcode != dns.RcodeNameError || edeText(r) != "15 campusguard: phishing-example (phishing)" {
		t.Errorf("blocked: %s EDE %q", dns.RcodeToString[r.Rcode], edeText(r))
	}
	r, err = exchange(t, c, addr, "www.example", dns.TypeA)
	if err != nil || r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 || r.Answer[0].(*dns.A).A.String() != "192.0.2.1" {
		t.Errorf("allowed: %v %v", err, r)
	}
	r, err = exchange(t, c, addr, "x.webmail-upgrade.test", dns.TypeAAAA)
	if err != nil || r.Rcode != dns.RcodeNameError {
		t.Errorf("wildcard: %v %v", err, r)
	}
}

// TestCampusCorefile runs deploy/coredns/Corefile.campus in-process with
// local stand-ins for its addresses, certificate and files: it parses, both
// listeners serve, groups answer as documented, hits reach the report URL.
func TestCampusCorefile(t *testing.T) {
	caddy.Quiet, dnsserver.Quiet = true, true
	src, err := os.ReadFile("../../deploy/coredns/Corefile.campus")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	crt, key := selfSigned(t, dir)
	allow := filepath.Join(dir, "allow.txt")
	token := filepath.Join(dir, "token")
	os.WriteFile(allow, []byte("safe.login-verify.example\n"), 0o644)
	os.WriteFile(token, []byte("s3cret\n"), 0o600)
	events := make(chan string, 100)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer s3cret" {
			http.Error(w, "no", http.StatusUnauthorized)
			return
		}
		dec := event.NewDecoder(r.Body)
		for {
			var ev event.Event
			if dec.Decode(&ev) != nil {
				return
			}
			events <- ev.Src + " " + ev.Name + " " + ev.RCode
		}
	}))
	defer srv.Close()
	dnsPort, dotPort := freePort(t), freePort(t)
	text := strings.NewReplacer(
		".:53 {", ".:"+dnsPort+" {",
		"tls://.:853 {", "tls://.:"+dotPort+" {",
		"bind 10.0.0.53 2001:db8::53", "bind 127.0.0.1",
		"allow net 10.0.0.0/8", "allow net 127.0.0.0/8 10.0.0.0/8",
		":8081", "127.0.0.1:"+freePort(t), ":8181", "127.0.0.1:"+freePort(t), ":9153", "127.0.0.1:"+freePort(t),
		"10.10.0.0/16", "127.0.0.2/32", // a dorm client
		"172.16.0.0/12 {", "127.0.0.3/32 {", // a guest
		"/etc/coredns/tls/dns.example.edu.crt", crt, "/etc/coredns/tls/dns.example.edu.key", key,
		"/etc/campusguard/dns-allow.txt", allow, "/etc/campusguard/dns-ingest.token", token,
		"https://campusguard.example.edu/api/v1/events", srv.URL+"/api/v1/events",
	).Replace(string(src))
	inst, err := resolver.Start("Corefile.campus", []byte(text))
	if err != nil {
		t.Fatalf("%v\n%s", err, text)
	}
	defer resolver.Stop(inst)

	addr := "127.0.0.1:" + dnsPort
	client := func(src string) *dns.Client {
		return &dns.Client{Timeout: 2 * time.Second, Dialer: &net.Dialer{LocalAddr: &net.UDPAddr{IP: net.ParseIP(src)}}}
	}
	for _, tc := range []struct {
		src, name string
		qtype     uint16
		rcode     int
		ans, ede  string
	}{
		{"127.0.0.1", "login-verify.example", dns.TypeA, dns.RcodeNameError, "", "15 campusguard: phishing-example (phishing)"},
		{"127.0.0.2", "login-verify.example", dns.TypeA, dns.RcodeSuccess, "10.0.0.80", "15 campusguard: phishing-example (phishing)"},
		{"127.0.0.2", "login-verify.example", dns.TypeAAAA, dns.RcodeSuccess, "2001:db8::80", "15 campusguard: phishing-example (phishing)"},
		{"127.0.0.3", "login-verify.example", dns.TypeA, dns.RcodeRefused, "", "17 campusguard: phishing-example (phishing)"},
	} {
		r, err := exchange(t, client(tc.src), addr, tc.name, tc.qtype)
		if err != nil {
			t.Fatalf("%s %s: %v", tc.src, tc.name, err)
		}
		ans := ""
		for _, rr := range r.Answer {
			switch rr := rr.(type) {
			case *dns.A:
				ans = rr.A.String()
			case *dns.AAAA:
				ans = rr.AAAA.String()
			}
		}
		if r.Rcode != tc.rcode || ans != tc.ans || edeText(r) != tc.ede {
			t.Errorf("%s %s %s: %s %q EDE %q", tc.src, dns.TypeToString[tc.qtype], tc.name, dns.RcodeToString[r.Rcode], ans, edeText(r))
		}
	}
	// The DoT listener filters too.
	dot := &dns.Client{Net: "tcp-tls", Timeout: 2 * time.Second, TLSConfig: tlsConfig(t, crt)}
	r, err := exchange(t, dot, "127.0.0.1:"+dotPort, "login-verify.example", dns.TypeA)
	if err != nil || r.Rcode != dns.RcodeNameError || edeText(r) == "" {
		t.Errorf("DoT: %v %v", err, r)
	}
	select {
	case s := <-events:
		if !strings.Contains(s, " login-verify.example ") {
			t.Errorf("reported %q", s)
		}
	case <-time.After(5 * time.Second):
		t.Error("no event reached the report URL")
	}
}

func selfSigned(t *testing.T, dir string) (string, string) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "dns.example.edu"},
		DNSNames: []string{"dns.example.edu"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, KeyUsage: x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(k)
	crt, key := filepath.Join(dir, "dns.crt"), filepath.Join(dir, "dns.key")
	os.WriteFile(crt, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	os.WriteFile(key, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
	return crt, key
}

// TestMinimalCorefile: deploy/Corefile parses and blocks with its defaults.
func TestMinimalCorefile(t *testing.T) {
	caddy.Quiet, dnsserver.Quiet = true, true
	src, err := os.ReadFile("../../deploy/Corefile")
	if err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	text := strings.NewReplacer(
		"\n. {", "\n.:"+port+" {\n\tbind 127.0.0.1",
		":8081", "127.0.0.1:"+freePort(t), ":8181", "127.0.0.1:"+freePort(t), ":9153", "127.0.0.1:"+freePort(t),
	).Replace(string(src))
	inst, err := resolver.Start("Corefile", []byte(text))
	if err != nil {
		t.Fatalf("%v\n%s", err, text)
	}
	defer resolver.Stop(inst)
	r, err := exchange(t, &dns.Client{Timeout: 2 * time.Second}, "127.0.0.1:"+port, "login-verify.example", dns.TypeA)
	if err != nil || r.Rcode != dns.RcodeNameError || edeText(r) != "15 campusguard: phishing-example (phishing)" {
		t.Errorf("%v %v", err, r)
	}
}
