package config

import (
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// decoder walks the YAML node tree along the Config struct, checking every
// key against the yaml tags and decoding each leaf with yaml.v3. This is
// what a yaml.v3 Decoder with KnownFields(true) does, but that one names Go
// types instead of key paths ("field intrefaces not found in type
// config.Capture") and stops at the first error a Duration returns; here
// every mistake is collected with its line. FuzzParse checks that the
// walker accepts nothing KnownFields(true) rejects.
type decoder struct {
	file string
	errs []error
}

func (d *decoder) errorf(n *yaml.Node, path, format string, args ...any) {
	d.errs = append(d.errs, &problem{source: d.file, line: n.Line, path: path, msg: fmt.Sprintf(format, args...)})
}

// section decodes the mapping n into the struct v.
func (d *decoder) section(n *yaml.Node, v reflect.Value, path string) {
	r := resolveAlias(n)
	if isNull(r) {
		return // an empty section keeps its defaults
	}
	if r.Kind != yaml.MappingNode {
		d.errorf(n, path, "want a mapping of keys (%s), got %s", strings.Join(keyNames(v.Type()), ", "), describe(r))
		return
	}
	seen := map[string]int{}
	for i := 0; i+1 < len(r.Content); i += 2 {
		k, val := resolveAlias(r.Content[i]), r.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			d.errorf(k, path, "want a key name, got %s", describe(k))
			continue
		}
		if k.ShortTag() == "!!merge" {
			d.errorf(k, path, "merge keys (<<) are not supported here")
			continue
		}
		index, ok := fieldIndex(v.Type(), k.Value)
		if !ok {
			d.unknownKey(k, v.Type(), path)
			continue
		}
		p := joinPath(path, k.Value)
		if first, dup := seen[k.Value]; dup {
			d.errorf(k, p, "duplicate key (first at line %d)", first)
			continue
		}
		seen[k.Value] = k.Line
		if f := v.Field(index); isSection(f.Type()) {
			d.section(val, f, p)
		} else {
			d.value(val, f, p)
		}
	}
}

func (d *decoder) unknownKey(k *yaml.Node, t reflect.Type, path string) {
	msg := fmt.Sprintf("unknown key %q", k.Value)
	if path != "" {
		msg += " in " + path
	}
	if s := suggest(k.Value, keyNames(t)); s != "" {
		msg += fmt.Sprintf(" (did you mean %q?)", s)
	}
	d.errs = append(d.errs, &problem{source: d.file, line: k.Line, msg: msg})
}

// value decodes a leaf: a scalar or a list. A null value keeps the default.
func (d *decoder) value(n *yaml.Node, v reflect.Value, path string) {
	r := resolveAlias(n)
	if isNull(r) {
		return
	}
	if v.Kind() != reflect.Slice {
		d.decode(n, v, path)
		return
	}
	if r.Kind != yaml.SequenceNode {
		d.errorf(n, path, "want %s, got %s", describeType(v.Type()), describe(r))
		return
	}
	list := reflect.MakeSlice(v.Type(), 0, len(r.Content))
	ok := true
	for i, item := range r.Content {
		elem := reflect.New(v.Type().Elem()).Elem()
		if !d.decode(item, elem, fmt.Sprintf("%s[%d]", path, i)) {
			ok = false
			continue
		}
		list = reflect.Append(list, elem)
	}
	if ok {
		v.Set(list)
	}
}

