package matcher

import (
	"fmt"
	"math/bits"
	"unicode/utf8"
)

// The keyword index is a filter-and-verify design (the idea behind
// Hyperscan's FDR, shrunk to what Go does well): text is folded into a
// sequence of small character ids (0 for any non-ASCII character no keyword
// uses; ASCII letters and digits are their own ids), and
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

	// pairs has two bits per slot of a 2-character prefix hash: a 2–3
	// character keyword starts with such a pair, a ≥4 character one does.
	// One load decides both; filter4 is tested only where the pair passed.
	pairs                []uint64
	pairShift            uint
	filter4              []uint64 // bitmap over hashed 4-character prefixes
	shift4               uint
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
		first:    make([]uint8, 128),
		kwRefs:   b.refs,
	}
	// ASCII letters and digits have fixed ids, their folded byte, so the
	// scan's ASCII path needs no lookup; ids 1–127 are reserved for them.
	for c := 0; c < 128; c++ {
		if asciiFold[c] == byte(c) {
			x.bmpID[c] = uint32(c)
		}
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
	x.pairs, x.pairShift = newPairFilter(n2 + n4)
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
			rows1 = append(rows1, csrItem{ids[0], k, 0})
		case len(ids) < 4:
			x.first[ids[0]] |= startsLen2
			h := hash2(ids[0], ids[1])
			x.setPair(h, 1)
			rows2 = append(rows2, csrItem{h >> x.rowShift2, k, h})
		default:
			x.first[ids[0]] |= startsLen4
			x.setPair(hash2(ids[0], ids[1]), 2)
			h := hash4(ids[0], ids[1], ids[2], ids[3])
			setBit(x.filter4, h>>x.shift4)
			rows4 = append(rows4, csrItem{h >> x.rowShift4, k, h})
		}
	}
	x.verify1 = newCSR(rows1, len(x.first))
	x.verify2 = newCSR(rows2, 1<<(32-x.rowShift2))
	x.verify4 = newCSR(rows4, 1<<(32-x.rowShift4))
	x.buildBMPFold()
	return x
}

// csr holds rows of keyword numbers: row r is items[start[r]:start[r+1]].
// Each item keeps the full prefix hash of its keyword, so most keywords
// that only share the row are rejected without reading the keyword.
type csr struct {
	start []uint32
	items []csrEntry
}

type csrEntry struct {
	kw int32
	h  uint32
}

type csrItem struct {
	row uint32
	kw  int32
	h   uint32
}

func newCSR(items []csrItem, rows int) csr {
	c := csr{start: make([]uint32, rows+1), items: make([]csrEntry, len(items))}
	for _, it := range items {
		c.start[it.row+1]++
	}
	for r := 1; r <= rows; r++ {
		c.start[r] += c.start[r-1]
	}
	next := append([]uint32(nil), c.start[:rows]...)
	for _, it := range items {
		c.items[next[it.row]] = csrEntry{it.kw, it.h}
		next[it.row]++
	}
	return c
}

func (c *csr) row(r uint32) []csrEntry { return c.items[c.start[r]:c.start[r+1]] }

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

// newPairFilter sizes the pair filter at 8–16 slots per keyword (two bits
// each: 32 KiB for 10k keywords, so it stays in the L1 cache), at least 16k
// slots. A false pass costs a 4-character filter test or a row lookup.
func newPairFilter(n int) ([]uint64, uint) {
	b := min(max(bits.Len(uint(n*8)), 14), 30)
	return make([]uint64, 1<<b/32), uint(32 - b)
}

// setPair sets bit (1: 2–3 characters, 2: ≥4) in the slot of pair hash h.
func (x *keywordIndex) setPair(h uint32, bit uint64) {
	s := h >> x.pairShift
	x.pairs[s>>5] |= bit << (s & 31 * 2)
}

