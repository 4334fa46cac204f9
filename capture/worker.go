package capture

import (
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"github.com/gopacket/gopacket"

	"github.com/campusguard/campusguard/capture/dnsmsg"
	"github.com/campusguard/campusguard/capture/httpreq"
	"github.com/campusguard/campusguard/capture/quic"
	"github.com/campusguard/campusguard/capture/tlshello"
	"github.com/campusguard/campusguard/internal/event"
	"github.com/campusguard/campusguard/matcher"
)

// Options configure a Worker.
type Options struct {
	// Sensor names this capture point in events.
	Sensor string
	// Rules returns the rule set in force (a Matcher's Set); nil matches
	// nothing.
	Rules func() *matcher.Set
	// AllEvents emits every extracted event, not only those with hits.
	AllEvents bool
	// Pseudonyms, when set, replaces client addresses in events.
	Pseudonyms *Pseudonymizer
	// Flows bounds TCP and QUIC reassembly.
	Flows FlowLimits
	// Emit receives each event; it owns the event. It runs on the worker's
	// goroutine, so it must hand off quickly (a bounded queue).
	Emit func(*event.Event)
}

// Worker decodes frames and extracts events from them. It owns its decoder,
// parsers and flow table and is not safe for concurrent use: live capture
// runs one per fanout member.
type Worker struct {
	opts  Options
	dec   *decoder
	flows *flowTable
	stats Stats
	met   *Metrics

	dns    dnsmsg.Message
	tls    tlshello.Parser
	opener quic.Opener
	pseudo *Pseudonymizer

	// The frame being processed, for events raised from callbacks.
	cur     packet
	curTime time.Time
	curNo   uint64

	hits      []event.Hit
	crypto    quic.CryptoStream // one datagram's CRYPTO data, before a flow exists
	cryptoDst *quic.CryptoStream
	cryptoErr error

	// Method values made once: passing w.onX directly would allocate a
	// closure per call.
	onHTTP   func(*httpreq.Request)
	onDNSTCP func([]byte)
	onCrypto func(uint64, []byte)

	httpPool pool[httpreq.Stream]
	dnsPool  pool[dnsmsg.TCPStream]
	quicPool pool[quic.CryptoStream]
}

// NewWorker makes a worker; met may be nil.
func NewWorker(opts Options, met *Metrics) *Worker {
	w := &Worker{opts: opts, dec: newDecoder(), met: met, hits: make([]event.Hit, 0, 16)}
	w.flows = newFlowTable(opts.Flows, &w.stats.flows)
	w.flows.onEvict = w.recycle
	if opts.Pseudonyms != nil {
		w.pseudo = opts.Pseudonyms.clone()
	}
	w.httpPool.reset = (*httpreq.Stream).Reset
	w.dnsPool.reset = (*dnsmsg.TCPStream).Reset
	w.quicPool.reset = (*quic.CryptoStream).Reset
	w.onHTTP = w.httpRequest
	w.onDNSTCP = w.dnsTCPMessage
	w.onCrypto = func(off uint64, data []byte) {
		if err := w.cryptoDst.Add(off, data); err != nil && w.cryptoErr == nil {
			w.cryptoErr = err
		}
	}
	return w
}

// Stats returns the worker's counters so far.
func (w *Worker) Stats() Stats {
	s := w.stats
	s.DecodeErrors = maps.Clone(s.DecodeErrors)
	s.ExtractErrors = maps.Clone(s.ExtractErrors)
	s.FlowsActive = len(w.flows.index)
	s.ReassemblyBytes = w.flows.buffered
	return s
}

