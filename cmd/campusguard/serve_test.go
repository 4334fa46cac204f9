package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/campusguard/campusguard/capture/pcapgen"
	"github.com/campusguard/campusguard/dnsplugin/resolver"
	"github.com/campusguard/campusguard/internal/config"
	"github.com/campusguard/campusguard/internal/hitlog"
	"github.com/campusguard/campusguard/internal/state"
)

// syncBuffer is a bytes.Buffer safe for the sink goroutine and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestServeReplaysCaptureFiles: serve reads the configured capture files
// through the pipeline, stores its hits, and exposes the capture and
// rule metrics, health and readiness on the configured listener.
func TestServeReplaysCaptureFiles(t *testing.T) {
	pcap, truth := writePcap(t, pcapgen.Config{Seed: 5, Packets: 3000, NoQUIC: true})
	cfg := config.Default()
	cfg.Capture.Files = []string{pcap}
	cfg.Rules.Packs = []string{"builtin"}
	cfg.HTTP.Listen = freePort(t)
	cfg.Privacy.KeyFile = filepath.Join(t.TempDir(), "key")
	cfg.Hitlog.URL = embeddedStoreURL(t)
	cfg.Hitlog.SpoolDir = t.TempDir()
	cfg.State.Path = filepath.Join(t.TempDir(), "state.db")
	var stdout, stderr syncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serve(ctx, cfg, &stdout, &stderr) }()

	get := func(path string) (int, string) {
		resp, err := http.Get("http://" + cfg.HTTP.Listen + path)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) && !strings.Contains(stderr.String(), "capture files read") {
		time.Sleep(50 * time.Millisecond)
	}
	if code, body := get("/readyz"); code != 200 {
		t.Errorf("/readyz: %d %s", code, body)
	}
	if code, _ := get("/healthz"); code != 200 {
		t.Errorf("/healthz: %d", code)
	}
	// The console answers on the same listener: / leads to its login page.
	if code, body := get("/"); code != 200 || !strings.Contains(body, `name="password"`) {
		t.Errorf("console /: %d %.300s", code, body)
	}
	_, metrics := get("/metrics")
	for _, want := range []string{"campusguard_capture_packets_total 3", "campusguard_capture_events_total{kind=\"dns\"}",
		"campusguard_rules_", "campusguard_pipeline_dropped_events_total 0"} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("serve: %v\n%s", err, stderr.String())
	}
	// serve stores exactly the hits scan finds in the same file, with
	// pseudonymized clients.
	want := scanHits(t, pcap)
	if want == 0 || want >= len(truth) {
		t.Fatalf("scan finds %d hits in %d events; the capture proves nothing", want, len(truth))
	}
	hits := storedHits(t, cfg.Hitlog.URL, hitlog.Filter{})
	if len(hits) != want {
		t.Errorf("the hit store holds %d hits, scan finds %d", len(hits), want)
	}
	for _, h := range hits {
		if !strings.HasPrefix(h.Client, "anon-") {
			t.Errorf("stored client %q is not a pseudonym", h.Client)
			break
		}
	}
	if _, err := os.Stat(cfg.Privacy.KeyFile); err != nil {
		t.Errorf("pseudonym key not created: %v", err)
	}
}

