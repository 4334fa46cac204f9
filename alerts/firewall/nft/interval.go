package nft

import (
	"bytes"
	"container/heap"
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"time"

	"github.com/google/nftables"

	"github.com/campusguard/campusguard/alerts/decision"
)

// Limits of what one netlink message and one batch may hold.
const (
	// maxElemsPerMsg keeps the nested element list of one NEWSETELEM or
	// DELSETELEM message under the 64 KiB netlink attribute limit: an
	// element is at most 48 bytes (an IPv6 interval end: header, flags,
	// key), 1024 of them 48 KiB. google/nftables v0.3.0 does not check this
	// limit; past it the attribute length silently wraps.
	maxElemsPerMsg = 1024
	// maxElemBytes is the largest encoded element, for the batch budget.
	maxElemBytes = 48
	// maxBatchBytes keeps one Flush under the default socket send buffer
	// (net.core.wmem_default, 208 KiB); a bigger batch fails with EMSGSIZE.
	maxBatchBytes = 160 << 10
	// DefaultChunkSize is how many set elements (an interval is a start
	// and an end element) one Flush carries. See README.md for the
	// measurements behind it.
	DefaultChunkSize = 2048
	// MaxChunkSize is the largest chunk that fits maxBatchBytes.
	MaxChunkSize = maxBatchBytes / maxElemBytes
)

// maxTimeout caps an element's timeout. Decisions that last longer are
// re-asserted by Reconcile before the capped timeout runs out.
const maxTimeout = 30 * 24 * time.Hour

// refreshTolerance is how far an element's expiry in the kernel may be
// from the decision's before Reconcile rewrites it. It covers the time a
// dump of a large set takes.
const refreshTolerance = 2 * time.Second

// interval is a closed address range [first, last] of one family, blocked
// until expires.
type interval struct {
	first, last netip.Addr
	expires     time.Time
	// lone marks a start element the kernel holds without an end element
	// before the next start. Nothing campusguard writes looks like this;
	// such an element is deleted (by its start key alone) and rewritten.
	lone bool
}

func (iv interval) String() string {
	return fmt.Sprintf("%s-%s", iv.first, iv.last)
}

// prefixOf returns the range a decision blocks: its prefix masked, zone
// dropped, IPv4-mapped IPv6 turned into IPv4. It refuses prefixes that
// cover a whole address family.
func prefixOf(d decision.Decision) (netip.Prefix, error) {
	p, err := d.Prefix()
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("decision %d (%s): %w", d.ID, d.Subject(), err)
	}
	if !p.IsValid() {
		return netip.Prefix{}, fmt.Errorf("decision %d (%s): not a valid prefix", d.ID, d.Subject())
	}
	addr, bits := p.Addr().WithZone(""), p.Bits()
	if addr.Is4In6() && bits >= 96 {
		addr, bits = addr.Unmap(), bits-96
	}
	p = netip.PrefixFrom(addr, bits).Masked()
	if p.Bits() == 0 {
		return netip.Prefix{}, fmt.Errorf("decision %d (%s): a block cannot cover every %s address", d.ID, d.Subject(), familyName(addr.Is4()))
	}
	return p, nil
}

// spanOf returns the first and last address of a masked prefix.
func spanOf(p netip.Prefix) (first, last netip.Addr) {
	first = p.Addr()
	b := first.AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	last, _ = netip.AddrFromSlice(b)
	return first, last
}

// familyName names an address family in metrics and messages.
func familyName(is4 bool) string {
	if is4 {
		return "ipv4"
	}
	return "ipv6"
}

// maxAddr is the last address of a family.
func maxAddr(is4 bool) netip.Addr {
	if is4 {
		return netip.AddrFrom4([4]byte{255, 255, 255, 255})
	}
	var b [16]byte
	for i := range b {
		b[i] = 0xff
	}
	return netip.AddrFrom16(b)
}

// endKey returns the key of the interval-end element for a range ending at
// last: the address after it. ok is false when last is the final address
// of its family; such a range has no end element and reaches to the top of
// the address space, the way nft writes it.
func endKey(last netip.Addr) (key []byte, ok bool) {
	next := last.Next()
	if !next.IsValid() {
		return nil, false
	}
	return next.AsSlice(), true
}

// timeoutFor is the element timeout that makes an element expire at
// expires: rounded up to the kernel's millisecond, at least 1 ms, at most
// maxTimeout.
func timeoutFor(expires, now time.Time) time.Duration {
	d := expires.Sub(now)
	if d > maxTimeout {
		return maxTimeout
	}
	d = (d + time.Millisecond - 1).Truncate(time.Millisecond)
	if d < time.Millisecond {
		d = time.Millisecond
	}
	return d
}

