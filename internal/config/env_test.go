package config

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestApplyEnv(t *testing.T) {
	environ := []string{
		"PATH=/usr/bin",
		"CAMPUSGUARD_CONFIG=/etc/other.yaml", // the CLI's, not a key
		"CAMPUSGUARD_CACHE=/var/cache/cg",    // scripts' and the chDB loader's, not a key
		"CAMPUSGUARD_TEST_REQUIRE_SERVERS=1", // the test harness's, not a key
		"CAMPUSGUARD_SENSOR_NAME=edge-2",
		"CAMPUSGUARD_RULES_PACKS=/a.yaml, /b/*.yaml,",
		"CAMPUSGUARD_RULES_RELOAD=2m",
		"CAMPUSGUARD_RULES_TRADITIONAL_TO_SIMPLIFIED=false",
		"CAMPUSGUARD_RULES_MAX_HITS_PER_TEXT=16",
		"CAMPUSGUARD_CAPTURE_INTERFACES=eth0",
		"CAMPUSGUARD_CAPTURE_WORKERS=4",
		"CAMPUSGUARD_CAPTURE_BPF=udp port 53",
		"CAMPUSGUARD_HTTP_LISTEN=0.0.0.0:80",
		"CAMPUSGUARD_PRIVACY_KEY_FILE=/k",
		"CAMPUSGUARD_PRIVACY_RETENTION=30d",
		"CAMPUSGUARD_ALERTS_ALLOWLIST=",
		"CAMPUSGUARD_ALERTS_DRY_RUN=0",
		"CAMPUSGUARD_FIREWALL_NFTABLES_ENABLED=true",
		"CAMPUSGUARD_FIREWALL_FEEDS_ENABLED=false",
		"CAMPUSGUARD_CAPTURE_WORKERS=6", // the last one wins
	}
	got := Default()
	got.Alerts.Allowlist = []string{"x"}
	if err := got.ApplyEnv(environ); err != nil {
		t.Fatalf("ApplyEnv: %v", err)
	}
	want := Default()
	want.Sensor.Name = "edge-2"
	want.Rules.Packs = []string{"/a.yaml", "/b/*.yaml"}
	want.Rules.Reload = Duration(2 * time.Minute)
	want.Rules.TraditionalToSimplified = false
	want.Rules.MaxHitsPerText = 16
	want.Capture.Interfaces = []string{"eth0"}
	want.Capture.Workers = 6
	want.Capture.BPF = "udp port 53"
	want.HTTP.Listen = "0.0.0.0:80"
	want.Privacy.KeyFile = "/k"
	want.Privacy.Retention = Duration(30 * 24 * time.Hour)
	want.Alerts.Allowlist = []string{}
	want.Alerts.DryRun = false
	want.Firewall.NFTables.Enabled = true
	want.Firewall.Feeds.Enabled = false
	if diff := cmp.Diff(want, got, equal...); diff != "" {
		t.Errorf("ApplyEnv mismatch (-want +got):\n%s", diff)
	}
}

