package notify

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/campusguard/campusguard/alerts/decision"
)

// Config lists every output. Names must be unique across all of them: a
// name is the value of the output label on the metrics.
type Config struct {
	Webhooks []WebhookConfig `yaml:"webhooks"`
	Syslog   []SyslogConfig  `yaml:"syslog"`
}

// Filter picks the decisions an output announces. The zero Filter passes
// everything.
type Filter struct {
	// MinAction is the least action announced: notify (everything, the
	// default), warn (warn and block) or block.
	MinAction decision.Action `yaml:"min_action"`
	// Categories, when not empty, limits the output to decisions of these
	// categories (compared without regard to case).
	Categories []string `yaml:"categories"`
}

// WebhookConfig is one webhook target. A zero field takes its default
// (see DefaultWebhookConfig).
type WebhookConfig struct {
	Name   string `yaml:"name"`   // the receiver name in the payload and the metrics' output label
	URL    string `yaml:"url"`    // http or https
	Secret string `yaml:"secret"` // HMAC-SHA256 key for X-Campusguard-Signature; at least 16 bytes
	Filter `yaml:",inline"`
	// Timeout bounds one attempt, connection to last byte (default 10s).
	Timeout time.Duration `yaml:"timeout"`
	// MaxAttempts bounds the tries for one delivery (default 6).
	MaxAttempts int `yaml:"max_attempts"`
	// MaxAge gives up on a delivery this long after it was queued, whatever
	// the attempts left (default 15m).
	MaxAge time.Duration `yaml:"max_age"`
	// InitialBackoff is the wait before the first retry; it doubles each
	// time up to MaxBackoff, ±20% jitter (defaults 1s and 1m). A
	// Retry-After header replaces the computed wait.
	InitialBackoff time.Duration `yaml:"initial_backoff"`
	MaxBackoff     time.Duration `yaml:"max_backoff"`
	// QueueSize bounds the deliveries waiting (default 1024); Notify drops
	// and counts what does not fit.
	QueueSize int `yaml:"queue_size"`
	// CACertFile, if set, is a PEM bundle that replaces the system roots
	// for an https URL.
	CACertFile string `yaml:"ca_cert_file"`
}

// DefaultWebhookConfig returns the defaults for every field that has one.
func DefaultWebhookConfig() WebhookConfig {
	return WebhookConfig{
		Timeout:        10 * time.Second,
		MaxAttempts:    6,
		MaxAge:         15 * time.Minute,
		InitialBackoff: time.Second,
		MaxBackoff:     time.Minute,
		QueueSize:      1024,
	}
}

func (c WebhookConfig) withDefaults() WebhookConfig {
	d := DefaultWebhookConfig()
	if c.Timeout == 0 {
		c.Timeout = d.Timeout
	}
	if c.MaxAttempts == 0 {
		c.MaxAttempts = d.MaxAttempts
	}
	if c.MaxAge == 0 {
		c.MaxAge = d.MaxAge
	}
	if c.InitialBackoff == 0 {
		c.InitialBackoff = d.InitialBackoff
	}
	if c.MaxBackoff == 0 {
		c.MaxBackoff = d.MaxBackoff
	}
	if c.MaxBackoff < c.InitialBackoff {
		c.MaxBackoff = c.InitialBackoff
	}
	if c.QueueSize == 0 {
		c.QueueSize = d.QueueSize
	}
	return c
}

// MinSecretLen is the shortest webhook secret Validate accepts.
const MinSecretLen = 16

// Validate checks c; a zero field is valid (it takes its default). The
// error names the field by its YAML key.
func (c WebhookConfig) Validate() error {
	if err := c.validate(); err != nil {
		return fmt.Errorf("webhook %q: %w", c.Name, err)
	}
	return nil
}

func (c WebhookConfig) validate() error {
	if err := validName(c.Name); err != nil {
		return err
	}
	// The URL itself stays out of the errors: a chat webhook's holds its
	// token.
	u, err := url.Parse(c.URL)
	switch {
	case c.URL == "":
		return errors.New("url: missing")
	case err != nil:
		return errors.New("url: not a URL")
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Errorf("url: scheme %q: want http or https", u.Scheme)
	case u.Host == "":
		return errors.New("url: no host")
	}
	if len(c.Secret) < MinSecretLen {
		return fmt.Errorf("secret: want at least %d bytes, have %d", MinSecretLen, len(c.Secret))
	}
	if err := c.Filter.validate(); err != nil {
		return err
	}
	for _, f := range []struct {
		key string
		v   time.Duration
	}{{"timeout", c.Timeout}, {"max_age", c.MaxAge}, {"initial_backoff", c.InitialBackoff}, {"max_backoff", c.MaxBackoff}} {
		if f.v < 0 {
			return fmt.Errorf("%s %s: must not be negative", f.key, f.v)
		}
	}
	if c.MaxAttempts < 0 || c.MaxAttempts > 100 {
		return fmt.Errorf("max_attempts %d: want 1 to 100", c.MaxAttempts)
	}
	if c.QueueSize < 0 || c.QueueSize > 1<<20 {
		return fmt.Errorf("queue_size %d: want 1 to %d", c.QueueSize, 1<<20)
	}
	return nil
}

