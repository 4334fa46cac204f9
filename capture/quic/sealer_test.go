package quic

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/tls"
	"encoding/binary"
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
	p, ok := paramsFor(s.version)
	if !ok {
		tb.Fatalf("sealer: unknown version %#x", s.version)
	}
	pnLen := s.pnLen
	if pnLen == 0 {
		pnLen = 4
	}
	keyDCID := s.dcid
	if s.keysFor != nil {
		keyDCID = s.keysFor
	}
	k, err := clientInitialKeys(s.version, keyDCID)
	if err != nil {
		tb.Fatal(err)
	}
	hdrDCID := s.hdrDCID
	if hdrDCID == nil {
		hdrDCID = s.dcid
	}
	typ := p.typeInitial
	if s.typ != 0 {
		typ = s.typ & 3
	}

	hdr := []byte{0xc0 | typ<<4 | byte(pnLen-1)}
	hdr = binary.BigEndian.AppendUint32(hdr, s.version)
	hdr = append(hdr, byte(len(hdrDCID)))
	hdr = append(hdr, hdrDCID...)
	hdr = append(hdr, byte(len(s.scid)))
	hdr = append(hdr, s.scid...)
	if typ == p.typeInitial {
		hdr = appendVarint(hdr, uint64(len(s.token)))
		hdr = append(hdr, s.token...)
	}
	// Pad so the packet reaches minLen and leaves room for the sample.
	lengthFieldLen := 2
	pad := 0
	for len(hdr)+lengthFieldLen+pnLen+len(payload)+pad+tagLen < minLen || pnLen+len(payload)+pad+tagLen < sampleOff+sampleLen {
		pad++
	}
	var body []byte
	if s.padFront {
		body = append(make([]byte, pad), payload...)
	} else {
		body = append(append([]byte{}, payload...), make([]byte, pad)...)
	}
	length := pnLen + len(body) + tagLen
	if length >= 1<<14 {
		tb.Fatalf("sealer: packet too long")
	}
	hdr = append(hdr, 0x40|byte(length>>8), byte(length))
	pnOff := len(hdr)
	for i := pnLen - 1; i >= 0; i-- {
		hdr = append(hdr, byte(pn>>(8*i)))
	}

	block, _ := aes.NewCipher(k.key[:])
	aead, _ := cipher.NewGCM(block)
	nonce := k.iv
	for i := 0; i < 8; i++ {
		nonce[ivLen-1-i] ^= byte(pn >> (8 * i))
	}
	pkt := aead.Seal(append([]byte{}, hdr...), nonce[:], body, hdr)

	hp, _ := aes.NewCipher(k.hp[:])
	var mask [16]byte
	hp.Encrypt(mask[:], pkt[pnOff+sampleOff:pnOff+sampleOff+sampleLen])
	pkt[0] ^= mask[0] & 0x0f
	for i := 0; i < pnLen; i++ {
		pkt[pnOff+i] ^= mask[1+i]
	}
	return pkt
}

func appendVarint(b []byte, v uint64) []byte {
	switch {
	case v < 1<<6:
		return append(b, byte(v))
	case v < 1<<14:
		return append(b, 0x40|byte(v>>8), byte(v))
	case v < 1<<30:
		return append(b, 0x80|byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
	default:
		return append(b, 0xc0|byte(v>>56), byte(v>>48), byte(v>>40), byte(v>>32), byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
	}
}

// cryptoFrame encodes a CRYPTO frame.
func cryptoFrame(offset uint64, data []byte) []byte {
	b := appendVarint([]byte{frameCrypto}, offset)
	b = appendVarint(b, uint64(len(data)))
	return append(b, data...)
}

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
