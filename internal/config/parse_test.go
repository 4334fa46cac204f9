package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// full sets every key to something other than its default.
const full = `# every key, none at its default
sensor:
  name: core-1
rules:
  packs: [/srv/rules/a.yaml, "/srv/rules/*.yml"]
  reload: 1m
  traditional_to_simplified: false
  max_hits_per_text: 10
capture:
  interfaces: [eth0, eth1]
  files: [/tmp/a.pcap]
  bpf: "udp port 53 or tcp port 443"
  workers: 8
  flow_memory_mb: 128
  flow_idle: 2m
dns:
  corefile: /etc/campusguard/Corefile
hitlog:
  url: clickhouse://cg:secret@ch1:9000/campusguard
  batch_rows: 20000
  batch_interval: 2s
  queue_rows: 100000
  spool_dir: /srv/spool
  spool_max_mb: 256
  spool_full: drop_newest
  rollup_retention: 30d
  cluster: true
state:
  path: /srv/state.db
http:
  listen: ":9090"
  external_url: https://guard.example.edu/
privacy:
  pseudonymize: false
  key_file: /srv/pseudonym.key
  retention: 1w2d
moderation:
  claim_ttl: 15m
  undo_window: 5m
  webhook_url: https://bbs.example.edu/hooks/campusguard
  webhook_secret: 0123456789abcdef
alerts:
  policies:
    - name: block-phishing
      match: {category: phishing, severity: [high]}
      threshold: 1.5
      then: block
  allowlist: [10.0.0.0/8, example.edu]
  dry_run: false
  notify:
    webhooks: [{name: noc, url: "https://noc.example.edu/hook"}]
firewall:
  nftables: {enabled: true, table: cg}
  feeds: {enabled: false, require_token: false, wildcards: false, max_ips: 150000, max_domains: 100000, max_urls: 300000}
`

func fullConfig() Config {
	return Config{
		Sensor: Sensor{Name: "core-1"},
		Rules: Rules{
			Packs:          []string{"/srv/rules/a.yaml", "/srv/rules/*.yml"},
			Reload:         Duration(time.Minute),
			MaxHitsPerText: 10,
		},
		Capture: Capture{
			Interfaces:   []string{"eth0", "eth1"},
			Files:        []string{"/tmp/a.pcap"},
			BPF:          "udp port 53 or tcp port 443",
			Workers:      8,
			FlowMemoryMB: 128,
			FlowIdle:     Duration(2 * time.Minute),
		},
		DNS: DNS{Corefile: "/etc/campusguard/Corefile"},
		Hitlog: Hitlog{URL: "clickhouse://cg:secret@ch1:9000/campusguard", BatchRows: 20000, BatchInterval: Duration(2 * time.Second),
			QueueRows: 100000, SpoolDir: "/srv/spool", SpoolMaxMB: 256, SpoolFull: "drop_newest", RollupRetention: Duration(30 * 24 * time.Hour), Cluster: true},
		State:   State{Path: "/srv/state.db"},
		HTTP:    HTTP{Listen: ":9090", ExternalURL: "https://guard.example.edu/"},
		Privacy: Privacy{KeyFile: "/srv/pseudonym.key", Retention: Duration(9 * 24 * time.Hour)},
		Moderation: Moderation{ClaimTTL: Duration(15 * time.Minute), UndoWindow: Duration(5 * time.Minute), WebhookURL: "https://bbs.example.edu/hooks/campusguard",
			WebhookSecret: "0123456789abcdef"},
		Alerts: Alerts{
			Policies: []map[string]any{{
				"name":      "block-phishing",
				"match":     map[string]any{"category": "phishing", "severity": []any{"high"}},
				"threshold": 1.5,
				"then":      "block",
			}},
			Allowlist: []string{"10.0.0.0/8", "example.edu"},
			Notify:    map[string]any{"webhooks": []any{map[string]any{"name": "noc", "url": "https://noc.example.edu/hook"}}},
		},
		Firewall: Firewall{NFTables: NFTables{Enabled: true, Table: "cg"}, Feeds: Feeds{MaxIPs: 150000, MaxDomains: 100000, MaxURLs: 300000}},
	}
}