// addElements appends the elements that add iv with the given timeout: a
// start element carrying the timeout and, unless iv reaches the top of the
// address space, an interval-end element without one (the kernel rejects a
// timeout on an interval end with EINVAL).
func addElements(els []nftables.SetElement, iv interval, timeout time.Duration) []nftables.SetElement {
	els = append(els, nftables.SetElement{Key: iv.first.AsSlice(), Timeout: timeout})
	if k, ok := endKey(iv.last); ok {
		els = append(els, nftables.SetElement{Key: k, IntervalEnd: true})
	}
	return els
}

// delElements appends the elements that delete iv.
func delElements(els []nftables.SetElement, iv interval) []nftables.SetElement {
	els = append(els, nftables.SetElement{Key: iv.first.AsSlice()})
	if iv.lone {
		return els
	}
	if k, ok := endKey(iv.last); ok {
		els = append(els, nftables.SetElement{Key: k, IntervalEnd: true})
	}
	return els
}

// elemCount is how many set elements iv takes.
func elemCount(iv interval) int {
	if _, ok := endKey(iv.last); ok && !iv.lone {
		return 2
	}
	return 1
}

// intervalsFromElements pairs the start and end elements of a listed
// interval set into ranges. End elements without a start (left when a
// start element expired and the kernel has not collected its end yet) are
// skipped and counted in orphans.
func intervalsFromElements(els []kernelElem, is4 bool) (ivs []interval, orphans int, err error) {
	keyLen := 16
	if is4 {
		keyLen = 4
	}
	for _, e := range els {
		if len(e.key) != keyLen {
			return nil, 0, fmt.Errorf("set element key %x: want %d bytes", e.key, keyLen)
		}
	}
	// The kernel lists an rbtree set in descending order, which reversed
	// is the order wanted here; sort only when it is not.
	els = slices.Clone(els)
	slices.Reverse(els)
	if !slices.IsSortedFunc(els, compareElems) {
		slices.SortFunc(els, compareElems)
	}
	var open *interval
	for _, e := range els {
		addr, _ := netip.AddrFromSlice(e.key)
		if e.end {
			if open == nil {
				orphans++
				continue
			}
			last := addr.Prev()
			if !last.IsValid() || last.Less(open.first) {
				return nil, 0, fmt.Errorf("interval end %s before its start %s", addr, open.first)
			}
			open.last = last
			ivs = append(ivs, *open)
			open = nil
			continue
		}
		if open != nil {
			open.last, open.lone = addr.Prev(), true
			ivs = append(ivs, *open)
		}
		exp := e.expires
		if e.timeout == 0 {
			// An element without a timeout (added by hand) never expires.
			exp = time.Now().Add(100 * 365 * 24 * time.Hour)
		}
		open = &interval{first: addr, expires: exp}
	}
	if open != nil {
		open.last = maxAddr(is4)
		ivs = append(ivs, *open)
	}
	return ivs, orphans, nil
}

// compareElems orders elements by key; at equal keys an end, which closes
// the range before it, comes before a start, which opens the next one.
func compareElems(a, b kernelElem) int {
	if c := bytes.Compare(a.key, b.key); c != 0 {
		return c
	}
	switch {
	case a.end == b.end:
		return 0
	case a.end:
		return -1
	}
	return 1
}

// segments turns possibly overlapping entries into the disjoint ranges to
// write: every address covered by an entry unexpired at now is blocked
// until the latest expiry among the entries that cover it. A narrower
// decision inside a broader one that lasts at least as long disappears
// into it; one that lasts longer splits the broader range in three.
// Neighbouring ranges with the same expiry are merged. The result is
// sorted, IPv4 first in v4 and IPv6 in v6.
func segments(entries []interval, now time.Time) (v4, v6 []interval) {
	var e4, e6 []interval
	for _, e := range entries {
		if !e.expires.After(now) {
			continue
		}
		if e.first.Is4() {
			e4 = append(e4, e)
		} else {
			e6 = append(e6, e)
		}
	}
	return sweep(e4, true), sweep(e6, false)
}

// sweep computes segments for the entries of one family.
func sweep(es []interval, is4 bool) []interval {
	if len(es) == 0 {
		return nil
	}
	slices.SortFunc(es, func(a, b interval) int { return a.first.Compare(b.first) })
	points := make([]netip.Addr, 0, 2*len(es))
	for _, e := range es {
		points = append(points, e.first)
		if n := e.last.Next(); n.IsValid() {
			points = append(points, n)
		}
	}
	slices.SortFunc(points, netip.Addr.Compare)
	points = slices.Compact(points)

	var out []interval
	var h byExpiry
	i := 0
	for k, p := range points {
		for i < len(es) && es[i].first == p {
			heap.Push(&h, es[i])
			i++
		}
		for len(h) > 0 && h[0].last.Less(p) {
			heap.Pop(&h)
		}
		if len(h) == 0 {
			continue
		}
		last := maxAddr(is4)
		if k+1 < len(points) {
			last = points[k+1].Prev()
		}
		exp := h[0].expires
		if n := len(out); n > 0 && out[n-1].expires.Equal(exp) && out[n-1].last.Next() == p {
			out[n-1].last = last
			continue
		}
		out = append(out, interval{first: p, last: last, expires: exp})
	}
	return out
}

