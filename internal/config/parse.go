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
	// maxSize bounds a config file; a real one is a few kilobytes.
	maxSize = 1 << 20
	// maxAliasGrowth bounds how many nodes aliases may add when expanded,
	// so that an alias bomb ("billion laughs") is rejected before anything
	// expands it.
	maxAliasGrowth = 10000
	// maxNodes bounds the expanded document: 1 MiB of "[1,1,...]" is half
	// a million nodes, seconds of decoding for no real config.
	maxNodes = 100000
	// maxDepth bounds nesting: yaml.v3 writes deep block mappings in
	// quadratic time, and no config needs more than a handful of levels.
	maxDepth = 100
	// maxOpaqueKeys bounds a mapping in opaque data (alert policies), as
	// yaml.v3 checks those for duplicate keys in quadratic time.
	maxOpaqueKeys = 1000
	// maxProblems bounds the error message; a file with more problems is
	// probably not a config file.
	maxProblems = 50
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
	return io.ReadAll(io.LimitReader(f, maxSize+1)) // os errors name the path
}

// Parse builds a Config from the YAML document in data, starting from
// Default; name is used in error messages (normally the file's path). An
// empty document yields the defaults, and so does a key or section left
// empty ("capture:"); write "packs: []" to empty a list. Unknown keys,
// duplicate keys, values of the wrong type and invalid values are all
// reported, each as "name:line: key: problem", joined in one error.
//
// Parse refuses what no config file needs and a hostile one could use:
// more than one document, more than 1 MiB, alias expansion beyond 10000
// nodes, more than 100000 nodes or 100 levels, and merge keys (<<) outside
// alert policies.
func Parse(name string, data []byte, opts ...Option) (Config, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	if len(data) > maxSize {
		return Config{}, fmt.Errorf("%s: larger than %d bytes; is this a config file?", name, maxSize)
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
	if len(errs) > maxProblems {
		more := len(errs) - maxProblems
		errs = append(errs[:maxProblems], fmt.Errorf("%s: %d more problems not shown", name, more))
	}
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
	if err := checkSize(root); err != nil {
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
