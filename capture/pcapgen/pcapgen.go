// Package pcapgen writes synthetic captures of campus-like traffic for
// tests and benchmarks: DNS over UDP and TCP (CNAME chains, fragmented
// responses), TLS ClientHellos (real ones from crypto/tls, post-quantum
// sized ones split over segments, some out of order), HTTP/1.1 requests
// (keep-alive, bodies), QUIC Initials, bulk TCP, and the tunnels mirror
// sessions use (VLAN, QinQ, MPLS, PPPoE, GRE/ERSPAN, VXLAN). A seed fixes
// the frames and the events in them (only the key material crypto/tls
// draws differs), so tests can compare what they extract with the truth.
package pcapgen

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// Config says what to generate.
type Config struct {
	Seed    uint64
	Packets int // stop after about this many frames
	// Names are the hostnames sessions use; empty takes DefaultNames.
	Names []string
	// Mix weights sessions by kind; zero takes DefaultMix.
	Mix Mix
	// Tunnels wraps about this share (0..1) of frames in a tunnel.
	Tunnels float64
	// NoQUIC leaves QUIC out (for tools without QUIC decryption).
	NoQUIC bool
	Start  time.Time
	// Client, when set, is every connection's client address: one host
	// that keeps coming back, for the alert engine's scenarios.
	Client net.IP
	// Gap is traffic time between the start of one session and the last
	// frame of the one before (0: back to back, microseconds apart).
	Gap time.Duration
}

// Mix weights the kinds of sessions.
type Mix struct {
	DNS, DNSTCP, TLS, HTTP, QUIC, Bulk int
}

// DefaultMix is roughly what a campus edge carries by session count; bulk
// sessions carry most of the bytes.
var DefaultMix = Mix{DNS: 30, DNSTCP: 2, TLS: 20, HTTP: 8, QUIC: 6, Bulk: 34}

// DefaultNames are benign and rule-pack example names (reserved TLDs).
var DefaultNames = []string{
	"www.example.com", "mail.example.edu", "cdn.example.net", "library.example.edu",
	"login-verify.example", "a.netid-verify.test", "fast-campus-loan.test", "lucky-casino.test",
	"c2.botnet.test", "update-check.botnet.test", "static.example.org", "api.example.com",
}

// Truth is one event a reader should extract: the frame where the name is
// complete, the kind ("dns", "tls", "quic", "http") and the name.
type Truth struct {
	Frame uint64
	Kind  string
	Name  string
}

// Generator writes one capture.
type Generator struct {
	cfg   Config
	rng   *rand.Rand
	w     *pcapgo.Writer
	frame uint64
	now   time.Time
	truth []Truth
	hello *helloCache
	buf   gopacket.SerializeBuffer
	opts  gopacket.SerializeOptions
}

// Write generates cfg's capture as pcap (Ethernet link type) into out and
// returns the events it contains.
func Write(out io.Writer, cfg Config) ([]Truth, error) {
	if cfg.Packets <= 0 {
		cfg.Packets = 1000
	}
	if len(cfg.Names) == 0 {
		cfg.Names = DefaultNames
	}
	if cfg.Mix == (Mix{}) {
		cfg.Mix = DefaultMix
	}
	if cfg.NoQUIC {
		cfg.Mix.QUIC = 0
	}
	if cfg.Start.IsZero() {
		cfg.Start = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	}
	g := &Generator{
		cfg:   cfg,
		rng:   rand.New(rand.NewPCG(cfg.Seed, 0x63616d70)),
		w:     pcapgo.NewWriterNanos(out),
		now:   cfg.Start,
		hello: newHelloCache(),
		buf:   gopacket.NewSerializeBuffer(),
		opts:  gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true},
	}
	if err := g.w.WriteFileHeader(65536, layers.LinkTypeEthernet); err != nil {
		return nil, err
	}
	for g.frame < uint64(cfg.Packets) {
		g.now = g.now.Add(cfg.Gap)
		if err := g.session(); err != nil {
			return nil, err
		}
	}
	return g.truth, nil
}

