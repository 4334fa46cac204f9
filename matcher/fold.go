package matcher

import (
	"fmt"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"github.com/longbridgeapp/opencc"
	"golang.org/x/text/unicode/norm"
)

// Folding turns text into the form keywords are matched in. It works one
// input rune at a time, so every folded character knows the exact byte span
// of the original rune it came from; that is what lets a hit report offsets
// in the ORIGINAL text. Per rune it applies:
//
//   - Unicode compatibility decomposition (NFKD: full-width → half-width,
//     ligatures, circled and mathematical letters, ideographic space) and
//     drops combining marks, so accents and "zalgo" overlays do not hide a
//     keyword. This is a superset of NFKC folding: whatever NFKC unifies,
//     this unifies too, and keywords are folded the same way.
//   - case folding (lower case, final sigma to sigma);
//   - optionally traditional → simplified Chinese, character by character
//     from OpenCC's TSCharacters table;
//   - zero-width and format characters are dropped without a trace;
//   - separators, punctuation, symbols and emoji are dropped but leave a
//     "gap" mark on the next character, so 刷 单, 刷*单 and 刷🔥单 fold to 刷单
//     while ASCII keywords can still insist on word boundaries.

// Entry kinds in a fold table, in the top two bits of an entry.
const (
	foldKeep   = 0 // payload: the folded rune, or 0 for "unchanged"
	foldSep    = 1 // dropped, leaves a gap
	foldIgnore = 2 // dropped without a gap
	foldExpand = 3 // payload: offset<<5 | length into foldTable.expansions
)

const (
	foldKindShift = 30
	foldPayload   = 1<<foldKindShift - 1
	maxExpansion  = 31
)

// foldTable caches the fold of every BMP rune and of the astral runes whose
// fold is not the identity. It is immutable once built and shared.
type foldTable struct {
	bmp        []uint32 // indexed by rune, len 0x10000
	astral     map[rune]uint32
	expansions []rune
	t2s        map[rune]rune
}

var (
	foldOnce  [2]sync.Once
	foldCache [2]*foldTable
	foldErr   [2]error
)

// getFoldTable returns the shared table, building it on first use (~50 ms).
func getFoldTable(t2s bool) (*foldTable, error) {
	i := 0
	if t2s {
		i = 1
	}
	foldOnce[i].Do(func() {
		var conv map[rune]rune
		if t2s {
			conv, foldErr[i] = loadT2S()
			if foldErr[i] != nil {
				return
			}
		}
		foldCache[i] = buildFoldTable(conv)
	})
	return foldCache[i], foldErr[i]
}

func buildFoldTable(t2s map[rune]rune) *foldTable {
	t := &foldTable{bmp: make([]uint32, 0x10000), astral: map[rune]uint32{}, t2s: t2s}
	var buf []rune
	for r := rune(0); r < 0x10000; r++ {
		t.bmp[r] = t.encode(r, &buf)
	}
	// Astral planes 1 and 2 hold the mathematical alphanumerics, enclosed
	// letters, emoji and CJK extensions; cache only what differs from keep.
	for r := rune(0x10000); r < 0x30000; r++ {
		if e := t.encode(r, &buf); e != 0 {
			t.astral[r] = e
		}
	}
	return t
}

// encode folds r and packs the result into one table entry.
func (t *foldTable) encode(r rune, buf *[]rune) uint32 {
	kind, out := foldRune(r, t.t2s, (*buf)[:0])
	*buf = out
	switch {
	case kind != foldKeep:
		return uint32(kind) << foldKindShift
	case len(out) == 1 && out[0] == r:
		return 0
	case len(out) == 1:
		return uint32(out[0])
	default:
		if len(out) > maxExpansion {
			out = out[:maxExpansion]
		}
		off := len(t.expansions)
		t.expansions = append(t.expansions, out...)
		return foldExpand<<foldKindShift | uint32(off)<<5 | uint32(len(out))
	}
}

// entry returns the table entry of any rune.
func (t *foldTable) entry(r rune) uint32 {
	if r < 0x10000 {
		return t.bmp[r]
	}
	if r < 0x30000 {
		return t.astral[r]
	}
	kind, _ := foldRune(r, nil, nil) // planes 3+: no decompositions, classify only
	return uint32(kind) << foldKindShift
}

