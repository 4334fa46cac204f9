// Package quic opens the client Initial packets of QUIC version 1 (RFC 9000,
// RFC 9001) and version 2 (RFC 9369) so that the TLS ClientHello inside them,
// and with it the server name, can be read.
//
// Initial packets are protected only with keys derived from the client's
// Destination Connection ID, so anyone on the path can open them; this
// package does exactly that and no more. It removes header protection,
// decrypts the payload, walks the frames an Initial may carry and hands the
// CRYPTO frames to the caller; CryptoStream reassembles them into the
// ClientHello for tlshello. It cannot open anything beyond Initial packets
// (no Handshake, 0-RTT or 1-RTT keys), keeps no connection state besides the
// keys of the last DCID, retains no payload after a call returns, and knows
// nothing of sockets, flows or events: the caller extracts metadata (the SNI)
// and drops the rest.
package quic

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
	"errors"
	"fmt"
)

// maxCIDLen is the longest connection ID versions 1 and 2 allow.
const maxCIDLen = 20

// maxDatagram bounds the Opener's scratch: no UDP payload is larger.
const maxDatagram = 65527

var (
	// ErrNotQUIC means the datagram does not start with a long-header
	// packet of a version this package knows: short headers, version
	// negotiation, unknown versions and datagrams too short to tell.
	ErrNotQUIC = errors.New("quic: not a QUIC v1/v2 long-header packet")

	// ErrDecrypt means an Initial packet did not authenticate with the
	// client keys of its DCID. That is what server Initials, client
	// Initials sent after the server chose a new connection ID, and
	// corrupted packets all look like. It is returned bare, without
	// allocating, because on a busy link it is common.
	ErrDecrypt = errors.New("quic: Initial packet does not open with the client keys of its DCID")

	// ErrMalformed is wrapped by every error about a packet or payload
	// that breaks the framing; the wrapping error says what and where.
	ErrMalformed = errors.New("quic: malformed packet")

	// errSmallDatagram is static so that rejecting undersized Initials,
	// the cheap filter in front of key derivation, does not allocate.
	errSmallDatagram = fmt.Errorf("%w: Initial packet in a datagram of fewer than %d bytes (RFC 9000 §14.1)", ErrMalformed, MinInitialDatagram)
)

// MinInitialDatagram is the smallest UDP payload that may carry a client
// Initial (RFC 9000 §14.1). Smaller ones are rejected before any key is
// derived, which keeps junk and snaplen-truncated packets cheap.
const MinInitialDatagram = 1200

// Info describes the long-header packets of one datagram.
type Info struct {
	// Version is the QUIC version of the first packet.
	Version uint32
	// DCID and SCID are the connection IDs of the first packet. They are
	// copies in the Opener's scratch, valid until the next call to Open.
	DCID, SCID []byte
	// Initials counts the client Initial packets that were opened.
	Initials int
}

// Opener opens client Initial packets. It keeps the keys of the last DCID it
// saw, so the packets of one connection attempt cost one key derivation, and
// decrypts into its own buffer. Use one per worker; it is not safe for
// concurrent use. The zero value is ready to use.
type Opener struct {
	// Keys of the last DCID, and the largest packet number opened with them
	// (for packet number decoding).
	keyVersion uint32
	keyDCID    [maxCIDLen]byte
	keyDCIDLen int
	aead       cipher.AEAD
	hp         cipher.Block
	iv         [ivLen]byte
	largestPN  int64

	nonce [ivLen]byte
	mask  [aes.BlockSize]byte
	dcid  [maxCIDLen]byte
	scid  [maxCIDLen]byte
	buf   []byte // unprotected header and decrypted payload
}

