package quic

import (
	"context"
	"crypto/tls"
	"testing"
)

// sealer builds protected client Initial packets the way a client does, so
// tests can make packets the RFCs do not print: several per hello, shuffled
// CRYPTO frames, other frame types, wrong keys.
type sealer struct {
	version uint32
	dcid    []byte // the DCID the keys come from
	hdrDCID []byte // the DCID written in the header; dcid when nil
	scid    []byte
	token   []byte
	pnLen   int // 1..4; 4 when 0
	typ     byte
	keysFor []byte // derive keys from this DCID instead of dcid, when set
	// padFront puts the PADDING before the payload, so that a frame under
	// test stays last in the packet.
	padFront bool
}

// seal returns one protected packet with the given packet number carrying
// payload, padded with PADDING frames to at least minLen bytes.
func (s sealer) seal(tb testing.TB, pn uint64, payload []byte, minLen int) []byte {
	tb.Helper()
	pkt, err := Sealer{Version: s.version, DCID: s.dcid, SCID: s.scid, Token: s.token, PNLen: s.pnLen,
		hdrDCID: s.hdrDCID, keysFor: s.keysFor, typ: s.typ, padFront: s.padFront}.Seal(pn, payload, minLen)
	if err != nil {
		tb.Fatalf("sealer: %v", err)
	}
	return pkt
}

// cryptoFrame encodes a CRYPTO frame.
func cryptoFrame(offset uint64, data []byte) []byte { return CryptoFrame(offset, data) }

// quicClientHello returns the ClientHello crypto/tls sends at the Initial
// level of a QUIC connection. With the default curve preferences it carries
// an X25519MLKEM768 key share and no longer fits one 1200-byte Initial.
func quicClientHello(tb testing.TB, serverName string) []byte {
	tb.Helper()
	cfg := &tls.Config{ServerName: serverName, NextProtos: []string{"h3"}, MinVersion: tls.VersionTLS13}
	if serverName == "" {
		cfg.InsecureSkipVerify = true
	}
	c := tls.QUICClient(&tls.QUICConfig{TLSConfig: cfg})
	defer c.Close()
	// initial_max_data = 1 MiB: any well-formed transport parameters do.
	c.SetTransportParameters([]byte{0x04, 0x04, 0x80, 0x10, 0x00, 0x00})
	if err := c.Start(context.Background()); err != nil {
		tb.Fatalf("QUIC TLS client: %v", err)
	}
	var hello []byte
	for {
		ev := c.NextEvent()
		if ev.Kind == tls.QUICNoEvent {
			break
		}
		if ev.Kind == tls.QUICWriteData && ev.Level == tls.QUICEncryptionLevelInitial {
			hello = append(hello, ev.Data...)
		}
	}
	if len(hello) == 0 {
		tb.Fatal("QUIC TLS client wrote no ClientHello")
	}
	return hello
}

// twoDatagrams splits hello into two client Initials of 1200 bytes, as a
// client with a post-quantum key share sends it: the first packet carries as
// much as fits, the second the rest.
func (s sealer) twoDatagrams(tb testing.TB, hello []byte) (first, second []byte) {
	tb.Helper()
	split := min(1100, len(hello)-1)
	first = s.seal(tb, 0, cryptoFrame(0, hello[:split]), 1200)
	second = s.seal(tb, 1, cryptoFrame(uint64(split), hello[split:]), 1200)
	return first, second
}
