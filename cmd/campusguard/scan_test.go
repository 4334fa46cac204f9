package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/campusguard/campusguard/capture/pcapgen"
	"github.com/campusguard/campusguard/internal/event"
)

func writePcap(t *testing.T, cfg pcapgen.Config) (string, []pcapgen.Truth) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "c.pcap")
	truth, err := pcapgen.WriteFile(path, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return path, truth
}

func decodeEvents(t *testing.T, out string) []event.Event {
	t.Helper()
	var evs []event.Event
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if line == "" {
			continue
		}
		var ev event.Event
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatalf("%v: %s", err, line)
		}
		evs = append(evs, ev)
	}
	return evs
}

// TestScanEventsAndHits: --events prints every extracted event in frame
// order across several files; without it only hits; the summary counts.
func TestScanEventsAndHits(t *testing.T) {
	a, truthA := writePcap(t, pcapgen.Config{Seed: 1, Packets: 1500, NoQUIC: true})
	b, truthB := writePcap(t, pcapgen.Config{Seed: 2, Packets: 1500, NoQUIC: true})
	code, out, errOut := runCLI(t, "", "scan", "--rules", "builtin", "--events", "--pseudonymize=off", a, b)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	evs := decodeEvents(t, out)
	if len(evs) != len(truthA)+len(truthB) {
		t.Fatalf("%d events, the files hold %d", len(evs), len(truthA)+len(truthB))
	}
	for i, tr := range truthA {
		if evs[i].Frame != tr.Frame || evs[i].Name != tr.Name || evs[i].Kind.String() != tr.Kind {
			t.Fatalf("event %d = frame %d %s %s, want %+v", i, evs[i].Frame, evs[i].Kind, evs[i].Name, tr)
		}
	}
	if !strings.Contains(errOut, "2 files: 3") || !strings.Contains(errOut, "decode errors 0") {
		t.Errorf("summary: %s", errOut)
	}

	code, out, _ = runCLI(t, "", "scan", "--rules", "builtin:malware-example", "--pseudonymize=off", "--fail-on-hit", a)
	if code != exitFindings {
		t.Errorf("--fail-on-hit with hits: exit %d", code)
	}
	for _, ev := range decodeEvents(t, out) {
		if len(ev.Hits) == 0 || ev.Hits[0].Pack != "malware-example" {
			t.Fatalf("event without a malware hit printed: %+v", ev)
		}
	}
}

func TestScanTableAndPseudonyms(t *testing.T) {
	a, _ := writePcap(t, pcapgen.Config{Seed: 3, Packets: 1500, NoQUIC: true})
	key := filepath.Join(t.TempDir(), "sub", "key")
	t.Setenv("CAMPUSGUARD_PRIVACY_KEY_FILE", key)
	code, out, errOut := runCLI(t, "", "scan", "--rules", "builtin", "--format", "table", a)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if !strings.Contains(out, "WHERE") || !strings.Contains(out, "⟦") || !strings.Contains(out, " anon-") {
		t.Errorf("table:\n%s", out)
	}
	if strings.Contains(out, " 10.") {
		t.Errorf("a client address leaked past pseudonymization:\n%s", out)
	}
	if fi, err := os.Stat(key); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("key file not created 0600: %v %v", fi, err)
	}
}

func TestScanErrors(t *testing.T) {
	dir := t.TempDir()
	junk := filepath.Join(dir, "junk.pcap")
	if err := os.WriteFile(junk, []byte("this is not a capture"), 0o600); err != nil {
		t.Fatal(err)
	}
	good, _ := writePcap(t, pcapgen.Config{Seed: 4, Packets: 200, NoQUIC: true})
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"scan"}, "no capture files"},
		{[]string{"scan", "--pseudonymize=off", filepath.Join(dir, "missing.pcap")}, "no such file"},
		{[]string{"scan", "--pseudonymize=off", junk, good}, "junk.pcap: not a pcap or pcapng"},
		{[]string{"scan", "--hitlog", "mysql://x/y", good}, `hit store URL scheme "mysql" is not supported`},
		{[]string{"scan", "--hitlog", "clickhouse://u:p@127.0.0.1:1/db?dial_timeout=1s", good}, "connection refused"},
		{[]string{"scan", "--pseudonymize=maybe", good}, "want on, off or config"},
		{[]string{"scan", "--format", "xml", good}, "unknown format"},
	}
	for _, c := range cases {
		code, _, errOut := runCLI(t, "", c.args...)
		if code != exitUsage || !strings.Contains(errOut, c.want) {
			t.Errorf("%v: exit %d, stderr %q (want %q)", c.args, code, errOut, c.want)
		}
	}
	// The readable file is still scanned when another one is not.
	_, _, errOut := runCLI(t, "", "scan", "--pseudonymize=off", junk, good)
	if !strings.Contains(errOut, "2 files: 2") || !strings.Contains(errOut, "1 of 2 files could not be read") {
		t.Errorf("summary missing: %s", errOut)
	}
}