// decode decodes one scalar or mapping with yaml.v3 into v.
func (d *decoder) decode(n *yaml.Node, v reflect.Value, path string) bool {
	r := resolveAlias(n)
	wantMap := v.Kind() == reflect.Map
	if wantMap != (r.Kind == yaml.MappingNode) || r.Kind == yaml.SequenceNode {
		d.errorf(n, path, "want %s, got %s", describeType(v.Type()), describe(r))
		return false
	}
	if wantMap && !d.checkOpaque(r, path) {
		return false
	}
	ptr := reflect.New(v.Type())
	err := safeDecode(r, ptr.Interface())
	var te *yaml.TypeError
	switch {
	case err == nil && wantMap:
		v.Set(reflect.ValueOf(stringKeys(ptr.Elem().Interface())))
		return true
	case err == nil:
		v.Set(ptr.Elem())
		return true
	case errors.As(err, &te) && wantMap:
		// Inside opaque data: yaml.v3 knows the lines, keep its words.
		for _, msg := range te.Errors {
			line, msg := splitLine(msg)
			d.errs = append(d.errs, &problem{source: d.file, line: line, path: path, msg: msg})
		}
	case errors.As(err, &te):
		d.errorf(n, path, "want %s, got %s", describeType(v.Type()), describe(r))
	default:
		// A Duration's own message, or yaml.v3's for opaque data.
		line, msg := splitLine(strings.TrimPrefix(err.Error(), "yaml: "))
		if line == 0 {
			line = n.Line
		}
		d.errs = append(d.errs, &problem{source: d.file, line: line, path: path, msg: msg})
	}
	return false
}

// safeDecode is n.Decode, turning a panic inside yaml.v3 into an error: a
// bad config file must be reported, never crash the process.
func safeDecode(n *yaml.Node, v any) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("cannot decode this value (yaml.v3: %v)", r)
		}
	}()
	return n.Decode(v)
}

// stringKeys turns every map[any]any whose keys are all strings into a
// map[string]any. yaml.v3 makes a map[any]any when a key carries a tag
// ("!x a: 1"), though the key decodes to a string; without this, data would
// change type when Dump writes it back.
func stringKeys(v any) any {
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			v[k] = stringKeys(e)
		}
		return v
	case []any:
		for i, e := range v {
			v[i] = stringKeys(e)
		}
		return v
	case map[any]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			ks, ok := k.(string)
			if !ok {
				for k, e := range v {
					v[k] = stringKeys(e)
				}
				return v
			}
			out[ks] = stringKeys(e)
		}
		return out
	}
	return v
}