// isZeroWidth lists the invisible characters used to split keywords that are
// not all in category Cf.
func isZeroWidth(r rune) bool {
	switch r {
	case 0x200B, 0x200C, 0x200D, 0x2060, 0xFEFF, 0x00AD, 0x180E, 0x034F, 0x115F, 0x1160, 0x3164, 0xFFA0:
		return true
	}
	return unicode.Is(unicode.Cf, r) || unicode.Is(unicode.Variation_Selector, r)
}

func isMark(r rune) bool { return unicode.In(r, unicode.Mn, unicode.Me) }

// foldRune is the reference fold of one rune: the table caches it, tests and
// fuzzers compare against it. It appends the folded runes to out.
func foldRune(r rune, t2s map[rune]rune, out []rune) (int, []rune) {
	if isZeroWidth(r) || isMark(r) {
		return foldIgnore, out
	}
	if r < 0x80 {
		return foldASCII(r, out)
	}
	start := len(out)
	sawSep := false
	for _, d := range norm.NFKD.String(string(r)) {
		switch {
		case isZeroWidth(d) || isMark(d):
		case unicode.IsLetter(d) || unicode.IsNumber(d):
			d = unicode.ToLower(unicode.ToUpper(d))
			if s, ok := t2s[d]; ok {
				d = s
			}
			out = append(out, d)
		default:
			sawSep = true
		}
	}
	if len(out) > start {
		return foldKeep, out
	}
	if sawSep || unicode.IsSpace(r) || unicode.IsControl(r) {
		return foldSep, out
	}
	if unicode.IsLetter(r) || unicode.IsNumber(r) {
		return foldKeep, append(out, r)
	}
	return foldSep, out
}

func foldASCII(r rune, out []rune) (int, []rune) {
	switch {
	case r >= 'A' && r <= 'Z':
		return foldKeep, append(out, r+'a'-'A')
	case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
		return foldKeep, append(out, r)
	}
	return foldSep, out
}

// FoldString folds s completely and returns the folded characters: the form
// a keyword is stored in. It is the slow reference path; the scanner folds
// inline.
func FoldString(s string, t2s bool) (string, error) {
	t, err := getFoldTable(t2s)
	if err != nil {
		return "", err
	}
	return string(t.appendFolded(nil, s)), nil
}

// appendFolded appends the folded characters of s to out.
func (t *foldTable) appendFolded(out []rune, s string) []rune {
	for _, r := range s {
		e := t.entry(r)
		switch e >> foldKindShift {
		case foldKeep:
			if p := rune(e & foldPayload); p != 0 {
				r = p
			}
			out = append(out, r)
		case foldExpand:
			p := e & foldPayload
			out = append(out, t.expansions[p>>5:p>>5+p&31]...)
		}
	}
	return out
}

// loadT2S derives a character-level traditional → simplified map from
// OpenCC's data by converting every CJK character on its own line, so phrase
// rules never join neighbours and each character keeps its own offsets.
func loadT2S() (map[rune]rune, error) {
	cc, err := opencc.New("t2s")
	if err != nil {
		return nil, fmt.Errorf("load OpenCC t2s: %w", err)
	}
	var in []rune
	for _, rg := range [][2]rune{{0x3400, 0x4DBF}, {0x4E00, 0x9FFF}, {0xF900, 0xFAFF}, {0x20000, 0x2A6DF}} {
		for r := rg[0]; r <= rg[1]; r++ {
			in = append(in, r, '\n')
		}
	}
	outStr, err := cc.Convert(string(in))
	if err != nil {
		return nil, fmt.Errorf("OpenCC t2s convert: %w", err)
	}
	out := strings.Split(outStr, "\n")
	m := make(map[rune]rune, 4096)
	for i := 0; i < len(in)/2 && i < len(out); i++ {
		src := in[2*i]
		if utf8.RuneCountInString(out[i]) != 1 {
			continue
		}
		dst, _ := utf8.DecodeRuneInString(out[i])
		if dst != src {
			m[src] = dst
		}
	}
	// Some characters map to a character that maps again (薴 → 苧 → 苎);
	// follow the chain so folding is idempotent.
	for src, dst := range m {
		for i := 0; i < 8; i++ {
			next, ok := m[dst]
			if !ok || next == dst {
				break
			}
			dst = next
		}
		m[src] = dst
	}
	if len(m) < 1000 {
		return nil, fmt.Errorf("OpenCC t2s: only %d character mappings, data looks broken", len(m))
	}
	return m, nil
}
