package matcher

import (
	"fmt"
	"math/bits"
	"unicode/utf8"
)

// The keyword index is a filter-and-verify design (the idea behind
// Hyperscan's FDR, shrunk to what Go does well): text is folded into a
// sequence of small character ids (0 for any character no keyword uses), and
// at each position a couple of bit tests in cache-resident bitmaps decide
// whether any keyword can start there. Only the few positions that pass are
// verified against the candidate keywords. Keywords are grouped by length so
// that short keywords are filtered on their first two characters and longer
// ones on their first four, which keeps common ASCII pairs ("th", "er") from
// flooding the verifier. BENCHMARKS.md compares it with
// cloudflare/ahocorasick, which walks a pointer-heavy trie per byte.

// MaxKeywordChars bounds a keyword's folded length.
const MaxKeywordChars = 64

// Per-character flags in keywordIndex.first.
const (
	startsLen1 = 1 << iota // a one-character keyword is this character
	startsLen2             // a 2–3 character keyword starts with it
	startsLen4             // a ≥4 character keyword starts with it
)

// Flags on a folded character in a scan.
const (
	flagGap      = 1 << iota // separators were dropped just before it
	flagExpCont              // not the first character of a multi-rune fold
	flagExpMore              // not the last character of a multi-rune fold
	flagASCIIAln             // folded from an ASCII letter or digit

	// The high bits hold the UTF-8 length of the original rune.
	flagWidthShift = 4
)

type keywordIndex struct {
	fold *foldTable

	// Character ids: dense ids for every character used in a keyword.
	bmpID    []uint32 // len 0x10000
	bmpFold  []uint32 // len 0x10000: fold kind, and for kept runes the id (and bmpFoldAln)
	astralID map[rune]uint32
	first    []uint8 // by id: startsLen* flags

	// Keywords, folded to ids, in one arena.
	arena   []uint32
	kwOff   []uint32
	kwLen   []uint8
	kwEdges []uint8 // bit0: first char is ASCII alnum, bit1: last char is; such ends need a word boundary
	kwRefs  [][]int32

	filter2, filter4     []uint64 // bitmaps over hashed prefixes
	shift2, shift4       uint
	rowShift2, rowShift4 uint // candidate rows: fewer than filter bits, to keep them small
	// Candidates to verify, in compressed rows: keywords of one character
	// by id, of 2–3 and ≥4 characters by the filter slot of their prefix
	// hash (the slot the filter bit tested). Arrays, not maps: a
	// verification is two loads instead of a hash-map probe.
	verify1, verify2, verify4 csr
}

// keywordMatch is one occurrence in folded coordinates.
type keywordMatch struct {
	kw         int32
	start, end int32 // folded character positions, end exclusive
}

// keywordBuilder collects keywords before the index is built.
type keywordBuilder struct {
	fold  *foldTable
	byKey map[string]int32
	kws   [][]rune
	refs  [][]int32
}

func newKeywordBuilder(t *foldTable) *keywordBuilder {
	return &keywordBuilder{fold: t, byKey: map[string]int32{}}
}

// foldKeyword folds a keyword into the characters it is matched as and
// says why a keyword cannot be used.
func foldKeyword(t *foldTable, kw string) ([]rune, error) {
	folded := t.appendFolded(nil, kw)
	switch {
	case len(folded) == 0:
		return nil, fmt.Errorf("keyword %q has no letters or digits", kw)
	case len(folded) > MaxKeywordChars:
		return nil, fmt.Errorf("keyword %q is %d characters after folding, the limit is %d", kw, len(folded), MaxKeywordChars)
	}
	return folded, nil
}

// add folds a keyword and attaches ref (a rule number) to it.
func (b *keywordBuilder) add(kw string, ref int32) error {
	folded, err := foldKeyword(b.fold, kw)
	if err != nil {
		return err
	}
	key := string(folded)
	i, ok := b.byKey[key]
	if !ok {
		i = int32(len(b.kws))
		b.byKey[key] = i
		b.kws = append(b.kws, folded)
		b.refs = append(b.refs, nil)
	}
	b.refs[i] = append(b.refs[i], ref)
	return nil
}