func (g *Generator) session() error {
	m := g.cfg.Mix
	total := m.DNS + m.DNSTCP + m.TLS + m.HTTP + m.QUIC + m.Bulk
	n := g.rng.IntN(total)
	c := g.newConn()
	switch {
	case n < m.DNS:
		return g.dnsUDP(c)
	case n < m.DNS+m.DNSTCP:
		return g.dnsTCP(c)
	case n < m.DNS+m.DNSTCP+m.TLS:
		return g.tls(c)
	case n < m.DNS+m.DNSTCP+m.TLS+m.HTTP:
		return g.http(c)
	case n < m.DNS+m.DNSTCP+m.TLS+m.HTTP+m.QUIC:
		return g.quic(c)
	}
	return g.bulk(c)
}

func (g *Generator) name() string { return g.cfg.Names[g.rng.IntN(len(g.cfg.Names))] }

// conn is one connection's endpoints and framing.
type conn struct {
	client, server net.IP
	cport, sport   uint16
	v6             bool
	tunnel         int
	cseq, sseq     uint32
}

const (
	tunNone = iota
	tunVLAN
	tunQinQ
	tunMPLS
	tunPPPoE
	tunERSPAN
	tunVXLAN
	tunGeneve
	numTunnels
)

func (g *Generator) newConn() *conn {
	c := &conn{cport: uint16(1024 + g.rng.IntN(64000)), cseq: g.rng.Uint32(), sseq: g.rng.Uint32()}
	if g.rng.IntN(100) < 15 {
		c.v6 = true
		c.client = net.IP{0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, byte(g.rng.IntN(250)), byte(1 + g.rng.IntN(250))}
		c.server = net.IP{0x20, 0x01, 0x0d, 0xb8, 0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, byte(1 + g.rng.IntN(250))}
	} else {
		c.client = net.IP{10, byte(g.rng.IntN(4)), byte(g.rng.IntN(250)), byte(1 + g.rng.IntN(250))}
		c.server = net.IP{192, 0, 2, byte(1 + g.rng.IntN(250))}
	}
	if g.cfg.Client != nil {
		if v4 := g.cfg.Client.To4(); v4 != nil {
			c.client, c.v6 = v4, false
			c.server = net.IP{192, 0, 2, byte(1 + g.rng.IntN(250))}
		} else {
			c.client, c.v6 = g.cfg.Client, true
			c.server = net.IP{0x20, 0x01, 0x0d, 0xb8, 0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, byte(1 + g.rng.IntN(250))}
		}
	}
	if g.rng.Float64() < g.cfg.Tunnels {
		c.tunnel = 1 + g.rng.IntN(numTunnels-1)
	}
	return c
}

// tick advances the clock a little between frames.
func (g *Generator) tick() { g.now = g.now.Add(time.Duration(5+g.rng.IntN(200)) * time.Microsecond) }

