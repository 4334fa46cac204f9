package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// Validate reports every invalid value, each as "key: problem". Load and
// Parse call it (and add where each value came from); call it yourself after
// changing a Config in code.
func (c Config) Validate() error {
	var errs []error
	for _, p := range c.check() {
		errs = append(errs, p)
	}
	return errors.Join(errs...)
}

// check returns the problems with their key paths but no source.
func (c Config) check() []*problem {
	var ps []*problem
	add := func(path, format string, args ...any) {
		ps = append(ps, &problem{path: path, msg: fmt.Sprintf(format, args...)})
	}
	if msg := checkSensorName(c.Sensor.Name); msg != "" {
		add("sensor.name", "%s", msg)
	}

	for i, p := range c.Rules.Packs {
		if _, err := filepath.Match(p, ""); p == "" || err != nil {
			add(fmt.Sprintf("rules.packs[%d]", i), "want a file path or glob pattern, got %q", p)
		}
	}
	if r := c.Rules.Reload; r != 0 && r < Duration(time.Second) {
		add("rules.reload", "must be 0 (no reloading) or at least 1s, got %s", r)
	}
	if n := c.Rules.MaxHitsPerText; n < 1 || n > 100000 {
		add("rules.max_hits_per_text", "must be between 1 and 100000, got %d", n)
	}

	noEmpty(add, "capture.interfaces", c.Capture.Interfaces)
	noEmpty(add, "capture.files", c.Capture.Files)
	if n := c.Capture.FlowMemoryMB; n < 1 || n > 1<<20 {
		add("capture.flow_memory_mb", "must be between 1 and %d, got %d", 1<<20, n)
	}
	if d := c.Capture.FlowIdle; d < Duration(time.Second) {
		add("capture.flow_idle", "must be at least 1s, got %s", d)
	}
	if n := c.Capture.Workers; n < 1 || n > 256 {
		add("capture.workers", "must be between 1 and 256, got %d", n)
	}

	if msg := checkHitlogURL(c.Hitlog.URL); msg != "" {
		add("hitlog.url", "%s", msg)
	}
	if n := c.Hitlog.BatchRows; n < 1 || n > 1_000_000 {
		add("hitlog.batch_rows", "must be between 1 and 1000000, got %d", n)
	}
	if d := c.Hitlog.BatchInterval; d < Duration(10*time.Millisecond) || d > Duration(time.Hour) {
		add("hitlog.batch_interval", "must be between 10ms and 1h, got %s", d)
	}
	if n := c.Hitlog.QueueRows; n < c.Hitlog.BatchRows || n > 100_000_000 {
		add("hitlog.queue_rows", "must be at least hitlog.batch_rows (%d) and at most 100000000, got %d", c.Hitlog.BatchRows, n)
	}
	if c.Hitlog.SpoolDir == "" {
		add("hitlog.spool_dir", "must not be empty: batches wait there while the hit store is down")
	}
	if n := c.Hitlog.SpoolMaxMB; n < 1 || n > 1<<24 {
		add("hitlog.spool_max_mb", "must be between 1 and %d, got %d", 1<<24, n)
	}
	if p := c.Hitlog.SpoolFull; p != "drop_oldest" && p != "drop_newest" {
		add("hitlog.spool_full", "want drop_oldest or drop_newest, got %q", p)
	}
	if d := c.Hitlog.RollupRetention; d != 0 && d < Duration(day) {
		add("hitlog.rollup_retention", "must be 0 (keep forever) or at least 1 day, got %s", d)
	}
	if c.State.Path == "" {
		add("state.path", "must not be empty")
	}
	if msg := checkListen(c.HTTP.Listen); msg != "" {
		add("http.listen", "%s", msg)
	}
	if e := c.HTTP.ExternalURL; e != "" {
		if u, err := url.Parse(e); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			add("http.external_url", "want an http:// or https:// URL, got %q", e)
		}
	}

	if c.Privacy.Pseudonymize && c.Privacy.KeyFile == "" {
		add("privacy.key_file", "must not be empty when privacy.pseudonymize is true")
	}
	if r := c.Privacy.Retention; r < Duration(time.Hour) {
		add("privacy.retention", "must be at least 1h, got %s", r)
	}

	if d := c.Moderation.ClaimTTL; d < Duration(time.Minute) || d > Duration(day) {
		add("moderation.claim_ttl", "must be between 1m and 1d, got %s", d)
	}
	if d := c.Moderation.UndoWindow; d < Duration(10*time.Second) || d > Duration(time.Hour) {
		add("moderation.undo_window", "must be between 10s and 1h, got %s", d)
	}
	if w := c.Moderation.WebhookURL; w != "" {
		if u, err := url.Parse(w); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			add("moderation.webhook_url", "want an http:// or https:// URL, got %q", w)
		}
		if len(c.Moderation.WebhookSecret) < 16 {
			add("moderation.webhook_secret", "must be at least 16 characters when moderation.webhook_url is set (forums check signatures with it)")
		}
	}

	noEmpty(add, "alerts.allowlist", c.Alerts.Allowlist)
	for _, f := range []struct {
		key string
		n   int
	}{{"max_ips", c.Firewall.Feeds.MaxIPs}, {"max_domains", c.Firewall.Feeds.MaxDomains}, {"max_urls", c.Firewall.Feeds.MaxURLs}} {
		if f.n < 1 || f.n > 10_000_000 {
			add("firewall.feeds."+f.key, "must be between 1 and 10000000, got %d", f.n)
		}
	}
	if c.Firewall.NFTables.Enabled && strings.TrimSpace(c.Firewall.NFTables.Table) == "" {
		add("firewall.nftables.table", "must not be empty when firewall.nftables.enabled is true")
	}
	return ps
}

