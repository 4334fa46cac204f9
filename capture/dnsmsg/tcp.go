package dnsmsg

import "encoding/binary"

// TCPStream splits one direction of a DNS-over-TCP connection (RFC 1035
// section 4.2.2, RFC 7766) into messages, each preceded by a 2-byte length.
// It buffers at most one incomplete message. The zero value is ready to use;
// after an error it stays failed until Reset.
type TCPStream struct {
	buf []byte // an incomplete message with its length prefix
	err error
}

// Feed takes the next in-order bytes of the stream and calls fn for every
// message they complete. msg is valid only during the call. A message
// that lies whole within p is passed without copying.
func (s *TCPStream) Feed(p []byte, fn func(msg []byte)) error {
	if s.err != nil {
		return s.err
	}
	for len(p) > 0 {
		if len(s.buf) == 0 && len(p) >= 2 {
			n := int(binary.BigEndian.Uint16(p))
			if n == 0 {
				s.err = ErrZeroLength
				return s.err
			}
			if len(p) >= 2+n {
				fn(p[2 : 2+n])
				p = p[2+n:]
				continue
			}
		}
		if len(s.buf) < 2 {
			k := min(2-len(s.buf), len(p))
			s.buf = append(s.buf, p[:k]...)
			p = p[k:]
			if len(s.buf) < 2 {
				return nil
			}
		}
		want := 2 + int(binary.BigEndian.Uint16(s.buf))
		if want == 2 {
			s.err = ErrZeroLength
			return s.err
		}
		if cap(s.buf) < want {
			grown := make([]byte, len(s.buf), want)
			copy(grown, s.buf)
			s.buf = grown
		}
		k := min(want-len(s.buf), len(p))
		s.buf = append(s.buf, p[:k]...)
		p = p[k:]
		if len(s.buf) == want {
			fn(s.buf[2:])
			s.buf = s.buf[:0]
		}
	}
	return nil
}

// Buffered returns the number of bytes held for an incomplete message.
func (s *TCPStream) Buffered() int { return len(s.buf) }

// Reset clears the stream for a new connection, keeping its buffer for reuse.
func (s *TCPStream) Reset() {
	s.buf = s.buf[:0]
	s.err = nil
}