// emit serializes one frame: transport and payload inside IP, inside the
// connection's tunnel, inside Ethernet.
func (g *Generator) emit(c *conn, toServer bool, transport gopacket.SerializableLayer, payload []byte) error {
	src, dst := c.client, c.server
	if !toServer {
		src, dst = dst, src
	}
	var ls []gopacket.SerializableLayer
	inner := g.ipLayers(src, dst, c.v6, transport)
	switch c.tunnel {
	case tunNone:
		ls = append(ls, g.eth(ethType(c.v6)))
	case tunVLAN:
		ls = append(ls, g.eth(layers.EthernetTypeDot1Q), &layers.Dot1Q{VLANIdentifier: 100, Type: ethType(c.v6)})
	case tunQinQ:
		ls = append(ls, g.eth(layers.EthernetTypeQinQ), &layers.Dot1Q{VLANIdentifier: 10, Type: layers.EthernetTypeDot1Q},
			&layers.Dot1Q{VLANIdentifier: 200, Type: ethType(c.v6)})
	case tunMPLS:
		ls = append(ls, g.eth(layers.EthernetTypeMPLSUnicast), &layers.MPLS{Label: 1000, TTL: 64},
			&layers.MPLS{Label: 2000, StackBottom: true, TTL: 64})
	case tunPPPoE:
		ppp := layers.PPPTypeIPv4
		if c.v6 {
			ppp = layers.PPPTypeIPv6
		}
		ls = append(ls, g.eth(layers.EthernetTypePPPoESession),
			&layers.PPPoE{Version: 1, Type: 1, Code: layers.PPPoECodeSession, SessionId: 7},
			&layers.PPP{PPPType: ppp})
	case tunERSPAN:
		ls = append(ls, g.eth(layers.EthernetTypeIPv4),
			&layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolGRE, SrcIP: net.IP{172, 16, 0, 1}, DstIP: net.IP{172, 16, 0, 2}},
			&layers.GRE{SeqPresent: true, Seq: uint32(g.frame), Protocol: layers.EthernetTypeERSPAN},
			&layers.ERSPANII{Version: 1, SessionID: 3, Index: 1},
			g.eth(ethType(c.v6)))
	case tunVXLAN:
		ls = append(ls, g.eth(layers.EthernetTypeIPv4),
			&layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP, SrcIP: net.IP{172, 16, 1, 1}, DstIP: net.IP{172, 16, 1, 2}})
		udp := &layers.UDP{SrcPort: 49152, DstPort: 4789}
		ls = append(ls, udp, &layers.VXLAN{ValidIDFlag: true, VNI: 5001}, g.eth(ethType(c.v6)))
	case tunGeneve:
		ls = append(ls, g.eth(layers.EthernetTypeIPv4),
			&layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP, SrcIP: net.IP{172, 16, 2, 1}, DstIP: net.IP{172, 16, 2, 2}},
			&layers.UDP{SrcPort: 49153, DstPort: 6081},
			&layers.Geneve{Protocol: layers.EthernetTypeTransparentEthernetBridging, VNI: 7001}, g.eth(ethType(c.v6)))
	}
	ls = append(ls, inner...)
	ls = append(ls, gopacket.Payload(payload))
	// Transport checksums cover the nearest IP header before them (past
	// any IPv6 extension header).
	var ip gopacket.NetworkLayer
	for _, l := range ls {
		var err error
		switch l := l.(type) {
		case gopacket.NetworkLayer:
			ip = l
		case *layers.UDP:
			err = l.SetNetworkLayerForChecksum(ip)
		case *layers.TCP:
			err = l.SetNetworkLayerForChecksum(ip)
		}
		if err != nil {
			return err
		}
	}
	if err := gopacket.SerializeLayers(g.buf, g.opts, ls...); err != nil {
		return fmt.Errorf("serialize frame %d: %w", g.frame+1, err)
	}
	return g.write(g.buf.Bytes())
}

func (g *Generator) write(b []byte) error {
	g.tick()
	g.frame++
	return g.w.WritePacket(gopacket.CaptureInfo{Timestamp: g.now, CaptureLength: len(b), Length: len(b)}, b)
}

func ethType(v6 bool) layers.EthernetType {
	if v6 {
		return layers.EthernetTypeIPv6
	}
	return layers.EthernetTypeIPv4
}

func (g *Generator) eth(t layers.EthernetType) *layers.Ethernet {
	return &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, EthernetType: t}
}

func (g *Generator) ipLayers(src, dst net.IP, v6 bool, transport gopacket.SerializableLayer) []gopacket.SerializableLayer {
	proto := layers.IPProtocolTCP
	if _, ok := transport.(*layers.UDP); ok {
		proto = layers.IPProtocolUDP
	}
	if v6 {
		ip := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: proto, SrcIP: src, DstIP: dst}
		if g.rng.IntN(4) == 0 {
			// A destination options header before the transport, as
			// some stacks send: the decoder must skip it.
			ip.NextHeader = layers.IPProtocolIPv6Destination
			return []gopacket.SerializableLayer{ip, destOptions{next: proto}, transport}
		}
		return []gopacket.SerializableLayer{ip, transport}
	}
	return []gopacket.SerializableLayer{&layers.IPv4{Version: 4, TTL: 64, Protocol: proto, SrcIP: src, DstIP: dst, Id: uint16(g.rng.Uint32())}, transport}
}

// destOptions is an IPv6 destination options header holding only padding
// (gopacket cannot serialize one).
type destOptions struct{ next layers.IPProtocol }

