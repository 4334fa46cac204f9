package capture

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
)

// Pseudonymizer replaces client addresses with keyed HMAC-SHA256 names:
// stable for one key (so a client's hits can be counted and followed), not
// reversible without it, and different under another key. Rotate the key
// file to unlink old pseudonyms from new ones.
type Pseudonymizer struct {
	key []byte
	mac hash.Hash
	buf [sha256.Size]byte
}

// PseudonymKeyBytes is the size of a generated key.
const PseudonymKeyBytes = 32

// pseudonymPrefix marks a pseudonym so nobody mistakes it for an address.
const pseudonymPrefix = "anon-"

// NewPseudonymizer uses key; it must be at least 16 bytes.
func NewPseudonymizer(key []byte) (*Pseudonymizer, error) {
	if len(key) < 16 {
		return nil, fmt.Errorf("pseudonym key is %d bytes, at least 16 are needed", len(key))
	}
	k := append([]byte(nil), key...)
	return &Pseudonymizer{key: k, mac: hmac.New(sha256.New, k)}, nil
}

// LoadPseudonymizer reads the key file, creating it (mode 0600, random
// key) when it does not exist, so a fresh install pseudonymizes from its
// first event.
func LoadPseudonymizer(path string) (*Pseudonymizer, error) {
	key, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		key = make([]byte, PseudonymKeyBytes)
		if _, err := rand.Read(key); err != nil {
			return nil, fmt.Errorf("generate pseudonym key: %w", err)
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, fmt.Errorf("create pseudonym key: %w", err)
		}
		if err := os.WriteFile(path, key, 0o600); err != nil {
			return nil, fmt.Errorf("create pseudonym key: %w", err)
		}
	} else if err != nil {
		return nil, fmt.Errorf("read pseudonym key: %w", err)
	}
	p, err := NewPseudonymizer(key)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return p, nil
}

// clone gives a worker its own hash state.
func (p *Pseudonymizer) clone() *Pseudonymizer {
	c, _ := NewPseudonymizer(p.key)
	return c
}

// Name returns the pseudonym of a: "anon-" and 16 hex digits (64 bits of
// the HMAC: collisions among a campus's addresses are negligible). IPv4
// and its IPv4-mapped IPv6 form get the same name.
func (p *Pseudonymizer) Name(a netip.Addr) string {
	b := a.Unmap().AsSlice()
	p.mac.Reset()
	p.mac.Write(b)
	sum := p.mac.Sum(p.buf[:0])
	var out [len(pseudonymPrefix) + 16]byte
	copy(out[:], pseudonymPrefix)
	hex.Encode(out[len(pseudonymPrefix):], sum[:8])
	return string(out[:])
}
