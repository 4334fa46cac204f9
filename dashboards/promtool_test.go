package dashboards

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/campusguard/campusguard/internal/hitlog/chtest"
)

// promtool is Debian's (package prometheus, scripts/deps.sh). Missing, the
// tests skip, or fail under CAMPUSGUARD_TEST_REQUIRE_SERVERS=1.
func promtool(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("promtool")
	if err != nil {
		msg := "promtool not found (Debian package prometheus; run scripts/deps.sh)"
		if chtest.Required() {
			t.Fatalf("%s (%s=1, so this fails instead of skipping)", msg, chtest.RequireEnv)
		}
		t.Skip(msg)
	}
	return p
}

// TestPrometheusRulesCheck: `promtool check rules` accepts every rule file.
func TestPrometheusRulesCheck(t *testing.T) {
	bin := promtool(t)
	files, err := filepath.Glob("prometheus/*.yml")
	if err != nil {
		t.Fatal(err)
	}
	var rules []string
	for _, f := range files {
		if !strings.HasSuffix(f, ".test.yml") {
			rules = append(rules, f)
		}
	}
	if len(rules) == 0 {
		t.Fatal("no rule files in prometheus/")
	}
	out, err := exec.Command(bin, append([]string{"check", "rules"}, rules...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("promtool check rules: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "SUCCESS") {
		t.Errorf("promtool check rules printed no SUCCESS:\n%s", out)
	}
}

// TestPrometheusRulesUnit runs the rules' unit tests
// (prometheus/*.test.yml): alerts fire when and only when they should, with
// the labels and annotations operators will read.
func TestPrometheusRulesUnit(t *testing.T) {
	bin := promtool(t)
	tests, err := filepath.Glob("prometheus/*.test.yml")
	if err != nil {
		t.Fatal(err)
	}
	if len(tests) == 0 {
		t.Fatal("no prometheus/*.test.yml")
	}
	out, err := exec.Command(bin, append([]string{"test", "rules"}, tests...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("promtool test rules: %v\n%s", err, out)
	}
}

// TestPrometheusRulesUnitCanFail: a wrong expectation makes promtool fail,
// so the unit tests above are not vacuous.
func TestPrometheusRulesUnitCanFail(t *testing.T) {
	bin := promtool(t)
	dir := t.TempDir()
	copyFile(t, "prometheus/campusguard-rules.yml", filepath.Join(dir, "campusguard-rules.yml"))
	writeFile(t, filepath.Join(dir, "wrong.test.yml"), `rule_files: [campusguard-rules.yml]
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
      - series: 'campusguard_hitlog_store_up{instance="core-1:8080"}'
        values: '1x20'
    alert_rule_test:
      - eval_time: 10m
        alertname: CampusguardHitStoreDown
        exp_alerts:
          - exp_labels: {severity: critical, instance: "core-1:8080"}
`)
	cmd := exec.Command(bin, "test", "rules", "wrong.test.yml")
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "CampusguardHitStoreDown") {
		t.Errorf("promtool accepted an alert that cannot fire (store up all along): %v\n%s", err, out)
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, to, string(b))
}
