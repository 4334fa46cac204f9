package matcher

import (
	"encoding/binary"
	"errors"
	"hash/maphash"
	"math/bits"
	"strings"
	"unsafe"

	"golang.org/x/net/idna"
)

// The domain index answers "which rules cover this hostname or one of its
// parents" with one hash probe per label suffix. Suffixes are hashed with a
// per-index random seed (hash/maphash), so nobody can precompute names that
// collide with a rule. A slot packs 40 bits of the hash as a tag with a
// 24-bit entry index into one uint64, and no key strings are kept: that is
// what keeps 1M domains under 48 MB. The 24 hash bits the tag leaves out
// sit in the entry's padding, so a probe compares all 64 bits: a false match
// needs some listed name with the same 64-bit hash, n/2^64 per probe (5e-14
// at 1M rules; 40 bits alone would be ~1e-6), and it cannot be aimed at.
// Slot and filter positions derive from the
// tag alone, so the table can grow without the keys. A small blocked Bloom
// filter in front keeps the usual "not listed" probe inside the CPU cache;
// only suffixes that pass it touch the table.

// MaxDomainRules is what a 24-bit entry index can address.
const MaxDomainRules = 1<<24 - 1

const (
	domainTagShift = 24
	domainIdxMask  = 1<<domainTagShift - 1
)

// Flags of a domain entry.
const (
	domainException      = 1 << iota // adblock @@: allows the name for its pack
	domainSubdomainsOnly             // "*.d": matches below d, not d itself
)

// domainEntry is one rule on one domain; entries for the same domain are
// chained through next (-1 ends a chain). check holds the 24 hash bits the
// slot's tag leaves out, in what was padding: a probe must match tag and
// check, 64 bits in all.
type domainEntry struct {
	line  uint32
	next  int32
	pack  uint16
	file  uint16
	flags uint8
	check [3]uint8
}

func checkOf(h uint64) [3]uint8 { return [3]uint8{uint8(h), uint8(h >> 8), uint8(h >> 16)} }

type domainIndex struct {
	seed    maphash.Seed
	slots   []uint64
	mask    uint64
	filter  []uint64
	fshift  uint
	entries []domainEntry
}

var errDomainIndexFull = errors.New("domain index full: more than 16M rules")

// newDomainIndex sizes the index for about capacity entries; it grows past
// that, but a good hint (the previous rule set's size) avoids the copies.
func newDomainIndex(capacity int) *domainIndex {
	if capacity < 16 {
		capacity = 16
	}
	slots := 1 << bits.Len(uint(capacity*4/3)) // load ≤ 0.75
	fwords := slots / 8                        // 8 filter bits per slot, as grow keeps it
	return &domainIndex{
		seed:    maphash.MakeSeed(),
		slots:   make([]uint64, slots),
		mask:    uint64(slots - 1),
		filter:  make([]uint64, fwords),
		fshift:  uint(64 - bits.TrailingZeros(uint(fwords))),
		entries: make([]domainEntry, 0, capacity),
	}
}

// filterBits derives the filter word and two bit positions from a tag,
// mixed differently from homeOf so the two do not fail together.
func (d *domainIndex) filterBits(tag uint64) (uint64, uint64) {
	f := (tag ^ tag>>21) * 0xD6E8FEB86659FD93
	var w uint64
	if d.fshift < 64 {
		w = f >> d.fshift
	}
	return w, 1<<(f&63) | 1<<((f>>6)&63)
}

// add inserts a rule for an already normalized domain.
func (d *domainIndex) add(domain string, e domainEntry) error {
	if len(d.entries) >= MaxDomainRules {
		return errDomainIndexFull
	}
	if uint64(len(d.entries)+1)*4 > uint64(len(d.slots))*3 {
		d.grow()
	}
	h := maphash.String(d.seed, domain)
	tag := h >> domainTagShift
	e.check = checkOf(h)
	w, m := d.filterBits(tag)
	d.filter[w] |= m
	idx := uint64(len(d.entries))
	for s := d.homeOf(tag); ; s = (s + 1) & d.mask {
		v := d.slots[s]
		if v == 0 {
			e.next = -1
			d.slots[s] = tag<<domainTagShift | (idx + 1)
			break
		}
		if v>>domainTagShift == tag {
			e.next = int32(v&domainIdxMask) - 1
			d.slots[s] = tag<<domainTagShift | (idx + 1)
			break
		}
	}
	d.entries = append(d.entries, e)
	return nil
}

// grow doubles the slots and the filter, re-placing every key from its tag.
func (d *domainIndex) grow() {
	old := d.slots
	d.slots = make([]uint64, 2*len(old))
	d.mask = uint64(len(d.slots) - 1)
	d.filter = make([]uint64, 2*len(d.filter))
	d.fshift--
	for _, v := range old {
		if v == 0 {
			continue
		}
		tag := v >> domainTagShift
		w, m := d.filterBits(tag)
		d.filter[w] |= m
		for s := d.homeOf(tag); ; s = (s + 1) & d.mask {
			if d.slots[s] == 0 {
				d.slots[s] = v
				break
			}
		}
	}
}

// homeOf picks a key's first slot from its tag: 40 random bits are plenty
// for any table this index can hold (2^24 keys → at most 2^25 slots).
func (d *domainIndex) homeOf(tag uint64) uint64 { return (tag * 0x9E3779B97F4A7C15 >> 24) & d.mask }

// domainHit is a rule that covers a suffix starting at byte at of the name.
type domainHit struct {
	entry int32
	at    int32
}

// lookup appends to out every rule covering name or a parent of it, most
// specific first. name must already be normalized (see normalizeDomain).
// Dots are found eight bytes at a time; each label suffix is hashed and
// probed on its own. (Hashing all suffixes first and batching the filter
// reads measured no faster: the CPU already overlaps these independent
// probes.)
func (d *domainIndex) lookup(name string, out []domainHit) []domainHit {
	out = d.probe(name, 0, out)
	i := 0
	for ; i+8 <= len(name); i += 8 {
		for m := dotBytes(load64(name, i)); m != 0; m &= m - 1 {
			out = d.probe(name, i+bits.TrailingZeros64(m)/8+1, out)
		}
	}
	for ; i < len(name); i++ {
		if name[i] == '.' {
			out = d.probe(name, i+1, out)
		}
	}
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

func (d *domainIndex) probe(name string, at int, out []domainHit) []domainHit {
	h := maphash.String(d.seed, name[at:])
	w, m := d.filterBits(h >> domainTagShift)
	if d.filter[w]&m != m {
		return out
	}
	return d.probeHash(h, at, out)
}

// probeHash looks up one suffix, with hash h, that passed the filter.
func (d *domainIndex) probeHash(h uint64, at int, out []domainHit) []domainHit {
	tag := h >> domainTagShift
	for s := d.homeOf(tag); ; s = (s + 1) & d.mask {
		v := d.slots[s]
		if v == 0 {
			return out
		}
		if v>>domainTagShift != tag {
			continue
		}
		chk := checkOf(h)
		for e := int32(v&domainIdxMask) - 1; e >= 0; e = d.entries[e].next {
			if d.entries[e].check == chk {
				out = append(out, domainHit{entry: e, at: int32(at)})
			}
		}
		return out
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
