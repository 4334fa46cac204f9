// Package config loads campusguard's configuration: built-in defaults, one
// YAML file, CAMPUSGUARD_* environment overrides and validation, in that
// order. The file is read strictly: unknown keys, duplicate keys and values
// of the wrong type are errors that name the file, the line and the key, so
// an operator's typo never silently falls back to a default. Dump prints the
// effective configuration (`campusguard config dump`).
//
// The package knows nothing of the components that consume it. It holds
// plain values (paths, addresses, durations, switches) and checks only what
// can be checked without them: whether a rule pack parses, a Corefile is
// sound or ClickHouse answers is for the components to find out when they
// start. Alert policies are kept as opaque YAML data for the same reason.
package config

import (
	"errors"
	"io/fs"
	"os"
	"time"
)

// DefaultPath is where the CLI looks for a config file when neither
// --config nor CAMPUSGUARD_CONFIG names one.
const DefaultPath = "/etc/campusguard/campusguard.yaml"

// PathEnv names the variable the CLI reads the config path from. ApplyEnv
// ignores it, as it is not a config key.
const PathEnv = "CAMPUSGUARD_CONFIG"

// Config is the whole configuration. Every key has a default (see Default);
// the yaml tags are the keys of the file and, upper-cased and joined with
// "_", of the environment variables.
type Config struct {
	Sensor     Sensor     `yaml:"sensor"`
	Rules      Rules      `yaml:"rules"`
	Capture    Capture    `yaml:"capture"`
	DNS        DNS        `yaml:"dns"`
	Hitlog     Hitlog     `yaml:"hitlog"`
	State      State      `yaml:"state"`
	HTTP       HTTP       `yaml:"http"`
	Privacy    Privacy    `yaml:"privacy"`
	Moderation Moderation `yaml:"moderation"`
	Alerts     Alerts     `yaml:"alerts"`
	Firewall   Firewall   `yaml:"firewall"`
}

// Sensor identifies this node in events and in the shared hit store.
type Sensor struct {
	Name string `yaml:"name"`
}

// Rules says which rule packs to load and how to match them.
type Rules struct {
	Packs                   []string `yaml:"packs"`  // file paths or globs
	Reload                  Duration `yaml:"reload"` // 0: no reloading
	TraditionalToSimplified bool     `yaml:"traditional_to_simplified"`
	MaxHitsPerText          int      `yaml:"max_hits_per_text"`
}

// Capture says where packets come from.
type Capture struct {
	Interfaces []string `yaml:"interfaces"`
	Files      []string `yaml:"files"` // pcap or pcapng
	BPF        string   `yaml:"bpf"`
	Workers    int      `yaml:"workers"`
	// FlowMemoryMB caps each worker's flow table (tracked handshakes and
	// their buffered bytes); the least recently seen flows go first.
	FlowMemoryMB int      `yaml:"flow_memory_mb"`
	FlowIdle     Duration `yaml:"flow_idle"` // a flow not seen this long is forgotten
}

// DNS configures the embedded DNS server.
type DNS struct {
	Corefile string `yaml:"corefile"` // empty: no DNS server in this process
}

// Hitlog says where hits are stored.
type Hitlog struct {
	URL           string   `yaml:"url"`            // clickhouse://user:pass@host:9000/db or chdb:///dir
	BatchRows     int      `yaml:"batch_rows"`     // rows per INSERT
	BatchInterval Duration `yaml:"batch_interval"` // a batch goes out at least this often
	QueueRows     int      `yaml:"queue_rows"`     // rows held in memory before overflowing to the spool
	SpoolDir      string   `yaml:"spool_dir"`      // batches wait here while the store is down
	SpoolMaxMB    int      `yaml:"spool_max_mb"`   // cap on the spool's size on disk
	SpoolFull     string   `yaml:"spool_full"`     // drop_oldest or drop_newest when the spool is at its cap
	// RollupRetention keeps the hourly counts (no client addresses but in
	// clients_1h, which follows privacy.retention) longer than raw hits.
	RollupRetention Duration `yaml:"rollup_retention"`
	Cluster         bool     `yaml:"cluster"` // read the Distributed *_all tables of deploy/clickhouse/cluster.sql
}

// State says where the SQLite state database lives.
type State struct {
	Path string `yaml:"path"`
}

// HTTP configures the API and console listener.
type HTTP struct {
	Listen string `yaml:"listen"` // host:port
	// ExternalURL is where people reach the console (behind a proxy, say);
	// webhooks and syslog messages link to it. "" leaves links out.
	ExternalURL string `yaml:"external_url"`
}

// Privacy controls pseudonymization and how long hits are kept.
type Privacy struct {
	Pseudonymize bool     `yaml:"pseudonymize"`
	KeyFile      string   `yaml:"key_file"`
	Retention    Duration `yaml:"retention"`
}

