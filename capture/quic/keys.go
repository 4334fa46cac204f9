package quic

import (
	"crypto/hkdf"
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
	initial, err := hkdf.Extract(sha256.New, dcid, p.salt)
	if err != nil {
		return nil, fmt.Errorf("quic: extracting the initial secret: %w", err)
	}
	return initial, nil
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
	for _, part := range []struct {
		label string
		dst   []byte
	}{{p.keyLabel, k.key[:]}, {p.ivLabel, k.iv[:]}, {p.hpLabel, k.hp[:]}} {
		v, err := expandLabel(secret, part.label, len(part.dst))
		if err != nil {
			return packetKeys{}, err
		}
		copy(part.dst, v)
	}
	return k, nil
}

// expandLabel is HKDF-Expand-Label from RFC 8446 §7.1 with an empty context.
func expandLabel(secret []byte, label string, n int) ([]byte, error) {
	const prefix = "tls13 "
	info := make([]byte, 0, 2+1+len(prefix)+len(label)+1)
	info = append(info, byte(n>>8), byte(n), byte(len(prefix)+len(label)))
	info = append(info, prefix...)
	info = append(info, label...)
	info = append(info, 0) // empty context
	out, err := hkdf.Expand(sha256.New, secret, string(info), n)
	if err != nil {
		return nil, fmt.Errorf("quic: expanding %q: %w", label, err)
	}
	return out, nil
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
