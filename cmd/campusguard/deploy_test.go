package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/campusguard/campusguard/alerts"
	"github.com/campusguard/campusguard/internal/config"
)

// TestDeployConfigs: every shipped config loads, and its alert policies and
// allowlist parse, so a config example cannot drift from the code.
func TestDeployConfigs(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "..", "deploy", "config", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	files = append(files, filepath.Join("..", "..", "deploy", "demo", "campusguard.yaml"),
		filepath.Join("..", "..", "deploy", "compose", "campusguard.yaml"))
	n := 0
	for _, f := range files {
		cfg, err := config.Load(f)
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		n++
		if _, err := alerts.ParsePolicies(cfg.Alerts.Policies, cfg.Alerts.DryRun); err != nil {
			t.Errorf("%s: %v", f, err)
		}
		if _, err := alerts.ParseAllowlist(cfg.Alerts.Allowlist); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
	if n == 0 {
		t.Fatal("no config under deploy/")
	}
}

// TestSystemdUnits: the shipped units pass systemd-analyze verify (unknown
// directives, bad values), with ExecStart pointed at a binary that exists.
func TestSystemdUnits(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze not installed")
	}
	units, _ := filepath.Glob(filepath.Join("..", "..", "deploy", "systemd", "*.service"))
	if len(units) == 0 {
		t.Fatal("no units under deploy/systemd")
	}
	dir := t.TempDir()
	var args []string
	for _, u := range units {
		text, err := os.ReadFile(u)
		if err != nil {
			t.Fatal(err)
		}
		fixed := regexp.MustCompile(`/usr/local/bin/campusguard(-coredns)?\b`).ReplaceAll(text, []byte("/bin/true"))
		path := filepath.Join(dir, filepath.Base(u))
		if err := os.WriteFile(path, fixed, 0o644); err != nil {
			t.Fatal(err)
		}
		args = append(args, path)
	}
	out, err := exec.Command(analyze, append([]string{"verify"}, args...)...).CombinedOutput()
	if err != nil || len(out) > 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
}
