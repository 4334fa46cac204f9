package matcher

import (
	"fmt"
	"math/bits"
	"slices"
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
	bmpID      []uint32    // len 0x10000
	bmpFold    []uint32    // len 0x10000: fold kind, and for kept runes their entry (entryID…)
	asciiEntry [128]uint32 // the entries of ASCII letters and digits, 0 for the rest
	astralID   map[rune]uint32
	first      []uint8 // by id: startsLen* flags

	// Keywords, folded to ids, in one arena.
	arena   []uint32
	kwOff   []uint32
	kwLen   []uint8
	kwEdges []uint8 // bit0: first char is ASCII alnum, bit1: last char is; such ends need a word boundary
	kwRefs  [][]int32

	// pairs has two bits per slot of a 2-character prefix hash: a 2–3
	// character keyword starts with such a pair, a ≥4 character one does.
	// One load decides both; filter4 is tested only where the pair passed.
	pairs     []uint64
	pairShift uint
	filter4   []uint64 // bitmap over hashed 4-character prefixes
	// words has, like pairs, two bits per slot of the key of every prefix
	// of two or more characters of the leading ASCII word of the keywords
	// that start with an ASCII letter or digit: one if a 2–3 character
	// keyword has it, one if a ≥4 character keyword does. Such a keyword
	// starts at a word boundary and cannot end inside a word, so a text
	// word it starts at must be a prefix of it: most English words fail
	// this, where about half of them pass a test on their first characters.
	words                []uint64
	wordShift            uint
	shift4               uint
	rowShift2, rowShift4 uint // candidate rows: fewer than filter bits, to keep them small
	// Candidates to verify, in compressed rows: keywords of one character
	// by id, of 2–3 and ≥4 characters by the filter slot of their prefix
	// hash (the slot the filter bit tested). Arrays, not maps: a
	// verification is two loads instead of a hash-map probe.
	verify1, verify2, verify4 csr

	// kwKinds, when set (a Set's index; see newSet), has by keyword the
	// event kinds (bit per event.Kind) of the packs that list it. A scan
	// then records only keywords of the kinds in scratch.kinds, and at most
	// maxKeywordOccurrences occurrences of each, so that neither a keyword
	// of a pack that does not apply nor one word repeated a few hundred
	// times can use up a text's hit limit and hide the hits after it.
	kwKinds []uint32
}

// maxKeywordOccurrences bounds the occurrences of one keyword a Set's scan
// records in one text (the console highlights them).
const maxKeywordOccurrences = 8