// byExpiry is a max-heap of entries by expiry.
type byExpiry []interval

func (h byExpiry) Len() int           { return len(h) }
func (h byExpiry) Less(i, j int) bool { return h[i].expires.After(h[j].expires) }
func (h byExpiry) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *byExpiry) Push(x any)        { *h = append(*h, x.(interval)) }
func (h *byExpiry) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// subtract removes [first, last] from every interval in ivs.
func subtract(ivs []interval, first, last netip.Addr) []interval {
	var out []interval
	for _, iv := range ivs {
		if iv.first.Is4() != first.Is4() || iv.last.Less(first) || last.Less(iv.first) {
			out = append(out, iv)
			continue
		}
		if iv.first.Less(first) {
			out = append(out, interval{first: iv.first, last: first.Prev(), expires: iv.expires})
		}
		if last.Less(iv.last) {
			out = append(out, interval{first: last.Next(), last: iv.last, expires: iv.expires})
		}
	}
	return out
}

// Changes counts what an update did to the sets, in address ranges.
type Changes struct {
	Added     int // ranges that were not in the kernel
	Deleted   int // ranges the kernel held that are no longer wanted
	Refreshed int // ranges whose timeout was rewritten
	Unchanged int // ranges already right
}

func (c *Changes) add(o Changes) {
	c.Added += o.Added
	c.Deleted += o.Deleted
	c.Refreshed += o.Refreshed
	c.Unchanged += o.Unchanged
}

// group is a set of deletions and additions whose ranges overlap; they go
// into one batch when they fit, so the kernel never sees two overlapping
// ranges (it rejects them with EEXIST) and no address is unblocked for a
// moment in between.
type group struct {
	del, add []interval
	elems    int
}

// plan compares the ranges the kernel holds with the ranges wanted, both
// sorted and disjoint, and returns the writes, grouped by overlap and in
// address order.
func plan(have, want []interval, now time.Time) ([]group, Changes) {
	type op struct {
		iv  interval
		del bool
	}
	var ops []op
	var ch Changes
	for i, j := 0, 0; i < len(have) || j < len(want); {
		switch {
		case j == len(want) || (i < len(have) && have[i].first.Less(want[j].first)):
			ops = append(ops, op{iv: have[i], del: true})
			ch.Deleted++
			i++
		case i == len(have) || want[j].first.Less(have[i].first):
			ops = append(ops, op{iv: want[j]})
			ch.Added++
			j++
		default:
			h, w := have[i], want[j]
			i, j = i+1, j+1
			switch {
			case h.last != w.last || h.lone:
				ops = append(ops, op{iv: h, del: true}, op{iv: w})
				ch.Deleted++
				ch.Added++
			case needsRefresh(h, w, now):
				ops = append(ops, op{iv: h, del: true}, op{iv: w})
				ch.Refreshed++
			default:
				ch.Unchanged++
			}
		}
	}
	var groups []group
	var reach netip.Addr
	for _, o := range ops {
		if len(groups) == 0 || reach.Less(o.iv.first) {
			groups = append(groups, group{})
			reach = o.iv.last
		}
		g := &groups[len(groups)-1]
		if reach.Less(o.iv.last) {
			reach = o.iv.last
		}
		if o.del {
			g.del = append(g.del, o.iv)
		} else {
			g.add = append(g.add, o.iv)
		}
		g.elems += elemCount(o.iv)
	}
	return groups, ch
}

// splice returns segments (sorted, disjoint, as segments makes them) with
// e added, recomputing only the segments e overlaps or touches. The result
// is what segments would return for the entries behind base plus e. base
// is not modified.
func splice(base []interval, e interval, now time.Time) []interval {
	i := sort.Search(len(base), func(i int) bool {
		return !base[i].last.Less(e.first) || base[i].last.Next() == e.first
	})
	j := i
	for j < len(base) && (!e.last.Less(base[j].first) || e.last.Next() == base[j].first) {
		j++
	}
	region := make([]interval, 0, j-i+1)
	region = append(region, base[i:j]...)
	region = append(region, e)
	r4, r6 := segments(region, now)
	r := r6
	if e.first.Is4() {
		r = r4
	}
	out := make([]interval, 0, len(base)-(j-i)+len(r))
	out = append(out, base[:i]...)
	out = append(out, r...)
	return append(out, base[j:]...)
}

// needsRefresh reports whether the kernel's expiry for a range is too far
// from the wanted one. Timeouts beyond maxTimeout are written capped and
// refreshed once less than half of the cap is left.
func needsRefresh(have, want interval, now time.Time) bool {
	haveLeft, wantLeft := have.expires.Sub(now), want.expires.Sub(now)
	if wantLeft > maxTimeout {
		return haveLeft < maxTimeout/2 || haveLeft > maxTimeout+refreshTolerance
	}
	d := haveLeft - wantLeft
	return d > refreshTolerance || d < -refreshTolerance
}
