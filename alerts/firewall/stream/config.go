package stream

import (
	"fmt"
)

// Config configures the stream. Config{} is the default and valid.
type Config struct {
	// WarnType is the decision type warn decisions are sent as, e.g.
	// "captcha" for bouncers that can show a challenge instead of
	// dropping. Empty (the default) sends no warn decisions: a warning is
	// campusguard's sinkhole page, and a firewall bouncer treats every
	// type it does not know as a ban or ignores it.
	WarnType string `yaml:"warn_type"`
}

// BanType is the type of block decisions, CrowdSec's "ban".
const BanType = "ban"

// DefaultConfig returns the configuration a zero Config stands for.
func DefaultConfig() Config { return Config{} }

// Validate checks c; an error names the key at fault.
func (c Config) Validate() error {
	if c.WarnType == "" {
		return nil
	}
	if c.WarnType == BanType {
		return fmt.Errorf("warn_type: %q would send warnings as blocks; leave it empty to send no warnings, or use another type such as captcha", c.WarnType)
	}
	if len(c.WarnType) > 32 {
		return fmt.Errorf("warn_type: %q: at most 32 characters", c.WarnType)
	}
	for _, r := range c.WarnType {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_' || r == '-') {
			return fmt.Errorf("warn_type: %q: want lower-case letters, digits, _ and -", c.WarnType)
		}
	}
	return nil
}
