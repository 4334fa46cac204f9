package dnsmsg

// Limits on names (RFC 1035 section 3.1 and 4.1.4).
const (
	maxNameWire = 255 // octets of a name in wire form, length bytes and root included
	maxPointers = 64  // compression pointers followed per name; real names need a few
)

// readName decodes the (possibly compressed) name starting at off in msg.
// If keep is set it appends the presentation form to dst. It returns dst and
// the offset just past the name where it sits (after its first pointer).
//
// Every pointer must point before the start of the labels read so far, so the
// offsets visited strictly decrease across jumps: no loops, and forward
// pointers into data not yet validated are refused.
func readName(dst, msg []byte, off int, keep bool) ([]byte, int, error) {
	start := len(dst)
	low := off // lowest offset visited; the next pointer must go below it
	end := -1  // offset after the first pointer, once one is followed
	wire := 1  // octets in wire form, counting the root label
	jumps := 0
	for {
		if off >= len(msg) {
			return dst, 0, ErrShort
		}
		c := int(msg[off])
		switch c & 0xC0 {
		case 0x00:
			if c == 0 {
				if keep && len(dst) == start {
					dst = append(dst, '.')
				}
				if end < 0 {
					end = off + 1
				}
				return dst, end, nil
			}
			if off+1+c > len(msg) {
				return dst, 0, ErrShort
			}
			if wire += 1 + c; wire > maxNameWire {
				return dst, 0, ErrNameTooLong
			}
			if keep {
				if len(dst) > start {
					dst = append(dst, '.')
				}
				dst = appendLabel(dst, msg[off+1:off+1+c])
			}
			off += 1 + c
		case 0xC0:
			if off+1 >= len(msg) {
				return dst, 0, ErrShort
			}
			target := (c&0x3F)<<8 | int(msg[off+1])
			if target >= low {
				return dst, 0, ErrPointer
			}
			if jumps++; jumps > maxPointers {
				return dst, 0, ErrTooManyPointers
			}
			if end < 0 {
				end = off + 2
			}
			off, low = target, target
		default:
			return dst, 0, ErrLabelType
		}
	}
}

// appendLabel appends one label in presentation form: '.' and '\' escaped
// with a backslash, bytes outside printable ASCII as \DDD (as dig prints them).
func appendLabel(dst, label []byte) []byte {
	for _, b := range label {
		switch {
		case b == '.' || b == '\\':
			dst = append(dst, '\\', b)
		case b < 0x21 || b > 0x7E:
			dst = append(dst, '\\', '0'+b/100, '0'+b/10%10, '0'+b%10)
		default:
			dst = append(dst, b)
		}
	}
	return dst
}
