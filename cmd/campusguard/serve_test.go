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

	"github.com/campusguard/campusguard/capture/pcapgen"
	"github.com/campusguard/campusguard/internal/config"
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
// through the pipeline, writes hits as NDJSON, and exposes the capture and
// rule metrics, health and readiness on the configured listener.
func TestServeReplaysCaptureFiles(t *testing.T) {
	pcap, truth := writePcap(t, pcapgen.Config{Seed: 5, Packets: 3000, NoQUIC: true})
	cfg := config.Default()
	cfg.Capture.Files = []string{pcap}
	cfg.Rules.Packs = []string{"builtin"}
	cfg.HTTP.Listen = freePort(t)
	cfg.Privacy.KeyFile = filepath.Join(t.TempDir(), "key")
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
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	if len(lines) == 0 || len(lines) >= len(truth) || !strings.Contains(lines[0], `"hits":[`) || !strings.Contains(lines[0], `"src":"anon-`) {
		t.Errorf("%d hit events of %d events; first: %.200s", len(lines), len(truth), lines[0])
	}
	if _, err := os.Stat(cfg.Privacy.KeyFile); err != nil {
		t.Errorf("pseudonym key not created: %v", err)
	}
}