func (b *keywordBuilder) build() *keywordIndex {
	x := &keywordIndex{
		fold:     b.fold,
		bmpID:    make([]uint32, 0x10000),
		astralID: map[rune]uint32{},
		first:    []uint8{0},
		kwRefs:   b.refs,
	}
	n2, n4 := 0, 0
	for _, kw := range b.kws {
		switch {
		case len(kw) >= 4:
			n4++
		case len(kw) >= 2:
			n2++
		}
	}
	var rows1, rows2, rows4 []csrItem
	x.filter2, x.shift2 = newFilter(n2)
	x.filter4, x.shift4 = newFilter(n4)
	x.rowShift2, x.rowShift4 = rowShift(n2), rowShift(n4)
	for i, kw := range b.kws {
		ids := make([]uint32, len(kw))
		for j, r := range kw {
			ids[j] = x.assignID(r)
		}
		x.kwOff = append(x.kwOff, uint32(len(x.arena)))
		x.kwLen = append(x.kwLen, uint8(len(ids)))
		x.arena = append(x.arena, ids...)
		var edges uint8
		if isASCIIAlnum(kw[0]) {
			edges |= 1
		}
		if isASCIIAlnum(kw[len(kw)-1]) {
			edges |= 2
		}
		x.kwEdges = append(x.kwEdges, edges)
		k := int32(i)
		switch {
		case len(ids) == 1:
			x.first[ids[0]] |= startsLen1
			rows1 = append(rows1, csrItem{ids[0], k})
		case len(ids) < 4:
			x.first[ids[0]] |= startsLen2
			h := hash2(ids[0], ids[1])
			setBit(x.filter2, h>>x.shift2)
			rows2 = append(rows2, csrItem{h >> x.rowShift2, k})
		default:
			x.first[ids[0]] |= startsLen4
			h := hash4(ids[0], ids[1], ids[2], ids[3])
			setBit(x.filter4, h>>x.shift4)
			rows4 = append(rows4, csrItem{h >> x.rowShift4, k})
		}
	}
	x.verify1 = newCSR(rows1, len(x.first))
	x.verify2 = newCSR(rows2, 1<<(32-x.rowShift2))
	x.verify4 = newCSR(rows4, 1<<(32-x.rowShift4))
	x.buildBMPFold()
	return x
}

// csr holds rows of keyword numbers: row r is items[start[r]:start[r+1]].
type csr struct {
	start []uint32
	items []int32
}

type csrItem struct {
	row uint32
	kw  int32
}

func newCSR(items []csrItem, rows int) csr {
	c := csr{start: make([]uint32, rows+1), items: make([]int32, len(items))}
	for _, it := range items {
		c.start[it.row+1]++
	}
	for r := 1; r <= rows; r++ {
		c.start[r] += c.start[r-1]
	}
	next := append([]uint32(nil), c.start[:rows]...)
	for _, it := range items {
		c.items[next[it.row]] = it.kw
		next[it.row]++
	}
	return c
}

func (c *csr) row(r uint32) []int32 { return c.items[c.start[r]:c.start[r+1]] }

const (
	bmpFoldAlnShift = 29
	bmpFoldID       = 1<<bmpFoldAlnShift - 1
)

// buildBMPFold caches, for every BMP rune, its fold kind and for kept runes
// the id of the folded character, so foldInto needs one table read per rune.
// Expansions keep foldExpand and take the general path.
func (x *keywordIndex) buildBMPFold() {
	x.bmpFold = make([]uint32, 0x10000)
	for r := rune(0); r < 0x10000; r++ {
		e := x.fold.entry(r)
		kind := e >> foldKindShift
		if kind != foldKeep {
			x.bmpFold[r] = kind << foldKindShift
			continue
		}
		f := r
		if p := rune(e & foldPayload); p != 0 {
			f = p
		}
		v := x.idOf(f)
		if isASCIIAlnum(f) {
			v |= 1 << bmpFoldAlnShift
		}
		x.bmpFold[r] = v
	}
}

func isASCIIAlnum(r rune) bool {
	return r < 0x80 && r != 0 && (r >= 'a' && r <= 'z' || r >= '0' && r <= '9')
}

func (x *keywordIndex) assignID(r rune) uint32 {
	if id := x.idOf(r); id != 0 {
		return id
	}
	id := uint32(len(x.first))
	x.first = append(x.first, 0)
	if r < 0x10000 {
		x.bmpID[r] = id
	} else {
		x.astralID[r] = id
	}
	return id
}

func (x *keywordIndex) idOf(r rune) uint32 {
	if r < 0x10000 {
		return x.bmpID[r]
	}
	return x.astralID[r]
}

// newFilter sizes a bitmap at ~64 bits per entry (false positive rate
// ~1.5%, 64 KiB for 8k keywords: still cache-resident), at least 4 KiB so
// tiny rule sets still filter well.
func newFilter(n int) ([]uint64, uint) {
	b := bits.Len(uint(n * 64))
	if b < 15 {
		b = 15
	}
	if b > 30 {
		b = 30
	}
	return make([]uint64, 1<<b/64), uint(32 - b)
}

