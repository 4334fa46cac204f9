package matcher

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"unsafe"
)

// Formats of list files a pack can name.
const (
	FormatDomains  = "domains"
	FormatHosts    = "hosts"
	FormatAdblock  = "adblock"
	FormatKeywords = "keywords"
	FormatRegex    = "regex"
)

var formats = []string{FormatDomains, FormatHosts, FormatAdblock, FormatKeywords, FormatRegex}

// entryKind says which index a list entry feeds.
type entryKind uint8

const (
	entryDomain entryKind = iota + 1
	entryKeyword
	entryRegex
)

// listEntry is one rule read from a list line.
type listEntry struct {
	kind  entryKind
	value string // normalized domain, keyword or regex source
	flags uint8  // domain flags
}

// lineParser parses one non-blank, non-comment line. It calls emit for each
// entry (a hosts line may name several), returns a warning for rules kept
// with a caveat and an error for a line that is skipped.
type lineParser func(line string, emit func(listEntry)) (warning string, err error)

// parserFor returns the line parser of a format.
func parserFor(format string) (lineParser, string, error) {
	switch format {
	case FormatDomains:
		return parseDomainLine, "#", nil
	case FormatHosts:
		return parseHostsLine, "#", nil
	case FormatAdblock:
		return parseAdblockLine, "!", nil
	case FormatKeywords:
		return parseKeywordLine, "#", nil
	case FormatRegex:
		return parseRegexLine, "#", nil
	}
	return nil, "", fmt.Errorf("unknown list format %q (want one of %s)", format, strings.Join(formats, ", "))
}

// LineError is a problem with one line of a rule file; the CLI prints it as
// FILE:LINE: reason.
type LineError struct {
	File    string
	Line    int
	Reason  string
	Warning bool // the rule was kept
}

func (e LineError) Error() string {
	if e.Line == 0 {
		return fmt.Sprintf("%s: %s", e.File, e.Reason)
	}
	return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Reason)
}

// maxLineBytes bounds one list line; longer lines are reported and skipped.
const maxLineBytes = 64 << 10

// readList runs a format's parser over every line of r. Bad lines become
// LineErrors; the good ones are passed to emit with their line number. An
// entry's value may point into readList's buffer: it is valid only during
// the call to emit, which must copy what it keeps (compiledPack.add does).
func readList(r io.Reader, file, format string, emit func(listEntry, int)) ([]LineError, error) {
	parse, comment, err := parserFor(format)
	if err != nil {
		return nil, err
	}
	var problems []LineError
	br := bufio.NewReaderSize(r, 64<<10)
	// One callback for the whole file: a closure made per line escapes
	// (parse is a func value) and costs an allocation per rule.
	var cur int
	emitCur := func(e listEntry) { emit(e, cur) }
	for lineNo := 1; ; lineNo++ {
		raw, err := readLine(br)
		if len(raw) > maxLineBytes {
			problems = append(problems, LineError{File: file, Line: lineNo, Reason: fmt.Sprintf("line longer than %d bytes", maxLineBytes)})
		} else if len(raw) > 0 {
			line := cleanLine(raw, lineNo == 1)
			if line != "" && !strings.HasPrefix(line, comment) && !(format == FormatAdblock && strings.HasPrefix(line, "[")) {
				cur = lineNo
				warn, perr := parse(line, emitCur)
				if perr != nil {
					problems = append(problems, LineError{File: file, Line: lineNo, Reason: perr.Error()})
				} else if warn != "" {
					problems = append(problems, LineError{File: file, Line: lineNo, Reason: warn, Warning: true})
				}
			}
		}
		if err == io.EOF {
			return problems, nil
		}
		if err != nil {
			return problems, fmt.Errorf("%s: read line %d: %w", file, lineNo, err)
		}
	}
}

// readLine returns the next line without its newline, however long; the
// caller rejects overlong ones after reading past them.
func readLine(br *bufio.Reader) ([]byte, error) {
	var long []byte
	for {
		chunk, err := br.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			if len(long) <= maxLineBytes {
				long = append(long, chunk...)
			}
			continue
		}
		if long != nil {
			chunk = append(long, chunk...)
		}
		return bytes.TrimSuffix(chunk, []byte{'\n'}), err
	}
}

