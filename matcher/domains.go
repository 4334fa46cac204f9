package matcher

import (
	"encoding/binary"
	"errors"
	"math/bits"
	"math/rand/v2"
	"slices"
	"strings"
	"unsafe"

	"golang.org/x/net/idna"
)

// The domain index answers "which rules cover this hostname or one of its
// parents" with one hash probe per label suffix. Suffixes are hashed with a
// per-index random key (see hashOf), so nobody can precompute names that
// collide with a rule. The table is open addressing with linear probing, and
// a slot is the rule itself: the domain's full 64-bit hash, its file, line
// and flags in 16 bytes. No key strings are kept, which is what keeps 1M
// domains far under 48 MB; a false match needs some listed name with the
// same 64-bit hash, n/2^64 per probe (5e-14 at 1M rules), and it cannot be
// aimed at. A hit costs one random memory access, not one for a slot and
// another for the rule it points to: at 1M rules both miss the cache, and
// that second miss was most of the time of a lookup that hits. A small
// blocked Bloom filter in front keeps the usual "not listed" probe inside
// the CPU cache; only suffixes that pass it touch the table. A domain
// listed twice in one pack (a rule and an exception, say) takes two slots
// with the same hash in one probe sequence, the first flagged domainMore.

// MaxDomainRules bounds the rules of one pack, so slot numbers fit an int32
// with room to grow.
const MaxDomainRules = 1<<24 - 1

// Flags of a domain entry.
const (
	domainException      = 1 << iota // adblock @@: allows the name for its pack
	domainSubdomainsOnly             // "*.d": matches below d, not d itself
	// domainMore: another rule on the same domain follows in the probe
	// sequence. A lookup stops at a hit without it instead of walking the
	// rest of the run of taken slots, which at a load of 0.75 is about 7
	// slots and often one more cache line missed.
	domainMore
)

// domainEntry is one rule on one domain: a slot of the table. hash 0 marks
// an empty slot (a domain whose hash is 0 is stored as 1).
type domainEntry struct {
	hash  uint64
	line  uint32
	file  uint16
	flags uint8
}

type domainIndex struct {
	seed   [4]uint64 // random keys of the suffix hash (hashOf)
	slots  []domainEntry
	n      int // rules stored
	filter []uint64
}

var errDomainIndexFull = errors.New("domain index full: more than 16M rules")

// newDomainIndex sizes the index for about capacity entries; it grows past
// that, but a good hint (the previous rule set's size) avoids the copies.
func newDomainIndex(capacity int) *domainIndex {
	capacity = max(capacity, 16)
	d := &domainIndex{}
	for i := range d.seed {
		d.seed[i] = newRandomKey()
	}
	d.alloc(capacity*4/3+1, capacity)
	return d
}

// alloc makes room for slots slots (load ≤ 0.75) and a filter of
// filterBitsPerRule bits per rule for capacity rules.
func (d *domainIndex) alloc(slots, capacity int) {
	d.slots = make([]domainEntry, slots)
	d.filter = make([]uint64, max(capacity*filterBitsPerRule/64, 1))
}

// newRandomKey draws a hash key from the runtime's random source (a
// ChaCha8 generator seeded by the OS), odd so that it never zeroes a product.
func newRandomKey() uint64 { return rand.Uint64() | 1 }

// The hash of a name is chained label by label from the right: the hash of
// a.b.c mixes the label "a" into the hash of b.c. So a lookup hashes each
// byte of the name once to get the hashes of all its label suffixes, where
// hashing each suffix on its own read the end of the name again for every
// label. Blocks of eight bytes are mixed with a keyed 64×64→128-bit
// multiply (as wyhash and Go's map hash do without AES): with random keys
// no one can compute names that collide.

// mix is the wyhash mum: the two halves of a 128-bit product, xored.
func mix(a, b uint64) uint64 {
	hi, lo := bits.Mul64(a, b)
	return hi ^ lo
}

// chainLabel mixes the label name[start:end] into h, the hash of what
// follows it. It may read up to eight bytes on either side of the label
// within name, never outside it.
func (d *domainIndex) chainLabel(h uint64, name string, start, end int) uint64 {
	i := start
	for ; i+8 <= end; i += 8 {
		h = mix(h^load64(name, i), d.seed[2])
	}
	var w uint64
	if n := end - i; n > 0 {
		switch {
		case len(name)-i >= 8:
			w = load64(name, i) & (1<<(8*n) - 1)
		case end >= 8:
			w = load64(name, end-8) >> (8 * (8 - n))
		default:
			for j := end - 1; j >= i; j-- {
				w = w<<8 | uint64(name[j])
			}
		}
	}
	// The tail and the label's length in one multiply: most labels are
	// shorter than eight bytes, so most take one multiply, not two.
	return mix(h^w^d.seed[0], uint64(end-start)^d.seed[1])
}

