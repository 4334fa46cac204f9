package pcapgen

import (
	"context"
	"crypto/tls"
	"errors"

	"github.com/gopacket/gopacket/layers"

	"github.com/campusguard/campusguard/capture/quic"
)

// quic sends a client's first flight: its ClientHello (from crypto/tls's
// QUIC client, post-quantum sized, so it needs two Initial packets) in
// 1200-byte datagrams, sometimes reordered, QUIC v1 or v2; then a few
// server datagrams that are not Initials the client keys open.
func (g *Generator) quic(c *conn) error {
	c.sport = 443
	name := g.name()
	hello, err := g.hello.quic(name)
	if err != nil {
		return err
	}
	version := quic.Version1
	if g.rng.IntN(4) == 0 {
		version = quic.Version2
	}
	dcid := make([]byte, 8)
	for i := range dcid {
		dcid[i] = byte(g.rng.Uint32())
	}
	s := quic.Sealer{Version: version, DCID: dcid, SCID: []byte{1, 2, 3, 4}}
	var datagrams [][]byte
	for off, pn := 0, uint64(0); off < len(hello); pn++ {
		n := min(1100, len(hello)-off)
		pkt, err := s.Seal(pn, quic.CryptoFrame(uint64(off), hello[off:off+n]), 1200)
		if err != nil {
			return err
		}
		datagrams = append(datagrams, pkt)
		off += n
	}
	if len(datagrams) > 1 && g.rng.IntN(4) == 0 {
		datagrams[0], datagrams[1] = datagrams[1], datagrams[0]
	}
	for _, d := range datagrams {
		if err := g.emit(c, true, &layers.UDP{SrcPort: layers.UDPPort(c.cport), DstPort: 443}, d); err != nil {
			return err
		}
	}
	g.record("quic", name)
	for i := 0; i < 1+g.rng.IntN(3); i++ {
		reply := g.filler(1200)
		reply[0] = 0x40 | byte(g.rng.IntN(64)) // a short header
		if err := g.emit(c, false, &layers.UDP{SrcPort: 443, DstPort: layers.UDPPort(c.cport)}, reply); err != nil {
			return err
		}
	}
	return nil
}

// quic returns the CRYPTO stream crypto/tls's QUIC client starts with for
// sni (a ClientHello handshake message, no record layer).
func (h *helloCache) quic(sni string) ([]byte, error) {
	key := "quic/" + sni
	if b, ok := h.m[key]; ok {
		return b, nil
	}
	c := tls.QUICClient(&tls.QUICConfig{TLSConfig: &tls.Config{ServerName: sni, NextProtos: []string{"h3"}, MinVersion: tls.VersionTLS13}})
	defer c.Close()
	c.SetTransportParameters([]byte{0x04, 0x04, 0x80, 0x10, 0x00, 0x00}) // initial_max_data
	if err := c.Start(context.Background()); err != nil {
		return nil, err
	}
	var hello []byte
	for ev := c.NextEvent(); ev.Kind != tls.QUICNoEvent; ev = c.NextEvent() {
		if ev.Kind == tls.QUICWriteData && ev.Level == tls.QUICEncryptionLevelInitial {
			hello = append(hello, ev.Data...)
		}
	}
	if len(hello) == 0 {
		return nil, errors.New("crypto/tls's QUIC client wrote no ClientHello")
	}
	h.m[key] = hello
	return hello, nil
}