// Open parses the UDP payload datagram and opens every client Initial packet
// in it, calling fn (when not nil) for each CRYPTO frame with its stream
// offset and data. data aliases the Opener's buffer and is valid only during
// the call to fn. Other long-header packets (Handshake, 0-RTT, packets of
// another DCID or version) are skipped by their Length field; a Retry or a
// short-header packet ends the walk. The datagram is not modified.
//
// ErrNotQUIC comes back, without allocating, when the first packet is not a
// long header of version 1 or 2. Long-header packets none of which is a client
// Initial give Info.Initials == 0 and no error. A client Initial in a
// datagram shorter than MinInitialDatagram is rejected (ErrMalformed) before
// any key is derived. On an error after the first packet, fn has already seen
// the CRYPTO frames of the packets before it.
func (o *Opener) Open(datagram []byte, fn func(offset uint64, data []byte)) (Info, error) {
	var info Info
	if len(datagram) < 7 || datagram[0]&0x80 == 0 {
		return info, ErrNotQUIC
	}
	if _, ok := paramsFor(binary.BigEndian.Uint32(datagram[1:5])); !ok {
		return info, ErrNotQUIC
	}

	for off := 0; off < len(datagram); {
		rest := datagram[off:]
		if rest[0]&0x80 == 0 {
			break // a short-header packet (or padding) fills the rest
		}
		h, err := parseLongHeader(rest)
		if err != nil {
			if off > 0 && errors.Is(err, ErrNotQUIC) {
				break // a coalesced packet of a version we cannot skip
			}
			return info, fmt.Errorf("packet at datagram offset %d: %w", off, err)
		}
		if off == 0 {
			info.Version = h.version
			info.DCID = o.dcid[:copy(o.dcid[:], h.dcid)]
			info.SCID = o.scid[:copy(o.scid[:], h.scid)]
		}
		if h.retry {
			break // a Retry has no Length and ends the datagram
		}
		// RFC 9000 §12.2: coalesced packets with another DCID are not part
		// of this connection; neither is a change of version.
		if h.initial && h.version == info.Version && bytes.Equal(h.dcid, info.DCID) {
			if len(datagram) < MinInitialDatagram {
				return info, errSmallDatagram
			}
			if err := o.openInitial(rest[:h.end], h, fn); err != nil {
				if err == ErrDecrypt {
					return info, err
				}
				return info, fmt.Errorf("Initial packet at datagram offset %d: %w", off, err)
			}
			info.Initials++
		}
		off += h.end
	}
	return info, nil
}

// longHeader is what Open needs from a long header (RFC 9000 §17.2).
type longHeader struct {
	version    uint32
	dcid, scid []byte
	initial    bool
	retry      bool
	pnOff      int // offset of the (protected) packet number
	end        int // offset just past the packet
}

func parseLongHeader(b []byte) (longHeader, error) {
	var h longHeader
	if len(b) < 7 {
		return h, fmt.Errorf("%w: %d bytes are too few for a long header", ErrMalformed, len(b))
	}
	h.version = binary.BigEndian.Uint32(b[1:5])
	p, ok := paramsFor(h.version)
	if !ok {
		return h, fmt.Errorf("%w: version %#x", ErrNotQUIC, h.version)
	}
	pos := 5
	var err error
	if h.dcid, pos, err = readCID(b, pos, "destination"); err != nil {
		return h, err
	}
	if h.scid, pos, err = readCID(b, pos, "source"); err != nil {
		return h, err
	}
	switch typ := (b[0] >> 4) & 0x03; typ {
	case p.typeRetry:
		h.retry = true
		h.end = len(b)
		return h, nil
	case p.typeInitial:
		h.initial = true
		tokenLen, n := readVarint(b[pos:])
		if n < 0 {
			return h, fmt.Errorf("%w: Token Length truncated at offset %d", ErrMalformed, pos)
		}
		pos += n
		if tokenLen > uint64(len(b)-pos) {
			return h, fmt.Errorf("%w: Token Length %d exceeds the %d bytes left", ErrMalformed, tokenLen, len(b)-pos)
		}
		pos += int(tokenLen)
	}
	length, n := readVarint(b[pos:])
	if n < 0 {
		return h, fmt.Errorf("%w: Length truncated at offset %d", ErrMalformed, pos)
	}
	pos += n
	if length > uint64(len(b)-pos) {
		return h, fmt.Errorf("%w: Length %d exceeds the %d bytes left", ErrMalformed, length, len(b)-pos)
	}
	h.pnOff = pos
	h.end = pos + int(length)
	return h, nil
}

// readCID reads a length-prefixed connection ID at b[pos:].
func readCID(b []byte, pos int, which string) ([]byte, int, error) {
	if pos >= len(b) {
		return nil, pos, fmt.Errorf("%w: %s connection ID length missing", ErrMalformed, which)
	}
	n := int(b[pos])
	pos++
	if n > maxCIDLen {
		return nil, pos, fmt.Errorf("%w: %s connection ID of %d bytes, limit %d", ErrMalformed, which, n, maxCIDLen)
	}
	if n > len(b)-pos {
		return nil, pos, fmt.Errorf("%w: %s connection ID of %d bytes overruns the packet", ErrMalformed, which, n)
	}
	return b[pos : pos+n], pos + n, nil
}

// Header protection samples 16 bytes starting 4 bytes after the packet
// number's offset (RFC 9001 §5.4.2); the AEAD tag is 16 bytes.
const (
	sampleOff = 4
	sampleLen = 16
	tagLen    = 16
)