// Moderation configures the review queue for forum posts.
type Moderation struct {
	ClaimTTL   Duration `yaml:"claim_ttl"`   // a claimed item returns to the queue after this long
	UndoWindow Duration `yaml:"undo_window"` // how long a decision can be taken back
	// WebhookURL receives each decision, signed with WebhookSecret
	// (X-Campusguard-Signature: sha256=HMAC(timestamp.body)); "" sends none.
	WebhookURL    string `yaml:"webhook_url"`
	WebhookSecret string `yaml:"webhook_secret"`
}

// Alerts configures the decision engine.
type Alerts struct {
	// Policies are kept as YAML data until the alerts package defines them.
	Policies  []map[string]any `yaml:"policies"`
	Allowlist []string         `yaml:"allowlist"`
	DryRun    bool             `yaml:"dry_run"`
	// Notify lists the webhook and syslog outputs (alerts/notify.Config),
	// kept as YAML data like the policies and decoded strictly by serve.
	Notify map[string]any `yaml:"notify"`
}

// Firewall configures the enforcement outputs.
type Firewall struct {
	NFTables NFTables `yaml:"nftables"`
	Feeds    Feeds    `yaml:"feeds"`
}

// NFTables configures the nftables sets.
type NFTables struct {
	Enabled bool   `yaml:"enabled"`
	Table   string `yaml:"table"`
}

// Feeds configures the plain-text lists served under /feeds/.
type Feeds struct {
	Enabled bool `yaml:"enabled"`
	// RequireToken asks firewalls for an API token of scope feeds (as a
	// Bearer header, a basic-auth password or ?token=); the lists name
	// blocked client addresses, so it is on by default.
	RequireToken bool `yaml:"require_token"`
	Wildcards    bool `yaml:"wildcards"` // list *.domain beside each domain
	// Caps bound each list; the least severe decisions are left out past
	// them. Set them to what your firewall model takes (Palo Alto EDL
	// 50k–150k per list by model, FortiGate 128k/300k).
	MaxIPs     int `yaml:"max_ips"`
	MaxDomains int `yaml:"max_domains"`
	MaxURLs    int `yaml:"max_urls"`
}

// Default returns the built-in configuration. The sensor is named after the
// host when the host name is a valid sensor name, so that defaults always
// validate.
func Default() Config {
	return Config{
		Sensor: Sensor{Name: defaultSensorName()},
		Rules: Rules{
			Packs:                   []string{"/etc/campusguard/rules/*.yaml"},
			Reload:                  Duration(30 * time.Second),
			TraditionalToSimplified: true,
			MaxHitsPerText:          256,
		},
		// Empty rather than nil lists, so that defaults, a parsed "[]" and
		// Dump all agree.
		Capture: Capture{Interfaces: []string{}, Files: []string{}, Workers: 2, FlowMemoryMB: 64, FlowIdle: Duration(time.Minute)},
		Hitlog: Hitlog{URL: "chdb:///var/lib/campusguard/hits", BatchRows: 50000, BatchInterval: Duration(5 * time.Second),
			QueueRows: 200000, SpoolDir: "/var/lib/campusguard/spool", SpoolMaxMB: 1024, SpoolFull: "drop_oldest",
			RollupRetention: Duration(400 * day)},
		State:      State{Path: "/var/lib/campusguard/state.db"},
		HTTP:       HTTP{Listen: "127.0.0.1:8080"},
		Privacy:    Privacy{Pseudonymize: true, KeyFile: "/var/lib/campusguard/pseudonym.key", Retention: Duration(90 * day)},
		Moderation: Moderation{ClaimTTL: Duration(10 * time.Minute), UndoWindow: Duration(2 * time.Minute)},
		Alerts:     Alerts{Policies: []map[string]any{}, Allowlist: []string{}, DryRun: true},
		Firewall: Firewall{NFTables: NFTables{Table: "campusguard"}, Feeds: Feeds{Enabled: true, RequireToken: true, Wildcards: true,
			MaxIPs: 50000, MaxDomains: 50000, MaxURLs: 50000}},
	}
}

func defaultSensorName() string {
	if h, err := os.Hostname(); err == nil && checkSensorName(h) == "" {
		return h
	}
	return "sensor-1"
}

// Resolve picks the config file: the --config flag wins, then
// CAMPUSGUARD_CONFIG, then DefaultPath if it exists. With none of them,
// useDefaults is true and the caller should run on built-in defaults, e.g.
// Parse("built-in defaults", nil, WithEnv(os.Environ())).
func Resolve(flagPath string) (path string, useDefaults bool) {
	return resolve(flagPath, os.Getenv, exists)
}

func resolve(flagPath string, getenv func(string) string, exists func(string) bool) (string, bool) {
	switch {
	case flagPath != "":
		return flagPath, false
	case getenv(PathEnv) != "":
		return getenv(PathEnv), false
	case exists(DefaultPath):
		return DefaultPath, false
	}
	return "", true
}

// exists reports false only when the file is known to be absent: a file we
// may not read should fail loudly in Load, not be replaced by defaults.
func exists(path string) bool {
	_, err := os.Stat(path)
	return !errors.Is(err, fs.ErrNotExist)
}
