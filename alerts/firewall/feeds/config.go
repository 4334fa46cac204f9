package feeds

import (
	"errors"
	"fmt"
	"time"
)

// Subdomain modes for domain and URL entries.
const (
	// SubdomainsWildcard lists "example.com" and "*.example.com" (URL
	// list: "example.com/" and "*.example.com/"): a domain decision covers
	// the domain and everything below it, and in both PAN-OS and FortiOS
	// lists "*.example.com" matches the subdomains but not the domain.
	SubdomainsWildcard = "wildcard"
	// SubdomainsExact lists only "example.com" ("example.com/"), for a
	// firewall set to expand list entries to subdomains itself.
	SubdomainsExact = "exact"
)

// Limits are the most entries (lines) each feed carries. A wildcard and
// its domain are two entries.
type Limits struct {
	Domains int `yaml:"domains"`
	IPs     int `yaml:"ips"`
	URLs    int `yaml:"urls"`
}

// Config configures the feeds. A zero field takes its default (see
// DefaultConfig), so Config{} is a valid configuration.
type Config struct {
	// AllowAnonymous serves the feeds without a token. By default a
	// request needs a token of scope feeds (Options.Auth): ips.txt names
	// the campus addresses that are blocked.
	AllowAnonymous bool `yaml:"allow_anonymous"`
	// CacheTTL is how long a built set of feeds is served before the
	// decisions are read again (default 10s): a hundred firewalls polling
	// every minute cost one query every CacheTTL at most.
	CacheTTL time.Duration `yaml:"cache_ttl"`
	// Subdomains is SubdomainsWildcard (default) or SubdomainsExact.
	Subdomains string `yaml:"subdomains"`
	// MaxEntries caps each feed (default 50 000 each); the least severe
	// decisions are left out first.
	MaxEntries Limits `yaml:"max_entries"`
}

// Defaults and bounds.
const (
	DefaultCacheTTL   = 10 * time.Second
	DefaultMaxEntries = 50_000
	// MaxCacheTTL bounds CacheTTL: a revoked block should leave the feeds
	// within minutes.
	MaxCacheTTL = 10 * time.Minute
	// MaxMaxEntries bounds a cap: FortiOS 7.4.4+ takes up to 5 million
	// domains on its largest models; more is a typo.
	MaxMaxEntries = 10_000_000
)

// DefaultConfig returns the configuration a zero Config stands for.
func DefaultConfig() Config {
	return Config{
		CacheTTL:   DefaultCacheTTL,
		Subdomains: SubdomainsWildcard,
		MaxEntries: Limits{Domains: DefaultMaxEntries, IPs: DefaultMaxEntries, URLs: DefaultMaxEntries},
	}
}

func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.CacheTTL == 0 {
		c.CacheTTL = d.CacheTTL
	}
	if c.Subdomains == "" {
		c.Subdomains = d.Subdomains
	}
	if c.MaxEntries.Domains == 0 {
		c.MaxEntries.Domains = d.MaxEntries.Domains
	}
	if c.MaxEntries.IPs == 0 {
		c.MaxEntries.IPs = d.MaxEntries.IPs
	}
	if c.MaxEntries.URLs == 0 {
		c.MaxEntries.URLs = d.MaxEntries.URLs
	}
	return c
}

// Validate checks c; an error names the key at fault.
func (c Config) Validate() error {
	c = c.withDefaults()
	if c.CacheTTL < 0 || c.CacheTTL > MaxCacheTTL {
		return fmt.Errorf("cache_ttl: %s: want more than 0 and at most %s", c.CacheTTL, MaxCacheTTL)
	}
	switch c.Subdomains {
	case SubdomainsWildcard, SubdomainsExact:
	default:
		return fmt.Errorf("subdomains: %q: want %s or %s", c.Subdomains, SubdomainsWildcard, SubdomainsExact)
	}
	for _, l := range []struct {
		key string
		n   int
	}{{"domains", c.MaxEntries.Domains}, {"ips", c.MaxEntries.IPs}, {"urls", c.MaxEntries.URLs}} {
		if l.n < 0 || l.n > MaxMaxEntries {
			return fmt.Errorf("max_entries.%s: %d: want 1 to %d", l.key, l.n, MaxMaxEntries)
		}
	}
	if c.Subdomains == SubdomainsWildcard && (c.MaxEntries.Domains < 2 || c.MaxEntries.URLs < 2) {
		return errors.New("max_entries: with subdomains: wildcard, domains and urls need room for 2 entries (a domain and its wildcard)")
	}
	return nil
}
