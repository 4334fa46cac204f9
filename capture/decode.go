package capture

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/ip4defrag"
	"github.com/gopacket/gopacket/layers"
)

// packet is what the extractors need from one frame: the innermost IP
// addresses and transport ports, the TCP header fields reassembly uses, and
// the transport payload (a view into the frame, valid until the next one).
type packet struct {
	src, dst     netip.Addr
	sport, dport uint16
	proto        uint8 // 6 (TCP) or 17 (UDP)
	tcpFlags     uint8
	seq          uint32
	payload      []byte
}

// TCP flag bits in packet.tcpFlags.
const (
	tcpFIN = 1 << iota
	tcpSYN
	tcpRST
	tcpACK
)

// decoder turns frames into packets with one gopacket DecodingLayerParser
// per link type, all sharing the same layer values: tunnels (GRE, ERSPAN,
// VXLAN, Geneve, MPLS, PPPoE, QinQ) decode again into the same structs, so
// after a frame the structs hold the innermost headers.
type decoder struct {
	parsers map[gopacket.LayerType]*gopacket.DecodingLayerParser
	decoded []gopacket.LayerType

	eth     layers.Ethernet
	sll     layers.LinuxSLL
	sll2    layers.LinuxSLL2
	loop    layers.Loopback
	vlan    layers.Dot1Q
	ip4     layers.IPv4
	ip6     layers.IPv6
	ip6ext  layers.IPv6ExtensionSkipper
	ip6frag layers.IPv6Fragment
	udp     layers.UDP
	tcp     layers.TCP
	gre     layers.GRE
	erspan2 layers.ERSPANII
	erspan3 erspanIII
	vxlan   layers.VXLAN
	geneve  layers.Geneve
	pppoe   pppoeSession
	mpls    mplsStack

	defrag *ip4defrag.IPv4Defragmenter
}

// errNoParser says a frame came with a first layer no parser starts at.
var errNoParser = errors.New("no decoder for this link layer")

// errFragment says a frame was an IP fragment that completed nothing yet.
var errFragment = errors.New("IP fragment held for reassembly")

func newDecoder() *decoder {
	d := &decoder{parsers: map[gopacket.LayerType]*gopacket.DecodingLayerParser{}, defrag: ip4defrag.NewIPv4Defragmenter()}
	for _, first := range []gopacket.LayerType{layers.LayerTypeEthernet, layers.LayerTypeLinuxSLL,
		layers.LayerTypeLinuxSLL2, layers.LayerTypeLoopback, layers.LayerTypeIPv4, layers.LayerTypeIPv6} {
		p := gopacket.NewDecodingLayerParser(first,
			&d.eth, &d.sll, &d.sll2, &d.loop, &d.vlan, &d.ip4, &d.ip6, &d.ip6ext, &d.udp, &d.tcp,
			&d.gre, &d.erspan2, &d.erspan3, &d.vxlan, &d.geneve, &d.pppoe, &d.mpls)
		// The fragment header after the skipper: it maps only its own
		// type, so a later fragment is not taken for the upper layer.
		p.AddDecodingLayer(&d.ip6frag)
		p.IgnoreUnsupported = true // ARP, LLDP, ICMP...: nothing to extract
		d.parsers[first] = p
	}
	d.decoded = make([]gopacket.LayerType, 0, 32)
	return d
}

// firstLayer maps a capture link type to the parser to start with.
func firstLayer(lt layers.LinkType) (gopacket.LayerType, error) {
	switch lt {
	case layers.LinkTypeEthernet:
		return layers.LayerTypeEthernet, nil
	case layers.LinkTypeLinuxSLL:
		return layers.LayerTypeLinuxSLL, nil
	case layers.LinkTypeLinuxSLL2:
		return layers.LayerTypeLinuxSLL2, nil
	case layers.LinkTypeNull, layers.LinkTypeLoop:
		return layers.LayerTypeLoopback, nil
	case layers.LinkTypeRaw, layers.LinkTypeIPv4, 12: // 12: LINKTYPE_RAW on OpenBSD
		return layers.LayerTypeIPv4, nil // the first nibble decides, see decode
	case layers.LinkTypeIPv6:
		return layers.LayerTypeIPv6, nil
	}
	return 0, fmt.Errorf("unsupported link type %d (%s): campusguard reads Ethernet, Linux cooked (SLL, SLL2), loopback and raw IP captures", int(lt), lt)
}

