package dnsplugin

import (
	"bufio"
	"fmt"
	"os"
	"strings"

	"golang.org/x/net/idna"
)

// allowlist holds names that are never blocked: a name and every name below
// it. It is immutable; a reload builds a new one.
type allowlist struct {
	names map[string]struct{}
}

func newAllowlist(names []string) *allowlist {
	a := &allowlist{names: make(map[string]struct{}, len(names))}
	for _, n := range names {
		a.names[n] = struct{}{}
	}
	return a
}

// contains reports whether name (a DNS name in any case, with or without
// the trailing dot) or a parent of it is allowed. It does not allocate.
func (a *allowlist) contains(name string) bool {
	if a == nil || len(a.names) == 0 {
		return false
	}
	var buf [255]byte
	if len(name) > len(buf) {
		return false
	}
	n := copy(buf[:], name)
	if n > 0 && buf[n-1] == '.' {
		n--
	}
	for i := 0; i < n; i++ {
		if c := buf[i]; c >= 'A' && c <= 'Z' {
			buf[i] = c + 'a' - 'A'
		}
	}
	b := buf[:n]
	for len(b) > 0 {
		if _, ok := a.names[string(b)]; ok { // no allocation: map index by converted bytes
			return true
		}
		i := 0
		for i < len(b) && b[i] != '.' {
			i++
		}
		if i == len(b) {
			break
		}
		b = b[i+1:]
	}
	return false
}

// normalizeAllow turns an allowlist entry into the lower-case ASCII form
// without the trailing dot. A leading "*." is accepted and means the same.
func normalizeAllow(s string) (string, bool) {
	s = strings.TrimPrefix(strings.TrimSuffix(strings.TrimSpace(s), "."), "*.")
	if s == "" || len(s) > 253 {
		return "", false
	}
	a, err := idna.Lookup.ToASCII(s)
	if err != nil {
		// underscores and other names idna rejects are still fine in DNS
		a = strings.ToLower(s)
		for i := 0; i < len(a); i++ {
			c := a[i]
			if c <= ' ' || c >= 0x7f || c == '/' || c == '\\' {
				return "", false
			}
		}
	}
	if strings.Contains(a, "..") || strings.HasPrefix(a, ".") {
		return "", false
	}
	return a, true
}

// readAllowFile reads one name a line; blank lines and # comments are
// skipped, hosts-style lines ("0.0.0.0 name") give their names. A bad line
// is an error naming the file and line.
func readAllowFile(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 64<<10)
	line := 0
	for sc.Scan() {
		line++
		t := sc.Text()
		if i := strings.IndexByte(t, '#'); i >= 0 {
			t = t[:i]
		}
		fields := strings.Fields(t)
		if len(fields) == 0 {
			continue
		}
		if len(fields) > 1 && strings.ContainsAny(fields[0], ".:") && strings.IndexFunc(fields[0], func(r rune) bool { return !(r >= '0' && r <= '9' || r == '.' || r == ':' || r >= 'a' && r <= 'f') }) < 0 {
			fields = fields[1:] // hosts format
		}
		for _, fl := range fields {
			n, ok := normalizeAllow(fl)
			if !ok {
				return nil, fmt.Errorf("%s:%d: %q is not a domain name", path, line, fl)
			}
			out = append(out, n)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s:%d: %w", path, line+1, err)
	}
	return out, nil
}
