package matcher

import (
	"regexp"
	"testing"
)

func TestRegexPrefilter(t *testing.T) {
	tests := []struct {
		pattern string
		lits    []string // nil: no prefilter
		text    string
		may     bool
	}{
		{`(加|\+)\s*(微信|vx|v信|wx)\s*[:：]?\s*[a-z][a-z0-9_-]{5,19}`, []string{"微信", "vx", "v信", "wx"}, "今天天气不错", false},
		{`(加|\+)\s*(微信|vx|v信|wx)\s*[:：]?\s*[a-z][a-z0-9_-]{5,19}`, []string{"微信", "vx", "v信", "wx"}, "加VX abcdef1", true},
		{`(qq群|扣扣群)\s*\d{6,11}`, []string{"qq群", "扣扣群"}, "QQ群 123456", true},
		{`casino`, []string{"casino"}, "CaSiNo", true},
		{`casino`, []string{"casino"}, "ca\u017fino", true}, // long s folds to s: run the regex
		{`\d{11}`, []string{"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"}, "x", false},
		{`a*b`, []string{"b"}, "aaa", false},
		{`[+＋]\d+`, []string{"+", "＋"}, "1", false},
	}
	for _, tt := range tests {
		p := newRegexPrefilter(tt.pattern)
		var lits []string
		if p != nil {
			lits = p.lits
		}
		if len(lits) != len(tt.lits) || (len(lits) > 0 && lits[0] != tt.lits[0]) {
			t.Errorf("%s: literals %q, want %q", tt.pattern, lits, tt.lits)
		}
		if got := p.mayMatch(tt.text); got != tt.may {
			t.Errorf("%s: mayMatch(%q) = %v, want %v", tt.pattern, tt.text, got, tt.may)
		}
	}
}

// FuzzRegexPrefilter: a prefilter may let a text through needlessly, but it
// must never stop a text the regex matches.
func FuzzRegexPrefilter(f *testing.F) {
	f.Add(`(加|\+)\s*(微信|vx)`, "+ VX")
	f.Add(`casino|bet365`, "BET365!")
	f.Add(`k`, "\u212a")
	f.Add(`(?-i:Abc)x`, "Abcx")
	f.Add(`[a-c]{2}`, "CB")
	f.Add(`é`, "É")
	f.Fuzz(func(t *testing.T, pattern, text string) {
		if checkRegex(pattern) != nil {
			return
		}
		re, err := regexp.Compile("(?i)" + pattern)
		if err != nil {
			return
		}
		if re.MatchString(text) && !newRegexPrefilter(pattern).mayMatch(text) {
			t.Fatalf("prefilter %q of %q rejected %q, which the regex matches", newRegexPrefilter(pattern).lits, pattern, text)
		}
	})
}