// decode fills p from one frame. It returns the layer that failed with the
// error, errFragment for a held fragment, or a nil error with p.proto == 0
// for frames without TCP or UDP.
func (d *decoder) decode(first gopacket.LayerType, frame []byte, p *packet) (gopacket.LayerType, error) {
	*p = packet{}
	if first == layers.LayerTypeIPv4 && len(frame) > 0 && frame[0]>>4 == 6 {
		first = layers.LayerTypeIPv6
	}
	parser := d.parsers[first]
	if parser == nil {
		return first, errNoParser
	}
	err := parser.DecodeLayers(frame, &d.decoded)
	// The innermost network layer, and a transport layer only after it
	// (the UDP of a VXLAN tunnel is not the packet's transport).
	netAt, net := -1, gopacket.LayerType(0)
	for i, lt := range d.decoded {
		if lt == layers.LayerTypeIPv4 || lt == layers.LayerTypeIPv6 {
			netAt, net = i, lt
		}
	}
	if err != nil {
		failed := first
		if n := len(d.decoded); n > 0 {
			failed = d.decoded[n-1]
		}
		return failed, err
	}
	if netAt < 0 {
		return 0, nil
	}
	switch net {
	case layers.LayerTypeIPv4:
		p.src, _ = netip.AddrFromSlice(d.ip4.SrcIP)
		p.dst, _ = netip.AddrFromSlice(d.ip4.DstIP)
		if d.ip4.Flags&layers.IPv4MoreFragments != 0 || d.ip4.FragOffset != 0 {
			return d.reassemble(p)
		}
	case layers.LayerTypeIPv6:
		p.src, _ = netip.AddrFromSlice(d.ip6.SrcIP)
		p.dst, _ = netip.AddrFromSlice(d.ip6.DstIP)
	}
	for _, lt := range d.decoded[netAt+1:] {
		switch lt {
		case layers.LayerTypeUDP:
			p.fromUDP(&d.udp)
		case layers.LayerTypeTCP:
			p.fromTCP(&d.tcp)
		}
	}
	return 0, nil
}

func (p *packet) fromUDP(u *layers.UDP) {
	p.proto, p.sport, p.dport, p.payload = 17, uint16(u.SrcPort), uint16(u.DstPort), u.Payload
}

func (p *packet) fromTCP(t *layers.TCP) {
	p.proto, p.sport, p.dport, p.payload, p.seq = 6, uint16(t.SrcPort), uint16(t.DstPort), t.Payload, t.Seq
	var f uint8
	if t.FIN {
		f |= tcpFIN
	}
	if t.SYN {
		f |= tcpSYN
	}
	if t.RST {
		f |= tcpRST
	}
	if t.ACK {
		f |= tcpACK
	}
	p.tcpFlags = f
}

// reassemble hands an IPv4 fragment to the defragmenter (which keeps what it
// is given, so the fragment is copied: fragments are rare, DNS responses
// with large answers being the case that matters) and decodes the
// transport layer of a completed datagram.
func (d *decoder) reassemble(p *packet) (gopacket.LayerType, error) {
	frag := d.ip4
	frag.Options = nil
	frag.Payload = append([]byte(nil), d.ip4.Payload...)
	whole, err := d.defrag.DefragIPv4(&frag)
	if err != nil {
		return layers.LayerTypeIPv4, fmt.Errorf("IPv4 reassembly: %w", err)
	}
	if whole == nil {
		return 0, errFragment
	}
	switch whole.Protocol {
	case layers.IPProtocolUDP:
		if err := d.udp.DecodeFromBytes(whole.Payload, gopacket.NilDecodeFeedback); err != nil {
			return layers.LayerTypeUDP, err
		}
		p.fromUDP(&d.udp)
	case layers.IPProtocolTCP:
		if err := d.tcp.DecodeFromBytes(whole.Payload, gopacket.NilDecodeFeedback); err != nil {
			return layers.LayerTypeTCP, err
		}
		p.fromTCP(&d.tcp)
	}
	return 0, nil
}

// --- layers gopacket decodes only through its slow path -------------------

// ipNextByNibble guesses what an MPLS or raw payload carries from its first
// nibble, as Wireshark and tcpdump do: MPLS does not say.
func ipNextByNibble(b []byte) gopacket.LayerType {
	if len(b) == 0 {
		return gopacket.LayerTypeZero
	}
	switch b[0] >> 4 {
	case 4:
		return layers.LayerTypeIPv4
	case 6:
		return layers.LayerTypeIPv6
	}
	return gopacket.LayerTypeZero
}