// SyslogConfig is one syslog collector (a SIEM). A zero field takes its
// default (see DefaultSyslogConfig).
type SyslogConfig struct {
	Name string `yaml:"name"` // the metrics' output label
	// Network is udp (RFC 5426, one datagram a message), tcp (RFC 6587
	// octet counting) or tls (RFC 5425). Default udp.
	Network string `yaml:"network"`
	// Address is host:port; without a port, 514 (udp, tcp) or 6514 (tls).
	Address string `yaml:"address"`
	// Hostname is the RFC 5424 HOSTNAME (default: the machine's name).
	Hostname string `yaml:"hostname"`
	// AppName is the RFC 5424 APP-NAME (default campusguard).
	AppName string `yaml:"app_name"`
	// Facility is a name: kern, user, mail, daemon, auth, syslog, lpr,
	// news, uucp, cron, authpriv, ftp, ntp, audit, alert, clock,
	// local0 … local7 (default local0).
	Facility string `yaml:"facility"`
	Filter   `yaml:",inline"`
	// MaxMessageBytes bounds one message without its framing; longer ones
	// are cut at a character boundary, free text last (default 2048 for
	// udp, 8192 for tcp and tls; at least 480).
	MaxMessageBytes int `yaml:"max_message_bytes"`
	// QueueSize bounds the messages waiting (default 4096); Notify drops
	// and counts what does not fit.
	QueueSize int `yaml:"queue_size"`
	// CACertFile is a PEM bundle that replaces the system roots for tls;
	// CertFile and KeyFile, if set, are a client certificate.
	CACertFile string `yaml:"ca_cert_file"`
	CertFile   string `yaml:"cert_file"`
	KeyFile    string `yaml:"key_file"`
	// DialTimeout and WriteTimeout bound a connection attempt and one write
	// (defaults 5s and 10s).
	DialTimeout  time.Duration `yaml:"dial_timeout"`
	WriteTimeout time.Duration `yaml:"write_timeout"`
	// ReconnectBackoff is the wait after a failed connection or write; it
	// doubles up to MaxReconnectBackoff (defaults 500ms and 30s).
	ReconnectBackoff    time.Duration `yaml:"reconnect_backoff"`
	MaxReconnectBackoff time.Duration `yaml:"max_reconnect_backoff"`
}

// DefaultSyslogConfig returns the defaults for every field that has one,
// but for Hostname (the machine's name) and MaxMessageBytes (by network).
func DefaultSyslogConfig() SyslogConfig {
	return SyslogConfig{
		Network:             "udp",
		AppName:             "campusguard",
		Facility:            "local0",
		QueueSize:           4096,
		DialTimeout:         5 * time.Second,
		WriteTimeout:        10 * time.Second,
		ReconnectBackoff:    500 * time.Millisecond,
		MaxReconnectBackoff: 30 * time.Second,
	}
}

func (c SyslogConfig) withDefaults() SyslogConfig {
	d := DefaultSyslogConfig()
	if c.Network == "" {
		c.Network = d.Network
	}
	if c.AppName == "" {
		c.AppName = d.AppName
	}
	if c.Facility == "" {
		c.Facility = d.Facility
	}
	if c.MaxMessageBytes == 0 {
		c.MaxMessageBytes = 2048
		if c.Network != "udp" {
			c.MaxMessageBytes = 8192
		}
	}
	if c.QueueSize == 0 {
		c.QueueSize = d.QueueSize
	}
	if c.DialTimeout == 0 {
		c.DialTimeout = d.DialTimeout
	}
	if c.WriteTimeout == 0 {
		c.WriteTimeout = d.WriteTimeout
	}
	if c.ReconnectBackoff == 0 {
		c.ReconnectBackoff = d.ReconnectBackoff
	}
	if c.MaxReconnectBackoff == 0 {
		c.MaxReconnectBackoff = d.MaxReconnectBackoff
	}
	if c.MaxReconnectBackoff < c.ReconnectBackoff {
		c.MaxReconnectBackoff = c.ReconnectBackoff
	}
	if c.Address != "" {
		c.Address = withPort(c.Address, c.Network)
	}
	return c
}

// withPort adds the network's standard port to an address without one.
func withPort(addr, network string) string {
	if _, _, err := net.SplitHostPort(addr); err == nil {
		return addr
	}
	port := "514"
	if network == "tls" {
		port = "6514"
	}
	return net.JoinHostPort(strings.Trim(addr, "[]"), port)
}

// Validate checks c; a zero field is valid (it takes its default). The
// error names the field by its YAML key.
func (c SyslogConfig) Validate() error {
	if err := c.validate(); err != nil {
		return fmt.Errorf("syslog %q: %w", c.Name, err)
	}
	return nil
}