// rowShift gives about two candidate rows per keyword: the top bits of the
// prefix hash, a coarser cut of the filter slot.
func rowShift(n int) uint {
	return uint(32 - max(bits.Len(uint(n*2)), 4))
}

func setBit(f []uint64, i uint32)       { f[i>>6] |= 1 << (i & 63) }
func testBit(f []uint64, i uint32) bool { return f[i>>6]&(1<<(i&63)) != 0 }

func hash2(a, b uint32) uint32 { return (a*0x9E3779B1 ^ b) * 0x85EBCA6B }

func hash4(a, b, c, d uint32) uint32 {
	h := a*0x9E3779B1 ^ b
	h = h*0x85EBCA6B ^ c
	h = h*0xC2B2AE35 ^ d
	return h * 0x27D4EB2F
}

// scratch holds one text's folded form; pooled so scans do not allocate.
type scratch struct {
	ids   []uint32
	start []int32 // byte offset of the original rune
	flags []uint8
	// cand lists the positions where a keyword may start: a character some
	// keyword starts with, not inside an ASCII word (a keyword starting
	// there starts with an ASCII letter or digit, which needs a boundary).
	cand    []int32
	matches []keywordMatch
	runs    [2]digitRun // the detectors' work space

}

// asciiFold maps ASCII letters and digits to their folded byte, all else
// (and every byte ≥ 0x80) to 0.
var asciiFold = func() (t [256]byte) {
	for c := '0'; c <= '9'; c++ {
		t[c] = byte(c)
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c], t[c-'a'+'A'] = byte(c), byte(c)
	}
	return t
}()

// foldInto folds text into s, mapping characters to ids. The four slices
// live in locals during the loop, so their headers stay in registers instead
// of being reloaded and stored through s on every append.
func (x *keywordIndex) foldInto(text string, s *scratch) {
	ids, start, flags, cand := s.ids[:0], s.start[:0], s.flags[:0], s.cand[:0]
	t, first := x.fold, x.first
	var gap uint8
	prevAln := false // the previous folded character is an ASCII letter or digit
	for i := 0; i < len(text); {
		c := text[i]
		if c < utf8.RuneSelf {
			switch {
			case c >= 'a' && c <= 'z' || c >= '0' && c <= '9':
			case c >= 'A' && c <= 'Z':
				c += 'a' - 'A'
			default:
				gap = flagGap
				i++
				continue
			}
			id := x.bmpID[c]
			if first[id] != 0 && (gap != 0 || !prevAln) {
				cand = append(cand, int32(len(ids)))
			}
			ids = append(ids, id)
			start = append(start, int32(i))
			flags = append(flags, gap|flagASCIIAln|1<<flagWidthShift)
			gap, prevAln = 0, true
			// The rest of an ASCII word: no candidates, no gaps.
			for i++; i < len(text); i++ {
				c = asciiFold[text[i]]
				if c == 0 {
					break
				}
				ids = append(ids, x.bmpID[c])
				start = append(start, int32(i))
				flags = append(flags, flagASCIIAln|1<<flagWidthShift)
			}
			continue
		}
		var (
			r    rune
			size int
		)
		if c&0xF0 == 0xE0 && i+2 < len(text) && text[i+1]&0xC0 == 0x80 && text[i+2]&0xC0 == 0x80 {
			// Three bytes: all of CJK. Inline, as DecodeRuneInString's slow
			// path is a call per character; overlong forms and surrogates
			// take the checked path below.
			r, size = rune(c&0x0F)<<12|rune(text[i+1]&0x3F)<<6|rune(text[i+2]&0x3F), 3
			if r < 0x800 || r >= 0xD800 && r <= 0xDFFF {
				r, size = utf8.DecodeRuneInString(text[i:])
			}
		} else {
			r, size = utf8.DecodeRuneInString(text[i:])
		}
		if r < 0x10000 {
			// One lookup gives the kind and, for kept runes, the id.
			if e := x.bmpFold[r]; e>>foldKindShift == foldKeep {
				id, aln := e&bmpFoldID, e>>bmpFoldAlnShift&1 != 0
				if first[id] != 0 && (gap != 0 || !prevAln || !aln) {
					cand = append(cand, int32(len(ids)))
				}
				ids = append(ids, id)
				start = append(start, int32(i))
				flags = append(flags, gap|uint8(e>>bmpFoldAlnShift&1)*flagASCIIAln|uint8(size)<<flagWidthShift)
				gap, prevAln = 0, aln
				i += size
				continue
			} else if e>>foldKindShift == foldSep {
				gap = flagGap
				i += size
				continue
			} else if e>>foldKindShift == foldIgnore {
				i += size
				continue
			}
		}
		e := t.entry(r)
		switch e >> foldKindShift {
		case foldKeep:
			if p := rune(e & foldPayload); p != 0 {
				r = p
			}
			id, aln := x.idOf(r), isASCIIAlnum(r)
			if first[id] != 0 && (gap != 0 || !prevAln || !aln) {
				cand = append(cand, int32(len(ids)))
			}
			fl := gap
			if aln {
				fl |= flagASCIIAln
			}
			ids = append(ids, id)
			start = append(start, int32(i))
			flags = append(flags, fl|uint8(size)<<flagWidthShift)
			gap, prevAln = 0, aln
		case foldSep:
			gap = flagGap
		case foldExpand:
			p := e & foldPayload
			exp := t.expansions[p>>5 : p>>5+p&31]
			for j, er := range exp {
				fl := gap
				if j > 0 {
					fl |= flagExpCont
				}
				if j < len(exp)-1 {
					fl |= flagExpMore
				}
				id, aln := x.idOf(er), isASCIIAlnum(er)
				if aln {
					fl |= flagASCIIAln
				}
				if first[id] != 0 && (gap != 0 || !prevAln || !aln) {
					cand = append(cand, int32(len(ids)))
				}
				ids = append(ids, id)
				start = append(start, int32(i))
				flags = append(flags, fl|uint8(size)<<flagWidthShift)
				gap, prevAln = 0, aln
			}
		}
		i += size
	}
	s.ids, s.start, s.flags, s.cand = ids, start, flags, cand
}

