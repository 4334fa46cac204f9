package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/campusguard/campusguard/internal/event"
)

// runCLI runs the binary's entry point with args and stdin.
func runCLI(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	t.Setenv("CAMPUSGUARD_CONFIG", "") // built-in defaults unless a test passes --config
	var out, errOut bytes.Buffer
	code = run(args, strings.NewReader(stdin), &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestMatchHighlightsEvasions(t *testing.T) {
	code, out, errOut := runCLI(t, "快来刷\u200b单赚钱\n２０２２刷 单\n今天天气不错\n", "match", "--rules", "builtin", "--format", "table")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{"快来⟦刷\u200b单⟧赚钱", "２０２２⟦刷 单⟧", "anti-fraud-example"} {
		if !strings.Contains(out, want) {
			t.Errorf("table output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "天气") {
		t.Errorf("a line without hits was printed:\n%s", out)
	}
	if !strings.Contains(errOut, "3 lines, 2 with hits") {
		t.Errorf("summary missing: %s", errOut)
	}
}

func TestMatchNDJSON(t *testing.T) {
	code, out, errOut := runCLI(t, "hello\n我在刷单\n", "match", "--rules", "builtin:anti-fraud-example", "--all")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 {
		t.Fatalf("want 2 events with --all, got %q", out)
	}
	var ev event.Event
	if err := json.Unmarshal([]byte(lines[1]), &ev); err != nil {
		t.Fatal(err)
	}
	if ev.Kind != event.KindPost || ev.PostID != "2" || len(ev.Hits) != 1 {
		t.Fatalf("event: %+v", ev)
	}
	h := ev.Hits[0]
	if h.Pack != "anti-fraud-example" || ev.Text[h.Start:h.End] != "刷单" || h.Action != "hold" {
		t.Errorf("hit: %+v", h)
	}
}

func TestMatchFailOnHit(t *testing.T) {
	if code, _, _ := runCLI(t, "刷单\n", "match", "--rules", "builtin", "--fail-on-hit"); code != exitFindings {
		t.Errorf("exit %d, want %d", code, exitFindings)
	}
	if code, _, _ := runCLI(t, "hello\n", "match", "--rules", "builtin", "--fail-on-hit"); code != exitOK {
		t.Errorf("exit %d, want 0", code)
	}
}

func TestRulesCheck(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("p.yaml", "name: p\ncategory: phishing\nkeywords: [ok, \"!!!\"]\nfiles:\n  - {path: d.txt, format: domains}\n  - {path: r.txt, format: regex}\n")
	write("d.txt", "good.test\nbad domain\n1.2.3.4\n")
	write("r.txt", "(unclosed\nfine\\d+\n")
	write("broken.yaml", "name: broken\ncategory: spam\nkeywrods: [x]\n")
	code, out, _ := runCLI(t, "", "rules", "check", filepath.Join(dir, "*.yaml"))
	if code != exitUsage {
		t.Errorf("exit %d, want 2", code)
	}
	for _, want := range []string{
		filepath.Join(dir, "broken.yaml") + `:3: unknown key "keywrods"`,
		`d.txt:2: "bad domain" is not a domain name`,
		`d.txt:3: "1.2.3.4" is an IP address, not a domain`,
		`r.txt:1: regex "(unclosed": error parsing regexp: missing closing )`,
		filepath.Join(dir, "p.yaml") + `:3: keyword "!!!" has no letters or digits`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if n := strings.Count(strings.TrimSpace(out), "\n") + 1; n != 5 {
		t.Errorf("want 5 problem lines, got %d:\n%s", n, out)
	}
}

func TestRulesCheckBuiltinIsClean(t *testing.T) {
	code, out, errOut := runCLI(t, "", "rules", "check", "builtin")
	if code != 0 {
		t.Fatalf("exit %d:\n%s%s", code, out, errOut)
	}
	if !strings.Contains(errOut, "6 packs") {
		t.Errorf("summary: %s", errOut)
	}
}

func TestUsage(t *testing.T) {
	for _, cmd := range []string{"users", "tokens"} {
		code, out, errOut := runCLI(t, "", cmd)
		if code != exitUsage || out != "" || !strings.Contains(errOut, "usage: campusguard "+cmd+" add") {
			t.Errorf("%s: exit %d stdout %q stderr %q", cmd, code, out, errOut)
		}
	}
	if code, _, errOut := runCLI(t, "", "frobnicate"); code != exitUsage || !strings.Contains(errOut, `unknown command "frobnicate"`) {
		t.Errorf("unknown command: %d %s", code, errOut)
	}
	if code, _, _ := runCLI(t, "", "match", "--format", "xml"); code != exitUsage {
		t.Errorf("bad format: exit %d", code)
	}
	if code, _, _ := runCLI(t, "", "match", "--nope"); code != exitUsage {
		t.Errorf("bad flag: exit %d", code)
	}
	if code, out, _ := runCLI(t, "", "version"); code != 0 || !strings.HasPrefix(out, "campusguard ") {
		t.Errorf("version: %d %q", code, out)
	}
}

func TestConfigDump(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "c.yaml")
	if err := os.WriteFile(cfg, []byte("http:\n  listen: 127.0.0.1:9999\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("CAMPUSGUARD_SENSOR_NAME", "edge-7")
	var out, errOut bytes.Buffer
	if code := run([]string{"config", "dump", "--config", cfg}, nil, &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	for _, want := range []string{"listen: 127.0.0.1:9999", "name: edge-7", "reload: 30s"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("dump lacks %q:\n%s", want, out.String())
		}
	}
	if err := os.WriteFile(cfg, []byte("http:\n  lisen: x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	errOut.Reset()
	if code := run([]string{"config", "dump", "--config", cfg}, nil, &out, &errOut); code != exitUsage || !strings.Contains(errOut.String(), `c.yaml:2`) {
		t.Errorf("bad key: exit %d: %s", code, errOut.String())
	}
}
