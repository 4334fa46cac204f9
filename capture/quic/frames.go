package quic

import "fmt"

// Frame types an Initial packet may carry (RFC 9000 §12.4, Table 3).
const (
	framePadding         = 0x00
	framePing            = 0x01
	frameAck             = 0x02
	frameAckECN          = 0x03
	frameCrypto          = 0x06
	frameConnectionClose = 0x1c
)

// maxStreamOffset is the largest offset+length a CRYPTO frame may reach
// (RFC 9000 §19.6).
const maxStreamOffset = 1<<62 - 1

// walkFrames walks the frames of a decrypted Initial payload, calling fn for
// each CRYPTO frame, and stops with an error at anything an Initial may not
// carry or at a frame that overruns the payload.
func walkFrames(p []byte, fn func(offset uint64, data []byte)) error {
	for i := 0; i < len(p); {
		typ := p[i]
		start := i
		i++
		switch typ {
		case framePadding:
			for i < len(p) && p[i] == framePadding {
				i++
			}
		case framePing:
		case frameAck, frameAckECN:
			n, err := ackLen(p[i:], typ == frameAckECN)
			if err != nil {
				return fmt.Errorf("%w: ACK frame at payload offset %d: %v", ErrMalformed, start, err)
			}
			i += n
		case frameCrypto:
			offset, n1 := readVarint(p[i:])
			if n1 < 0 {
				return fmt.Errorf("%w: CRYPTO frame at payload offset %d: offset truncated", ErrMalformed, start)
			}
			i += n1
			length, n2 := readVarint(p[i:])
			if n2 < 0 {
				return fmt.Errorf("%w: CRYPTO frame at payload offset %d: length truncated", ErrMalformed, start)
			}
			i += n2
			if length > uint64(len(p)-i) {
				return fmt.Errorf("%w: CRYPTO frame at payload offset %d: %d bytes of data, %d left", ErrMalformed, start, length, len(p)-i)
			}
			if offset > maxStreamOffset-length {
				return fmt.Errorf("%w: CRYPTO frame at payload offset %d: offset %d + length %d exceeds 2^62-1", ErrMalformed, start, offset, length)
			}
			data := p[i : i+int(length) : i+int(length)]
			i += int(length)
			if fn != nil {
				fn(offset, data)
			}
		case frameConnectionClose:
			n, err := connectionCloseLen(p[i:])
			if err != nil {
				return fmt.Errorf("%w: CONNECTION_CLOSE frame at payload offset %d: %v", ErrMalformed, start, err)
			}
			i += n
		default:
			return fmt.Errorf("%w: frame type %#x at payload offset %d is not allowed in an Initial packet", ErrMalformed, typ, start)
		}
	}
	return nil
}

// ackLen returns the length of an ACK frame body (after its type byte):
// Largest Acknowledged, ACK Delay, ACK Range Count, First ACK Range, the
// ranges, and with ECN the three counts (RFC 9000 §19.3).
func ackLen(b []byte, ecn bool) (int, error) {
	pos := 0
	var count uint64
	for field := 0; field < 4; field++ {
		v, n := readVarint(b[pos:])
		if n < 0 {
			return 0, fmt.Errorf("field %d truncated", field)
		}
		pos += n
		if field == 2 {
			count = v
		}
	}
	// Each range is two varints of at least one byte, so a count larger
	// than the bytes left cannot be honest; checking first keeps the loop
	// bounded by the payload, not by the count.
	if count > uint64(len(b)-pos)/2 {
		return 0, fmt.Errorf("ACK Range Count %d does not fit the %d bytes left", count, len(b)-pos)
	}
	for r := uint64(0); r < 2*count; r++ {
		_, n := readVarint(b[pos:])
		if n < 0 {
			return 0, fmt.Errorf("ACK range %d truncated", r/2)
		}
		pos += n
	}
	if ecn {
		for c := 0; c < 3; c++ {
			_, n := readVarint(b[pos:])
			if n < 0 {
				return 0, fmt.Errorf("ECN count %d truncated", c)
			}
			pos += n
		}
	}
	return pos, nil
}

// connectionCloseLen returns the length of a transport CONNECTION_CLOSE body:
// Error Code, Frame Type, Reason Phrase Length and the phrase (RFC 9000 §19.19).
func connectionCloseLen(b []byte) (int, error) {
	pos := 0
	var reasonLen uint64
	for field := 0; field < 3; field++ {
		v, n := readVarint(b[pos:])
		if n < 0 {
			return 0, fmt.Errorf("field %d truncated", field)
		}
		pos += n
		reasonLen = v
	}
	if reasonLen > uint64(len(b)-pos) {
		return 0, fmt.Errorf("reason of %d bytes, %d left", reasonLen, len(b)-pos)
	}
	return pos + int(reasonLen), nil
}