// Packet processes one captured frame. first is the frame's outermost layer
// (layers.LayerTypeEthernet, LinuxSLL, LinuxSLL2, Loopback, or IPv4 for raw
// IP of either version), no its 1-based number in a file (0 for live
// capture).
// A panic in a decoder or extractor is recovered and counted: one bad
// packet must not stop a capture.
func (w *Worker) Packet(first gopacket.LayerType, frame []byte, ts time.Time, no uint64) {
	defer func() {
		if r := recover(); r != nil {
			w.stats.Panics++
		}
	}()
	w.stats.Packets++
	w.stats.Bytes += uint64(len(frame))
	p := &w.cur
	failed, err := w.dec.decode(first, frame, p)
	switch {
	case err == errFragment:
		w.stats.Fragments++
		return
	case err != nil:
		w.stats.decodeError(failed.String())
		return
	case p.proto == 0:
		return
	}
	w.curTime, w.curNo = ts, no
	now := ts.UnixNano()
	w.flows.expire(now)
	if p.proto == 17 {
		w.udp(p, now)
	} else {
		w.tcp(p, now)
	}
	if w.stats.Packets%4096 == 0 {
		w.Flush()
	}
}

// Flush publishes the counters to the metrics.
func (w *Worker) Flush() {
	if w.met != nil {
		w.met.publish(w)
	}
}

func (w *Worker) udp(p *packet, now int64) {
	switch {
	case p.sport == 53 || p.dport == 53:
		w.dnsMessage(p.payload)
	case len(p.payload) > 0 && p.payload[0]&0xC0 == 0xC0 && p.sport != 443:
		// A QUIC long header, not from a server: server Initials do not
		// open with client keys, and trying costs a key derivation.
		w.quicDatagram(p, now)
	}
}

// --- TCP ---------------------------------------------------------------------

func (w *Worker) tcp(p *packet, now int64) {
	if len(p.payload) == 0 && p.tcpFlags&(tcpSYN|tcpFIN|tcpRST) == 0 {
		return // a bare ACK: the bulk of TCP, and nothing to do
	}
	k := keyOf(p)
	f := w.flows.get(&k)
	if p.tcpFlags&tcpSYN != 0 {
		// A SYN (client) or a SYN-ACK from a DNS server: remember where
		// the stream starts, so segments that arrive out of order can
		// be placed.
		if p.tcpFlags&tcpACK != 0 && p.sport != 53 {
			return
		}
		if f != nil {
			w.flows.remove(f)
		}
		f = w.flows.add(&k, now)
		f.nextSeq, f.state = p.seq+1, flowNew
		return
	}
	if f == nil {
		// No SYN seen (capture started mid-connection, or the flow was
		// evicted): only a segment that starts something we read begins
		// tracking, so bulk data costs one map lookup and nothing else.
		if len(p.payload) == 0 || classify(p.payload, p.sport, p.dport) == flowIgnore {
			return
		}
		f = w.flows.add(&k, now)
		f.nextSeq, f.state = p.seq, flowNew
	} else {
		w.flows.touch(f, now)
	}
	if len(p.payload) > 0 && f.state != flowIgnore {
		w.segment(f, p.seq, p.payload)
	}
	if p.tcpFlags&(tcpFIN|tcpRST) != 0 {
		w.flows.remove(f)
	}
}

// classify says what a stream starting with b carries.
func classify(b []byte, sport, dport uint16) uint8 {
	switch {
	case sport == 53 || dport == 53:
		return flowDNS
	case len(b) >= 6 && b[0] == 0x16 && b[1] == 3 && b[2] <= 4 && b[5] == 1:
		return flowTLS // a handshake record starting a ClientHello (a ServerHello is 2)
	case httpreq.StartsRequest(b):
		return flowHTTP
	}
	return flowIgnore
}

