package quic

import (
	"errors"
	"fmt"
	"math/bits"
)

// MaxCryptoStream bounds the Initial CRYPTO stream a CryptoStream holds. A
// ClientHello with post-quantum key shares is about 1.5-2 KiB; 64 KiB leaves
// room for anything legitimate and caps what one flow can make us keep.
const MaxCryptoStream = 64 << 10

// ErrCryptoTooLarge is wrapped when CRYPTO data reaches past MaxCryptoStream.
var ErrCryptoTooLarge = errors.New("quic: CRYPTO stream exceeds its limit")

// CryptoStream reassembles the Initial CRYPTO stream of one connection from
// frames that may arrive out of order, overlap, and span several packets and
// datagrams. Overlapping bytes overwrite each other (QUIC requires them to be
// identical). The zero value is ready to use; Reset makes it reusable without
// freeing its buffers. Not safe for concurrent use.
type CryptoStream struct {
	buf    []byte   // len(buf) is the highest end offset received
	have   []uint64 // one bit per byte of buf: received or not
	prefix int      // length of the contiguous run received from offset 0
}

// Add stores data at offset in the stream. It fails, storing nothing, when
// the data would reach past MaxCryptoStream.
func (s *CryptoStream) Add(offset uint64, data []byte) error {
	if len(data) == 0 {
		return nil
	}
	if offset > MaxCryptoStream || uint64(len(data)) > MaxCryptoStream-offset {
		return fmt.Errorf("%w: %d bytes at offset %d, limit %d", ErrCryptoTooLarge, len(data), offset, MaxCryptoStream)
	}
	from := int(offset)
	to := from + len(data)
	s.grow(to)
	copy(s.buf[from:to], data)
	s.mark(from, to)
	if from <= s.prefix {
		s.advance()
	}
	return nil
}

// grow extends buf (and the bitmap, zeroed) to n bytes.
func (s *CryptoStream) grow(n int) {
	if n <= len(s.buf) {
		return
	}
	if cap(s.buf) < n {
		nb := make([]byte, n, min(max(n, 2*cap(s.buf), 4096), MaxCryptoStream))
		copy(nb, s.buf)
		s.buf = nb
	} else {
		s.buf = s.buf[:n]
	}
	words := (n + 63) / 64
	if cap(s.have) < words {
		nh := make([]uint64, words, (cap(s.buf)+63)/64)
		copy(nh, s.have)
		s.have = nh
	} else if old := len(s.have); old < words {
		s.have = s.have[:words]
		clear(s.have[old:])
	}
}

// mark records bytes [from, to) as received.
func (s *CryptoStream) mark(from, to int) {
	for from < to {
		w, b := from/64, from%64
		n := min(64-b, to-from)
		m := ^uint64(0)
		if n < 64 {
			m = (uint64(1)<<n - 1) << b
		}
		s.have[w] |= m
		from += n
	}
}

// advance moves prefix over the received bytes that follow it.
func (s *CryptoStream) advance() {
	for s.prefix < len(s.buf) {
		w, b := s.prefix/64, s.prefix%64
		run := bits.TrailingZeros64(^(s.have[w] >> b)) // ones from bit b up
		run = min(run, 64-b)
		s.prefix += run
		if run < 64-b {
			break
		}
	}
	s.prefix = min(s.prefix, len(s.buf))
}

// Reset empties the stream, keeping its buffers for the next connection.
func (s *CryptoStream) Reset() {
	s.buf = s.buf[:0]
	s.have = s.have[:0]
	s.prefix = 0
}

// Hello returns the contiguous bytes received from offset 0 and whether they
// hold the whole handshake message announced by its 4-byte header (type and
// 24-bit length). msg aliases the stream's buffer and is valid until the next
// Add or Reset.
func (s *CryptoStream) Hello() (msg []byte, complete bool) {
	msg = s.buf[:s.prefix:s.prefix]
	if len(msg) < 4 {
		return msg, false
	}
	n := 4 + (int(msg[1])<<16 | int(msg[2])<<8 | int(msg[3]))
	return msg, len(msg) >= n
}