// scan finds keyword occurrences in the folded text, at most limit of them.
// It returns false when it stopped at the limit.
func (x *keywordIndex) scan(s *scratch, limit int) bool {
	s.matches = s.matches[:0]
	ids, first := s.ids, x.first
	n := len(ids)
	for _, c := range s.cand {
		i := int(c)
		a := ids[i]
		m := first[a]
		if m&startsLen1 != 0 {
			for _, k := range x.verify1.row(a) {
				if !x.emit(s, k, i, i+1, limit) {
					return false
				}
			}
		}
		if i+1 >= n {
			continue
		}
		b := ids[i+1]
		if h := hash2(a, b); m&startsLen2 != 0 && b != 0 && testBit(x.filter2, h>>x.shift2) {
			for _, k := range x.verify2.row(h >> x.rowShift2) {
				if l := int(x.kwLen[k]); i+l <= n && x.equal(k, ids[i:i+l]) && !x.emit(s, k, i, i+l, limit) {
					return false
				}
			}
		}
		if m&startsLen4 != 0 && i+3 < n {
			h := hash4(a, b, ids[i+2], ids[i+3])
			if testBit(x.filter4, h>>x.shift4) {
				for _, k := range x.verify4.row(h >> x.rowShift4) {
					if l := int(x.kwLen[k]); i+l <= n && x.equal(k, ids[i:i+l]) && !x.emit(s, k, i, i+l, limit) {
						return false
					}
				}
			}
		}
	}
	return true
}

func (x *keywordIndex) equal(k int32, ids []uint32) bool {
	kw := x.arena[x.kwOff[k] : x.kwOff[k]+uint32(x.kwLen[k])]
	for j := range kw {
		if kw[j] != ids[j] {
			return false
		}
	}
	return true
}

// emit records a verified occurrence unless it starts or ends inside one
// original character's expansion (its span would not fold to the keyword)
// or an ASCII word keyword continues a longer ASCII word.
func (x *keywordIndex) emit(s *scratch, k int32, i, j, limit int) bool {
	if s.flags[i]&flagExpCont != 0 || s.flags[j-1]&flagExpMore != 0 {
		return true
	}
	edges := x.kwEdges[k]
	if edges&1 != 0 && i > 0 && s.flags[i]&flagGap == 0 && s.flags[i-1]&flagASCIIAln != 0 {
		return true
	}
	if edges&2 != 0 && j < len(s.ids) && s.flags[j]&flagGap == 0 && s.flags[j]&flagASCIIAln != 0 {
		return true
	}
	if len(s.matches) >= limit {
		return false
	}
	s.matches = append(s.matches, keywordMatch{kw: k, start: int32(i), end: int32(j)})
	return true
}

// span turns folded positions into original byte offsets.
func (s *scratch) span(m keywordMatch) (int, int) {
	last := m.end - 1
	return int(s.start[m.start]), int(s.start[last]) + int(s.flags[last]>>flagWidthShift)
}
