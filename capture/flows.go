package capture

import (
	"net/netip"
	"unsafe"
)

// flowKey names one direction of a TCP connection or UDP conversation.
type flowKey struct {
	src, dst     [16]byte
	sport, dport uint16
	proto        uint8
}

func keyOf(p *packet) flowKey {
	return flowKey{src: p.src.As16(), dst: p.dst.As16(), sport: p.sport, dport: p.dport, proto: p.proto}
}

// What a tracked flow direction carries, decided by its first bytes.
const (
	flowNew    uint8 = iota // SYN seen, no payload yet
	flowTLS                 // collecting a ClientHello
	flowHTTP                // reading request heads
	flowDNS                 // DNS over TCP
	flowQUIC                // collecting CRYPTO frames of client Initials
	flowIgnore              // nothing (more) to extract; kept so later segments are not looked at
)

// flow is one tracked direction. Flows live in a fixed slab linked into an
// LRU list by index, so eviction of the least recently seen flow and
// idle expiry are O(1) and the slab holds no pointers but the buffers.
type flow struct {
	key        flowKey
	prev, next int32
	lastSeen   int64 // packet time, unix nanoseconds
	nextSeq    uint32
	state      uint8
	// buf holds in-order stream bytes a parser needs whole (the TLS
	// ClientHello, the QUIC CRYPTO stream); ooo holds segments that arrived
	// ahead of a gap.
	buf []byte
	ooo []segment
	app any // *httpreq.Stream, *dnsmsg.TCPStream or *quic.CryptoStream
}

type segment struct {
	seq  uint32
	data []byte
}

// FlowLimits bound the flow table. Zero values take the defaults.
type FlowLimits struct {
	// Memory caps the table: flow entries plus buffered stream bytes.
	Memory int64
	// PerFlow caps the bytes buffered for one flow direction.
	PerFlow int
	// Idle expires a flow not seen for this long (packet time).
	Idle int64
}

// Defaults: 64 MiB holds ~200k tracked handshakes with room for buffers; a
// post-quantum ClientHello is ~1.8 KB, so 64 KiB per flow is generous.
const (
	defaultFlowMemory  = 64 << 20
	defaultPerFlow     = 64 << 10
	defaultIdle        = 60e9
	flowEntryBytes     = int64(unsafe.Sizeof(flow{})) + 64 // slab entry + map entry
	flowEntryShareOfMB = 2                                 // entries may use 1/2 of the memory cap
)

func (l FlowLimits) withDefaults() FlowLimits {
	if l.Memory <= 0 {
		l.Memory = defaultFlowMemory
	}
	if l.PerFlow <= 0 {
		l.PerFlow = defaultPerFlow
	}
	if l.Idle <= 0 {
		l.Idle = defaultIdle
	}
	return l
}

// flowTable tracks flow directions under a memory cap. Not safe for
// concurrent use: each capture worker owns one.
type flowTable struct {
	limits     FlowLimits
	index      map[flowKey]int32
	slab       []flow
	free       []int32
	head, tail int32 // most and least recently seen
	maxFlows   int
	buffered   int64 // bytes held in buf and ooo across flows
	stats      *flowStats
	onEvict    func(*flow) // returns app state to its pool
	// bufPool keeps freed reassembly buffers, so flows that need one
	// (split ClientHellos, reordered segments) do not allocate in steady
	// state.
	bufPool [][]byte
	segPool [][]segment
}

// Buffers from the pool hold a typical split hello; larger ones are left to
// the GC.
const (
	pooledBufSize = 4096
	bufPoolCap    = 512
)

// bufCap is the capacity getBuf gives for n bytes, which is what a
// buffer counts against the limits.
func bufCap(n int) int { return max(n, pooledBufSize) }

// getBuf returns an empty buffer of bufCap(n) bytes' capacity.
func (t *flowTable) getBuf(n int) []byte {
	if n <= pooledBufSize {
		if k := len(t.bufPool); k > 0 {
			b := t.bufPool[k-1]
			t.bufPool = t.bufPool[:k-1]
			return b
		}
	}
	return make([]byte, 0, bufCap(n))
}

// getSegs returns an empty segment list.
func (t *flowTable) getSegs() []segment {
	if k := len(t.segPool); k > 0 {
		s := t.segPool[k-1]
		t.segPool = t.segPool[:k-1]
		return s
	}
	return make([]segment, 0, 4)
}

func (t *flowTable) putSegs(s []segment) {
	if cap(s) > 0 && len(t.segPool) < bufPoolCap {
		clear(s[:cap(s)]) // drop references to the buffers
		t.segPool = append(t.segPool, s[:0])
	}
}

func (t *flowTable) putBuf(b []byte) {
	if cap(b) == pooledBufSize && len(t.bufPool) < bufPoolCap {
		t.bufPool = append(t.bufPool, b[:0])
	}
}

// flowStats are counters the metrics read.
type flowStats struct {
	created, evicted, expired, bufferDrops uint64
}