// keywordMatch is one occurrence.
type keywordMatch struct {
	kw           int32
	start, end   int32 // folded character positions in the whole text, end exclusive
	bstart, bend int32 // the byte offsets of its span in the original text
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
	x.words, x.wordShift = newWordFilter(b.kws)
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
			setPairBits(x.pairs, x.pairShift, h, 1)
			rows2 = append(rows2, csrItem{h >> x.rowShift2, k, h})
		default:
			x.first[ids[0]] |= startsLen4
			setPairBits(x.pairs, x.pairShift, hash2(ids[0], ids[1]), 2)
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

// newWordFilter builds keywordIndex.words at 8–16 slots per prefix (two
// bits each), at least 16k slots.
func newWordFilter(kws [][]rune) ([]uint64, uint) {
	n := 0
	for _, kw := range kws {
		n += asciiWordLen(kw)
	}
	f, shift := newPairFilter(n)
	var word []byte
	for _, kw := range kws {
		class := uint64(1) // the pair filter's bits: 1 for 2–3 characters, 2 for ≥4
		if len(kw) >= 4 {
			class = 2
		}
		word = word[:0]
		for _, r := range kw[:asciiWordLen(kw)] {
			if word = append(word, byte(r)); len(word) >= 2 {
				setPairBits(f, shift, wordKey(word), class)
			}
		}
	}
	return f, shift
}

// asciiWordLen is the length of kw's leading run of ASCII letters and digits.
func asciiWordLen(kw []rune) int {
	for j, r := range kw {
		if !isASCIIAlnum(r) {
			return j
		}
	}
	return len(kw)
}

// A word's key hashes its folded bytes eight at a time, little endian, the
// last block zero-padded (and all zero when the length is a multiple of
// eight), so scanASCII computes it from the blocks it folds anyway.
const wordSeed = 0x9E3779B97F4A7C15

func wordMix(h, block uint64) uint64 { return (h ^ block) * 0xBF58476D1CE4E5B9 }

func wordKeyOf(h uint64) uint32 { return uint32(h >> 32) }

// wordKey is the key of a folded word; the reference for scanASCII's.
func wordKey(word []byte) uint32 {
	h := uint64(wordSeed)
	for {
		var block uint64
		for j := 0; j < 8 && j < len(word); j++ {
			block |= uint64(word[j]) << (8 * j)
		}
		h = wordMix(h, block)
		if len(word) < 8 {
			return wordKeyOf(h)
		}
		word = word[8:]
	}
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

// A fold entry (keywordIndex.bmpFold, asciiEntry) says in one load what the
// scan needs of a character: its fold kind, and for kept characters the id
// of the folded character and whether keywords start with it.
const (
	entryID          = chIDMask
	entryStarts1     = 1 << 24 // a one-character keyword is this character
	entryStartsMulti = 1 << 25 // a keyword of two or more characters starts with it
	entryAlnShift    = 26      // the folded character is an ASCII letter or digit
)

// entryFor packs the entry of a kept character with id.
func (x *keywordIndex) entryFor(id uint32, aln bool) uint32 {
	e, first := id, x.first[id]
	if first&startsLen1 != 0 {
		e |= entryStarts1
	}
	if first&(startsLen2|startsLen4) != 0 {
		e |= entryStartsMulti
	}
	if aln {
		e |= 1 << entryAlnShift
	}
	return e
}

// buildBMPFold caches, for every BMP rune, its fold kind and for kept runes
// the entry of the folded character, so the scan needs one table read per
// rune. Expansions keep foldExpand and take the general path.
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
		x.bmpFold[r] = x.entryFor(x.idOf(f), isASCIIAlnum(f))
	}
	// Surrogates are not runes; a three-byte sequence that decodes to one
	// is invalid UTF-8. Marking them "expand" sends scanCJK to the checked
	// path instead of testing every character for them.
	for r := 0xD800; r <= 0xDFFF; r++ {
		x.bmpFold[r] = foldExpand << foldKindShift
	}
	for c := range x.asciiEntry {
		if f := asciiFold[c]; f != 0 {
			x.asciiEntry[c] = x.entryFor(uint32(f), true)
		}
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

// setPairBits sets bit (1: 2–3 characters, 2: ≥4) in the slot of hash h
// of a two-bit filter (pairs, words).
func setPairBits(f []uint64, shift uint, h uint32, bit uint64) {
	s := h >> shift
	f[s>>5] |= bit << (s & 31 * 2)
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

// scratch holds one text's folded form; pooled so scans do not allocate.
type scratch struct {
	// chars holds the packed folded characters from position base on: the
	// scan keeps at most scanChunk and a word (see flush).
	chars []uint64
	base  int
	// pending lists, in text order, the positions that passed the filters
	// (pos<<3 | startsLen* bits still to verify): a character some keyword
	// starts with, not inside an ASCII word (a keyword starting there starts
	// with an ASCII letter or digit, which needs a boundary), whose prefix
	// hash is in the filter.
	pending []uint64
	matches []keywordMatch
	runs    [2]digitRun // the detectors' work space
	// kinds selects the keywords a scan records when the index has
	// kwKinds; seen counts each keyword's occurrences recorded so far.
	kinds uint32
	seen  []uint8
}

// The scan folds into a buffer of scanChunk characters plus room for a
// word; when it is full, flush verifies what it can and moves the last
// MaxKeywordChars+1 characters to the front. A 4 MB text needed 16 MB of
// scratch when it was folded whole; now a text needs 10 KB, at the same
// speed, and more only for an ASCII word longer than scanRoom, which is
// folded whole (8 bytes a letter; putScratch drops such a scratch).
const (
	scanChunk = 1024
	scanRoom  = 256
)

// folded returns the number of characters the last scan folded.
func (s *scratch) folded() int { return s.base + len(s.chars) }

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
// Folding and filtering are one pass. ASCII text goes to scanASCII, which
// folds a run of letters and digits (a word) whole and computes its word
// key: a keyword that starts with a letter or digit can only start at such
// a run, and only if the run is a prefix of it, which the word filter tests
// with one bit. Any other character is folded with one table read (its
// entry) and stored; the position before it is tested against the pair
// filter as soon as its second character is known. The few positions that
// pass are verified when the buffer is flushed, every scanChunk characters,
// while the characters they read are still in cache. Runes the BMP table
// does not fold in one step go through foldSlow and push, which do the same.
func (x *keywordIndex) scan(text string, s *scratch, limit int) bool {
	// pending lives in s: it is appended to for one character in ten, and
	// as a local it took three of the registers the loop needs.
	chars := s.chars[:0]
	if cap(chars) < scanChunk+scanRoom {
		chars = make([]uint64, 0, scanChunk+scanRoom)
	}
	s.base = 0
	s.pending = s.pending[:0]
	s.resetSeen(len(x.kwKinds))
	s.matches = s.matches[:0]
	bmpFold := (*[0x10000]uint32)(x.bmpFold)
	pairs, psh := x.pairs, x.pairShift
	var (
		prev uint32 // the previous character's id
		// cand is 3 (both pair bits) when the previous position may start
		// a keyword of two or more characters, else 0: a mask rather than a
		// branch, as it is true for four Chinese characters in five.
		cand    uint32
		gap     uint8 // flagGap when separators were dropped since the previous character
		prevAln bool  // the previous character is an ASCII letter or digit
		ok      bool
	)
	for i := 0; i < len(text); {
		if len(chars) >= scanChunk {
			if chars, ok = x.flush(s, chars, limit); !ok {
				s.chars = chars
				return false
			}
		}
		c := text[i]
		if c < utf8.RuneSelf || c&0xF0 == 0xE0 {
			st, from := scanState{prev: prev, cand: cand, gap: gap, prevAln: prevAln}, i
			if c < utf8.RuneSelf {
				i, chars, st = x.scanASCII(s, text, i, chars, st)
			} else {
				i, chars, st = x.scanCJK(s, text, i, chars, st)
			}
			prev, cand, gap, prevAln = st.prev, st.cand, st.gap, st.prevAln
			if i != from {
				continue
			}
		}
		// What scanASCII and scanCJK leave: one rune of any other kind
		// (full-width letters, expansions, astral runes, invalid UTF-8).
		r, size := utf8.DecodeRuneInString(text[i:])
		e := uint32(foldExpand << foldKindShift) // astral runes: the slow path
		if r < 0x10000 {
			e = bmpFold[r]
		}
		switch e >> foldKindShift {
		case foldKeep:
		case foldSep:
			gap = flagGap
			i += size
			continue
		case foldIgnore:
			i += size
			continue
		default:
			st := foldState{chars: chars, pending: s.pending, prev: prev, cand: cand != 0, gap: gap, prevAln: prevAln}
			x.foldSlow(&st, r, i, size)
			chars, s.pending, prev, gap, prevAln = st.chars, st.pending, st.prev, st.gap, st.prevAln
			cand = 0
			if st.cand {
				cand = 3
			}
			i += size
			continue
		}
		id, aln := e&entryID, e>>entryAlnShift&1 != 0
		n := len(chars)
		chars = append(chars, uint64(id)|uint64(uint8(e>>entryAlnShift&1)*flagASCIIAln|uint8(size)<<flagWidthShift|gap)<<chIDBits|uint64(i)<<chStartShift)
		if b := pairBits(pairs, psh, hash2(prev, id)) & cand; b != 0 {
			s.pending = append(s.pending, uint64(n-1)<<3|uint64(b)<<1)
		}
		// Inside an ASCII word no keyword starts: one that starts with a
		// letter or digit needs a boundary before it. (Such a word reaches
		// here only through full-width letters and the like.)
		cand = 0
		if gap != 0 || !prevAln || !aln {
			if e&entryStarts1 != 0 {
				s.pending = append(s.pending, uint64(n)<<3|startsLen1)
			}
			cand = e / entryStartsMulti & 1 * 3
		}
		prev, gap, prevAln = id, 0, aln
		i += size
	}
	s.chars = chars
	s.pending, ok = x.verify(s, chars, s.pending, len(chars), limit)
	return ok
}

// flush verifies the pending positions whose characters are all folded and
// moves the characters still needed, the last MaxKeywordChars and the one
// before them (emit's word-boundary check reads it), to the front of chars.
func (x *keywordIndex) flush(s *scratch, chars []uint64, limit int) ([]uint64, bool) {
	n := len(chars)
	k := n - 1 - MaxKeywordChars
	var ok bool
	if s.pending, ok = x.verify(s, chars, s.pending, k, limit); !ok {
		return chars, false
	}
	// Every position still pending is after k.
	copy(chars, chars[k:])
	for j := range s.pending {
		s.pending[j] -= uint64(k) << 3
	}
	s.base += k
	return chars[:n-k], true
}

// scanState is what scan knows of the characters before i.
type scanState struct {
	prev    uint32 // the previous character's id
	cand    uint32 // 3 when the previous position may start a ≥2-character keyword, else 0
	gap     uint8  // flagGap when separators were dropped since the previous character
	prevAln bool   // the previous character is an ASCII letter or digit
}

// scanASCII is scan for a stretch of ASCII text from text[i] on: it stops
// at the first other byte, at the end of text or when chars is full. A run
// of letters and digits (a word) is folded eight bytes at a time: SWAR
// classification and lower-casing, eight stores, and the bytes before the
// first one that is not a letter or digit kept; one predictable branch per
// eight letters instead of one per letter and a mispredicted one per word.
// The same blocks give the word's key (wordKey) for the word filter. It is
// a function of its own, called once per stretch, so that its loop keeps
// its state in registers.
func (x *keywordIndex) scanASCII(s *scratch, text string, i int, chars []uint64, st scanState) (int, []uint64, scanState) {
	const flags = (flagASCIIAln | 1<<flagWidthShift) << chIDBits
	ascii := &x.asciiEntry
	for i < len(text) && len(chars) < scanChunk {
		c := text[i]
		if c >= utf8.RuneSelf {
			break
		}
		e := ascii[c]
		if e == 0 {
			st.gap = flagGap
			i++
			continue
		}
		n := len(chars)
		h := uint64(wordSeed)
		var key uint32
		for {
			if i+8 > len(text) {
				i, chars, key = foldWordTail(text, i, chars, h)
				break
			}
			w := load64(text, i)
			// Setting bit 5 of every byte maps A–Z onto a–z and no other
			// ASCII byte into a–z, so one range test finds the letters.
			letters := bytesBetween(w|0x2020202020202020, 'a'-1, 'z'+1)
			aln := letters | bytesBetween(w, '0'-1, '9'+1)
			w |= letters >> 2 // lower case: bit 5 of every letter
			m := len(chars)
			if cap(chars)-m < 8 {
				chars = slices.Grow(chars, 8)
			}
			out := (*[8]uint64)(chars[m : m+8])
			p := uint64(i)<<chStartShift | flags
			const next = 1 << chStartShift
			out[0] = w&0xFF | p
			out[1] = w>>8&0xFF | (p + next)
			out[2] = w>>16&0xFF | (p + 2*next)
			out[3] = w>>24&0xFF | (p + 3*next)
			out[4] = w>>32&0xFF | (p + 4*next)
			out[5] = w>>40&0xFF | (p + 5*next)
			out[6] = w>>48&0xFF | (p + 6*next)
			out[7] = w>>56 | (p + 7*next)
			k := bits.TrailingZeros64(^aln&0x8080808080808080) / 8
			chars = chars[:m+k]
			i += k
			if k < 8 {
				key = wordKeyOf(wordMix(h, w&(1<<(8*k)-1)))
				break
			}
			h = wordMix(h, w)
		}
		chars[n] |= uint64(st.gap) << chIDBits
		id := e & entryID
		if st.cand != 0 { // rare after the first letter of a word: a branch
			if b := pairBits(x.pairs, x.pairShift, hash2(st.prev, id)); b != 0 {
				s.pending = append(s.pending, uint64(n-1)<<3|uint64(b)<<1)
			}
		}
		st.cand = 0
		if st.gap != 0 || !st.prevAln { // else the word continues one: no keyword starts in it
			if e&entryStarts1 != 0 {
				s.pending = append(s.pending, uint64(n)<<3|startsLen1)
			}
			// Whether a longer keyword starts with the word's first letter
			// is as good as random in English (all of them start with some
			// letters, none with others): a mask, not a branch.
			multi := e / entryStartsMulti & 1 * 3
			if len(chars) == n+1 {
				st.cand = multi // a one-letter word: the next character decides
			} else {
				// A quarter of English words pass, at random: store the
				// entry and count it only if it passed, rather than
				// branch on it.
				b := pairBits(x.words, x.wordShift, key) & multi
				if cap(s.pending) == len(s.pending) {
					s.pending = slices.Grow(s.pending, 64)
				}
				m := len(s.pending)
				s.pending = s.pending[:m+1]
				s.pending[m] = uint64(n)<<3 | uint64(b)<<1
				s.pending = s.pending[:m+int(b|b>>1)&1]
			}
		}
		st.prev, st.gap, st.prevAln = chID(chars[len(chars)-1]), 0, true
	}
	return i, chars, st
}

// scanCJK is scan for a stretch of three-byte characters (all of CJK)
// that fold to one character other than an ASCII letter or digit, and the
// separators among them: the common case of Chinese text, in a loop that
// keeps its state in registers. It stops at anything else, which the
// caller folds.
func (x *keywordIndex) scanCJK(s *scratch, text string, i int, chars []uint64, st scanState) (int, []uint64, scanState) {
	bmpFold := (*[0x10000]uint32)(x.bmpFold)
	pairs, psh := x.pairs, x.pairShift&31
	from, n := i, len(chars)
	// The loop makes no call and keeps its state in registers: a call
	// (append's growslice) made the register allocator spill half of it on
	// the fast path. chars is written within its capacity (scan keeps room
	// for scanChunk), and pending gets at most two entries per character,
	// room for which is made here; both are arrays to the loop, whose
	// bounds are constants rather than registers.
	buf := (*[scanChunk]uint64)(chars[:scanChunk])
	np := len(s.pending)
	if cap(s.pending)-np < 2*scanChunk {
		s.pending = slices.Grow(s.pending, 2*scanChunk)
	}
	pend := (*[2 * scanChunk]uint64)(s.pending[np : np+2*scanChunk])
	// gc holds cand in its low two bits and the gap flag where the packed
	// character keeps it: one register for both.
	prev, gc, j := st.prev, st.cand|uint32(st.gap)<<chIDBits, 0
	for i+3 <= len(text) && n < scanChunk {
		t := text[i : i+3]
		v := uint32(t[0]) | uint32(t[1])<<8 | uint32(t[2])<<16
		if v&0xC0C0F0 != 0x8080E0 {
			break // not a three-byte sequence
		}
		r := v&0x0F<<12 | v>>2&(0x3F<<6) | v>>16&0x3F // from v: fewer registers than from t
		if r < 0x800 {
			break // overlong: the checked path
		}
		e := bmpFold[r] // surrogates are foldExpand there: the checked path
		if e&(3<<foldKindShift|1<<entryAlnShift) != 0 {
			if e>>foldKindShift == foldSep {
				gc |= flagGap << chIDBits
				i += 3
				continue
			}
			break
		}
		id := e & entryID
		buf[n] = uint64(id) | uint64(gc&(flagGap<<chIDBits)) | (3<<flagWidthShift)<<chIDBits | uint64(i)<<chStartShift
		if b := pairBits(pairs, psh, hash2(prev, id)) & gc & 3; b != 0 {
			pend[j] = uint64(n-1)<<3 | uint64(b)<<1
			j++
		}
		if e&entryStarts1 != 0 { // not an ASCII letter: a keyword may start here
			pend[j] = uint64(n)<<3 | startsLen1
			j++
		}
		gc = e / entryStartsMulti & 1 * 3
		prev = id
		n++
		i += 3
	}
	s.pending = s.pending[:np+j]
	if i != from {
		st.prevAln = false
	}
	st.prev, st.cand, st.gap = prev, gc&3, uint8(gc>>chIDBits)
	return i, chars[:n], st
}

// foldWordTail folds the rest of a word that ends less than eight bytes
// before the end of the text, one byte at a time, and returns where it
// ends and its word key, h being the key of the blocks before i.
func foldWordTail(text string, i int, chars []uint64, h uint64) (int, []uint64, uint32) {
	var block uint64
	for j := 0; i < len(text); i++ {
		c := asciiFold[text[i]]
		if c == 0 {
			break
		}
		chars = append(chars, uint64(c)|(flagASCIIAln|1<<flagWidthShift)<<chIDBits|uint64(i)<<chStartShift)
		block |= uint64(c) << (8 * j)
		if j++; j == 8 {
			h, block, j = wordMix(h, block), 0, 0
		}
	}
	return i, chars, wordKeyOf(wordMix(h, block))
}

// bytesBetween sets the high bit of each byte of w that is strictly between
// lo and hi (lo, hi ≤ 128), and of no other byte: "has between" from Bit
// Twiddling Hacks, exact per byte as no carry crosses a byte.
func bytesBetween(w uint64, lo, hi uint64) uint64 {
	const ones, low7, high = 0x0101010101010101, 0x7F7F7F7F7F7F7F7F, 0x8080808080808080
	t := w & low7
	return (ones*(127+hi) - t) & ^w & (t + ones*(127-lo)) & high
}

// foldState is scan's loop state, for the slow path.
type foldState struct {
	chars, pending []uint64
	prev           uint32
	cand           bool
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

// push appends one folded character and tests the positions it decides;
// scan inlines the same for its hot cases.
func (x *keywordIndex) push(st *foldState, id uint32, fl uint8, aln bool, start int) {
	n := len(st.chars)
	st.chars = append(st.chars, uint64(id)|uint64(fl|st.gap)<<chIDBits|uint64(start)<<chStartShift)
	if st.cand {
		if b := pairBits(x.pairs, x.pairShift, hash2(st.prev, id)); b != 0 {
			st.pending = append(st.pending, uint64(n-1)<<3|uint64(b)<<1)
		}
	}
	st.cand = false
	if st.gap != 0 || !st.prevAln || !aln {
		m := x.first[id]
		if m&startsLen1 != 0 {
			st.pending = append(st.pending, uint64(n)<<3|startsLen1)
		}
		st.cand = m&(startsLen2|startsLen4) != 0
	}
	st.prev, st.gap, st.prevAln = id, 0, aln
}

// verify checks the pending positions up to upto (all of them must have
// their next MaxKeywordChars characters folded, or be near the text's end)
// against their candidate keywords, in text order, and records at most
// limit occurrences in s.matches. A position that passed the pair filter
// for a keyword of four or more characters is first tested against the
// four-character filter. It returns the positions still pending, moved to
// the front, and false when it stopped at the limit.
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
		if bits&startsLen4 != 0 && i+4 <= n {
			h := hash4(a, chID(chars[i+1]), chID(chars[i+2]), chID(chars[i+3]))
			if !testBit(x.filter4, h>>x.shift4) {
				continue
			}
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
// original character's expansion (its span would not fold to the keyword),
// an ASCII word keyword continues a longer ASCII word, or (in a Set's index)
// the keyword is not of the kinds scanned for or has been recorded
// maxKeywordOccurrences times already.
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
	counted := x.kwKinds != nil
	if counted && (x.kwKinds[k]&s.kinds == 0 || s.seen[k] >= maxKeywordOccurrences) {
		return true
	}
	if len(s.matches) >= limit {
		return false
	}
	if counted {
		s.seen[k]++
	}
	last := chars[j-1]
	s.matches = append(s.matches, keywordMatch{
		kw: k, start: int32(s.base + i), end: int32(s.base + j),
		bstart: int32(chStart(chars[i])), bend: int32(chStart(last) + int(chFlags(last)>>flagWidthShift)),
	})
	return true
}

// resetSeen zeroes the occurrence counts the last scan left and sizes
// them for n keywords: only keywords the last scan recorded can be set, so
// this costs its matches, not n. (A Set's scratches scan only its own
// index; the bound check keeps a scratch shared with another index, as
// tests may do, from going out of range.)
func (s *scratch) resetSeen(n int) {
	for _, m := range s.matches {
		if int(m.kw) < len(s.seen) {
			s.seen[m.kw] = 0
		}
	}
	if len(s.seen) != n {
		s.seen = make([]uint8, n)
	}
}

// span turns folded positions into original byte offsets.
func (s *scratch) span(m keywordMatch) (int, int) {
	return int(m.bstart), int(m.bend)
}
