package config

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

const (
	// MaxSize bounds a config file; a real one is a few kilobytes.
	MaxSize = 1 << 20
	// maxAliasGrowth bounds how many nodes aliases may add when expanded,
	// so that an alias bomb ("billion laughs") is rejected before anything
	// expands it.
	maxAliasGrowth = 10000
)

// Option changes how Load and Parse build a Config.
type Option func(*options)

type options struct {
	env     bool
	environ []string
}

// WithEnv applies CAMPUSGUARD_* overrides from environ (as os.Environ
// returns it) after the file and before validation.
func WithEnv(environ []string) Option {
	return func(o *options) {
		o.env = true
		o.environ = environ
	}
}

// Load reads and parses the config file at path; see Parse.
func Load(path string, opts ...Option) (Config, error) {
	data, err := readFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("config: %w", err)
	}
	return Parse(path, data, opts...)
}

func readFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	// One byte more than allowed, so Parse can tell the file is too big.
	data, err := io.ReadAll(io.LimitReader(f, MaxSize+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return data, nil
}

// Parse builds a Config from the YAML document in data, starting from
// Default; name is used in error messages (normally the file's path). An
// empty document yields the defaults, and so does a key or section left
// empty ("capture:"). Unknown keys, duplicate keys, values of the wrong type
// and invalid values are all reported, each as "name:line: key: problem",
// joined in one error.
func Parse(name string, data []byte, opts ...Option) (Config, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	if len(data) > MaxSize {
		return Config{}, fmt.Errorf("%s: larger than %d bytes; is this a config file?", name, MaxSize)
	}
	root, err := readDocument(name, data)
	if err != nil {
		return Config{}, err
	}
	c := Default()
	d := decoder{file: name}
	if root != nil {
		d.section(root, reflect.ValueOf(&c).Elem(), "")
	}
	errs := d.errs
	var fromEnv map[string]string
	if o.env {
		var envErrs []error
		fromEnv, envErrs = c.applyEnv(o.environ)
		errs = append(errs, envErrs...)
	}
	for _, p := range c.check() {
		errs = append(errs, locate(p, name, root, fromEnv))
	}
	sortByLine(errs, name)
	if len(errs) > 0 {
		return Config{}, errors.Join(errs...)
	}
	return c, nil
}

// sortByLine puts the file's problems in line order, so that decoding and
// validation problems read top to bottom; the environment's come after.
func sortByLine(errs []error, file string) {
	key := func(err error) int {
		var p *problem
		switch {
		case !errors.As(err, &p) || p.source != file:
			return math.MaxInt
		case p.line == 0:
			return math.MaxInt - 1 // a default that the file does not set
		}
		return p.line
	}
	slices.SortStableFunc(errs, func(a, b error) int { return cmp.Compare(key(a), key(b)) })
}

// readDocument returns the root node of the only YAML document in data, or
// nil if there is none or it is empty.
func readDocument(name string, data []byte) (*yaml.Node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil
		}
		return nil, syntaxError(name, data, err)
	}
	var next yaml.Node
	switch err := dec.Decode(&next); {
	case errors.Is(err, io.EOF):
	case err != nil:
		return nil, syntaxError(name, data, err)
	default:
		return nil, &problem{source: name, line: next.Line, msg: "a second YAML document starts here; a config file holds one"}
	}
	if len(doc.Content) == 0 || isNull(doc.Content[0]) {
		return nil, nil
	}
	root := doc.Content[0]
	if err := checkAliases(root); err != nil {
		return nil, &problem{source: name, line: root.Line, msg: err.Error()}
	}
	return root, nil
}

// syntaxError turns yaml.v3's "yaml: line 3: ..." into "name:3: ...".
func syntaxError(name string, data []byte, err error) error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	line, msg := splitLine(msg)
	if strings.Contains(msg, "cannot start any token") && hasTab(data, line) {
		msg += " (YAML does not allow tabs for indentation)"
	}
	return &problem{source: name, line: line, msg: msg}
}

// hasTab reports whether the 1-based line of data contains a tab; tabs are
// the usual cause of yaml.v3's least helpful error.
func hasTab(data []byte, line int) bool {
	for i, l := range bytes.Split(data, []byte("\n")) {
		if i+1 == line {
			return bytes.IndexByte(l, '\t') >= 0
		}
	}
	return false
}

// splitLine splits "line 3: msg" into 3 and "msg".
func splitLine(msg string) (int, string) {
	rest, ok := strings.CutPrefix(msg, "line ")
	if !ok {
		return 0, msg
	}
	num, rest, ok := strings.Cut(rest, ": ")
	line, err := strconv.Atoi(num)
	if !ok || err != nil {
		return 0, msg
	}
	return line, rest
}

// problem is one thing wrong with the configuration: where it came from
// (a file and line, or an environment variable), the key's path
// ("capture.workers") and what is wrong.
type problem struct {
	source string
	line   int
	path   string
	msg    string
}

func (p *problem) Error() string {
	var b strings.Builder
	switch {
	case p.source != "" && p.line > 0:
		fmt.Fprintf(&b, "%s:%d: ", p.source, p.line)
	case p.source != "":
		b.WriteString(p.source + ": ")
	}
	if p.path != "" {
		b.WriteString(p.path + ": ")
	}
	b.WriteString(p.msg)
	return b.String()
}

// decoder walks the YAML node tree along the Config struct, so that every
// key is checked against the yaml tags (what yaml.v3's KnownFields does,
// but with the key's path) and every mistake is collected with its line
// instead of stopping at the first.
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
	ptr := reflect.New(v.Type())
	err := r.Decode(ptr.Interface())
	var te *yaml.TypeError
	switch {
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

// checkAliases rejects alias cycles and aliases that would expand the
// document by more than maxAliasGrowth nodes. It visits each node once.
func checkAliases(root *yaml.Node) error {
	const visiting = -1
	sizes := map[*yaml.Node]int{}
	plain := 0
	var size func(n *yaml.Node) (int, error)
	size = func(n *yaml.Node) (int, error) {
		if n.Kind == yaml.AliasNode && n.Alias != nil {
			return size(n.Alias)
		}
		switch s, ok := sizes[n]; {
		case ok && s == visiting:
			return 0, fmt.Errorf("alias *%s refers to a node that contains it", n.Anchor)
		case ok:
			return s, nil
		}
		sizes[n] = visiting
		plain++
		total := 1
		for _, c := range n.Content {
			s, err := size(c)
			if err != nil {
				return 0, err
			}
			total = min(total+s, 1<<40) // saturate: no overflow on deep bombs
		}
		sizes[n] = total
		return total, nil
	}
	total, err := size(root)
	if err != nil {
		return err
	}
	if total-plain > maxAliasGrowth {
		return fmt.Errorf("aliases expand the document by more than %d nodes", maxAliasGrowth)
	}
	return nil
}

// isSection tells a nested section (recursed into) from a leaf value.
func isSection(t reflect.Type) bool {
	return t.Kind() == reflect.Struct && !reflect.PointerTo(t).Implements(reflect.TypeFor[yaml.Unmarshaler]())
}

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