// segment places one TCP segment in f's stream: in order it is consumed
// at once, ahead of a gap it waits (copied, within the flow's limits),
// behind what was consumed it is a retransmission.
func (w *Worker) segment(f *flow, seq uint32, data []byte) {
	ahead := int32(seq - f.nextSeq)
	if ahead > 0 {
		w.holdSegment(f, seq, data)
		return
	}
	if int(-ahead) >= len(data) {
		w.stats.Retransmits++
		return
	}
	data = data[-ahead:]
	f.nextSeq += uint32(len(data))
	w.consume(f, data)
	for len(f.ooo) > 0 && f.state != flowIgnore {
		s := f.ooo[0]
		ahead := int32(s.seq - f.nextSeq)
		if ahead > 0 {
			break
		}
		f.ooo = f.ooo[:copy(f.ooo, f.ooo[1:])] // keep the array's start for the pool
		w.flows.buffered -= int64(cap(s.data))
		if int(-ahead) < len(s.data) {
			rest := s.data[-ahead:]
			f.nextSeq += uint32(len(rest))
			w.consume(f, rest)
		}
		w.flows.putBuf(s.data)
	}
	if f.ooo != nil && len(f.ooo) == 0 {
		w.flows.putSegs(f.ooo)
		f.ooo = nil
	}
}

func (w *Worker) holdSegment(f *flow, seq uint32, data []byte) {
	if len(f.ooo) >= 32 || !w.flows.reserve(f, bufCap(len(data))) {
		w.stats.ReassemblyDrops++
		w.giveUp(f)
		return
	}
	at := len(f.ooo)
	for i, s := range f.ooo {
		if d := int32(seq - s.seq); d < 0 {
			at = i
			break
		} else if d == 0 && len(data) <= len(s.data) {
			return // the same segment again
		}
	}
	seg := segment{seq: seq, data: append(w.flows.getBuf(len(data)), data...)}
	if f.ooo == nil {
		f.ooo = w.flows.getSegs()
	}
	w.flows.buffered += int64(cap(seg.data))
	f.ooo = append(f.ooo, segment{})
	copy(f.ooo[at+1:], f.ooo[at:])
	f.ooo[at] = seg
}

// giveUp stops extracting from f but keeps tracking it, so its later
// segments cost a lookup and nothing more.
func (w *Worker) giveUp(f *flow) {
	w.flows.release(f)
	f.state = flowIgnore
}

// consume feeds in-order stream bytes to the flow's parser.
func (w *Worker) consume(f *flow, data []byte) {
	if f.state == flowNew {
		f.state = classify(data, f.key.sport, f.key.dport)
		switch f.state {
		case flowHTTP:
			f.app = w.httpPool.get()
		case flowDNS:
			f.app = w.dnsPool.get()
		case flowIgnore:
			w.giveUp(f)
			return
		}
	}
	switch f.state {
	case flowTLS:
		w.tlsBytes(f, data)
	case flowHTTP:
		if err := f.app.(*httpreq.Stream).Feed(data, w.onHTTP); err != nil {
			if !errors.Is(err, httpreq.ErrNotHTTP) { // the end of HTTP after CONNECT or an Upgrade is not an error
				w.stats.extractError("http")
			}
			w.giveUp(f)
		}
	case flowDNS:
		if err := f.app.(*dnsmsg.TCPStream).Feed(data, w.onDNSTCP); err != nil {
			w.stats.extractError("dns")
			w.giveUp(f)
		}
	}
}

// tlsBytes collects a ClientHello; most fit the first segment and are
// parsed in place without copying.
func (w *Worker) tlsBytes(f *flow, data []byte) {
	stream := data
	if len(f.buf) > 0 {
		if !w.flows.bufAppend(f, data) {
			w.stats.ReassemblyDrops++
			w.giveUp(f)
			return
		}
		stream = f.buf
	}
	sni, err := w.tls.FromRecords(stream)
	if errors.Is(err, tlshello.ErrNeedMore) {
		if len(f.buf) == 0 && !w.flows.bufAppend(f, data) {
			w.stats.ReassemblyDrops++
			w.giveUp(f)
		}
		return
	}
	if err != nil {
		w.stats.extractError("tls")
	} else if len(sni) > 0 {
		w.emitName(event.KindTLS, sni, false)
	}
	w.giveUp(f) // one ClientHello per connection
}

func (w *Worker) httpRequest(r *httpreq.Request) {
	host := r.Host
	if h, _, ok := splitHostPort(host); ok {
		host = h
	}
	w.emit(event.KindHTTP, host, r.Target, false)
}

