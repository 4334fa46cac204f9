package matcher

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/campusguard/campusguard/internal/event"
	"gopkg.in/yaml.v3"
)

// Post verdicts and network actions a pack may ask for, from mildest.
var (
	PostActions    = []string{"allow", "flag", "hold", "reject"}
	NetworkActions = []string{"log", "alert", "block"}
)

// MaxPackBytes bounds a pack's YAML file.
const MaxPackBytes = 1 << 20

var packNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,63}$`)

// packFile is the YAML form of a rule pack (DESIGN.md).
type packFile struct {
	Name        string        `yaml:"name"`
	Description string        `yaml:"description"`
	Category    string        `yaml:"category"`
	Severity    string        `yaml:"severity"`
	AppliesTo   []string      `yaml:"applies_to"`
	Action      packAction    `yaml:"action"`
	Keywords    yaml.Node     `yaml:"keywords"`
	Domains     yaml.Node     `yaml:"domains"`
	Regex       yaml.Node     `yaml:"regex"`
	Detectors   []string      `yaml:"detectors"`
	Files       []packListRef `yaml:"files"`
}

type packAction struct {
	Post    string `yaml:"post"`
	Network string `yaml:"network"`
}

type packListRef struct {
	Path   string `yaml:"path"`
	Format string `yaml:"format"`
	line   int
}

func (r *packListRef) UnmarshalYAML(n *yaml.Node) error {
	type plain packListRef
	var p plain
	dec := n.Decode
	if err := dec(&p); err != nil {
		return err
	}
	*r = packListRef(p)
	r.line = n.Line
	return nil
}

// PackInfo describes a loaded pack; it is what the console and metrics show.
type PackInfo struct {
	Name        string         `json:"name"`
	Description string         `json:"description,omitempty"`
	Category    string         `json:"category"`
	Severity    event.Severity `json:"severity"`
	AppliesTo   []event.Kind   `json:"applies_to"`
	PostAction  string         `json:"post_action"`
	NetAction   string         `json:"network_action"`
	Source      string         `json:"source"`
	Domains     int            `json:"domains"`
	// DuplicateDomains counts the domain rules skipped because the pack
	// already had one of the same kind on the same name.
	DuplicateDomains int         `json:"duplicate_domains,omitempty"`
	Keywords         int         `json:"keywords"`
	Regexes          int         `json:"regexes"`
	Detectors        []string    `json:"detectors,omitempty"`
	Problems         []LineError `json:"problems,omitempty"`
}

func (p *PackInfo) kindMask() uint32 {
	var m uint32
	for _, k := range p.AppliesTo {
		m |= 1 << k
	}
	return m
}

// compiledPack is a pack ready to match: its own domain index, its regexes
// and detectors, and its keywords (merged into the Set's keyword index).
type compiledPack struct {
	info      PackInfo
	kinds     uint32 // bit per event.Kind
	files     []string
	domains   *domainIndex
	keywords  []packKeyword
	regexes   []packRegex
	detectors []packDetector
	fold      *foldTable
}

type packKeyword struct {
	text string
	file uint16
	line uint32
}

type packRegex struct {
	re   *regexp.Regexp
	pre  *regexPrefilter
	file uint16
	line uint32
}

type packDetector struct {
	name string
	fn   detectorFunc
	line uint32
}

// loadOptions carries what a pack load needs from the matcher.
type loadOptions struct {
	fold       *foldTable
	domainHint int // expected number of domain rules, to size the index
}

// loadPack reads and compiles one pack. fsys holds the pack and its lists;
// name is the pack path inside fsys. A fatal problem returns an error; bad
// lines are reported in info.Problems and skipped.
func loadPack(fsys fs.FS, name string, opt loadOptions) (*compiledPack, error) {
	data, err := readLimited(fsys, name, MaxPackBytes)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	var pf packFile
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&pf); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%s: empty pack", name)
		}
		return nil, yamlErrors(name, err)
	}
	var doc yaml.Node // the same document, for the lines of pack-level keys
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, yamlErrors(name, err)
	}
	p := &compiledPack{files: []string{path.Base(name)}, fold: opt.fold}
	if key, err := p.setInfo(name, &pf); err != nil {
		if line := keyLine(&doc, key); line > 0 {
			return nil, fmt.Errorf("%s:%d: %w", name, line, err)
		}
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	p.domains = newDomainIndex(max(opt.domainHint, countDomainLines(fsys, path.Dir(name), pf.Files)))
	budget := &regexBudget{}
	p.addInline(&pf.Keywords, entryKeyword, budget)
	p.addInline(&pf.Domains, entryDomain, budget)
	p.addInline(&pf.Regex, entryRegex, budget)
	for i, d := range pf.Detectors {
		fn, err := detectorByName(d)
		if err != nil {
			line := 0
			if key, items := lookupKey(&doc, "detectors"); items != nil && i < len(items.Content) {
				line = items.Content[i].Line
			} else if key != nil {
				line = key.Line
			}
			p.problem(0, line, err.Error())
			continue
		}
		p.detectors = append(p.detectors, packDetector{name: d, fn: fn})
		p.info.Detectors = append(p.info.Detectors, d)
	}
	dir := path.Dir(name)
	for _, ref := range pf.Files {
		if err := p.loadList(fsys, dir, ref, budget); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", name, ref.line, err)
		}
	}
	if len(p.keywords)+p.info.Domains+len(p.regexes)+len(p.detectors) == 0 {
		return nil, fmt.Errorf("%s: pack %q has no usable rules", name, p.info.Name)
	}
	return p, nil
}

// setInfo checks the pack-level keys; on an error it also returns the key
// (dotted path) at fault, for its line.
func (p *compiledPack) setInfo(name string, pf *packFile) (string, error) {
	info := PackInfo{Name: pf.Name, Description: pf.Description, Category: pf.Category, Source: name}
	if !packNameRE.MatchString(pf.Name) {
		return "name", fmt.Errorf("name %q: want lower-case letters, digits, '.', '_' or '-', up to 64", pf.Name)
	}
	if !packNameRE.MatchString(pf.Category) {
		return "category", fmt.Errorf("category %q: want a lower-case word such as phishing, malware, fraud, spam, gambling, pii, harassment", pf.Category)
	}
	info.Severity = event.SeverityMedium
	if pf.Severity != "" {
		s, err := event.ParseSeverity(pf.Severity)
		if err != nil {
			return "severity", err
		}
		info.Severity = s
	}
	if len(pf.AppliesTo) == 0 {
		info.AppliesTo = event.Kinds()
	}
	for _, k := range pf.AppliesTo {
		kind, err := event.ParseKind(k)
		if err != nil {
			return "applies_to", fmt.Errorf("applies_to: %w", err)
		}
		info.AppliesTo = append(info.AppliesTo, kind)
	}
	info.PostAction, info.NetAction = orDefault(pf.Action.Post, "flag"), orDefault(pf.Action.Network, "log")
	if !slices.Contains(PostActions, info.PostAction) {
		return "action.post", fmt.Errorf("action.post %q: want one of %s", info.PostAction, strings.Join(PostActions, ", "))
	}
	if !slices.Contains(NetworkActions, info.NetAction) {
		return "action.network", fmt.Errorf("action.network %q: want one of %s", info.NetAction, strings.Join(NetworkActions, ", "))
	}
	p.info = info
	p.kinds = info.kindMask()
	return "", nil
}

// keyLine is the line of a key (a dotted path such as "action.post") in a
// decoded YAML document, 0 when it is not there.
func keyLine(doc *yaml.Node, key string) int {
	k, _ := lookupKey(doc, key)
	if k == nil {
		return 0
	}
	return k.Line
}

// lookupKey finds a key (a dotted path) in a decoded YAML document and
// returns its key and value nodes, nil when it is not there.
func lookupKey(doc *yaml.Node, key string) (k, v *yaml.Node) {
	n := doc
	if n.Kind == yaml.DocumentNode && len(n.Content) == 1 {
		n = n.Content[0]
	}
	for part := range strings.SplitSeq(key, ".") {
		if n == nil || n.Kind != yaml.MappingNode {
			return nil, nil
		}
		k, v = nil, nil
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == part {
				k, v = n.Content[i], n.Content[i+1]
				break
			}
		}
		n = v
	}
	return k, v
}

// addInline adds the entries of a YAML list in the pack file itself; their
// rule id is PACK.yaml:LINE.
func (p *compiledPack) addInline(n *yaml.Node, kind entryKind, budget *regexBudget) {
	if n.Kind == 0 {
		return
	}
	if n.Kind != yaml.SequenceNode {
		p.problem(0, n.Line, "expected a list")
		return
	}
	for _, item := range n.Content {
		if item.Kind != yaml.ScalarNode {
			p.problem(0, item.Line, "expected a string")
			continue
		}
		var (
			entries []listEntry
			err     error
		)
		emit := func(e listEntry) { entries = append(entries, e) }
		switch kind {
		case entryKeyword:
			_, err = parseKeywordLine(item.Value, emit)
		case entryDomain:
			_, err = parseDomainLine(item.Value, emit)
		case entryRegex:
			_, err = parseRegexLine(item.Value, emit)
		}
		if err != nil {
			p.problem(0, item.Line, err.Error())
			continue
		}
		for _, e := range entries {
			p.add(e, 0, item.Line, budget)
		}
	}
}

func (p *compiledPack) loadList(fsys fs.FS, dir string, ref packListRef, budget *regexBudget) error {
	if ref.Path == "" {
		return fmt.Errorf("files: entry without a path")
	}
	if _, _, err := parserFor(ref.Format); err != nil {
		return fmt.Errorf("files: %s: %w", ref.Path, err)
	}
	f, err := fsys.Open(listPath(dir, ref.Path))
	if err != nil {
		return fmt.Errorf("files: %s: %w", ref.Path, err)
	}
	defer f.Close()
	if len(p.files) >= 1<<16-1 {
		return fmt.Errorf("files: too many list files")
	}
	fileIdx := uint16(len(p.files))
	p.files = append(p.files, ref.Path)
	problems, err := readList(f, ref.Path, ref.Format, func(e listEntry, line int) {
		p.add(e, fileIdx, line, budget)
	})
	p.info.Problems = append(p.info.Problems, problems...)
	return err
}

// countDomainLines counts the lines of the pack's domain lists that can
// hold a rule (not blank, not a comment), to size the domain index once
// instead of growing it (growing a 1M-rule index leaves ~35 MB of garbage
// behind). Counting every newline let a list of 4 MiB of blank lines size
// an index for 4M rules, 85 MB, for the one rule it had. One streaming read
// per file, nothing kept; a file that cannot be read counts 0 and fails
// properly in loadList.
func countDomainLines(fsys fs.FS, dir string, refs []packListRef) int {
	n := 0
	var buf []byte
	for _, ref := range refs {
		if ref.Format != FormatDomains && ref.Format != FormatHosts && ref.Format != FormatAdblock || ref.Path == "" {
			continue
		}
		f, err := fsys.Open(listPath(dir, ref.Path))
		if err != nil {
			continue
		}
		if buf == nil {
			buf = make([]byte, 64<<10)
		}
		lineStart := true // no byte but blanks seen on this line yet
		for {
			k, err := f.Read(buf)
			for _, c := range buf[:k] {
				switch {
				case c == '\n':
					lineStart = true
				case !lineStart || c == ' ' || c == '\t' || c == '\r':
				default:
					lineStart = false
					if c != '#' && c != '!' {
						n++
					}
				}
			}
			if err != nil {
				break
			}
		}
		f.Close()
	}
	return min(n, MaxDomainRules)
}

// listPath is where a pack in dir finds a list file it names.
func listPath(dir, p string) string {
	if path.IsAbs(p) {
		return strings.TrimPrefix(path.Clean(p), "/")
	}
	return path.Clean(path.Join(dir, p))
}

// add files one parsed entry into the pack's indexes.
func (p *compiledPack) add(e listEntry, file uint16, line int, budget *regexBudget) {
	switch e.kind {
	case entryDomain:
		added, err := p.domains.add(e.value, domainEntry{line: uint32(line), file: file, flags: e.flags})
		switch {
		case err != nil:
			p.problem(file, line, err.Error())
		case added:
			p.info.Domains++
		default:
			p.info.DuplicateDomains++
		}
	case entryKeyword:
		if _, err := foldKeyword(p.fold, e.value); err != nil {
			p.problem(file, line, err.Error())
			return
		}
		// Copies: e.value may point into the list reader's buffer.
		p.keywords = append(p.keywords, packKeyword{text: strings.Clone(e.value), file: file, line: uint32(line)})
		p.info.Keywords++
	case entryRegex:
		src := strings.Clone(e.value)
		re, err := budget.compile(src)
		if err != nil {
			p.problem(file, line, err.Error())
			return
		}
		p.regexes = append(p.regexes, packRegex{re: re, pre: newRegexPrefilter(src), file: file, line: uint32(line)})
		p.info.Regexes++
	}
}

func (p *compiledPack) problem(file uint16, line int, reason string) {
	name := p.info.Source
	if file > 0 {
		name = p.files[file]
	}
	p.info.Problems = append(p.info.Problems, LineError{File: name, Line: line, Reason: reason})
}

// ruleID is FILE:LINE as written in hits.
func (p *compiledPack) ruleID(file uint16, line uint32) string {
	var buf [96]byte // one allocation, the string; Sprintf also boxes both arguments
	b := append(append(buf[:0], p.files[file]...), ':')
	return string(strconv.AppendUint(b, uint64(line), 10))
}

func readLimited(fsys fs.FS, name string, limit int64) ([]byte, error) {
	f, err := fsys.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("larger than %d bytes", limit)
	}
	return data, nil
}

var (
	yamlLineRE    = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)
	yamlUnknownRE = regexp.MustCompile(`field (\S+) not found in type \S+`)
)

// yamlErrors rewrites yaml.v3's "line N: ..." messages as "FILE:N: ...",
// one per problem, with unknown fields called what they are.
func yamlErrors(name string, err error) error {
	msgs := []string{strings.TrimPrefix(err.Error(), "yaml: ")}
	var te *yaml.TypeError
	if errors.As(err, &te) {
		msgs = te.Errors
	}
	errs := make([]error, 0, len(msgs))
	for _, m := range msgs {
		m = yamlUnknownRE.ReplaceAllString(m, `unknown key "$1"`)
		if sub := yamlLineRE.FindStringSubmatch(m); sub != nil {
			errs = append(errs, fmt.Errorf("%s:%s: %s", name, sub[1], sub[2]))
			continue
		}
		errs = append(errs, fmt.Errorf("%s: %s", name, m))
	}
	return errors.Join(errs...)
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