// TestServeRunsDNS: with dns.corefile set, serve answers DNS in-process;
// a blocked name gets NXDOMAIN and its hit reaches the hit store (here a
// ClickHouse server), and the plugin's metrics are on /metrics.
func TestServeRunsDNS(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dnsAddr := pc.LocalAddr().String()
	pc.Close()
	_, port, _ := net.SplitHostPort(dnsAddr)
	corefile := filepath.Join(t.TempDir(), "Corefile")
	if err := os.WriteFile(corefile, []byte(".:"+port+" {\n\tbind 127.0.0.1\n\tcampusguard builtin\n\ttemplate IN A {\n\t\tanswer \"{{ .Name }} 60 IN A 192.0.2.1\"\n\t}\n}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	cfg.DNS.Corefile = corefile
	cfg.Rules.Packs = []string{"builtin"}
	cfg.HTTP.Listen = freePort(t)
	cfg.Privacy.Pseudonymize = false
	cfg.Hitlog.URL = serverStoreURL(t)
	cfg.Hitlog.SpoolDir = t.TempDir()
	cfg.Hitlog.BatchInterval = config.Duration(50 * time.Millisecond)
	cfg.State.Path = filepath.Join(t.TempDir(), "state.db")
	var stdout, stderr syncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serve(ctx, cfg, &stdout, &stderr) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v\n%s", err, stderr.String())
		}
	}()
	query := func(name string) *dns.Msg {
		m := new(dns.Msg)
		m.SetQuestion(dns.Fqdn(name), dns.TypeA)
		c := &dns.Client{Timeout: time.Second}
		for i := 0; i < 50; i++ {
			r, _, err := c.Exchange(m, dnsAddr)
			if err == nil {
				return r
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Fatalf("no DNS answer from %s\n%s", dnsAddr, stderr.String())
		return nil
	}
	if r := query("login-verify.example"); r.Rcode != dns.RcodeNameError {
		t.Errorf("blocked name: rcode %s", dns.RcodeToString[r.Rcode])
	}
	if r := query("www.example.com"); r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 {
		t.Errorf("allowed name: %v", r)
	}
	var hits []hitlog.Hit
	for deadline := time.Now().Add(10 * time.Second); len(hits) == 0 && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		hits = storedHits(t, cfg.Hitlog.URL, hitlog.Filter{Kind: "dns"})
	}
	if len(hits) != 1 || hits[0].Name != "login-verify.example" || hits[0].Pack != "phishing-example" || hits[0].Client != "127.0.0.1" {
		t.Errorf("stored DNS hits: %+v, want one for login-verify.example from 127.0.0.1", hits)
	}
	resp, err := http.Get("http://" + cfg.HTTP.Listen + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(b), "campusguard_dns_") || !strings.Contains(string(b), "campusguard_capture_packets_total") {
		t.Errorf("/metrics lacks DNS or capture metrics")
	}
}

// TestResolverReportsToServe: a standalone resolver (the plugin's report
// forwarder, as in cmd/coredns) sends its hits to serve's /api/v1/events
// with an ingest token, and they land in the hit store; a wrong token is
// refused.
func TestResolverReportsToServe(t *testing.T) {
	cfg := config.Default()
	cfg.Rules.Packs = []string{"builtin"}
	cfg.HTTP.Listen = freePort(t)
	cfg.Privacy.Pseudonymize = false
	cfg.Hitlog.URL = serverStoreURL(t)
	cfg.Hitlog.SpoolDir = t.TempDir()
	cfg.Hitlog.BatchInterval = config.Duration(50 * time.Millisecond)
	cfg.State.Path = filepath.Join(t.TempDir(), "state.db")
	db, err := state.Open(context.Background(), cfg.State.Path)
	if err != nil {
		t.Fatal(err)
	}
	secret, _, err := db.AddToken(context.Background(), "resolver-1", state.ScopeIngest)
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	tokenFile := filepath.Join(t.TempDir(), "token")
	os.WriteFile(tokenFile, []byte(secret+"\n"), 0o600)

	var stdout, stderr syncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serve(ctx, cfg, &stdout, &stderr) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v\n%s", err, stderr.String())
		}
	}()
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if resp, err := http.Get("http://" + cfg.HTTP.Listen + "/healthz"); err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve did not start\n%s", stderr.String())
		}
	}

	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dnsAddr := pc.LocalAddr().String()
	pc.Close()
	_, port, _ := net.SplitHostPort(dnsAddr)
	corefile := ".:" + port + " {\n\tbind 127.0.0.1\n\tcampusguard builtin {\n\t\tsensor resolver-1\n\t\treport http://" + cfg.HTTP.Listen +
		"/api/v1/events {\n\t\t\tflush 50ms\n\t\t\ttoken_file " + tokenFile + "\n\t\t}\n\t}\n\ttemplate IN A {\n\t\tanswer \"{{ .Name }} 60 IN A 192.0.2.1\"\n\t}\n}\n"
	inst, err := resolver.Start("Corefile", []byte(corefile))
	if err != nil {
		t.Fatalf("resolver: %v\n%s", err, corefile)
	}
	defer resolver.Stop(inst)
	m := new(dns.Msg)
	m.SetQuestion("login-verify.example.", dns.TypeA)
	if r, _, err := (&dns.Client{Timeout: 2 * time.Second}).Exchange(m, dnsAddr); err != nil || r.Rcode != dns.RcodeNameError {
		t.Fatalf("blocked name: %v %v", r, err)
	}
	var hits []hitlog.Hit
	for deadline := time.Now().Add(15 * time.Second); len(hits) == 0 && time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		hits = storedHits(t, cfg.Hitlog.URL, hitlog.Filter{Kind: "dns"})
	}
	if len(hits) != 1 || hits[0].Name != "login-verify.example" || hits[0].Sensor != "resolver-1" {
		t.Errorf("stored hits: %+v\n%s", hits, stderr.String())
	}

	// A forum posts through the same server with the same kind of token.
	preq, _ := http.NewRequest(http.MethodPost, "http://"+cfg.HTTP.Listen+"/api/v1/posts",
		strings.NewReader(`{"id":"t/1","forum":"bbs","author":"u1","title":"兼职","body":"快来刷单赚钱"}`))
	preq.Header.Set("Authorization", "Bearer "+secret)
	preq.Header.Set("Content-Type", "application/json")
	presp, err := http.DefaultClient.Do(preq)
	if err != nil {
		t.Fatal(err)
	}
	pbody, _ := io.ReadAll(presp.Body)
	presp.Body.Close()
	if presp.StatusCode != 200 || !strings.Contains(string(pbody), `"verdict":"hold"`) || !strings.Contains(string(pbody), "anti-fraud-example") {
		t.Errorf("POST /api/v1/posts: %d %s", presp.StatusCode, pbody)
	}
	var postHits []hitlog.Hit
	for deadline := time.Now().Add(15 * time.Second); len(postHits) == 0 && time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		postHits = storedHits(t, cfg.Hitlog.URL, hitlog.Filter{Kind: "post"})
	}
	if len(postHits) == 0 || postHits[0].Name != "bbs" {
		t.Errorf("post hits in the store: %+v", postHits)
	}

	req, _ := http.NewRequest(http.MethodPost, "http://"+cfg.HTTP.Listen+"/api/v1/events", strings.NewReader("{}"))
	req.Header.Set("Authorization", "Bearer cg_wrong")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("wrong token: %d", resp.StatusCode)
	}
}