func (w *Worker) dnsTCPMessage(msg []byte) { w.dnsMessage(msg) }

// --- DNS ---------------------------------------------------------------------

func (w *Worker) dnsMessage(msg []byte) {
	m := &w.dns
	err := m.Unpack(msg)
	if err != nil {
		w.stats.extractError("dns")
		if len(m.QName) == 0 {
			return
		}
	}
	w.emitDNS(m)
}

// --- QUIC --------------------------------------------------------------------

// quicDatagram reads client Initials. A ClientHello that fits one datagram
// needs no flow; one spread over several (post-quantum key shares) is
// collected in a flow keyed by the client's address and port.
func (w *Worker) quicDatagram(p *packet, now int64) {
	k := keyOf(p)
	f := w.flows.get(&k)
	if f != nil {
		w.flows.touch(f, now)
		if f.state != flowQUIC {
			return
		}
		w.quicInto(f.app.(*quic.CryptoStream), p, f)
		return
	}
	w.crypto.Reset()
	if !w.quicInto(&w.crypto, p, nil) {
		return
	}
	if _, complete := w.crypto.Hello(); complete {
		return // quicInto emitted it
	}
	// Incomplete: decrypt again into a stream that outlives the datagram.
	f = w.flows.add(&k, now)
	f.state = flowQUIC
	cs := w.quicPool.get()
	f.app = cs
	w.quicInto(cs, p, f)
}

// quicInto decrypts one datagram's Initials into cs and emits the SNI once
// the ClientHello is complete. It reports whether the datagram held a
// client Initial.
func (w *Worker) quicInto(cs *quic.CryptoStream, p *packet, f *flow) bool {
	w.cryptoDst, w.cryptoErr = cs, nil
	info, err := w.opener.Open(p.payload, w.onCrypto)
	w.cryptoDst = nil
	switch {
	case err == quic.ErrDecrypt || errors.Is(err, quic.ErrNotQUIC):
		return false // server Initials look like this too: not an error
	case err != nil:
		w.stats.extractError("quic")
		return false
	case info.Initials == 0:
		return false
	}
	if w.cryptoErr != nil {
		w.stats.extractError("quic")
		if f != nil {
			w.giveUp(f)
		}
		return true
	}
	hello, complete := cs.Hello()
	if !complete {
		return true
	}
	sni, err := w.tls.FromHandshake(hello)
	switch {
	case err != nil:
		w.stats.extractError("quic")
	case len(sni) > 0:
		w.emitName(event.KindQUIC, sni, false)
	}
	if f != nil {
		w.giveUp(f)
	}
	return true
}

// --- pools -------------------------------------------------------------------

// pool keeps parsers of finished flows for the next ones, up to poolCap:
// beyond it they are left to the GC.
type pool[T any] struct {
	free  []*T
	reset func(*T)
}

const poolCap = 256

func (p *pool[T]) get() *T {
	if n := len(p.free); n > 0 {
		v := p.free[n-1]
		p.free = p.free[:n-1]
		return v
	}
	return new(T)
}

func (p *pool[T]) put(v *T) {
	if len(p.free) < poolCap {
		p.reset(v)
		p.free = append(p.free, v)
	}
}

// recycle returns a released flow's parser to its pool.
func (w *Worker) recycle(f *flow) {
	switch s := f.app.(type) {
	case *httpreq.Stream:
		w.httpPool.put(s)
	case *dnsmsg.TCPStream:
		w.dnsPool.put(s)
	case *quic.CryptoStream:
		w.quicPool.put(s)
	}
}

// --- events ------------------------------------------------------------------

