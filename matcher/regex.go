package matcher

import (
	"fmt"
	"regexp"
	"regexp/syntax"
)

// Regex rules are RE2 (Go's regexp: linear time, no backreferences), and
// still guarded, because a large program multiplies the cost of every match:
// each pattern is size-limited, a pack has a budget of compiled instructions
// that its patterns share, and a regex sees at most MaxRegexInput bytes of a
// text. Patterns match case-insensitively.
const (
	MaxRegexBytes  = 1024
	MaxRegexInsts  = 2000
	PackRegexInsts = 20000
	MaxRegexInput  = 64 << 10
)

// regexCost parses a pattern and returns its compiled instruction count.
func regexCost(pattern string) (int, error) {
	if len(pattern) > MaxRegexBytes {
		return 0, fmt.Errorf("regex is %d bytes, the limit is %d", len(pattern), MaxRegexBytes)
	}
	re, err := syntax.Parse(pattern, syntax.Perl|syntax.FoldCase)
	if err != nil {
		return 0, fmt.Errorf("regex %q: %w", pattern, err)
	}
	prog, err := syntax.Compile(re.Simplify())
	if err != nil {
		return 0, fmt.Errorf("regex %q: %w", pattern, err)
	}
	if len(prog.Inst) > MaxRegexInsts {
		return 0, fmt.Errorf("regex %q compiles to %d instructions, the limit is %d", pattern, len(prog.Inst), MaxRegexInsts)
	}
	if minLen(re) == 0 {
		return 0, fmt.Errorf("regex %q can match an empty string, so it would hit every text", pattern)
	}
	return len(prog.Inst), nil
}

// minLen is the fewest characters a match of re consumes.
func minLen(re *syntax.Regexp) int {
	switch re.Op {
	case syntax.OpLiteral:
		return len(re.Rune)
	case syntax.OpCharClass, syntax.OpAnyChar, syntax.OpAnyCharNotNL:
		return 1
	case syntax.OpCapture, syntax.OpPlus:
		return minLen(re.Sub[0])
	case syntax.OpRepeat:
		return re.Min * minLen(re.Sub[0])
	case syntax.OpConcat:
		n := 0
		for _, sub := range re.Sub {
			n += minLen(sub)
		}
		return n
	case syntax.OpAlternate:
		n := -1
		for _, sub := range re.Sub {
			if m := minLen(sub); n < 0 || m < n {
				n = m
			}
		}
		return max(n, 0)
	}
	return 0 // star, quest, empty-width assertions, empty match
}

func checkRegex(pattern string) error {
	_, err := regexCost(pattern)
	return err
}

// regexBudget tracks a pack's shared instruction budget while it loads.
type regexBudget struct{ used int }

func (b *regexBudget) compile(pattern string) (*regexp.Regexp, error) {
	cost, err := regexCost(pattern)
	if err != nil {
		return nil, err
	}
	if b.used+cost > PackRegexInsts {
		return nil, fmt.Errorf("regex %q exceeds the pack's budget of %d instructions (%d used)", pattern, PackRegexInsts, b.used)
	}
	re, err := regexp.Compile("(?i)" + pattern)
	if err != nil {
		return nil, fmt.Errorf("regex %q: %w", pattern, err)
	}
	b.used += cost
	return re, nil
}