func newFlowTable(l FlowLimits, stats *flowStats) *flowTable {
	l = l.withDefaults()
	t := &flowTable{limits: l, index: map[flowKey]int32{}, head: -1, tail: -1, stats: stats}
	t.maxFlows = int(l.Memory / flowEntryShareOfMB / flowEntryBytes)
	if t.maxFlows < 16 {
		t.maxFlows = 16
	}
	return t
}

// get returns the flow for k, or nil.
func (t *flowTable) get(k *flowKey) *flow {
	i, ok := t.index[*k]
	if !ok {
		return nil
	}
	return &t.slab[i]
}

// add starts tracking k, evicting the least recently seen flow when the
// table is full. The caller sets the state.
func (t *flowTable) add(k *flowKey, now int64) *flow {
	var i int32
	switch {
	case len(t.free) > 0:
		i = t.free[len(t.free)-1]
		t.free = t.free[:len(t.free)-1]
	case len(t.slab) < t.maxFlows:
		t.slab = append(t.slab, flow{})
		i = int32(len(t.slab) - 1)
	default:
		i = t.tail
		t.stats.evicted++
		t.drop(i)
		t.free = t.free[:len(t.free)-1] // drop pushed i; take it back
	}
	f := &t.slab[i]
	*f = flow{key: *k, lastSeen: now, prev: -1, next: t.head}
	if t.head >= 0 {
		t.slab[t.head].prev = i
	}
	t.head = i
	if t.tail < 0 {
		t.tail = i
	}
	t.index[*k] = i
	t.stats.created++
	return f
}

// touch marks f as just seen.
func (t *flowTable) touch(f *flow, now int64) {
	f.lastSeen = now
	i := t.index[f.key]
	if t.head == i {
		return
	}
	t.unlink(i)
	f.prev, f.next = -1, t.head
	t.slab[t.head].prev = i
	t.head = i
	if t.tail < 0 {
		t.tail = i
	}
}

func (t *flowTable) unlink(i int32) {
	f := &t.slab[i]
	if f.prev >= 0 {
		t.slab[f.prev].next = f.next
	} else {
		t.head = f.next
	}
	if f.next >= 0 {
		t.slab[f.next].prev = f.prev
	} else {
		t.tail = f.prev
	}
}

// remove stops tracking f.
func (t *flowTable) remove(f *flow) {
	if i, ok := t.index[f.key]; ok {
		t.drop(i)
	}
}

func (t *flowTable) drop(i int32) {
	f := &t.slab[i]
	t.unlink(i)
	delete(t.index, f.key)
	t.release(f)
	*f = flow{}
	t.free = append(t.free, i)
}

// release frees a flow's buffers.
func (t *flowTable) release(f *flow) {
	t.buffered -= int64(cap(f.buf))
	t.putBuf(f.buf)
	for _, s := range f.ooo {
		t.buffered -= int64(cap(s.data))
		t.putBuf(s.data)
	}
	t.putSegs(f.ooo)
	if f.app != nil && t.onEvict != nil {
		t.onEvict(f)
	}
	f.buf, f.ooo, f.app = nil, nil, nil
}

// expire drops flows idle since before now-Idle, oldest first.
func (t *flowTable) expire(now int64) {
	for t.tail >= 0 && now-t.slab[t.tail].lastSeen > t.limits.Idle {
		t.stats.expired++
		t.drop(t.tail)
	}
}

// reserve says whether n more buffered bytes fit f and the table; when the
// table is over its cap it frees the buffers of the least recently seen
// flows first, since their handshakes are the least likely to complete.
func (t *flowTable) reserve(f *flow, n int) bool {
	held := cap(f.buf)
	for _, s := range f.ooo {
		held += cap(s.data)
	}
	if held+n > t.limits.PerFlow {
		return false
	}
	budget := t.limits.Memory - int64(len(t.slab))*flowEntryBytes
	for i := t.tail; t.buffered+int64(n) > budget && i >= 0; i = t.slab[i].prev {
		g := &t.slab[i]
		if g == f || (g.buf == nil && g.ooo == nil) {
			continue
		}
		t.stats.bufferDrops++
		t.release(g)
		g.state = flowIgnore
	}
	return t.buffered+int64(n) <= budget
}

// bufAppend appends data to f.buf within the limits.
func (t *flowTable) bufAppend(f *flow, data []byte) bool {
	if len(f.buf)+len(data) > cap(f.buf) {
		nb := t.getBuf(max(2*cap(f.buf), len(f.buf)+len(data)))
		if !t.reserve(f, cap(nb)-cap(f.buf)) {
			t.putBuf(nb)
			return false
		}
		nb = append(nb, f.buf...)
		t.buffered += int64(cap(nb) - cap(f.buf))
		t.putBuf(f.buf)
		f.buf = nb
	}
	f.buf = append(f.buf, data...)
	return true
}

// memory is the table's accounted size.
func (t *flowTable) memory() int64 { return int64(len(t.slab))*flowEntryBytes + t.buffered }

// clientServer orders a packet's endpoints as (client, server): the side
// on the well-known or lower port is the server.
func clientServer(p *packet, fromServer bool) (netip.Addr, uint16, netip.Addr, uint16) {
	if fromServer {
		return p.dst, p.dport, p.src, p.sport
	}
	return p.src, p.sport, p.dst, p.dport
}