// transient views b as a string for matching only; nothing may keep it.
func transient(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

// matchName runs the rules on a name (and a URL) without allocating; the
// hits' Match strings may alias the packet until owned() copies them.
func (w *Worker) matchName(set *matcher.Set, kind event.Kind, name, url []byte) []event.Hit {
	hits := w.hits[:0]
	if set == nil {
		return hits
	}
	if len(name) > 0 {
		hits = set.MatchDomain(kind, transient(name), hits)
	}
	if len(url) > 0 {
		hits = set.MatchText(kind, event.FieldURL, transient(url), hits)
	}
	w.hits = hits
	return hits
}

func (w *Worker) emitName(kind event.Kind, name []byte, fromServer bool) {
	w.emit(kind, name, nil, fromServer)
}

func (w *Worker) emit(kind event.Kind, name, url []byte, fromServer bool) {
	w.stats.Events[kind]++
	hits := w.matchName(w.ruleSet(), kind, name, url)
	if len(hits) == 0 && !w.opts.AllEvents {
		return
	}
	ev := w.newEvent(kind, fromServer)
	ev.Name, ev.URL = string(name), string(url)
	ev.Hits = owned(hits)
	w.send(ev)
}

func (w *Worker) emitDNS(m *dnsmsg.Message) {
	w.stats.Events[event.KindDNS]++
	set := w.ruleSet() // one Set for the name and its CNAMEs, even across a reload
	hits := w.matchName(set, event.KindDNS, m.QName, nil)
	if set != nil {
		for _, c := range m.CNAMEs {
			n := len(hits)
			hits = set.MatchDomain(event.KindDNS, transient(c), hits)
			for i := n; i < len(hits); i++ {
				hits[i].Field = event.FieldCNAME
			}
		}
		w.hits = hits
	}
	if len(hits) == 0 && !w.opts.AllEvents {
		return
	}
	ev := w.newEvent(event.KindDNS, m.Response)
	ev.Name = string(m.QName)
	ev.QType = dnsmsg.TypeString(m.QType)
	if m.Response {
		ev.RCode = rcodeName(m.RCode)
		for _, c := range m.CNAMEs {
			ev.CNAMEs = append(ev.CNAMEs, string(c))
		}
		for _, a := range m.Addrs {
			ev.Answers = append(ev.Answers, a.String())
		}
	}
	ev.Hits = owned(hits)
	w.send(ev)
}

func (w *Worker) ruleSet() *matcher.Set {
	if w.opts.Rules == nil {
		return nil
	}
	return w.opts.Rules()
}

// newEvent fills the fields every event of the current frame shares.
// Src is always the client: for a response it is the packet's destination.
func (w *Worker) newEvent(kind event.Kind, fromServer bool) *event.Event {
	client, cport, server, sport := clientServer(&w.cur, fromServer)
	ev := &event.Event{
		Time:    w.curTime.UTC(),
		Sensor:  w.opts.Sensor,
		Frame:   w.curNo,
		Kind:    kind,
		Src:     w.clientName(client),
		SrcPort: cport,
		Dst:     server.Unmap().String(),
		DstPort: sport,
	}
	if w.pseudo != nil {
		ev.ClientAddr = client.Unmap()
	}
	return ev
}

func (w *Worker) clientName(a netip.Addr) string {
	if w.pseudo != nil {
		return w.pseudo.Name(a)
	}
	return a.Unmap().String()
}

func (w *Worker) send(ev *event.Event) {
	w.stats.Hits += uint64(len(ev.Hits))
	if len(ev.Hits) > 0 {
		w.stats.EventsWithHits++
	}
	if w.opts.Emit != nil {
		w.opts.Emit(ev)
	}
}

// owned copies hits out of the scratch, with Match strings that no longer
// alias packet memory.
func owned(hits []event.Hit) []event.Hit {
	if len(hits) == 0 {
		return nil
	}
	out := make([]event.Hit, len(hits))
	copy(out, hits)
	for i := range out {
		out[i].Match = strings.Clone(out[i].Match)
	}
	return out
}

var rcodeNames = [...]string{"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED",
	"YXDOMAIN", "YXRRSET", "NXRRSET", "NOTAUTH", "NOTZONE"}

// rcodeName names a DNS response code as dig does.
func rcodeName(c uint8) string {
	if int(c) < len(rcodeNames) {
		return rcodeNames[c]
	}
	return "RCODE" + strconv.Itoa(int(c))
}

// splitHostPort splits "host:port" and "[v6]:port"; ok is false when there
// is no port.
func splitHostPort(b []byte) (host, port []byte, ok bool) {
	if len(b) > 0 && b[0] == '[' {
		for i := 1; i < len(b); i++ {
			if b[i] == ']' {
				if i+1 < len(b) && b[i+1] == ':' {
					return b[1:i], b[i+2:], true
				}
				return b[1:i], nil, true
			}
		}
		return b, nil, false
	}
	colon := -1
	for i, c := range b {
		if c == ':' {
			if colon >= 0 {
				return b, nil, false // a bare IPv6 address
			}
			colon = i
		}
	}
	if colon < 0 {
		return b, nil, false
	}
	return b[:colon], b[colon+1:], true
}

// Stats count what a worker saw.
type Stats struct {
	Packets, Bytes  uint64
	Fragments       uint64
	Retransmits     uint64
	ReassemblyDrops uint64
	Panics          uint64
	Events          [8]uint64 // by event.Kind
	EventsWithHits  uint64
	Hits            uint64
	DecodeErrors    map[string]uint64 // by layer
	ExtractErrors   map[string]uint64 // by extractor
	FlowsActive     int
	ReassemblyBytes int64
	flows           flowStats
}

func (s *Stats) decodeError(layer string) {
	if s.DecodeErrors == nil {
		s.DecodeErrors = map[string]uint64{}
	}
	s.DecodeErrors[layer]++
}

func (s *Stats) extractError(what string) {
	if s.ExtractErrors == nil {
		s.ExtractErrors = map[string]uint64{}
	}
	s.ExtractErrors[what]++
}

// Add sums another worker's stats into s.
func (s *Stats) Add(o Stats) {
	s.Packets += o.Packets
	s.Bytes += o.Bytes
	s.Fragments += o.Fragments
	s.Retransmits += o.Retransmits
	s.ReassemblyDrops += o.ReassemblyDrops
	s.Panics += o.Panics
	for i := range s.Events {
		s.Events[i] += o.Events[i]
	}
	s.EventsWithHits += o.EventsWithHits
	s.Hits += o.Hits
	s.DecodeErrors = addCounts(s.DecodeErrors, o.DecodeErrors)
	s.ExtractErrors = addCounts(s.ExtractErrors, o.ExtractErrors)
	s.FlowsActive += o.FlowsActive
	s.ReassemblyBytes += o.ReassemblyBytes
	s.flows.created += o.flows.created
	s.flows.evicted += o.flows.evicted
	s.flows.expired += o.flows.expired
	s.flows.bufferDrops += o.flows.bufferDrops
}

func addCounts(dst, src map[string]uint64) map[string]uint64 {
	if len(src) > 0 && dst == nil {
		dst = map[string]uint64{}
	}
	for k, v := range src {
		dst[k] += v
	}
	return dst
}

// Summary is the one line `scan` prints at the end.
func (s *Stats) Summary() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d packets, %d bytes; events:", s.Packets, s.Bytes)
	total := uint64(0)
	for _, k := range event.Kinds() {
		if n := s.Events[k]; n > 0 {
			fmt.Fprintf(&b, " %s %d", k, n)
			total += n
		}
	}
	if total == 0 {
		b.WriteString(" none")
	}
	fmt.Fprintf(&b, "; %d hits in %d events", s.Hits, s.EventsWithHits)
	errs := uint64(0)
	var where []string
	for _, m := range []map[string]uint64{s.DecodeErrors, s.ExtractErrors} {
		for k, v := range m {
			errs += v
			where = append(where, k+" "+strconv.FormatUint(v, 10))
		}
	}
	b.WriteString("; decode errors " + strconv.FormatUint(errs, 10))
	if len(where) > 0 {
		slices.Sort(where)
		b.WriteString(" (" + strings.Join(where, ", ") + ")")
	}
	if s.Panics > 0 {
		fmt.Fprintf(&b, " (%d recovered panics)", s.Panics)
	}
	return b.String()
}