func (d destOptions) LayerType() gopacket.LayerType { return layers.LayerTypeIPv6Destination }

func (d destOptions) SerializeTo(b gopacket.SerializeBuffer, _ gopacket.SerializeOptions) error {
	h, err := b.PrependBytes(8)
	if err != nil {
		return err
	}
	copy(h, []byte{byte(d.next), 0, 1, 4, 0, 0, 0, 0}) // length 0 (8 bytes), PadN of 4
	return nil
}

// tcpSeg sends one TCP segment and advances the sender's sequence number.
func (g *Generator) tcpSeg(c *conn, toServer bool, flags string, payload []byte) error {
	t := &layers.TCP{Window: 64240, DataOffset: 5}
	if toServer {
		t.SrcPort, t.DstPort, t.Seq, t.Ack = layers.TCPPort(c.cport), layers.TCPPort(c.sport), c.cseq, c.sseq
	} else {
		t.SrcPort, t.DstPort, t.Seq, t.Ack = layers.TCPPort(c.sport), layers.TCPPort(c.cport), c.sseq, c.cseq
	}
	for _, f := range flags {
		switch f {
		case 'S':
			t.SYN = true
		case 'A':
			t.ACK = true
		case 'F':
			t.FIN = true
		case 'P':
			t.PSH = true
		case 'R':
			t.RST = true
		}
	}
	adv := uint32(len(payload))
	if t.SYN || t.FIN {
		adv++
	}
	if toServer {
		c.cseq += adv
	} else {
		c.sseq += adv
	}
	return g.emit(c, toServer, t, payload)
}

// handshake opens a TCP connection.
func (g *Generator) handshake(c *conn) error {
	if err := g.tcpSeg(c, true, "S", nil); err != nil {
		return err
	}
	if err := g.tcpSeg(c, false, "SA", nil); err != nil {
		return err
	}
	return g.tcpSeg(c, true, "A", nil)
}

func (g *Generator) closeConn(c *conn) error {
	if err := g.tcpSeg(c, true, "FA", nil); err != nil {
		return err
	}
	return g.tcpSeg(c, false, "FA", nil)
}

func (g *Generator) record(kind, name string) {
	g.truth = append(g.truth, Truth{Frame: g.frame, Kind: kind, Name: name})
}

// --- sessions ----------------------------------------------------------------

func (g *Generator) dnsUDP(c *conn) error {
	c.sport = 53
	name := g.name()
	q, resp := g.dnsPair(name)
	if err := g.emit(c, true, &layers.UDP{SrcPort: layers.UDPPort(c.cport), DstPort: 53}, q); err != nil {
		return err
	}
	g.record("dns", name)
	if !c.v6 && c.tunnel == tunNone && g.rng.IntN(50) == 0 {
		// A large response in two IPv4 fragments.
		resp = g.bigResponse(name)
		if err := g.fragmentedUDP(c, resp); err != nil {
			return err
		}
		g.record("dns", name)
		return nil
	}
	if err := g.emit(c, false, &layers.UDP{SrcPort: 53, DstPort: layers.UDPPort(c.cport)}, resp); err != nil {
		return err
	}
	g.record("dns", name)
	return nil
}

func (g *Generator) dnsTCP(c *conn) error {
	c.sport = 53
	if err := g.handshake(c); err != nil {
		return err
	}
	name := g.name()
	q, resp := g.dnsPair(name)
	if err := g.tcpSeg(c, true, "PA", withLength(q)); err != nil {
		return err
	}
	g.record("dns", name)
	if err := g.tcpSeg(c, false, "PA", withLength(resp)); err != nil {
		return err
	}
	g.record("dns", name)
	return g.closeConn(c)
}

func withLength(msg []byte) []byte {
	out := binary.BigEndian.AppendUint16(nil, uint16(len(msg)))
	return append(out, msg...)
}