// pairBits returns the two bits of pair hash h's slot.
func pairBits(pairs []uint64, shift uint, h uint32) uint32 {
	s := h >> shift
	return uint32(pairs[s>>5]>>(s&31*2)) & 3
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

// A folded character is packed into one uint64: its id in the low 24 bits
// (there are fewer than 2^24 characters), its flags in the next 8 and the
// byte offset of the original rune in the high 32. One store per character.
const (
	chIDBits     = 24
	chIDMask     = 1<<chIDBits - 1
	chStartShift = 32
)

func chID(c uint64) uint32   { return uint32(c) & chIDMask }
func chFlags(c uint64) uint8 { return uint8(c >> chIDBits) }
func chStart(c uint64) int   { return int(c >> chStartShift) }

// Positions wait in the filter pipeline (pend, a nibble of startsLen* bits
// per position, newest in the low nibble) until the characters their
// filters hash have been folded: one for the 2-character filter, three for
// the 4-character one.
const (
	// The pair test of the position before this one: clears its startsLen2
	// and startsLen4 bits (bits 5 and 6) unless the pair filter has them.
	pendPair = (startsLen2 | startsLen4) << 4
	pendLen4 = startsLen4 << 12 // the 4-character test of the position three back
	pendOut  = 0xF000           // the position three back is decided
	pendKeep = 0xFFF
)

// scratch holds one text's folded form; pooled so scans do not allocate.
type scratch struct {
	chars []uint64 // packed folded characters
	// pending lists, in text order, the positions that passed the filters
	// (pos<<3 | startsLen* bits still to verify): a character some keyword
	// starts with, not inside an ASCII word (a keyword starting there starts
	// with an ASCII letter or digit, which needs a boundary), whose prefix
	// hash is in the filter.
	pending []uint64
	matches []keywordMatch
	runs    [2]digitRun // the detectors' work space
}

// asciiFold maps ASCII letters and digits to their folded byte, all else
// (and every byte ≥ 0x80) to 0. The folded byte is also the character's id.
var asciiFold = func() (t [256]byte) {
	for c := '0'; c <= '9'; c++ {
		t[c] = byte(c)
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c], t[c-'a'+'A'] = byte(c), byte(c)
	}
	return t
}()