// mplsStack decodes a whole MPLS label stack as one layer.
type mplsStack struct {
	layers.BaseLayer
	labels int
	next   gopacket.LayerType
}

func (m *mplsStack) LayerType() gopacket.LayerType  { return layers.LayerTypeMPLS }
func (m *mplsStack) CanDecode() gopacket.LayerClass { return layers.LayerTypeMPLS }
func (m *mplsStack) NextLayerType() gopacket.LayerType {
	return m.next
}

func (m *mplsStack) DecodeFromBytes(data []byte, df gopacket.DecodeFeedback) error {
	for i := 0; ; i += 4 {
		if i+4 > len(data) {
			df.SetTruncated()
			return errors.New("MPLS label stack truncated")
		}
		if i >= 64 {
			return errors.New("MPLS label stack deeper than 16 labels")
		}
		if data[i+2]&1 != 0 { // bottom of stack
			m.labels = i/4 + 1
			m.Contents, m.Payload = data[:i+4], data[i+4:]
			m.next = ipNextByNibble(m.Payload)
			if m.next == gopacket.LayerTypeZero && len(m.Payload) >= 4 && m.Payload[0]>>4 == 0 {
				// Ethernet pseudowire behind a control word (RFC 4385).
				m.Payload = m.Payload[4:]
				m.next = layers.LayerTypeEthernet
			}
			return nil
		}
	}
}

// pppoeSession decodes a PPPoE session header and the PPP protocol field
// behind it as one layer (gopacket's PPPoE and PPP layers have no
// DecodingLayer form).
type pppoeSession struct {
	layers.BaseLayer
	next gopacket.LayerType
}

func (s *pppoeSession) LayerType() gopacket.LayerType     { return layers.LayerTypePPPoE }
func (s *pppoeSession) CanDecode() gopacket.LayerClass    { return layers.LayerTypePPPoE }
func (s *pppoeSession) NextLayerType() gopacket.LayerType { return s.next }

func (s *pppoeSession) DecodeFromBytes(data []byte, df gopacket.DecodeFeedback) error {
	if len(data) < 8 {
		df.SetTruncated()
		return errors.New("PPPoE session header truncated")
	}
	if data[1] != 0 { // code 0: session data; discovery frames carry no IP
		s.next = gopacket.LayerTypeZero
		s.Contents, s.Payload = data, nil
		return nil
	}
	n := int(binary.BigEndian.Uint16(data[4:6]))
	end := 6 + n
	if n < 2 || end > len(data) {
		return fmt.Errorf("PPPoE length %d does not fit the %d-byte frame", n, len(data))
	}
	switch binary.BigEndian.Uint16(data[6:8]) {
	case 0x0021:
		s.next = layers.LayerTypeIPv4
	case 0x0057:
		s.next = layers.LayerTypeIPv6
	default: // LCP, IPCP, ...
		s.next = gopacket.LayerTypeZero
	}
	s.Contents, s.Payload = data[:8], data[8:end]
	return nil
}

// erspanIII decodes an ERSPAN type III header (GRE protocol 0x22EB), which
// gopacket does not know; newer switches mirror with it.
type erspanIII struct {
	layers.BaseLayer
}

// LayerTypeERSPANIII is registered for the ERSPAN type III header.
var LayerTypeERSPANIII = gopacket.RegisterLayerType(1955, gopacket.LayerTypeMetadata{Name: "ERSPAN-III"})

const ethernetTypeERSPANIII layers.EthernetType = 0x22EB

func init() {
	// GRE dispatches on the EtherType table; type III is missing from it.
	layers.EthernetTypeMetadata[ethernetTypeERSPANIII] = layers.EnumMetadata{Name: "ERSPAN-III", LayerType: LayerTypeERSPANIII}
}

func (e *erspanIII) LayerType() gopacket.LayerType     { return LayerTypeERSPANIII }
func (e *erspanIII) CanDecode() gopacket.LayerClass    { return LayerTypeERSPANIII }
func (e *erspanIII) NextLayerType() gopacket.LayerType { return layers.LayerTypeEthernet }

func (e *erspanIII) DecodeFromBytes(data []byte, df gopacket.DecodeFeedback) error {
	n := 12
	if len(data) >= n && data[11]&1 != 0 { // O bit: an 8-byte platform subheader follows
		n += 8
	}
	if len(data) < n {
		df.SetTruncated()
		return errors.New("ERSPAN III header truncated")
	}
	e.Contents, e.Payload = data[:n], data[n:]
	return nil
}