// hashOf is the key of a normalized domain, never 0.
func (d *domainIndex) hashOf(domain string) uint64 {
	h, end := d.seed[3], len(domain)
	for end >= 0 {
		start := strings.LastIndexByte(domain[:end], '.') + 1
		h = d.chainLabel(h, domain, start, end)
		end = start - 1
	}
	return max(h, 1)
}

// filterBitsPerRule sizes the filter: with three bits set per rule in one
// 64-bit word, 10 bits per rule let about 2.3% of unlisted suffixes through
// (each then costs a table read), and 1M rules take 1.25 MB, which mostly
// stays in a 1 MB L2 cache. At 16 bits per rule, rounded up to a power of
// two (2–4 MB), the filter lived in the shared L3 cache, and misses slowed
// down with whatever else ran on the host.
const filterBitsPerRule = 10

// filterBits derives the filter word (multiply-shift: any filter size) and
// three bit positions from a hash, mixed differently from homeOf so the two
// do not fail together.
func (d *domainIndex) filterBits(h uint64) (uint64, uint64) {
	f := (h ^ h>>29) * 0xD6E8FEB86659FD93
	w, _ := bits.Mul64(f, uint64(len(d.filter)))
	return w, 1<<(f&63) | 1<<((f>>6)&63) | 1<<((f>>12)&63)
}

// homeOf maps a hash onto the slots (multiply-shift: any table size).
func (d *domainIndex) homeOf(h uint64) int {
	hi, _ := bits.Mul64(h*0x9E3779B97F4A7C15, uint64(len(d.slots)))
	return int(hi)
}

// add inserts a rule for an already normalized domain. It returns false,
// and keeps the first, when the domain already has a rule of the same kind
// (flags): merged block lists repeat names, and every copy would cost each
// lookup of the name a slot and a hit, and its insertion a walk past the
// copies before it (40k copies of one name took 0.74 s to load).
func (d *domainIndex) add(domain string, e domainEntry) (bool, error) {
	if d.n >= MaxDomainRules {
		return false, errDomainIndexFull
	}
	if (d.n+1)*4 > len(d.slots)*3 {
		d.grow()
	}
	e.hash = d.hashOf(domain)
	if !d.insert(e) {
		return false, nil
	}
	d.n++
	return true, nil
}

// insert places e after every slot of its probe sequence already taken,
// so rules on one domain stay in the order they were added, unless a rule
// of the same kind on the same domain is there.
func (d *domainIndex) insert(e domainEntry) bool {
	w, m := d.filterBits(e.hash)
	d.filter[w] |= m
	for s := d.homeOf(e.hash); ; {
		switch d.slots[s].hash {
		case 0:
			d.slots[s] = e
			return true
		case e.hash:
			if (d.slots[s].flags^e.flags)&^domainMore == 0 {
				return false
			}
			d.slots[s].flags |= domainMore
		}
		if s++; s == len(d.slots) {
			s = 0
		}
	}
}

// grow doubles the slots and the filter, re-placing every rule from its
// hash. Rules on one domain are re-placed in their probe order, from the
// start of the run of taken slots they sit in, so their order survives.
func (d *domainIndex) grow() {
	old := d.slots
	d.alloc(2*len(old), 2*len(old)*3/4)
	start := 0 // an empty slot: no run of taken slots crosses it
	for start < len(old) && old[start].hash != 0 {
		start++
	}
	for k := range old {
		if e := old[(start+k)%len(old)]; e.hash != 0 {
			d.insert(e)
		}
	}
}

// domainHit is a rule (a slot) that covers a suffix starting at byte at of
// the name.
type domainHit struct {
	entry int32
	at    int32
}

// lookup appends to out every rule covering name or a parent of it, most
// specific first. name must already be normalized (see normalizeDomain).
// It walks the name from the right, finding dots eight bytes at a time,
// chains each label into the hash of the suffix after it (hashOf) and
// probes that suffix; the hits, found least specific first, are reversed
// at the end.
func (d *domainIndex) lookup(name string, out []domainHit) []domainHit {
	first := len(out)
	h, end := d.seed[3], len(name)
	i := len(name)
	for ; i >= 8; i -= 8 {
		for m := dotBytes(load64(name, i-8)); m != 0; {
			top := 63 - bits.LeadingZeros64(m) // the high bit of the last dot's byte
			at := i - 8 + top/8 + 1
			h = d.chainLabel(h, name, at, end)
			out = d.probe(h, at, out)
			end = at - 1
			m &^= 1 << top
		}
	}
	for i--; i >= 0; i-- {
		if name[i] == '.' {
			h = d.chainLabel(h, name, i+1, end)
			out = d.probe(h, i+1, out)
			end = i
		}
	}
	out = d.probe(d.chainLabel(h, name, 0, end), 0, out)
	slices.Reverse(out[first:])
	return out
}

