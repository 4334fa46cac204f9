package matcher

import (
	"regexp/syntax"
	"strings"
	"unicode"
	"unicode/utf8"
)

// A regex prefilter: a set of literals at least one of which every match of
// the regex contains. Checking them with strings.Index (SIMD in the runtime)
// is far cheaper than running the regex, which on typical posts finds
// nothing; profiles of real post text showed regexes taking two thirds of
// the match time before this.

const maxPrefilterLits = 16

// regexPrefilter holds the literals, lower-cased when the regex folds case.
type regexPrefilter struct {
	lits []string
	fold bool // literals contain ASCII letters and match case-insensitively
}

// newRegexPrefilter derives a prefilter, or nil when the regex has no
// usable required literal (it then runs on every text).
func newRegexPrefilter(pattern string) *regexPrefilter {
	re, err := syntax.Parse(pattern, syntax.Perl|syntax.FoldCase)
	if err != nil {
		return nil
	}
	lits := requiredLiterals(re.Simplify())
	if len(lits) == 0 {
		return nil
	}
	p := &regexPrefilter{lits: lits}
	for _, l := range lits {
		if strings.IndexFunc(l, func(r rune) bool { return r < utf8.RuneSelf && unicode.IsLetter(r) }) >= 0 {
			p.fold = true
		}
	}
	return p
}

// requiredLiterals returns literals one of which any match of re contains.
func requiredLiterals(re *syntax.Regexp) []string {
	switch re.Op {
	case syntax.OpLiteral:
		if len(re.Rune) == 0 {
			return nil
		}
		// Lower-case even a case-sensitive literal: the prefilter then
		// matches more, never less. Non-ASCII letters with case variants
		// (é/É) would need Unicode folding here: no prefilter for them.
		for _, r := range re.Rune {
			if r >= utf8.RuneSelf && unicode.SimpleFold(r) != r {
				return nil
			}
		}
		return []string{strings.ToLower(string(re.Rune))}
	case syntax.OpCapture, syntax.OpPlus:
		return requiredLiterals(re.Sub[0])
	case syntax.OpRepeat:
		if re.Min >= 1 {
			return requiredLiterals(re.Sub[0])
		}
	case syntax.OpCharClass:
		// A small class of single characters, such as [+＋].
		var out []string
		for i := 0; i+1 < len(re.Rune); i += 2 {
			for r := re.Rune[i]; r <= re.Rune[i+1]; r++ {
				if len(out) == maxPrefilterLits {
					return nil
				}
				if r >= utf8.RuneSelf && unicode.SimpleFold(r) != r {
					return nil
				}
				out = append(out, strings.ToLower(string(r)))
			}
		}
		return dedupe(out)
	case syntax.OpConcat:
		// Candidates: each part's own required set, and the cross product
		// of each run of parts that match a small finite set of strings
		// ("v" then [x信] gives vx, v信). The longest shortest literal wins.
		var best, run []string
		consider := func(l []string) {
			if l != nil && (best == nil || shortest(l) > shortest(best)) {
				best = l
			}
		}
		for _, sub := range re.Sub {
			consider(requiredLiterals(sub))
			exact := exactStrings(sub)
			switch {
			case exact == nil:
				consider(run)
				run = nil
			case run == nil:
				run = exact
			default:
				if run = crossProduct(run, exact); run == nil {
					run = exact
				}
			}
			consider(run)
		}
		return best
	case syntax.OpAlternate:
		return unionOf(re.Sub, requiredLiterals)
	}
	return nil
}

// exactStrings lists every string re can match when that is a small finite
// set of literals, or returns nil.
func exactStrings(re *syntax.Regexp) []string {
	switch re.Op {
	case syntax.OpLiteral, syntax.OpCharClass:
		return requiredLiterals(re)
	case syntax.OpCapture:
		return exactStrings(re.Sub[0])
	case syntax.OpAlternate:
		return unionOf(re.Sub, exactStrings)
	case syntax.OpConcat:
		out := []string{""}
		for _, sub := range re.Sub {
			l := exactStrings(sub)
			if l == nil {
				return nil
			}
			if out = crossProduct(out, l); out == nil {
				return nil
			}
		}
		return out
	}
	return nil
}

// unionOf collects f of every alternative; nil when one has none or the
// union exceeds maxPrefilterLits.
func unionOf(subs []*syntax.Regexp, f func(*syntax.Regexp) []string) []string {
	var out []string
	for _, sub := range subs {
		l := f(sub)
		if l == nil || len(out)+len(l) > maxPrefilterLits {
			return nil
		}
		out = append(out, l...)
	}
	return dedupe(out)
}

// crossProduct concatenates every a with every b, or returns nil when that
// would exceed maxPrefilterLits.
func crossProduct(a, b []string) []string {
	if len(a)*len(b) > maxPrefilterLits {
		return nil
	}
	out := make([]string, 0, len(a)*len(b))
	for _, x := range a {
		for _, y := range b {
			out = append(out, x+y)
		}
	}
	return dedupe(out)
}

func shortest(lits []string) int {
	n := -1
	for _, l := range lits {
		if n < 0 || len(l) < n {
			n = len(l)
		}
	}
	return n
}

func dedupe(lits []string) []string {
	seen := map[string]bool{}
	out := lits[:0]
	for _, l := range lits {
		if !seen[l] {
			seen[l] = true
			out = append(out, l)
		}
	}
	return out
}

// mayMatch reports whether text contains one of the literals; false means
// the regex cannot match.
func (p *regexPrefilter) mayMatch(text string) bool {
	if p == nil {
		return true
	}
	if p.fold && (strings.Contains(text, "\u212a") || strings.Contains(text, "\u017f")) {
		return true // Kelvin sign and long s fold to k and s: be safe, run the regex
	}
	for _, l := range p.lits {
		if p.fold {
			if containsFoldASCII(text, l) {
				return true
			}
		} else if strings.Contains(text, l) {
			return true
		}
	}
	return false
}

// containsFoldASCII reports whether text contains lit (lower case) with
// ASCII letters in either case.
func containsFoldASCII(text, lit string) bool {
	c := lit[0]
	upper := c
	if c >= 'a' && c <= 'z' {
		upper = c - 'a' + 'A'
	}
	for i := 0; i+len(lit) <= len(text); {
		j := strings.IndexByte(text[i:], c)
		if upper != c {
			if k := strings.IndexByte(text[i:], upper); k >= 0 && (j < 0 || k < j) {
				j = k
			}
		}
		if j < 0 {
			return false
		}
		i += j
		if i+len(lit) <= len(text) && equalFoldASCII(text[i:i+len(lit)], lit) {
			return true
		}
		i++
	}
	return false
}

func equalFoldASCII(s, lower string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}
