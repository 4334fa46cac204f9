package config

import (
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Dump writes c as YAML, every key included, in the form Parse reads back
// to an equal Config. This is what `campusguard config dump` prints.
func Dump(w io.Writer, c Config) error {
	c.Alerts.Policies = keepFloats(c.Alerts.Policies)
	enc := yaml.NewEncoder(w)
	enc.SetIndent(2)
	if err := enc.Encode(c); err != nil {
		return fmt.Errorf("dump config: %w", err)
	}
	if err := enc.Close(); err != nil {
		return fmt.Errorf("dump config: %w", err)
	}
	return nil
}

// keepFloats copies policies with every float wrapped so that it prints as
// a float: yaml.v3 writes 1.0 as "1", which reads back as an int.
func keepFloats(policies []map[string]any) []map[string]any {
	if policies == nil {
		return nil
	}
	out := make([]map[string]any, len(policies))
	for i, p := range policies {
		out[i] = keepFloatsIn(p).(map[string]any)
	}
	return out
}

func keepFloatsIn(v any) any {
	switch v := v.(type) {
	case float64:
		return yamlFloat(v)
	case map[string]any:
		if v == nil {
			return v
		}
		out := make(map[string]any, len(v))
		for k, e := range v {
			out[k] = keepFloatsIn(e)
		}
		return out
	case map[any]any:
		if v == nil {
			return v
		}
		out := make(map[any]any, len(v))
		for k, e := range v {
			out[keepFloatsIn(k)] = keepFloatsIn(e)
		}
		return out
	case []any:
		if v == nil {
			return v
		}
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = keepFloatsIn(e)
		}
		return out
	}
	return v
}

type yamlFloat float64

// MarshalYAML writes the float with a decimal point or exponent, or as
// .inf/.nan, so that it stays a float when read back.
func (f yamlFloat) MarshalYAML() (any, error) {
	x := float64(f)
	var s string
	switch {
	case math.IsNaN(x):
		s = ".nan"
	case math.IsInf(x, 1):
		s = ".inf"
	case math.IsInf(x, -1):
		s = "-.inf"
	default:
		s = strconv.FormatFloat(x, 'g', -1, 64)
		if !strings.ContainsAny(s, ".e") {
			s += ".0"
		}
	}
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!float", Value: s}, nil
}
