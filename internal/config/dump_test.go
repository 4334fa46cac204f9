package config

import (
	"bytes"
	"flag"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/")

func TestDumpGolden(t *testing.T) {
	c := Default()
	c.Sensor.Name = "core-1" // not the host's name, so the file is stable
	var b bytes.Buffer
	if err := Dump(&b, c); err != nil {
		t.Fatalf("Dump: %v", err)
	}
	golden := filepath.Join("testdata", "dump-defaults.golden.yaml")
	if *update {
		if err := os.WriteFile(golden, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), b.String()); diff != "" {
		t.Errorf("Dump mismatch with %s (-want +got):\n%s", golden, diff)
	}
}

func TestDumpRoundTrip(t *testing.T) {
	odd := fullConfig()
	odd.Sensor.Name = "true" // a string that looks like a bool
	odd.Rules.Reload = Duration(36*time.Hour + 1500*time.Millisecond)
	odd.Privacy.Retention = Duration(math.MaxInt64)
	odd.Capture.BPF = "tcp\tport 443\n# not a comment"
	odd.Capture.Files = []string{"~", "null", "0x10", "- a", "a: b", "'", "\"", "\u00e9\u4e2d"}
	odd.DNS.Corefile = "\x00\x1b"
	odd.State.Path = "\n0" // yaml.v3 alone drops the newline
	odd.Alerts.Allowlist = []string{"\t\n0", "\nx\n", "a\r\nb", "yes", "Off", "1:20", "\xff\n"}
	odd.Alerts.Policies = []map[string]any{
		{"float": 1.0, "negzero": math.Copysign(0, -1), "big": 1e300, "inf": math.Inf(-1), "nan": math.NaN()},
		{"int": 1, "uint": uint64(math.MaxUint64), "str": "1.0", "list": []any{1.0, 2, "x", nil, []any{}}},
		{"nested": map[string]any{"k": map[any]any{1: "one", 2.5: "x", true: 1.0, nil: "\n\nx"}}},
		{"when": time.Date(2026, 11, 26, 12, 0, 0, 123, time.FixedZone("", 3600))},
		{},
	}
	for _, c := range []Config{Default(), fullConfig(), odd} {
		var b bytes.Buffer
		if err := Dump(&b, c); err != nil {
			t.Fatalf("Dump: %v", err)
		}
		got, err := Parse("dump.yaml", b.Bytes())
		if err != nil {
			t.Fatalf("Parse(Dump()): %v\n%s", err, b.String())
		}
		if diff := cmp.Diff(c, got, equal...); diff != "" {
			t.Errorf("Parse(Dump()) mismatch (-want +got):\n%s\ndump:\n%s", diff, b.String())
		}
	}
}