func resolveAlias(n *yaml.Node) *yaml.Node {
	for i := 0; n.Kind == yaml.AliasNode && n.Alias != nil && i < 100; i++ {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// describe names what a node holds, for "want X, got Y".
func describe(n *yaml.Node) string {
	n = resolveAlias(n)
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if isNull(n) {
			return "null"
		}
		return strconv.Quote(n.Value)
	}
	return "nothing"
}

var durationType = reflect.TypeFor[Duration]()

func describeType(t reflect.Type) string {
	switch {
	case t == durationType:
		return "a duration such as 30s or 90d"
	case t.Kind() == reflect.Bool:
		return "true or false"
	case t.Kind() == reflect.Int:
		return "an integer"
	case t.Kind() == reflect.String:
		return "a string"
	case t.Kind() == reflect.Map:
		return "a mapping"
	case t.Kind() == reflect.Slice:
		return "a list of " + strings.TrimPrefix(strings.TrimPrefix(describeType(t.Elem()), "a "), "an ") + "s"
	}
	return t.String()
}

// checkSize rejects alias cycles, aliases that would add more than
// maxAliasGrowth nodes, and documents of more than maxNodes nodes or
// maxDepth levels once expanded. It visits each node once.
func checkSize(root *yaml.Node) error {
	type measure struct{ size, depth int }
	visiting := measure{-1, -1}
	seen := map[*yaml.Node]measure{}
	plain := 0
	var walk func(n *yaml.Node) (measure, error)
	walk = func(n *yaml.Node) (measure, error) {
		if n.Kind == yaml.AliasNode && n.Alias != nil {
			return walk(n.Alias)
		}
		switch m, ok := seen[n]; {
		case ok && m == visiting:
			return m, fmt.Errorf("alias *%s refers to a node that contains it", n.Anchor)
		case ok:
			return m, nil
		}
		seen[n] = visiting
		plain++
		m := measure{size: 1, depth: 1}
		for _, c := range n.Content {
			cm, err := walk(c)
			if err != nil {
				return m, err
			}
			m.size = min(m.size+cm.size, 1<<40) // saturate: no overflow on bombs
			m.depth = max(m.depth, cm.depth+1)
		}
		seen[n] = m
		return m, nil
	}
	m, err := walk(root)
	switch {
	case err != nil:
		return err
	case m.size-plain > maxAliasGrowth:
		return fmt.Errorf("aliases expand the document by more than %d nodes", maxAliasGrowth)
	case m.size > maxNodes:
		return fmt.Errorf("the document has more than %d values and keys; is this a config file?", maxNodes)
	case m.depth > maxDepth:
		return fmt.Errorf("the document nests deeper than %d levels; is this a config file?", maxDepth)
	}
	return nil
}

// checkOpaque finds what yaml.v3 would handle badly in opaque data before
// it decodes it: duplicate keys (it reports every pair, quadratically),
// huge mappings and keys that are lists or mappings. Keys compare as
// yaml.v3 compares them.
func (d *decoder) checkOpaque(n *yaml.Node, path string) bool {
	ok := true
	seen := map[*yaml.Node]bool{}
	var walk func(n *yaml.Node)
	walk = func(n *yaml.Node) {
		n = resolveAlias(n)
		if seen[n] {
			return
		}
		seen[n] = true
		if n.Kind == yaml.MappingNode && len(n.Content)/2 > maxOpaqueKeys {
			d.errorf(n, path, "a mapping with more than %d keys", maxOpaqueKeys)
			ok = false
			return
		}
		if n.Kind == yaml.MappingNode {
			type key struct {
				kind  yaml.Kind
				value string
			}
			first := map[key]int{}
			for i := 0; i < len(n.Content); i += 2 {
				k := n.Content[i]
				if r := resolveAlias(k); r.Kind != yaml.ScalarNode {
					// yaml.v3 cannot use them as Go map keys, and may panic.
					d.errorf(k, path, "want a plain key, got %s", describe(r))
					ok = false
					continue
				}
				if line, dup := first[key{k.Kind, k.Value}]; dup {
					d.errorf(k, path, "duplicate key %q (first at line %d)", k.Value, line)
					ok = false
					continue
				}
				first[key{k.Kind, k.Value}] = k.Line
			}
		}
		for _, c := range n.Content {
			walk(c)
		}
	}
	walk(n)
	return ok
}

// isSection tells a nested section (recursed into) from a leaf value: a
// struct of this package that does not decode itself.
func isSection(t reflect.Type) bool {
	return t.Kind() == reflect.Struct && t.PkgPath() == configType.PkgPath() &&
		!reflect.PointerTo(t).Implements(reflect.TypeFor[yaml.Unmarshaler]())
}

var configType = reflect.TypeFor[Config]()

// yamlKey is the key a struct field has in the file.
func yamlKey(f reflect.StructField) string {
	name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
	return name
}

func fieldIndex(t reflect.Type, key string) (int, bool) {
	for i := range t.NumField() {
		if yamlKey(t.Field(i)) == key {
			return i, true
		}
	}
	return 0, false
}

func keyNames(t reflect.Type) []string {
	var names []string
	for i := range t.NumField() {
		names = append(names, yamlKey(t.Field(i)))
	}
	return names
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// suggest returns the candidate closest to s if it looks like a typo of it.
func suggest(s string, candidates []string) string {
	best, bestDist := "", 3
	for _, c := range candidates {
		if d := editDistance(strings.ToLower(s), strings.ToLower(c)); d < bestDist {
			best, bestDist = c, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance, counting a swap of two
// neighbours as one edit ("intrefaces").
func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 1 << 30 // not a typo; keeps this cheap on junk
	}
	prev2 := make([]int, len(b)+1)
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(b)]
}