// scan folds text into s and finds the keyword occurrences in it, at most
// limit of them, in s.matches. It returns false when it stopped at the limit.
//
// Folding and filtering are one pass: each folded character is stored once
// and pushed through the filter pipeline (pend), so a position is tested as
// soon as the characters its prefix hash needs are known; only positions
// that pass are verified, after the pass, against the stored characters.
// The hot cases (ASCII, BMP runes with a one-character fold) are inline
// here; the rest goes through foldSlow and push, which do the same.
func (x *keywordIndex) scan(text string, s *scratch, limit int) bool {
	chars, pending := s.chars[:0], s.pending[:0]
	s.matches = s.matches[:0]
	first, bmpFold := x.first, x.bmpFold
	pairs, f4, psh, sh4 := x.pairs, x.filter4, x.pairShift, x.shift4
	var (
		pend    uint32
		gap     uint8
		prevAln bool // the previous folded character is an ASCII letter or digit
	)
	for i := 0; i < len(text); {
		var (
			id   uint32
			fl   uint8
			size int
			aln  bool
		)
		if c := text[i]; c < utf8.RuneSelf {
			if c = asciiFold[c]; c == 0 {
				gap = flagGap
				i++
				continue
			}
			id, fl, size, aln = uint32(c), flagASCIIAln|1<<flagWidthShift, 1, true
		} else {
			var r rune
			if c&0xF0 == 0xE0 && i+2 < len(text) && text[i+1]&0xC0 == 0x80 && text[i+2]&0xC0 == 0x80 {
				// Three bytes: all of CJK. Inline, as DecodeRuneInString's
				// slow path is a call per character; overlong forms and
				// surrogates take the checked path below.
				r, size = rune(c&0x0F)<<12|rune(text[i+1]&0x3F)<<6|rune(text[i+2]&0x3F), 3
				if r < 0x800 || r >= 0xD800 && r <= 0xDFFF {
					r, size = utf8.DecodeRuneInString(text[i:])
				}
			} else {
				r, size = utf8.DecodeRuneInString(text[i:])
			}
			// One lookup gives the kind and, for kept runes, the id.
			e := uint32(foldExpand << foldKindShift) // astral runes: the slow path
			if r < 0x10000 {
				e = bmpFold[r]
			}
			switch e >> foldKindShift {
			case foldKeep:
				id, aln = e&bmpFoldID, e>>bmpFoldAlnShift&1 != 0
				fl = uint8(e>>bmpFoldAlnShift&1)*flagASCIIAln | uint8(size)<<flagWidthShift
			case foldSep:
				gap = flagGap
				i += size
				continue
			case foldIgnore:
				i += size
				continue
			default:
				st := foldState{chars: chars, pending: pending, pend: pend, gap: gap, prevAln: prevAln}
				x.foldSlow(&st, r, i, size)
				chars, pending, pend, gap, prevAln = st.chars, st.pending, st.pend, st.gap, st.prevAln
				i += size
				if n := len(chars) - 1; len(pending) > 0 && int(pending[0]>>3)+MaxKeywordChars <= n {
					var ok bool
					if pending, ok = x.verify(s, chars, pending, n-MaxKeywordChars, limit); !ok {
						s.chars, s.pending = chars, pending
						return false
					}
				}
				continue
			}
		}
		m := first[id]
		if prevAln && aln {
			m &= -gap // inside an ASCII word unless separators came between (gap is 0 or 1)
		}
		n := len(chars)
		chars = append(chars, uint64(id)|uint64(fl|gap)<<chIDBits|uint64(i)<<chStartShift)
		if pend = pend<<4 | uint32(m); pend&^0xF != 0 {
			// As in push.
			if pend&pendPair != 0 {
				pend &^= (^pairBits(pairs, psh, hash2(chID(chars[n-1]), id)) & 3) << 5
			}
			if pend&pendLen4 != 0 && !testBit(f4, hash4(chID(chars[n-3]), chID(chars[n-2]), chID(chars[n-1]), id)>>sh4) {
				pend &^= pendLen4
			}
			if pend&pendOut != 0 {
				pending = append(pending, uint64(n-3)<<3|uint64(pend>>12))
				if int(pending[0]>>3)+MaxKeywordChars <= n {
					var ok bool
					if pending, ok = x.verify(s, chars, pending, n-MaxKeywordChars, limit); !ok {
						s.chars, s.pending = chars, pending
						return false
					}
				}
			}
			pend &= pendKeep
		}
		gap, prevAln = 0, aln
		i += size
		if !aln {
			continue
		}
		// The rest of an ASCII word: no gaps, no new candidates.
		for ; i < len(text); i++ {
			c := asciiFold[text[i]]
			if c == 0 {
				break
			}
			id := uint32(c)
			n := len(chars)
			chars = append(chars, uint64(id)|(flagASCIIAln|1<<flagWidthShift)<<chIDBits|uint64(i)<<chStartShift)
			if pend != 0 {
				pend <<= 4
				if pend&pendPair != 0 {
					pend &^= (^pairBits(pairs, psh, hash2(chID(chars[n-1]), id)) & 3) << 5
				}
				if pend&pendLen4 != 0 && !testBit(f4, hash4(chID(chars[n-3]), chID(chars[n-2]), chID(chars[n-1]), id)>>sh4) {
					pend &^= pendLen4
				}
				if pend&pendOut != 0 {
					pending = append(pending, uint64(n-3)<<3|uint64(pend>>12))
					if int(pending[0]>>3)+MaxKeywordChars <= n {
						var ok bool
						if pending, ok = x.verify(s, chars, pending, n-MaxKeywordChars, limit); !ok {
							s.chars, s.pending = chars, pending
							return false
						}
					}
				}
				pend &= pendKeep
			}
		}
	}
	// The last three positions are still in the pipeline: none of them
	// has the four characters a 4-character prefix needs, the last one not
	// the two of a 2-character prefix.
	n := len(chars)
	for back := 3; back >= 1; back-- {
		bits := uint8(pend>>(4*(back-1))) & 0xF &^ startsLen4
		if back == 1 {
			bits &^= startsLen2
		}
		if bits != 0 {
			pending = append(pending, uint64(n-back)<<3|uint64(bits))
		}
	}
	s.chars = chars
	pending, ok := x.verify(s, chars, pending, n, limit)
	s.pending = pending
	return ok
}

// foldState is scan's loop state, for the slow path.
type foldState struct {
	chars, pending []uint64
	pend           uint32
	gap            uint8
	prevAln        bool
}

// foldSlow folds a rune the BMP table does not cover in one step: astral
// runes and multi-rune expansions.
func (x *keywordIndex) foldSlow(st *foldState, r rune, i, size int) {
	t := x.fold
	e := t.entry(r)
	switch e >> foldKindShift {
	case foldKeep:
		if p := rune(e & foldPayload); p != 0 {
			r = p
		}
		aln := isASCIIAlnum(r)
		var fl uint8
		if aln {
			fl = flagASCIIAln
		}
		x.push(st, x.idOf(r), fl|uint8(size)<<flagWidthShift, aln, i)
	case foldSep:
		st.gap = flagGap
	case foldExpand:
		p := e & foldPayload
		exp := t.expansions[p>>5 : p>>5+p&31]
		for j, er := range exp {
			fl := uint8(size) << flagWidthShift
			if j > 0 {
				fl |= flagExpCont
			}
			if j < len(exp)-1 {
				fl |= flagExpMore
			}
			aln := isASCIIAlnum(er)
			if aln {
				fl |= flagASCIIAln
			}
			x.push(st, x.idOf(er), fl, aln, i)
		}
	}
}