func TestParseEveryField(t *testing.T) {
	got, err := Parse("campusguard.yaml", []byte(full))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if diff := cmp.Diff(fullConfig(), got, equal...); diff != "" {
		t.Errorf("Parse mismatch (-want +got):\n%s", diff)
	}
}

func TestParseKeepsDefaults(t *testing.T) {
	tests := []struct{ name, in string }{
		{"empty file", ""},
		{"only comments", "# nothing here\n\n# still nothing\n"},
		{"empty document", "---\n"},
		{"explicit document end", "---\n...\n"},
		{"null document", "~\n"},
		{"empty sections", "sensor:\nrules:\ncapture: ~\n"},
		{"null keys", "rules:\n  reload:\n  packs: null\n"},
		{"UTF-8 byte order mark", "\ufeff# bom\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse("campusguard.yaml", []byte(tt.in))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if diff := cmp.Diff(Default(), got, equal...); diff != "" {
				t.Errorf("Parse mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseAcceptsYAMLForms(t *testing.T) {
	tests := []struct {
		name, in string
		want     func(*Config)
	}{
		{"flow style", "capture: {workers: 4, interfaces: [eth0]}", func(c *Config) {
			c.Capture.Workers = 4
			c.Capture.Interfaces = []string{"eth0"}
		}},
		{"YAML 1.1 booleans", "firewall: {nftables: {enabled: yes}, feeds: {enabled: off}}", func(c *Config) {
			c.Firewall.NFTables.Enabled = true
			c.Firewall.Feeds.Enabled = false
		}},
		{"hex integer", "capture: {workers: 0x10}", func(c *Config) { c.Capture.Workers = 16 }},
		{"reload off", "rules: {reload: 0}", func(c *Config) { c.Rules.Reload = 0 }},
		{"quoted duration", `privacy: {retention: "36h"}`, func(c *Config) { c.Privacy.Retention = Duration(36 * time.Hour) }},
		{"empty list", "rules: {packs: []}", func(c *Config) { c.Rules.Packs = []string{} }},
		{"aliases", "capture: {interfaces: &ifs [eth0]}\nalerts: {allowlist: *ifs}", func(c *Config) {
			c.Capture.Interfaces = []string{"eth0"}
			c.Alerts.Allowlist = []string{"eth0"}
		}},
		{"BOM", "\ufeffcapture: {workers: 3}", func(c *Config) { c.Capture.Workers = 3 }},
		{"number as string", "sensor: {name: 1234}", func(c *Config) { c.Sensor.Name = "1234" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse("campusguard.yaml", []byte(tt.in))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			want := Default()
			tt.want(&want)
			if diff := cmp.Diff(want, got, equal...); diff != "" {
				t.Errorf("Parse mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []string // every line of the error, in order
	}{
		{
			name: "unknown top-level key",
			in:   "sensor: {name: a}\nsenser: {name: b}\n",
			want: []string{`campusguard.yaml:2: unknown key "senser" (did you mean "sensor"?)`},
		},
		{
			name: "unknown nested key",
			in:   "sensor:\n  name: a\n\n# capture\ncapture:\n  workers: 2\n  intrefaces: [eth0]\n",
			want: []string{`campusguard.yaml:7: unknown key "intrefaces" in capture (did you mean "interfaces"?)`},
		},
		{
			name: "unknown deeply nested key without a close match",
			in:   "firewall:\n  nftables:\n    chain: input\n",
			want: []string{`campusguard.yaml:3: unknown key "chain" in firewall.nftables`},
		},
		{
			name: "bad duration",
			in:   "rules:\n  packs: []\n  reload: abc\n",
			want: []string{`campusguard.yaml:3: rules.reload: invalid duration "abc" (want a number and a unit: ns, us, ms, s, m, h, d or w, e.g. 30s, 1h30m, 90d)`},
		},
		{
			name: "bare number as duration",
			in:   "privacy: {retention: 90}\n",
			want: []string{`campusguard.yaml:1: privacy.retention: invalid duration "90" (want a number and a unit: ns, us, ms, s, m, h, d or w, e.g. 30s, 1h30m, 90d)`},
		},
		{
			name: "type errors",
			in: "capture:\n  workers: two\n  interfaces: eth0\n  files: [a, [b]]\n" +
				"alerts:\n  dry_run: maybe\n  policies: [1]\n" +
				"sensor: [a]\nrules: {max_hits_per_text: 99999999999999999999}\n",
			want: []string{
				`campusguard.yaml:2: capture.workers: want an integer, got "two"`,
				`campusguard.yaml:3: capture.interfaces: want a list of strings, got "eth0"`,
				`campusguard.yaml:4: capture.files[1]: want a string, got a list`,
				`campusguard.yaml:6: alerts.dry_run: want true or false, got "maybe"`,
				`campusguard.yaml:7: alerts.policies[0]: want a mapping, got "1"`,
				`campusguard.yaml:8: sensor: want a mapping of keys (name), got a list`,
				`campusguard.yaml:9: rules.max_hits_per_text: want an integer, got "99999999999999999999"`,
			},
		},
		{
			name: "type error inside a policy",
			in:   "alerts:\n  policies:\n    - {name: a}\n    - {[x]: b}\n",
			want: []string{`campusguard.yaml:4: alerts.policies[1]: want a plain key, got a list`},
		},
		{
			name: "validation errors with lines",
			in: "sensor: {name: \"core 1\"}\nrules:\n  reload: 10ms\n  max_hits_per_text: 0\n" +
				"capture: {workers: 300, interfaces: [eth0, \"\"]}\nhitlog: {url: \"http://x\"}\n" +
				"http: {listen: \"localhost\"}\nprivacy: {retention: 30m}\n",
			want: []string{
				`campusguard.yaml:1: sensor.name: must not contain whitespace, got "core 1"`,
				`campusguard.yaml:3: rules.reload: must be 0 (no reloading) or at least 1s, got 10ms`,
				`campusguard.yaml:4: rules.max_hits_per_text: must be between 1 and 100000, got 0`,
				`campusguard.yaml:5: capture.interfaces[1]: must not be empty`,
				`campusguard.yaml:5: capture.workers: must be between 1 and 256, got 300`,
				`campusguard.yaml:6: hitlog.url: want clickhouse://user:pass@host:9000/db or chdb:///path/to/dir, got "http://x"`,
				`campusguard.yaml:7: http.listen: want host:port such as 127.0.0.1:8080 or :8080, got "localhost"`,
				`campusguard.yaml:8: privacy.retention: must be at least 1h, got 30m`,
			},
		},
		{
			name: "problems in line order, then those the file does not set",
			in:   "privacy:\n  pseudonymize: true\n  key_file: \"\"\ncapture: {workers: 0, bogus: 1}\n",
			want: []string{
				`campusguard.yaml:3: privacy.key_file: must not be empty when privacy.pseudonymize is true`,
				`campusguard.yaml:4: unknown key "bogus" in capture`,
				`campusguard.yaml:4: capture.workers: must be between 1 and 256, got 0`,
			},
		},
		{
			name: "duplicate key",
			in:   "capture:\n  workers: 2\n  workers: 3\n",
			want: []string{`campusguard.yaml:3: capture.workers: duplicate key (first at line 2)`},
		},
		{
			name: "duplicate section",
			in:   "http: {listen: \":1\"}\nhttp: {listen: \":2\"}\n",
			want: []string{`campusguard.yaml:2: http: duplicate key (first at line 1)`},
		},
		{
			name: "top level not a mapping",
			in:   "- sensor\n",
			want: []string{`campusguard.yaml:1: want a mapping of keys (sensor, rules, capture, dns, hitlog, state, http, privacy, moderation, alerts, firewall), got a list`},
		},
		{
			name: "multiple documents",
			in:   "sensor: {name: a}\n---\nsensor: {name: b}\n",
			want: []string{`campusguard.yaml:2: a second YAML document starts here; a config file holds one`},
		},
		{
			name: "syntax error in a later document",
			in:   "sensor: {name: a}\n---\n[\n",
			want: []string{`campusguard.yaml:3: did not find expected node content`},
		},
		{
			name: "tab indentation",
			in:   "capture:\n\tworkers: 2\n",
			want: []string{`campusguard.yaml:2: found character that cannot start any token (YAML does not allow tabs for indentation)`},
		},
		{
			name: "merge key",
			in:   "capture:\n  <<: {workers: 3}\n",
			want: []string{`campusguard.yaml:2: capture: merge keys (<<) are not supported here`},
		},
		{
			name: "alias cycle",
			in:   "alerts: {policies: &p [{a: *p}]}\n",
			want: []string{`campusguard.yaml:1: alias *p refers to a node that contains it`},
		},
		{
			name: "duplicate keys in a policy",
			in:   "alerts:\n  policies:\n    - {a: 1, b: {c: 1, c: 2}, a: 3, a: 4}\n",
			want: []string{
				`campusguard.yaml:3: alerts.policies[0]: duplicate key "a" (first at line 3)`,
				`campusguard.yaml:3: alerts.policies[0]: duplicate key "a" (first at line 3)`,
				`campusguard.yaml:3: alerts.policies[0]: duplicate key "c" (first at line 3)`,
			},
		},
		{
			name: "mapping as a key in a policy",
			in:   "alerts:\n  policies:\n    - {<<, {}}\n",
			want: []string{`campusguard.yaml:3: alerts.policies[0]: want a plain key, got a mapping`},
		},
		{
			name: "huge mapping in a policy",
			in:   "alerts: {policies: [{" + strings.Repeat("k: 1, ", 1001) + "}]}",
			want: []string{`campusguard.yaml:1: alerts.policies[0]: a mapping with more than 1000 keys`},
		},
		{
			name: "too many nodes",
			in:   "alerts: {allowlist: [" + strings.Repeat("a, ", 100000) + "]}",
			want: []string{`campusguard.yaml:1: the document has more than 100000 values and keys; is this a config file?`},
		},
		{
			name: "too deep",
			in:   "alerts: {policies: [{a: " + strings.Repeat("[", 100) + strings.Repeat("]", 100) + "}]}",
			want: []string{`campusguard.yaml:1: the document nests deeper than 100 levels; is this a config file?`},
		},
		{
			name: "alias bomb",
			in:   aliasBomb(9),
			want: []string{`campusguard.yaml:1: aliases expand the document by more than 10000 nodes`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("campusguard.yaml", []byte(tt.in))
			if err == nil {
				t.Fatal("Parse succeeded; want an error")
			}
			if diff := cmp.Diff(tt.want, strings.Split(err.Error(), "\n")); diff != "" {
				t.Errorf("error mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// aliasBomb is a "billion laughs" document whose aliases expand to 10^levels
// strings.
func aliasBomb(levels int) string {
	var b strings.Builder
	b.WriteString("alerts:\n  policies:\n    - l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n")
	for i := 1; i <= levels; i++ {
		ref := strings.Repeat(fmtAlias(i-1)+", ", 9) + fmtAlias(i-1)
		b.WriteString("      l" + itoa(i) + ": &l" + itoa(i) + " [" + ref + "]\n")
	}
	return b.String()
}

func fmtAlias(i int) string { return "*l" + itoa(i) }
func itoa(i int) string     { return string(rune('0' + i)) }

func TestParseTooManyProblems(t *testing.T) {
	in := strings.Repeat("x: 1\n", 60)
	_, err := Parse("campusguard.yaml", []byte(in))
	if err == nil {
		t.Fatal("Parse succeeded; want errors")
	}
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != 51 || lines[50] != "campusguard.yaml: 10 more problems not shown" {
		t.Errorf("got %d lines ending in %q; want 50 problems and a count of the rest", len(lines), lines[len(lines)-1])
	}
}

func TestParseTooLarge(t *testing.T) {
	data := []byte("# " + strings.Repeat("x", maxSize) + "\n")
	_, err := Parse("big.yaml", data)
	if err == nil || !strings.HasPrefix(err.Error(), "big.yaml: larger than 1048576 bytes") {
		t.Errorf("Parse of %d bytes: error = %v", len(data), err)
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "campusguard.yaml")
	if err := os.WriteFile(path, []byte(full), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := Load(path)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if diff := cmp.Diff(fullConfig(), got, equal...); diff != "" {
		t.Errorf("Load mismatch (-want +got):\n%s", diff)
	}

	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("capture:\n  workers: x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(bad); err == nil || !strings.HasPrefix(err.Error(), bad+":2: capture.workers:") {
		t.Errorf("Load(bad) error = %v; want it to start with the path and line", err)
	}
}

func TestLoadMissingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nope.yaml")
	_, err := Load(path)
	if err == nil || !strings.Contains(err.Error(), path) || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Load(%q) error = %v; want a not-exist error naming the path", path, err)
	}
}
