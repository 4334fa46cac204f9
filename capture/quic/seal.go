package quic

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
	"errors"
	"fmt"
)

// Sealer builds protected client Initial packets the way a client does. The
// capture pipeline never seals anything; test-capture generators
// (capture/pcapgen) and this package's tests use it to make QUIC traffic
// that tools like Wireshark can check.
type Sealer struct {
	Version uint32
	DCID    []byte // the Destination Connection ID, which also keys the packet
	SCID    []byte
	Token   []byte
	PNLen   int // packet number length, 1..4; 4 when 0

	// For tests that build broken packets: write another DCID in the
	// header, derive keys from another DCID, or use another packet type.
	hdrDCID []byte
	keysFor []byte
	typ     byte
	// padFront puts the padding before the frames, so a truncated last
	// frame is the end of the payload.
	padFront bool
}

// Seal returns one protected packet with packet number pn carrying the
// frames in payload, padded with PADDING frames to at least minLen bytes
// (clients pad datagrams with Initials to 1200).
func (s Sealer) Seal(pn uint64, payload []byte, minLen int) ([]byte, error) {
	p, ok := paramsFor(s.Version)
	if !ok {
		return nil, fmt.Errorf("seal: unknown QUIC version %#x", s.Version)
	}
	pnLen := s.PNLen
	if pnLen == 0 {
		pnLen = 4
	}
	keyDCID := s.DCID
	if s.keysFor != nil {
		keyDCID = s.keysFor
	}
	k, err := clientInitialKeys(s.Version, keyDCID)
	if err != nil {
		return nil, err
	}
	hdrDCID := s.hdrDCID
	if hdrDCID == nil {
		hdrDCID = s.DCID
	}
	typ := p.typeInitial
	if s.typ != 0 {
		typ = s.typ & 3
	}

	hdr := []byte{0xc0 | typ<<4 | byte(pnLen-1)}
	hdr = binary.BigEndian.AppendUint32(hdr, s.Version)
	hdr = append(hdr, byte(len(hdrDCID)))
	hdr = append(hdr, hdrDCID...)
	hdr = append(hdr, byte(len(s.SCID)))
	hdr = append(hdr, s.SCID...)
	if typ == p.typeInitial {
		hdr = appendVarint(hdr, uint64(len(s.Token)))
		hdr = append(hdr, s.Token...)
	}
	// Pad so the packet reaches minLen and leaves room for the sample.
	const lengthFieldLen = 2
	pad := 0
	for len(hdr)+lengthFieldLen+pnLen+len(payload)+pad+tagLen < minLen || pnLen+len(payload)+pad+tagLen < sampleOff+sampleLen {
		pad++
	}
	var body []byte
	if s.padFront { // PADDING frames are zero bytes
		body = append(make([]byte, pad), payload...)
	} else {
		body = append(append([]byte{}, payload...), make([]byte, pad)...)
	}
	length := pnLen + len(body) + tagLen
	if length >= 1<<14 {
		return nil, errors.New("seal: packet too long for a 2-byte Length field")
	}
	hdr = append(hdr, 0x40|byte(length>>8), byte(length))
	pnOff := len(hdr)
	for i := pnLen - 1; i >= 0; i-- {
		hdr = append(hdr, byte(pn>>(8*i)))
	}

	block, err := aes.NewCipher(k.key[:])
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	nonce := k.iv
	for i := 0; i < 8; i++ {
		nonce[ivLen-1-i] ^= byte(pn >> (8 * i))
	}
	pkt := aead.Seal(append([]byte{}, hdr...), nonce[:], body, hdr)

	hp, err := aes.NewCipher(k.hp[:])
	if err != nil {
		return nil, err
	}
	var mask [16]byte
	hp.Encrypt(mask[:], pkt[pnOff+sampleOff:pnOff+sampleOff+sampleLen])
	pkt[0] ^= mask[0] & 0x0f
	for i := 0; i < pnLen; i++ {
		pkt[pnOff+i] ^= mask[1+i]
	}
	return pkt, nil
}

// CryptoFrame encodes a CRYPTO frame carrying data at offset.
func CryptoFrame(offset uint64, data []byte) []byte {
	b := appendVarint([]byte{frameCrypto}, offset)
	b = appendVarint(b, uint64(len(data)))
	return append(b, data...)
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
