package quic

import (
	"crypto/sha256"
	"fmt"
)

// Versions this package can open.
const (
	Version1 uint32 = 0x00000001 // RFC 9000
	Version2 uint32 = 0x6b3343cf // RFC 9369
)

// versionParams is what RFC 9001 and RFC 9369 make differ between versions:
// the Initial salt, the HKDF labels and the long-header type codes.
type versionParams struct {
	salt                       []byte
	keyLabel, ivLabel, hpLabel string
	typeInitial, typeRetry     byte // long-header packet type bits ((byte0 >> 4) & 3)
}

var (
	// RFC 9001 §5.2.
	paramsV1 = versionParams{
		salt:        []byte{0x38, 0x76, 0x2c, 0xf7, 0xf5, 0x59, 0x34, 0xb3, 0x4d, 0x17, 0x9a, 0xe6, 0xa4, 0xc8, 0x0c, 0xad, 0xcc, 0xbb, 0x7f, 0x0a},
		keyLabel:    "quic key",
		ivLabel:     "quic iv",
		hpLabel:     "quic hp",
		typeInitial: 0b00,
		typeRetry:   0b11,
	}
	// RFC 9369 §3.2 and §3.3.
	paramsV2 = versionParams{
		salt:        []byte{0x0d, 0xed, 0xe3, 0xde, 0xf7, 0x00, 0xa6, 0xdb, 0x81, 0x93, 0x81, 0xbe, 0x6e, 0x26, 0x9d, 0xcb, 0xf9, 0xbd, 0x2e, 0xd9},
		keyLabel:    "quicv2 key",
		ivLabel:     "quicv2 iv",
		hpLabel:     "quicv2 hp",
		typeInitial: 0b01,
		typeRetry:   0b00,
	}
)

// paramsFor returns the parameters of a version this package knows.
func paramsFor(version uint32) (*versionParams, bool) {
	switch version {
	case Version1:
		return &paramsV1, true
	case Version2:
		return &paramsV2, true
	}
	return nil, false
}

// Sizes of the AEAD_AES_128_GCM Initial keys (RFC 9001 §5).
const (
	keyLen    = 16
	ivLen     = 12
	hpLen     = 16
	secretLen = sha256.Size
)

// packetKeys are the keys protecting one direction's Initial packets.
type packetKeys struct {
	key [keyLen]byte
	iv  [ivLen]byte
	hp  [hpLen]byte
}

// initialSecret is HKDF-Extract of the client's first Destination Connection
// ID with the version's salt (RFC 9001 §5.2).
func initialSecret(p *versionParams, dcid []byte) ([]byte, error) {
	sum := hmacSHA256(p.salt, dcid)
	return sum[:], nil
}

// Labels of the two directions' Initial secrets, the same in both versions.
const (
	labelClientIn = "client in"
	labelServerIn = "server in"
)

// deriveKeys expands one direction's secret into its AEAD key, IV and
// header-protection key with the version's labels.
func deriveKeys(p *versionParams, secret []byte) (packetKeys, error) {
	var k packetKeys
	var buf [secretLen]byte
	copy(k.key[:], expandLabelInto(&buf, secret, p.keyLabel, keyLen))
	copy(k.iv[:], expandLabelInto(&buf, secret, p.ivLabel, ivLen))
	copy(k.hp[:], expandLabelInto(&buf, secret, p.hpLabel, hpLen))
	return k, nil
}

// expandLabel is HKDF-Expand-Label from RFC 8446 §7.1 with an empty context.
func expandLabel(secret []byte, label string, n int) ([]byte, error) {
	var buf [secretLen]byte
	return append([]byte(nil), expandLabelInto(&buf, secret, label, n)...), nil
}

// expandLabelInto is HKDF-Expand-Label for outputs of at most one SHA-256
// block (all QUIC Initial secrets and keys are): T(1) = HMAC(secret,
// info || 0x01), computed on the stack. A new DCID is a new connection, and
// crypto/hkdf allocated ~50 times per derivation.
func expandLabelInto(buf *[secretLen]byte, secret []byte, label string, n int) []byte {
	const prefix = "tls13 "
	var info [2 + 1 + len(prefix) + 32 + 1 + 1]byte
	i := copy(info[:], []byte{byte(n >> 8), byte(n), byte(len(prefix) + len(label))})
	i += copy(info[i:], prefix)
	i += copy(info[i:], label)
	info[i] = 0   // empty context
	info[i+1] = 1 // HKDF-Expand's block counter
	*buf = hmacSHA256(secret, info[:i+2])
	return buf[:n]
}

// hmacSHA256 is HMAC-SHA-256 (RFC 2104) for a key of at most one block
// and a message of at most one block (salts, secrets, DCIDs and labels
// here are), computed in stack buffers: crypto/hmac allocates its keyed
// state, and a new DCID is a new connection on a busy link.
func hmacSHA256(key, msg []byte) [sha256.Size]byte {
	var in [2 * sha256.BlockSize]byte
	copy(in[:], key)
	for i := range sha256.BlockSize {
		in[i] ^= 0x36
	}
	n := copy(in[sha256.BlockSize:], msg)
	inner := sha256.Sum256(in[:sha256.BlockSize+n])
	var out [sha256.BlockSize + sha256.Size]byte
	copy(out[:], key)
	for i := range sha256.BlockSize {
		out[i] ^= 0x5c
	}
	copy(out[sha256.BlockSize:], inner[:])
	return sha256.Sum256(out[:])
}

// clientInitialKeys are the keys a client protects its Initial packets with.
func clientInitialKeys(version uint32, dcid []byte) (packetKeys, error) {
	p, ok := paramsFor(version)
	if !ok {
		return packetKeys{}, fmt.Errorf("quic: no Initial keys for version %#x", version)
	}
	initial, err := initialSecret(p, dcid)
	if err != nil {
		return packetKeys{}, err
	}
	client, err := expandLabel(initial, labelClientIn, secretLen)
	if err != nil {
		return packetKeys{}, err
	}
	return deriveKeys(p, client)
}
