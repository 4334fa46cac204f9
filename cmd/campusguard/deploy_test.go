package main

import (
	"path/filepath"
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