// openInitial removes header protection from pkt (one whole Initial packet),
// decrypts it into o.buf and walks its frames.
func (o *Opener) openInitial(pkt []byte, h longHeader, fn func(uint64, []byte)) error {
	if len(pkt) < h.pnOff+sampleOff+sampleLen {
		return fmt.Errorf("%w: %d bytes after the header leave no room for the header protection sample", ErrMalformed, len(pkt)-h.pnOff)
	}
	if err := o.useKeys(h.version, h.dcid); err != nil {
		return err
	}

	o.hp.Encrypt(o.mask[:], pkt[h.pnOff+sampleOff:h.pnOff+sampleOff+sampleLen])
	first := pkt[0] ^ o.mask[0]&0x0f // long header: the low 4 bits are protected
	pnLen := int(first&0x03) + 1
	hdrLen := h.pnOff + pnLen

	// The caller's datagram stays untouched: the unprotected header (the
	// AEAD's associated data) and the plaintext go to o.buf.
	if cap(o.buf) < len(pkt) {
		o.buf = make([]byte, 0, max(len(pkt), 1500, min(2*cap(o.buf), maxDatagram)))
	}
	hdr := o.buf[:hdrLen]
	copy(hdr, pkt[:hdrLen])
	hdr[0] = first
	var truncated uint64
	for i := 0; i < pnLen; i++ {
		hdr[h.pnOff+i] ^= o.mask[1+i]
		truncated = truncated<<8 | uint64(hdr[h.pnOff+i])
	}
	pn := decodePacketNumber(o.largestPN, truncated, pnLen)

	o.nonce = o.iv
	for i := 0; i < 8; i++ {
		o.nonce[ivLen-1-i] ^= byte(pn >> (8 * i))
	}
	plain, err := o.aead.Open(o.buf[hdrLen:hdrLen], o.nonce[:], pkt[hdrLen:], hdr)
	if err != nil {
		return ErrDecrypt
	}
	if first&0x0c != 0 {
		// RFC 9000 §17.2: reserved bits set in an authenticated packet.
		return fmt.Errorf("%w: reserved header bits are %#x", ErrMalformed, first&0x0c)
	}
	if int64(pn) > o.largestPN {
		o.largestPN = int64(pn)
	}
	return walkFrames(plain, fn)
}

// useKeys makes the client Initial keys of (version, dcid) current, deriving
// them only when the DCID or version changed.
func (o *Opener) useKeys(version uint32, dcid []byte) error {
	if o.aead != nil && o.keyVersion == version && bytes.Equal(o.keyDCID[:o.keyDCIDLen], dcid) {
		return nil
	}
	o.aead, o.hp = nil, nil // no half-updated cache if a step below fails
	k, err := clientInitialKeys(version, dcid)
	if err != nil {
		return err
	}
	block, err := aes.NewCipher(k.key[:])
	if err != nil {
		return fmt.Errorf("quic: Initial key: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return fmt.Errorf("quic: Initial AEAD: %w", err)
	}
	hp, err := aes.NewCipher(k.hp[:])
	if err != nil {
		return fmt.Errorf("quic: header protection key: %w", err)
	}
	o.aead, o.hp, o.iv = aead, hp, k.iv
	o.keyVersion = version
	o.keyDCIDLen = copy(o.keyDCID[:], dcid)
	o.largestPN = -1
	return nil
}

// decodePacketNumber recovers a full packet number from its truncated
// pnLen-byte encoding and the largest one seen (RFC 9000 Appendix A.3).
func decodePacketNumber(largest int64, truncated uint64, pnLen int) uint64 {
	expected := uint64(largest + 1)
	win := uint64(1) << (8 * pnLen)
	hwin := win / 2
	mask := win - 1
	candidate := expected&^mask | truncated
	if candidate+hwin <= expected && candidate < 1<<62-win {
		return candidate + win
	}
	if candidate > expected+hwin && candidate >= win {
		return candidate - win
	}
	return candidate
}

// readVarint decodes a QUIC variable-length integer (RFC 9000 §16); n is -1
// when b is too short.
func readVarint(b []byte) (v uint64, n int) {
	if len(b) == 0 {
		return 0, -1
	}
	n = 1 << (b[0] >> 6)
	if len(b) < n {
		return 0, -1
	}
	v = uint64(b[0] & 0x3f)
	for i := 1; i < n; i++ {
		v = v<<8 | uint64(b[i])
	}
	return v, n
}
