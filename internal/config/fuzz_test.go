package config

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"gopkg.in/yaml.v3"
)

// FuzzParse checks that Parse never panics and that whatever it accepts,
// Dump writes in a form Parse reads back to an equal Config. The nasty
// seeds (alias bombs, tabs, BOMs, huge numbers, nulls, duplicate keys) are
// in testdata/fuzz/FuzzParse.
func FuzzParse(f *testing.F) {
	f.Add([]byte(full))
	f.Add([]byte(""))
	f.Add([]byte(aliasBomb(9)))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse("fuzz.yaml", data)
		if err != nil {
			return
		}
		// Parse must be at least as strict as yaml.v3's own strict mode.
		strict := Default()
		dec := yaml.NewDecoder(bytes.NewReader(data))
		dec.KnownFields(true)
		if err := dec.Decode(&strict); err != nil && !errors.Is(err, io.EOF) {
			t.Fatalf("Parse accepted what yaml.v3 KnownFields(true) rejects: %v", err)
		}
		var b bytes.Buffer
		if err := Dump(&b, c); err != nil {
			t.Fatalf("Dump of a parsed config: %v", err)
		}
		back, err := Parse("dump.yaml", b.Bytes())
		if err != nil {
			t.Fatalf("Parse(Dump()): %v\ndump:\n%s", err, b.String())
		}
		if !sameConfig(c, back) {
			t.Fatalf("Parse(Dump()) mismatch (-parsed +reparsed):\n%s\ndump:\n%s", cmp.Diff(c, back, equal...), b.String())
		}
	})
}

// sameConfig is cmp.Equal with the equal options, except that policies are
// compared by sameData: cmp's slice diffing takes time exponential in the
// nesting depth of []any, and the fuzzer nests thousands deep.
func sameConfig(a, b Config) bool {
	opts := append([]cmp.Option{cmpopts.IgnoreFields(Alerts{}, "Policies")}, equal...)
	if !cmp.Equal(a, b, opts...) || len(a.Alerts.Policies) != len(b.Alerts.Policies) {
		return false
	}
	for i := range a.Alerts.Policies {
		if !sameData(a.Alerts.Policies[i], b.Alerts.Policies[i]) {
			return false
		}
	}
	return true
}

// sameData compares decoded YAML values as cmp with the equal options
// would: NaN equals NaN, nil equals empty, times are equal if Equal.
func sameData(a, b any) bool {
	switch a := a.(type) {
	case float64:
		b, ok := b.(float64)
		return ok && (a == b || a != a && b != b)
	case []any:
		b, ok := b.([]any)
		if !ok || len(a) != len(b) {
			return false
		}
		for i := range a {
			if !sameData(a[i], b[i]) {
				return false
			}
		}
		return true
	case map[string]any:
		b, ok := b.(map[string]any)
		if !ok || len(a) != len(b) {
			return false
		}
		for k, v := range a {
			if w, ok := b[k]; !ok || !sameData(v, w) {
				return false
			}
		}
		return true
	case map[any]any:
		b, ok := b.(map[any]any)
		if !ok || len(a) != len(b) {
			return false
		}
		for k, v := range a {
			if k != k { // NaN keys cannot be looked up; the lengths matched
				continue
			}
			if w, ok := b[k]; !ok || !sameData(v, w) {
				return false
			}
		}
		return true
	case time.Time:
		b, ok := b.(time.Time)
		return ok && a.Equal(b) // the zone may print differently
	}
	return reflect.DeepEqual(a, b)
}