// cleanLine drops a BOM on the first line, a CR before the newline and
// surrounding white space. The result is a view of b, not a copy: a list of
// a million domains is parsed without a string per line, so it is valid
// only until the next read (see readList).
func cleanLine(b []byte, first bool) string {
	if first {
		b = bytes.TrimPrefix(b, []byte("\xEF\xBB\xBF"))
	}
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

// stripInlineComment removes " # comment" from domain and hosts lines.
func stripInlineComment(line string) string {
	if i := strings.IndexByte(line, '#'); i >= 0 {
		return strings.TrimSpace(line[:i])
	}
	return line
}

func parseDomainLine(line string, emit func(listEntry)) (string, error) {
	line = stripInlineComment(line)
	var flags uint8
	if rest, ok := strings.CutPrefix(line, "*."); ok {
		line, flags = rest, domainSubdomainsOnly
	}
	d, err := checkDomain(line)
	if err != nil {
		return "", err
	}
	emit(listEntry{kind: entryDomain, value: d, flags: flags})
	return "", nil
}

// hostsSkip are the names every hosts file maps to itself.
var hostsSkip = map[string]bool{
	"localhost": true, "localhost.localdomain": true, "local": true, "broadcasthost": true,
	"ip6-localhost": true, "ip6-loopback": true, "ip6-localnet": true, "ip6-mcastprefix": true,
	"ip6-allnodes": true, "ip6-allrouters": true, "ip6-allhosts": true, "0.0.0.0": true,
}

func parseHostsLine(line string, emit func(listEntry)) (string, error) {
	fields := strings.Fields(stripInlineComment(line))
	if len(fields) < 2 {
		return "", fmt.Errorf("hosts line needs an address and at least one name")
	}
	if _, err := netip.ParseAddr(fields[0]); err != nil {
		return "", fmt.Errorf("hosts line starts with %q, not an IP address", fields[0])
	}
	var bad []string
	for _, f := range fields[1:] {
		if hostsSkip[strings.ToLower(f)] {
			continue
		}
		d, err := checkDomain(f)
		if err != nil {
			bad = append(bad, err.Error())
			continue
		}
		if hostsSkip[d] { // written "localhost." or "ＬＯＣＡＬＨＯＳＴ"
			continue
		}
		emit(listEntry{kind: entryDomain, value: d})
	}
	if len(bad) > 0 {
		return "", fmt.Errorf("%s", strings.Join(bad, "; "))
	}
	return "", nil
}

// parseAdblockLine accepts the DNS subset of adblock syntax: ||domain^ rules
// and their @@ exceptions. Cosmetic and URL rules are for browsers and are
// skipped without an error.
func parseAdblockLine(line string, emit func(listEntry)) (string, error) {
	for _, cosmetic := range []string{"##", "#@#", "#?#", "#$#", "#%#", "$$"} {
		if strings.Contains(line, cosmetic) {
			return "", nil
		}
	}
	var flags uint8
	if rest, ok := strings.CutPrefix(line, "@@"); ok {
		line, flags = rest, domainException
	}
	var warning string
	if i := strings.IndexByte(line, '$'); i >= 0 {
		for _, opt := range strings.Split(line[i+1:], ",") {
			if opt != "important" {
				return "", fmt.Errorf("modifier $%s is not supported for DNS rules", opt)
			}
			warning = "$important ignored: exceptions always win in campusguard"
		}
		line = line[:i]
	}
	body, anchored := strings.CutPrefix(line, "||")
	body = strings.TrimSuffix(body, "^")
	switch {
	case strings.HasPrefix(body, "/") || strings.ContainsAny(body, "/^|*"):
		return "", fmt.Errorf("unsupported adblock rule %q: only ||domain^ rules apply to DNS", line)
	case !anchored && strings.HasPrefix(line, "|"):
		return "", fmt.Errorf("unsupported adblock rule %q: only ||domain^ rules apply to DNS", line)
	}
	d, err := checkDomain(body)
	if err != nil {
		return "", err
	}
	emit(listEntry{kind: entryDomain, value: d, flags: flags})
	return warning, nil
}

func parseKeywordLine(line string, emit func(listEntry)) (string, error) {
	emit(listEntry{kind: entryKeyword, value: line})
	return "", nil
}

func parseRegexLine(line string, emit func(listEntry)) (string, error) {
	if err := checkRegex(line); err != nil {
		return "", err
	}
	emit(listEntry{kind: entryRegex, value: line})
	return "", nil
}

// checkDomain normalizes a rule domain and says what is wrong with it.
func checkDomain(s string) (string, error) {
	if s == "" {
		return "", fmt.Errorf("empty domain")
	}
	if isIPAddr(s) {
		return "", fmt.Errorf("%q is an IP address, not a domain", s)
	}
	if strings.Contains(s, "://") || strings.ContainsAny(s, "/ \t") {
		return "", fmt.Errorf("%q is not a domain name (a URL or several words?)", s)
	}
	d, ok := normalizeDomain(s)
	if !ok {
		return "", fmt.Errorf("%q is not a valid domain name", s)
	}
	if isIPAddr(d) {
		return "", fmt.Errorf("%q is an IP address, not a domain", s)
	}
	for rest := d; ; { // labels, as strings.Split would give them, without its slice
		label, tail, more := strings.Cut(rest, ".")
		if label == "" {
			return "", fmt.Errorf("%q has an empty label", s)
		}
		if len(label) > 63 {
			return "", fmt.Errorf("%q has a label longer than 63 bytes", s)
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return "", fmt.Errorf("%q contains %q, not allowed in a domain name", s, c)
			}
		}
		if !more {
			break
		}
		rest = tail
	}
	return d, nil
}

// isIPAddr is netip.ParseAddr(s) == nil without building ParseAddr's error
// for the usual case, a name with letters in it.
func isIPAddr(s string) bool {
	if strings.IndexByte(s, ':') < 0 && strings.Trim(s, "0123456789.") != "" {
		return false // not IPv6, and not only digits and dots: not IPv4
	}
	_, err := netip.ParseAddr(s)
	return err == nil
}
