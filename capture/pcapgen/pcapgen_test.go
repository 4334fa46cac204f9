package pcapgen

import (
	"bytes"
	"slices"
	"testing"
)

// TestDeterministic: a seed gives the same frames and events every time
// (only the key material crypto/tls draws differs), so tests that compare
// against the truth are reproducible; another seed gives another capture.
func TestDeterministic(t *testing.T) {
	gen := func(seed uint64) ([]byte, []Truth) {
		var b bytes.Buffer
		truth, err := Write(&b, Config{Seed: seed, Packets: 3000, Tunnels: 0.3})
		if err != nil {
			t.Fatal(err)
		}
		return b.Bytes(), truth
	}
	a, ta := gen(1)
	b, tb := gen(1)
	c, _ := gen(2)
	if len(a) != len(b) || !slices.Equal(ta, tb) {
		t.Error("the same seed gave different captures")
	}
	if bytes.Equal(a, c) {
		t.Error("different seeds gave the same capture")
	}
	kinds := map[string]int{}
	for _, tr := range ta {
		kinds[tr.Kind]++
	}
	for _, k := range []string{"dns", "tls", "http", "quic"} {
		if kinds[k] == 0 {
			t.Errorf("no %s events in 3000 frames: %v", k, kinds)
		}
	}
}