// push appends one folded character and advances the filter pipeline; scan
// inlines the same for its hot cases.
func (x *keywordIndex) push(st *foldState, id uint32, fl uint8, aln bool, start int) {
	m := x.first[id]
	if st.gap == 0 && st.prevAln && aln {
		m = 0 // inside an ASCII word
	}
	n := len(st.chars)
	st.chars = append(st.chars, uint64(id)|uint64(fl|st.gap)<<chIDBits|uint64(start)<<chStartShift)
	pend := st.pend<<4 | uint32(m)
	if pend&^0xF != 0 {
		// The position before this one has its two characters: test the
		// pair filter.
		chars := st.chars
		if pend&pendPair != 0 {
			pend &^= (^pairBits(x.pairs, x.pairShift, hash2(chID(chars[n-1]), id)) & 3) << 5
		}
		// The position three back has its four: test the 4-character
		// filter. Then that position is decided.
		if pend&pendLen4 != 0 && !testBit(x.filter4, hash4(chID(chars[n-3]), chID(chars[n-2]), chID(chars[n-1]), id)>>x.shift4) {
			pend &^= pendLen4
		}
		if pend&pendOut != 0 {
			st.pending = append(st.pending, uint64(n-3)<<3|uint64(pend>>12))
		}
		pend &= pendKeep
	}
	st.pend = pend
	st.gap, st.prevAln = 0, aln
}

// verify checks the pending positions up to upto (all of them must have
// their next MaxKeywordChars characters folded, or be near the text's end)
// against their candidate keywords, in text order, and records at most
// limit occurrences in s.matches. It returns the positions still pending,
// moved to the front, and false when it stopped at the limit. scan calls it
// every MaxKeywordChars characters or so, while the characters it reads are
// still in cache.
func (x *keywordIndex) verify(s *scratch, chars, pending []uint64, upto, limit int) ([]uint64, bool) {
	n := len(chars)
	d := 0
	for ; d < len(pending); d++ {
		p := pending[d]
		i, bits := int(p>>3), uint8(p&7)
		if i > upto {
			break
		}
		a := chID(chars[i])
		if bits&startsLen1 != 0 {
			for _, e := range x.verify1.row(a) {
				if !x.emit(s, chars, e.kw, i, i+1, limit) {
					return pending, false
				}
			}
		}
		if bits&startsLen2 != 0 {
			h := hash2(a, chID(chars[i+1]))
			for _, e := range x.verify2.row(h >> x.rowShift2) {
				if e.h != h {
					continue
				}
				if k, l := e.kw, int(x.kwLen[e.kw]); i+l <= n && x.equal(k, chars[i:i+l]) && !x.emit(s, chars, k, i, i+l, limit) {
					return pending, false
				}
			}
		}
		if bits&startsLen4 != 0 {
			h := hash4(a, chID(chars[i+1]), chID(chars[i+2]), chID(chars[i+3]))
			for _, e := range x.verify4.row(h >> x.rowShift4) {
				if e.h != h {
					continue
				}
				if k, l := e.kw, int(x.kwLen[e.kw]); i+l <= n && x.equal(k, chars[i:i+l]) && !x.emit(s, chars, k, i, i+l, limit) {
					return pending, false
				}
			}
		}
	}
	return pending[:copy(pending, pending[d:])], true
}

func (x *keywordIndex) equal(k int32, chars []uint64) bool {
	kw := x.arena[x.kwOff[k] : x.kwOff[k]+uint32(x.kwLen[k])]
	chars = chars[:len(kw)]
	for j := range kw {
		if kw[j] != chID(chars[j]) {
			return false
		}
	}
	return true
}

// emit records a verified occurrence unless it starts or ends inside one
// original character's expansion (its span would not fold to the keyword)
// or an ASCII word keyword continues a longer ASCII word.
func (x *keywordIndex) emit(s *scratch, chars []uint64, k int32, i, j, limit int) bool {
	if chFlags(chars[i])&flagExpCont != 0 || chFlags(chars[j-1])&flagExpMore != 0 {
		return true
	}
	edges := x.kwEdges[k]
	if edges&1 != 0 && i > 0 && chFlags(chars[i])&flagGap == 0 && chFlags(chars[i-1])&flagASCIIAln != 0 {
		return true
	}
	if edges&2 != 0 && j < len(chars) && chFlags(chars[j])&(flagGap|flagASCIIAln) == flagASCIIAln {
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
	last := s.chars[m.end-1]
	return chStart(s.chars[m.start]), chStart(last) + int(chFlags(last)>>flagWidthShift)
}
