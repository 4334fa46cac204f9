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
	re, err := syntax.Parse("(?i)"+pattern, syntax.Perl)
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
	if prog.Inst[prog.Start].Op == syntax.InstMatch || matchesEmpty(pattern) {
		return 0, fmt.Errorf("regex %q matches the empty string, so it would hit every text", pattern)
	}
	return len(prog.Inst), nil
}

func matchesEmpty(pattern string) bool {
	re, err := regexp.Compile(pattern)
	return err == nil && re.MatchString("")
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