// fragmentedUDP sends a UDP datagram from the server in two IPv4 fragments.
func (g *Generator) fragmentedUDP(c *conn, payload []byte) error {
	udp := &layers.UDP{SrcPort: 53, DstPort: layers.UDPPort(c.cport)}
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP, SrcIP: c.server, DstIP: c.client}
	if err := udp.SetNetworkLayerForChecksum(ip); err != nil {
		return err
	}
	ub := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(ub, g.opts, udp, gopacket.Payload(payload)); err != nil {
		return err
	}
	whole := ub.Bytes()
	cut := (len(whole) / 2) &^ 7
	id := uint16(g.rng.Uint32())
	for i, part := range [][]byte{whole[:cut], whole[cut:]} {
		f := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP, SrcIP: c.server, DstIP: c.client, Id: id}
		if i == 0 {
			f.Flags = layers.IPv4MoreFragments
		} else {
			f.FragOffset = uint16(cut / 8)
		}
		if err := gopacket.SerializeLayers(g.buf, g.opts, g.eth(layers.EthernetTypeIPv4), f, gopacket.Payload(part)); err != nil {
			return err
		}
		if err := g.write(g.buf.Bytes()); err != nil {
			return err
		}
	}
	return nil
}

func (g *Generator) tls(c *conn) error {
	c.sport = 443
	if err := g.handshake(c); err != nil {
		return err
	}
	name := g.name()
	hello, err := g.hello.get(name, g.rng.IntN(3) == 0)
	if err != nil {
		return err
	}
	// Segments of at most 1400 bytes; a post-quantum hello takes two.
	var segs [][]byte
	for b := hello; len(b) > 0; {
		n := min(len(b), 1400)
		segs = append(segs, b[:n])
		b = b[n:]
	}
	start := c.cseq
	order := make([]int, len(segs))
	for i := range order {
		order[i] = i
	}
	if len(segs) > 1 && g.rng.IntN(4) == 0 {
		order[0], order[1] = order[1], order[0] // the second segment arrives first
	}
	for _, i := range order {
		c.cseq = start + uint32(1400*i)
		if err := g.tcpSeg(c, true, "PA", segs[i]); err != nil {
			return err
		}
	}
	c.cseq = start + uint32(len(hello))
	g.record("tls", name)
	for i := 0; i < 2+g.rng.IntN(4); i++ {
		if err := g.tcpSeg(c, false, "A", g.filler(1400)); err != nil {
			return err
		}
	}
	return g.closeConn(c)
}

func (g *Generator) http(c *conn) error {
	c.sport = 80
	if err := g.handshake(c); err != nil {
		return err
	}
	for i := 0; i < 1+g.rng.IntN(3); i++ {
		name := g.name()
		var req string
		if g.rng.IntN(4) == 0 {
			body := "user=alice&note=hello"
			req = fmt.Sprintf("POST /form/%d HTTP/1.1\r\nHost: %s\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: %d\r\n\r\n%s", i, name, len(body), body)
		} else {
			req = fmt.Sprintf("GET /index/%d.html?q=%d HTTP/1.1\r\nHost: %s\r\nUser-Agent: campusguard-pcapgen\r\nAccept: */*\r\n\r\n", i, g.rng.IntN(1000), name)
		}
		if err := g.tcpSeg(c, true, "PA", []byte(req)); err != nil {
			return err
		}
		g.record("http", name)
		if err := g.tcpSeg(c, false, "PA", []byte("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello")); err != nil {
			return err
		}
	}
	return g.closeConn(c)
}

func (g *Generator) bulk(c *conn) error {
	c.sport = uint16(8000 + g.rng.IntN(1000))
	for i := 0; i < 4+g.rng.IntN(12); i++ {
		if err := g.tcpSeg(c, false, "A", g.filler(1448)); err != nil {
			return err
		}
		if i%2 == 1 {
			if err := g.tcpSeg(c, true, "A", nil); err != nil {
				return err
			}
		}
	}
	return nil
}

// filler is n bytes of payload that match nothing.
func (g *Generator) filler(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(g.rng.Uint32())
	}
	b[0] = 0x17 // not a handshake record, not an HTTP method
	return b
}

// WriteFile writes cfg's capture to path (see Write).
func WriteFile(path string, cfg Config) ([]Truth, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	bw := bufio.NewWriterSize(f, 1<<20)
	truth, err := Write(bw, cfg)
	if err == nil {
		err = bw.Flush()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return truth, err
}
