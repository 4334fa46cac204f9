package config

import (
	"encoding"
	"fmt"
	"math"
	"strconv"
	"time"

	"gopkg.in/yaml.v3"
)

// Duration is a time.Duration that config files may also write in days and
// weeks ("90d", "1d12h", "2w"), because retention periods read better that
// way than "2160h". It prints in days, hours, minutes and seconds ("90d",
// "1h30m", "30s").
type Duration time.Duration

const (
	day  = 24 * time.Hour
	week = 7 * day
)

var (
	_ yaml.Unmarshaler         = (*Duration)(nil)
	_ yaml.Marshaler           = Duration(0)
	_ encoding.TextUnmarshaler = (*Duration)(nil)
	_ encoding.TextMarshaler   = Duration(0)
)

var durationUnits = map[string]uint64{
	"ns": uint64(time.Nanosecond),
	"us": uint64(time.Microsecond),
	"µs": uint64(time.Microsecond), // U+00B5, what time.Duration.String prints
	"μs": uint64(time.Microsecond), // U+03BC
	"ms": uint64(time.Millisecond),
	"s":  uint64(time.Second),
	"m":  uint64(time.Minute),
	"h":  uint64(time.Hour),
	"d":  uint64(day),
	"w":  uint64(week),
}

// ParseDuration parses what time.ParseDuration accepts plus the units d
// (24h) and w (7d).
func ParseDuration(s string) (Duration, error) {
	d, reason := parseDuration(s)
	if reason != "" {
		return 0, fmt.Errorf("invalid duration %q (%s)", s, reason)
	}
	return d, nil
}

const durationHint = "want a number and a unit: ns, us, ms, s, m, h, d or w, e.g. 30s, 1h30m, 90d"

// parseDuration follows time.ParseDuration: an optional sign, then one or
// more decimal numbers each with a unit. It returns a reason on failure.
func parseDuration(s string) (Duration, string) {
	neg := false
	if s != "" && (s[0] == '-' || s[0] == '+') {
		neg = s[0] == '-'
		s = s[1:]
	}
	if s == "0" {
		return 0, ""
	}
	if s == "" {
		return 0, durationHint
	}
	limit := uint64(math.MaxInt64)
	if neg {
		limit++
	}
	var total uint64
	for s != "" {
		intPart, frac, unit, rest := splitSegment(s)
		if intPart == "" && frac == "" {
			return 0, durationHint
		}
		scale, ok := durationUnits[unit]
		if !ok {
			return 0, durationHint
		}
		v, ok := segmentValue(intPart, frac, scale, limit)
		if !ok || v > limit-total {
			return 0, "out of range"
		}
		total += v
		s = rest
	}
	if neg {
		// Wraps correctly for math.MinInt64, whose magnitude is limit.
		return -Duration(total), ""
	}
	return Duration(total), ""
}

// splitSegment splits "1.5h30m" into "1", "5", "h" and "30m".
func splitSegment(s string) (intPart, frac, unit, rest string) {
	i := digits(s)
	intPart, s = s[:i], s[i:]
	if s != "" && s[0] == '.' {
		s = s[1:]
		i = digits(s)
		frac, s = s[:i], s[i:]
	}
	i = 0
	for i < len(s) && s[i] != '.' && !isDigit(s[i]) {
		i++
	}
	return intPart, frac, s[:i], s[i:]
}

// segmentValue is intPart.frac times scale, or false if it exceeds limit.
// Like time.ParseDuration, fraction digits beyond int64 precision are
// dropped.
func segmentValue(intPart, frac string, scale, limit uint64) (uint64, bool) {
	var n uint64
	if intPart != "" {
		var err error
		if n, err = strconv.ParseUint(intPart, 10, 64); err != nil {
			return 0, false
		}
	}
	if n > limit/scale {
		return 0, false
	}
	v := n * scale
	var f uint64
	div := 1.0
	for i := 0; i < len(frac) && f <= (math.MaxInt64-9)/10; i++ {
		f = f*10 + uint64(frac[i]-'0')
		div *= 10
	}
	fv := uint64(float64(f) * (float64(scale) / div))
	if fv > limit-v {
		return 0, false
	}
	return v + fv, true
}

func digits(s string) int {
	i := 0
	for i < len(s) && isDigit(s[i]) {
		i++
	}
	return i
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// String prints whole days, hours and minutes, then what is left in Go's
// notation ("1d12h", "1h30m", "1m500ms", "250ms"). ParseDuration reads it
// back exactly.
func (d Duration) String() string {
	if d == 0 {
		return "0s"
	}
	var b []byte
	u := uint64(d)
	if d < 0 {
		b = append(b, '-')
		u = -u // also right for math.MinInt64
	}
	for _, p := range []struct {
		size uint64
		unit byte
	}{{uint64(day), 'd'}, {uint64(time.Hour), 'h'}, {uint64(time.Minute), 'm'}} {
		if n := u / p.size; n > 0 {
			b = strconv.AppendUint(b, n, 10)
			b = append(b, p.unit)
			u %= p.size
		}
	}
	if u > 0 {
		b = append(b, time.Duration(u).String()...)
	}
	return string(b)
}

// MarshalText implements encoding.TextMarshaler.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler; environment overrides
// use it.
func (d *Duration) UnmarshalText(text []byte) error {
	v, err := ParseDuration(string(text))
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// MarshalYAML implements yaml.Marshaler.
func (d Duration) MarshalYAML() (any, error) { return d.String(), nil }

// UnmarshalYAML implements yaml.Unmarshaler. A bare number is an error, not
// nanoseconds: "reload: 30" is far more likely to mean seconds.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("want a duration such as 30s or 90d, got %s", describe(n))
	}
	return d.UnmarshalText([]byte(n.Value))
}
