package config

import (
	"math"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

func TestParseDuration(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
	}{
		{"0", 0},
		{"0s", 0},
		{"30s", 30 * time.Second},
		{"1h30m", 90 * time.Minute},
		{"90d", 90 * 24 * time.Hour},
		{"1d12h", 36 * time.Hour},
		{"2w", 14 * 24 * time.Hour},
		{"1w1d", 8 * 24 * time.Hour},
		{"1.5d", 36 * time.Hour},
		{".5h", 30 * time.Minute},
		{"5.s", 5 * time.Second},
		{"250ms", 250 * time.Millisecond},
		{"3us", 3 * time.Microsecond},
		{"3µs", 3 * time.Microsecond},
		{"3μs", 3 * time.Microsecond},
		{"7ns", 7},
		{"+1m", time.Minute},
		{"-1m", -time.Minute},
		{"1h1h", 2 * time.Hour}, // as time.ParseDuration
		{"106751d23h47m16.854775807s", math.MaxInt64},
		{"-106751d23h47m16.854775808s", math.MinInt64},
		{"9223372036854775807ns", math.MaxInt64},
	}
	for _, tt := range tests {
		got, err := ParseDuration(tt.in)
		if err != nil || time.Duration(got) != tt.want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", tt.in, time.Duration(got), err, tt.want)
		}
	}
}

func TestParseDurationErrors(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", `invalid duration "" (want a number and a unit`},
		{"abc", `invalid duration "abc" (want a number`},
		{"30", `invalid duration "30" (want a number`},
		{"1y", `invalid duration "1y"`},
		{"d", `invalid duration "d"`},
		{".d", `invalid duration ".d"`},
		{"-", `invalid duration "-"`},
		{"1d 2h", `invalid duration "1d 2h"`},
		{"106752d", `invalid duration "106752d" (out of range)`},
		{"106751d23h47m16.854775808s", "out of range"},
		{"99999999999999999999s", "out of range"},
	}
	for _, tt := range tests {
		_, err := ParseDuration(tt.in)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ParseDuration(%q) error = %v; want it to contain %q", tt.in, err, tt.want)
		}
	}
}

func TestDurationString(t *testing.T) {
	tests := []struct {
		in   time.Duration
		want string
	}{
		{0, "0s"},
		{30 * time.Second, "30s"},
		{90 * 24 * time.Hour, "90d"},
		{36 * time.Hour, "1d12h"},
		{90 * time.Minute, "1h30m"},
		{24*time.Hour + time.Second, "1d1s"},
		{time.Minute + 500*time.Millisecond, "1m500ms"},
		{250 * time.Millisecond, "250ms"},
		{1500 * time.Microsecond, "1.5ms"},
		{-time.Hour, "-1h"},
		{math.MaxInt64, "106751d23h47m16.854775807s"},
		{math.MinInt64, "-106751d23h47m16.854775808s"},
	}
	for _, tt := range tests {
		if got := Duration(tt.in).String(); got != tt.want {
			t.Errorf("Duration(%d).String() = %q; want %q", int64(tt.in), got, tt.want)
		}
		back, err := ParseDuration(tt.want)
		if err != nil || time.Duration(back) != tt.in {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", tt.want, back, err, tt.in)
		}
	}
}

func TestDurationYAML(t *testing.T) {
	var v struct {
		D Duration `yaml:"d"`
	}
	if err := yaml.Unmarshal([]byte("d: 1d12h\n"), &v); err != nil || v.D != Duration(36*time.Hour) {
		t.Fatalf("Unmarshal = %v, %v; want 1d12h", v.D, err)
	}
	out, err := yaml.Marshal(v)
	if err != nil || string(out) != "d: 1d12h\n" {
		t.Errorf("Marshal = %q, %v; want %q", out, err, "d: 1d12h\n")
	}
	if err := yaml.Unmarshal([]byte("d: [1s]\n"), &v); err == nil || !strings.Contains(err.Error(), "want a duration such as 30s or 90d, got a list") {
		t.Errorf("Unmarshal of a list: error = %v", err)
	}
}

func TestDurationText(t *testing.T) {
	var d Duration
	if err := d.UnmarshalText([]byte("2w")); err != nil || d != Duration(14*24*time.Hour) {
		t.Errorf("UnmarshalText(2w) = %v, %v", d, err)
	}
	if text, _ := d.MarshalText(); string(text) != "14d" {
		t.Errorf("MarshalText = %q; want 14d", text)
	}
}