// load64 reads s[i:i+8] as a little-endian word (the compiler makes this
// one load).
func load64(s string, i int) uint64 {
	s = s[i : i+8]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
}

const (
	swarLow7 = 0x7F7F7F7F7F7F7F7F
	swarHigh = 0x8080808080808080
)

// dotBytes has the high bit set in every byte of w that is '.', and only
// there (exact: no borrow runs from one byte into the next).
func dotBytes(w uint64) uint64 {
	v := w ^ 0x2E2E2E2E2E2E2E2E
	return ^((v&swarLow7 + swarLow7) | v | swarLow7)
}

// probe looks up one suffix, starting at byte at of the name, by its hash.
func (d *domainIndex) probe(h uint64, at int, out []domainHit) []domainHit {
	h = max(h, 1)
	w, m := d.filterBits(h)
	if d.filter[w]&m != m {
		return out
	}
	return d.probeHash(h, at, out)
}

// probeHash looks up one suffix, with hash h, that passed the filter.
func (d *domainIndex) probeHash(h uint64, at int, out []domainHit) []domainHit {
	for s := d.homeOf(h); ; {
		switch d.slots[s].hash {
		case 0:
			return out
		case h:
			out = append(out, domainHit{entry: int32(s), at: int32(at)})
			if d.slots[s].flags&domainMore == 0 {
				return out
			}
		}
		if s++; s == len(d.slots) {
			s = 0
		}
	}
}

// normalizeDomain lower-cases name, drops one trailing dot and turns an
// internationalized name into punycode. It returns the name unchanged (no
// allocation) when it already is normal, and ok=false for names that cannot
// be a hostname.
func normalizeDomain(name string) (string, bool) {
	return normalizeDomainInto(nil, name)
}

// normalizeDomainInto is normalizeDomain that lower-cases into buf instead
// of allocating; the result may then alias buf and must not be retained.
func normalizeDomainInto(buf *[253]byte, name string) (string, bool) {
	norm, ascii, ok := lowerASCIIDomain(buf, name)
	switch {
	case !ok:
		return "", false
	case !ascii:
		return normalizeIDN(strings.TrimSuffix(name, "."))
	}
	return norm, true
}

// lowerASCIIDomain is normalizeDomainInto for ASCII names: ok=false says
// name cannot be a hostname (empty, or longer than 253 bytes), ascii=false
// that it has other bytes and needs normalizeIDN.
// Eight bytes at a time, branch-free: in names with random case (DNS 0x20)
// an "is it upper case" branch mispredicts on every other letter.
func lowerASCIIDomain(buf *[253]byte, name string) (norm string, ascii, ok bool) {
	name = strings.TrimSuffix(name, ".")
	if len(name) > 253 {
		return "", true, false
	}
	var upper, high uint64
	i := 0
	for ; i+8 <= len(name); i += 8 {
		w := load64(name, i)
		high |= w
		upper |= upperBytes(w)
	}
	for ; i < len(name); i++ {
		c := name[i]
		high |= uint64(c)
		upper |= uint64(asciiCaseBit[c])
	}
	switch {
	case high&swarHigh != 0:
		return "", false, true
	case len(name) == 0:
		return "", true, false
	case upper == 0:
		return name, true, true
	case buf == nil:
		return strings.ToLower(name), true, true
	}
	i = 0
	for ; i+8 <= len(name); i += 8 {
		w := load64(name, i)
		binary.LittleEndian.PutUint64(buf[i:i+8], w|upperBytes(w)>>2) // 0x80>>2: the case bit
	}
	for ; i < len(name); i++ {
		buf[i] = name[i] | asciiCaseBit[name[i]]
	}
	return unsafe.String(&buf[0], len(name)), true, true
}

// upperBytes has the high bit set in every byte of w that is 'A'..'Z'; w's
// bytes must all be ASCII (below 0x80), or the result is meaningless.
func upperBytes(w uint64) uint64 {
	// Per byte: b+0x3F reaches 0x80 from 'A' on, b+0x25 from 'Z'+1 on;
	// no sum passes 0xFF, so no carry crosses into the next byte.
	return (w + 0x3F3F3F3F3F3F3F3F) &^ (w + 0x2525252525252525) & swarHigh
}

// asciiCaseBit is 0x20 for 'A'..'Z' (c|0x20 lower-cases them), 0 elsewhere.
var asciiCaseBit = func() (t [256]byte) {
	for c := 'A'; c <= 'Z'; c++ {
		t[c] = 0x20
	}
	return t
}()

var idnProfile = idna.New(idna.MapForLookup(), idna.Transitional(false), idna.StrictDomainName(false))

func normalizeIDN(name string) (string, bool) {
	a, err := idnProfile.ToASCII(name)
	if err != nil || a == "" || len(a) > 253 {
		return "", false
	}
	return a, true
}
