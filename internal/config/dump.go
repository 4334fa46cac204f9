package config

import (
	"cmp"
	"fmt"
	"io"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// Dump writes c as YAML, every key included, in the form Parse reads back
// to an equal Config. This is what `campusguard config dump` prints.
//
// It builds the YAML node tree itself rather than marshalling c, because
// yaml.v3 v3.0.1 writes some values in a form it cannot read back: a string
// starting with a newline loses it (go-yaml/yaml#963), and the float 1.0
// prints as "1", which reads back as an int.
func Dump(w io.Writer, c Config) error {
	root, err := toNode(reflect.ValueOf(c))
	if err != nil {
		return fmt.Errorf("dump config: %w", err)
	}
	enc := yaml.NewEncoder(w)
	enc.SetIndent(2)
	if err := enc.Encode(root); err != nil {
		return fmt.Errorf("dump config: %w", err)
	}
	if err := enc.Close(); err != nil {
		return fmt.Errorf("dump config: %w", err)
	}
	return nil
}

// toNode converts a Config section or value, including opaque policy data.
func toNode(v reflect.Value) (*yaml.Node, error) {
	if v.Kind() == reflect.Interface {
		if v.IsNil() {
			return scalar("!!null", "null"), nil
		}
		v = v.Elem()
	}
	switch {
	case v.Type() == durationType:
		return scalar("!!str", v.Interface().(Duration).String()), nil
	case isSection(v.Type()):
		return structNode(v)
	}
	switch v.Kind() {
	case reflect.String:
		return stringNode(v.String()), nil
	case reflect.Bool:
		return scalar("!!bool", strconv.FormatBool(v.Bool())), nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return scalar("!!int", strconv.FormatInt(v.Int(), 10)), nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return scalar("!!int", strconv.FormatUint(v.Uint(), 10)), nil
	case reflect.Float32, reflect.Float64:
		return scalar("!!float", formatFloat(v.Float())), nil
	case reflect.Slice:
		return sliceNode(v)
	case reflect.Map:
		return mapNode(v)
	}
	// Anything else yaml.v3 put in opaque data (time.Time): its own form.
	var n yaml.Node
	if err := n.Encode(v.Interface()); err != nil {
		return nil, err
	}
	return &n, nil
}

func scalar(tag, value string) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: tag, Value: value}
}

// stringNode quotes what yaml.v3 would otherwise write as a literal block
// (see Dump) or what YAML 1.1 readers take for a boolean.
func stringNode(s string) *yaml.Node {
	if !utf8.ValidString(s) {
		return &yaml.Node{Kind: yaml.ScalarNode, Value: s} // yaml.v3 writes !!binary
	}
	n := scalar("!!str", s)
	if strings.ContainsAny(s, "\n\r") || isYAML11Bool(s) {
		n.Style = yaml.DoubleQuotedStyle
	}
	return n
}

func isYAML11Bool(s string) bool {
	switch strings.ToLower(s) {
	case "y", "yes", "n", "no", "on", "off":
		return true
	}
	return false
}

// formatFloat keeps a decimal point or exponent, so that the value reads
// back as a float.
func formatFloat(f float64) string {
	switch {
	case math.IsNaN(f):
		return ".nan"
	case math.IsInf(f, 1):
		return ".inf"
	case math.IsInf(f, -1):
		return "-.inf"
	}
	s := strconv.FormatFloat(f, 'g', -1, 64)
	if !strings.ContainsAny(s, ".e") {
		s += ".0"
	}
	return s
}

func structNode(v reflect.Value) (*yaml.Node, error) {
	n := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	for i := range v.NumField() {
		val, err := toNode(v.Field(i))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", yamlKey(v.Type().Field(i)), err)
		}
		n.Content = append(n.Content, scalar("!!str", yamlKey(v.Type().Field(i))), val)
	}
	return n, nil
}

func sliceNode(v reflect.Value) (*yaml.Node, error) {
	n := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
	for i := range v.Len() {
		item, err := toNode(v.Index(i))
		if err != nil {
			return nil, err
		}
		n.Content = append(n.Content, item)
	}
	return n, nil
}

// mapNode writes keys in a stable order: sorted by their text, then type.
func mapNode(v reflect.Value) (*yaml.Node, error) {
	type pair struct{ key, value *yaml.Node }
	var pairs []pair
	for it := v.MapRange(); it.Next(); {
		k, err := toNode(it.Key())
		if err != nil {
			return nil, err
		}
		val, err := toNode(it.Value())
		if err != nil {
			return nil, err
		}
		pairs = append(pairs, pair{k, val})
	}
	slices.SortFunc(pairs, func(a, b pair) int {
		return cmp.Or(cmp.Compare(a.key.Value, b.key.Value), cmp.Compare(a.key.Tag, b.key.Tag))
	})
	n := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	for _, p := range pairs {
		n.Content = append(n.Content, p.key, p.value)
	}
	return n, nil
}
