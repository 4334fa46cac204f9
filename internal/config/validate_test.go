package config

import (
	"strings"
	"testing"
	"time"
)

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		change func(*Config)
		want   string // "" for valid
	}{
		{"defaults", func(*Config) {}, ""},
		{"sensor name empty", func(c *Config) { c.Sensor.Name = "" }, "sensor.name: must not be empty"},
		{"sensor name 64 runes", func(c *Config) { c.Sensor.Name = strings.Repeat("节", 64) }, ""},
		{"sensor name too long", func(c *Config) { c.Sensor.Name = strings.Repeat("a", 65) }, "sensor.name: must be at most 64 characters, got 65"},
		{"sensor name with tab", func(c *Config) { c.Sensor.Name = "a\tb" }, `sensor.name: must not contain whitespace, got "a\tb"`},
		{"sensor name with control", func(c *Config) { c.Sensor.Name = "a\x00b" }, `sensor.name: must be printable, got "a\x00b"`},
		{"sensor name not UTF-8", func(c *Config) { c.Sensor.Name = "a\xffb" }, `sensor.name: must be valid UTF-8, got "a\xffb"`},
		{"pack empty", func(c *Config) { c.Rules.Packs = []string{""} }, `rules.packs[0]: want a file path or glob pattern, got ""`},
		{"pack bad glob", func(c *Config) { c.Rules.Packs = []string{"a", "/x/[a-"} }, `rules.packs[1]: want a file path or glob pattern, got "/x/[a-"`},
		{"reload off", func(c *Config) { c.Rules.Reload = 0 }, ""},
		{"reload 1s", func(c *Config) { c.Rules.Reload = Duration(time.Second) }, ""},
		{"reload too short", func(c *Config) { c.Rules.Reload = Duration(999 * time.Millisecond) }, "rules.reload: must be 0 (no reloading) or at least 1s, got 999ms"},
		{"reload negative", func(c *Config) { c.Rules.Reload = Duration(-time.Minute) }, "rules.reload: must be 0 (no reloading) or at least 1s, got -1m"},
		{"max hits 100000", func(c *Config) { c.Rules.MaxHitsPerText = 100000 }, ""},
		{"max hits too many", func(c *Config) { c.Rules.MaxHitsPerText = 100001 }, "rules.max_hits_per_text: must be between 1 and 100000, got 100001"},
		{"workers 1", func(c *Config) { c.Capture.Workers = 1 }, ""},
		{"workers 256", func(c *Config) { c.Capture.Workers = 256 }, ""},
		{"workers 257", func(c *Config) { c.Capture.Workers = 257 }, "capture.workers: must be between 1 and 256, got 257"},
		{"workers 0", func(c *Config) { c.Capture.Workers = 0 }, "capture.workers: must be between 1 and 256, got 0"},
		{"empty capture file", func(c *Config) { c.Capture.Files = []string{" "} }, "capture.files[0]: must not be empty"},
		{"clickhouse", func(c *Config) { c.Hitlog.URL = "clickhouse://u:p@ch:9000/db" }, ""},
		{"clickhouse without host", func(c *Config) { c.Hitlog.URL = "clickhouse:///db" }, `hitlog.url: clickhouse URL needs a host, got "clickhouse:///db"`},
		{"chdb without path", func(c *Config) { c.Hitlog.URL = "chdb://" }, `hitlog.url: chdb URL needs a directory (chdb:///path), got "chdb://"`},
		{"hitlog other scheme", func(c *Config) { c.Hitlog.URL = "postgres://x/y" }, `hitlog.url: want clickhouse://user:pass@host:9000/db or chdb:///path/to/dir, got "postgres://x/y"`},
		{"claim ttl short", func(c *Config) { c.Moderation.ClaimTTL = Duration(time.Second) }, "moderation.claim_ttl: must be between 1m and 1d, got 1s"},
		{"undo window zero", func(c *Config) { c.Moderation.UndoWindow = 0 }, "moderation.undo_window: must be between 10s and 1h, got 0s"},
		{"webhook", func(c *Config) {
			c.Moderation.WebhookURL, c.Moderation.WebhookSecret = "https://bbs.example.edu/hook", "0123456789abcdef"
		}, ""},
		{"webhook not http", func(c *Config) {
			c.Moderation.WebhookURL, c.Moderation.WebhookSecret = "ftp://bbs.example.edu/hook", "0123456789abcdef"
		}, `moderation.webhook_url: want an http:// or https:// URL, got "ftp://bbs.example.edu/hook"`},
		{"webhook short secret", func(c *Config) { c.Moderation.WebhookURL = "https://bbs.example.edu/hook" },
			"moderation.webhook_secret: must be at least 16 characters when moderation.webhook_url is set (forums check signatures with it)"},
		{"external url", func(c *Config) { c.HTTP.ExternalURL = "guard.example.edu" }, `http.external_url: want an http:// or https:// URL, got "guard.example.edu"`},
		{"batch rows", func(c *Config) { c.Hitlog.BatchRows = 0 }, `hitlog.batch_rows: must be between 1 and 1000000, got 0`},
		{"queue under a batch", func(c *Config) { c.Hitlog.QueueRows = 10 }, `hitlog.queue_rows: must be at least hitlog.batch_rows (50000) and at most 100000000, got 10`},
		{"spool policy", func(c *Config) { c.Hitlog.SpoolFull = "block" }, `hitlog.spool_full: want drop_oldest or drop_newest, got "block"`},
		{"no spool dir", func(c *Config) { c.Hitlog.SpoolDir = "" }, `hitlog.spool_dir: must not be empty: batches wait there while the hit store is down`},
		{"hitlog unparsable", func(c *Config) { c.Hitlog.URL = "%zz" }, `hitlog.url: want clickhouse://user:pass@host:9000/db or chdb:///path/to/dir, got "%zz"`},
		{"state path empty", func(c *Config) { c.State.Path = "" }, "state.path: must not be empty"},
		{"listen any host", func(c *Config) { c.HTTP.Listen = ":8080" }, ""},
		{"listen IPv6", func(c *Config) { c.HTTP.Listen = "[::1]:0" }, ""},
		{"listen no port", func(c *Config) { c.HTTP.Listen = "127.0.0.1" }, `http.listen: want host:port such as 127.0.0.1:8080 or :8080, got "127.0.0.1"`},
		{"listen named port", func(c *Config) { c.HTTP.Listen = "localhost:http" }, `http.listen: want a port number 0-65535, got "http" in "localhost:http"`},
		{"listen port too big", func(c *Config) { c.HTTP.Listen = ":65536" }, `http.listen: want a port number 0-65535, got "65536" in ":65536"`},
		{"no key file without pseudonyms", func(c *Config) { c.Privacy.Pseudonymize, c.Privacy.KeyFile = false, "" }, ""},
		{"retention 1h", func(c *Config) { c.Privacy.Retention = Duration(time.Hour) }, ""},
		{"retention too short", func(c *Config) { c.Privacy.Retention = Duration(59 * time.Minute) }, "privacy.retention: must be at least 1h, got 59m"},
		{"empty allowlist entry", func(c *Config) { c.Alerts.Allowlist = []string{"a", ""} }, "alerts.allowlist[1]: must not be empty"},
		{"nftables without table", func(c *Config) { c.Firewall.NFTables = NFTables{Enabled: true} }, "firewall.nftables.table: must not be empty when firewall.nftables.enabled is true"},
		{"several", func(c *Config) { c.Capture.Workers, c.State.Path = 0, "" }, "capture.workers: must be between 1 and 256, got 0\nstate.path: must not be empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Default()
			tt.change(&c)
			got := ""
			if err := c.Validate(); err != nil {
				got = err.Error()
			}
			if got != tt.want {
				t.Errorf("Validate() = %q\nwant          %q", got, tt.want)
			}
		})
	}
}