func (c SyslogConfig) validate() error {
	if err := validName(c.Name); err != nil {
		return err
	}
	switch c.Network {
	case "", "udp", "tcp", "tls":
	default:
		return fmt.Errorf("network %q: want udp, tcp or tls", c.Network)
	}
	if c.Address == "" {
		return errors.New("address: missing")
	}
	host, port, err := net.SplitHostPort(withPort(c.Address, c.Network))
	if err != nil || host == "" || port == "" {
		return fmt.Errorf("address %q: want host:port", c.Address)
	}
	if c.Hostname != "" && !printUSASCII(c.Hostname, 255) {
		return fmt.Errorf("hostname %q: want 1 to 255 printable ASCII characters, no spaces", c.Hostname)
	}
	if c.AppName != "" && !printUSASCII(c.AppName, 48) {
		return fmt.Errorf("app_name %q: want 1 to 48 printable ASCII characters, no spaces", c.AppName)
	}
	if c.Facility != "" {
		if _, ok := facilities[c.Facility]; !ok {
			return fmt.Errorf("facility %q: want one of kern, user, mail, daemon, auth, syslog, lpr, news, uucp, cron, authpriv, ftp, ntp, audit, alert, clock, local0 … local7", c.Facility)
		}
	}
	if err := c.Filter.validate(); err != nil {
		return err
	}
	if c.MaxMessageBytes != 0 && (c.MaxMessageBytes < 480 || c.MaxMessageBytes > 1<<20) {
		return fmt.Errorf("max_message_bytes %d: want 480 to %d", c.MaxMessageBytes, 1<<20)
	}
	if (c.Network == "" || c.Network == "udp") && c.MaxMessageBytes > 65507 {
		return fmt.Errorf("max_message_bytes %d: a UDP datagram holds at most 65507", c.MaxMessageBytes)
	}
	if c.QueueSize < 0 || c.QueueSize > 1<<20 {
		return fmt.Errorf("queue_size %d: want 1 to %d", c.QueueSize, 1<<20)
	}
	if c.Network != "tls" {
		for _, f := range []struct{ key, v string }{{"ca_cert_file", c.CACertFile}, {"cert_file", c.CertFile}, {"key_file", c.KeyFile}} {
			if f.v != "" {
				return fmt.Errorf("%s: only for network tls", f.key)
			}
		}
	}
	if (c.CertFile == "") != (c.KeyFile == "") {
		return errors.New("cert_file and key_file: give both or neither")
	}
	for _, f := range []struct {
		key string
		v   time.Duration
	}{{"dial_timeout", c.DialTimeout}, {"write_timeout", c.WriteTimeout}, {"reconnect_backoff", c.ReconnectBackoff}, {"max_reconnect_backoff", c.MaxReconnectBackoff}} {
		if f.v < 0 {
			return fmt.Errorf("%s %s: must not be negative", f.key, f.v)
		}
	}
	return nil
}

// Validate checks every output and that their names are unique.
func (c Config) Validate() error {
	seen := map[string]bool{}
	var errs []error
	for i, w := range c.Webhooks {
		if err := w.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("webhooks[%d]: %w", i, err))
		} else if seen[w.Name] {
			errs = append(errs, fmt.Errorf("webhooks[%d]: name %q: used by another output", i, w.Name))
		}
		seen[w.Name] = true
	}
	for i, s := range c.Syslog {
		if err := s.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("syslog[%d]: %w", i, err))
		} else if seen[s.Name] {
			errs = append(errs, fmt.Errorf("syslog[%d]: name %q: used by another output", i, s.Name))
		}
		seen[s.Name] = true
	}
	return errors.Join(errs...)
}

func (f Filter) validate() error {
	switch f.MinAction {
	case "", decision.ActionNotify, decision.ActionWarn, decision.ActionBlock:
	default:
		return fmt.Errorf("min_action %q: want notify, warn or block", f.MinAction)
	}
	for i, c := range f.Categories {
		if strings.TrimSpace(c) == "" {
			return fmt.Errorf("categories[%d]: empty", i)
		}
	}
	return nil
}

// pass reports whether f lets d through.
func (f Filter) pass(d *decision.Decision) bool {
	if f.MinAction != "" && d.Action.Severity() < f.MinAction.Severity() {
		return false
	}
	if len(f.Categories) == 0 {
		return true
	}
	for _, c := range f.Categories {
		if strings.EqualFold(strings.TrimSpace(c), d.Category) {
			return true
		}
	}
	return false
}

// validName accepts names fit for a metric label and a log line.
func validName(name string) error {
	if name == "" {
		return errors.New("name: missing")
	}
	if len(name) > 64 {
		return fmt.Errorf("name %q: longer than 64 bytes", name)
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return fmt.Errorf("name %q: use letters, digits, '-', '_' and '.'", name)
		}
	}
	return nil
}

// printUSASCII reports whether s is 1 to max characters from RFC 5424's
// PRINTUSASCII (33 to 126).
func printUSASCII(s string, max int) bool {
	if s == "" || len(s) > max {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 33 || s[i] > 126 {
			return false
		}
	}
	return true
}