func TestApplyEnvErrors(t *testing.T) {
	environ := []string{
		"CAMPUSGUARD_HTTP_LISTN=:80",
		"CAMPUSGUARD_CAPTURE_WORKERS=many",
		"CAMPUSGUARD_ALERTS_DRY_RUN=perhaps",
		"CAMPUSGUARD_RULES_RELOAD=soon",
		"CAMPUSGUARD_ALERTS_POLICIES=[]",
		"CAMPUSGUARD_FIREWALL=1",
		"CAMPUSGUARD_RULES_MAX_HITS_PER_TEXT=99999999999999999999",
	}
	want := []string{
		`CAMPUSGUARD_HTTP_LISTN: no such config key (did you mean CAMPUSGUARD_HTTP_LISTEN?)`,
		`CAMPUSGUARD_CAPTURE_WORKERS: capture.workers: want an integer, got "many"`,
		`CAMPUSGUARD_ALERTS_DRY_RUN: alerts.dry_run: want true or false, got "perhaps"`,
		`CAMPUSGUARD_RULES_RELOAD: rules.reload: invalid duration "soon" (want a number and a unit: ns, us, ms, s, m, h, d or w, e.g. 30s, 1h30m, 90d)`,
		`CAMPUSGUARD_ALERTS_POLICIES: alerts.policies: cannot be set from the environment; use the config file`,
		`CAMPUSGUARD_FIREWALL: no such config key`,
		`CAMPUSGUARD_RULES_MAX_HITS_PER_TEXT: rules.max_hits_per_text: want an integer, got "99999999999999999999"`,
	}
	c := Default()
	err := c.ApplyEnv(environ)
	if err == nil {
		t.Fatal("ApplyEnv succeeded; want errors")
	}
	if diff := cmp.Diff(want, strings.Split(err.Error(), "\n")); diff != "" {
		t.Errorf("error mismatch (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(Default(), c, equal...); diff != "" {
		t.Errorf("bad variables changed the config (-want +got):\n%s", diff)
	}
}

// The names are derived from the yaml tags; this pins them, as operators
// put them in unit files.
func TestEnvVarNames(t *testing.T) {
	want := []string{
		"CAMPUSGUARD_ALERTS_ALLOWLIST",
		"CAMPUSGUARD_ALERTS_DRY_RUN",
		"CAMPUSGUARD_ALERTS_NOTIFY",
		"CAMPUSGUARD_ALERTS_POLICIES",
		"CAMPUSGUARD_CAPTURE_BPF",
		"CAMPUSGUARD_CAPTURE_FILES",
		"CAMPUSGUARD_CAPTURE_FLOW_IDLE",
		"CAMPUSGUARD_CAPTURE_FLOW_MEMORY_MB",
		"CAMPUSGUARD_CAPTURE_INTERFACES",
		"CAMPUSGUARD_CAPTURE_WORKERS",
		"CAMPUSGUARD_DNS_COREFILE",
		"CAMPUSGUARD_FIREWALL_FEEDS_ENABLED",
		"CAMPUSGUARD_FIREWALL_FEEDS_MAX_DOMAINS",
		"CAMPUSGUARD_FIREWALL_FEEDS_MAX_IPS",
		"CAMPUSGUARD_FIREWALL_FEEDS_MAX_URLS",
		"CAMPUSGUARD_FIREWALL_FEEDS_REQUIRE_TOKEN",
		"CAMPUSGUARD_FIREWALL_FEEDS_WILDCARDS",
		"CAMPUSGUARD_FIREWALL_NFTABLES_ENABLED",
		"CAMPUSGUARD_FIREWALL_NFTABLES_TABLE",
		"CAMPUSGUARD_HITLOG_BATCH_INTERVAL",
		"CAMPUSGUARD_HITLOG_BATCH_ROWS",
		"CAMPUSGUARD_HITLOG_CLUSTER",
		"CAMPUSGUARD_HITLOG_QUEUE_ROWS",
		"CAMPUSGUARD_HITLOG_ROLLUP_RETENTION",
		"CAMPUSGUARD_HITLOG_SPOOL_DIR",
		"CAMPUSGUARD_HITLOG_SPOOL_FULL",
		"CAMPUSGUARD_HITLOG_SPOOL_MAX_MB",
		"CAMPUSGUARD_HITLOG_URL",
		"CAMPUSGUARD_HTTP_EXTERNAL_URL",
		"CAMPUSGUARD_HTTP_LISTEN",
		"CAMPUSGUARD_MODERATION_CLAIM_TTL",
		"CAMPUSGUARD_MODERATION_UNDO_WINDOW",
		"CAMPUSGUARD_MODERATION_WEBHOOK_SECRET",
		"CAMPUSGUARD_MODERATION_WEBHOOK_URL",
		"CAMPUSGUARD_PRIVACY_KEY_FILE",
		"CAMPUSGUARD_PRIVACY_PSEUDONYMIZE",
		"CAMPUSGUARD_PRIVACY_RETENTION",
		"CAMPUSGUARD_RULES_MAX_HITS_PER_TEXT",
		"CAMPUSGUARD_RULES_PACKS",
		"CAMPUSGUARD_RULES_RELOAD",
		"CAMPUSGUARD_RULES_TRADITIONAL_TO_SIMPLIFIED",
		"CAMPUSGUARD_SENSOR_NAME",
		"CAMPUSGUARD_STATE_PATH",
	}
	var got []string
	for name := range envVars() {
		got = append(got, name)
	}
	slices.Sort(got)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("variable names (-want +got):\n%s", diff)
	}
}

func TestParseWithEnv(t *testing.T) {
	in := "capture:\n  workers: 2\nhttp:\n  listen: \"127.0.0.1:8080\"\n"
	got, err := Parse("campusguard.yaml", []byte(in), WithEnv([]string{"CAMPUSGUARD_CAPTURE_WORKERS=12"}))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if got.Capture.Workers != 12 {
		t.Errorf("capture.workers = %d; want 12 from the environment", got.Capture.Workers)
	}

	// Validation runs after the environment, and blames the variable.
	_, err = Parse("campusguard.yaml", []byte(in), WithEnv([]string{
		"CAMPUSGUARD_HTTP_LISTEN=nowhere",
		"CAMPUSGUARD_CAPTURE_INTERFACES=eth0,,  ,eth1",
		"CAMPUSGUARD_NOPE=1",
	}))
	if err == nil {
		t.Fatal("Parse succeeded; want errors")
	}
	want := []string{
		`CAMPUSGUARD_NOPE: no such config key`,
		`CAMPUSGUARD_HTTP_LISTEN: http.listen: want host:port such as 127.0.0.1:8080 or :8080, got "nowhere"`,
	}
	if diff := cmp.Diff(want, strings.Split(err.Error(), "\n")); diff != "" {
		t.Errorf("error mismatch (-want +got):\n%s", diff)
	}

	// With no file at all: defaults plus the environment.
	got, err = Parse("built-in defaults", nil, WithEnv([]string{"CAMPUSGUARD_SENSOR_NAME=lab"}))
	if err != nil || got.Sensor.Name != "lab" {
		t.Errorf("Parse(defaults, env) = %q, %v; want sensor lab", got.Sensor.Name, err)
	}
}