func noEmpty(add func(string, string, ...any), path string, list []string) {
	for i, s := range list {
		if strings.TrimSpace(s) == "" {
			add(fmt.Sprintf("%s[%d]", path, i), "must not be empty")
		}
	}
}

// checkSensorName returns what is wrong with a sensor name, or "". The name
// goes into every event and the hit store, so keep it short and plain.
func checkSensorName(name string) string {
	switch {
	case name == "":
		return "must not be empty"
	case !utf8.ValidString(name):
		return fmt.Sprintf("must be valid UTF-8, got %q", name)
	case utf8.RuneCountInString(name) > 64:
		return fmt.Sprintf("must be at most 64 characters, got %d", utf8.RuneCountInString(name))
	case strings.ContainsFunc(name, unicode.IsSpace):
		return fmt.Sprintf("must not contain whitespace, got %q", name)
	case strings.ContainsFunc(name, func(r rune) bool { return !unicode.IsPrint(r) }):
		return fmt.Sprintf("must be printable, got %q", name)
	}
	return ""
}

func checkHitlogURL(s string) string {
	const want = "want clickhouse://user:pass@host:9000/db or chdb:///path/to/dir"
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Sprintf("%s, got %q", want, s)
	}
	switch u.Scheme {
	case "clickhouse":
		if u.Host == "" {
			return fmt.Sprintf("clickhouse URL needs a host, got %q", s)
		}
	case "chdb":
		if u.Path == "" {
			return fmt.Sprintf("chdb URL needs a directory (chdb:///path), got %q", s)
		}
	default:
		return fmt.Sprintf("%s, got %q", want, s)
	}
	return ""
}

func checkListen(s string) string {
	_, port, err := net.SplitHostPort(s)
	if err != nil {
		return fmt.Sprintf("want host:port such as 127.0.0.1:8080 or :8080, got %q", s)
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || port != strconv.FormatUint(n, 10) {
		return fmt.Sprintf("want a port number 0-65535, got %q in %q", port, s)
	}
	return ""
}

// locate adds where a problem's value came from: the environment variable
// that set it, else its line in the file, else just the file.
func locate(p *problem, file string, root *yaml.Node, fromEnv map[string]string) *problem {
	key, _, _ := strings.Cut(p.path, "[") // a list item comes from the list's variable
	if v, ok := fromEnv[key]; ok {
		p.source = v
		return p
	}
	p.source = file
	p.line = lineOf(root, p.path)
	return p
}

// lineOf finds the line of the key path ("rules.packs[1]") in the document,
// or 0 if the file does not set it.
func lineOf(root *yaml.Node, path string) int {
	n := root
	line := 0
	for seg := range strings.SplitSeq(path, ".") {
		key, index, hasIndex := strings.Cut(seg, "[")
		if n = mapValue(n, key, &line); n == nil {
			return 0
		}
		if hasIndex {
			i, err := strconv.Atoi(strings.TrimSuffix(index, "]"))
			n = resolveAlias(n)
			if err != nil || n.Kind != yaml.SequenceNode || i < 0 || i >= len(n.Content) {
				return 0
			}
			n = n.Content[i]
			line = n.Line
		}
	}
	return line
}

// mapValue returns the value of key in mapping n and sets line to the
// key's line. Like the decoder, it takes the first of duplicate keys.
func mapValue(n *yaml.Node, key string, line *int) *yaml.Node {
	if n == nil {
		return nil
	}
	n = resolveAlias(n)
	if n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if k := resolveAlias(n.Content[i]); k.Kind == yaml.ScalarNode && k.Value == key {
			*line = k.Line
			return n.Content[i+1]
		}
	}
	return nil
}
