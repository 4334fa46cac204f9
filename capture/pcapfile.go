package capture

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// pcapReader reads a classic pcap file held in memory (read or mapped)
// without copying frames: ZeroCopyReadPacketData returns views into data.
// pcapgo's reader copies every frame out of its bufio buffer, which costs
// more than decoding it.
type pcapReader struct {
	data  []byte
	off   int
	order binary.ByteOrder
	nanos bool
	link  layers.LinkType
	snap  uint32
}

// Classic pcap magic numbers, as read little-endian.
const (
	pcapMagicMicros        = 0xa1b2c3d4
	pcapMagicNanos         = 0xa1b23c4d
	pcapMagicMicrosSwapped = 0xd4c3b2a1
	pcapMagicNanosSwapped  = 0x4d3cb2a1
	pcapMaxRecord          = 256 << 10 // larger than any snap length tools write
)

// isClassicPcap says whether b starts with a classic pcap magic.
func isClassicPcap(b []byte) bool {
	if len(b) < 4 {
		return false
	}
	switch binary.LittleEndian.Uint32(b) {
	case pcapMagicMicros, pcapMagicNanos, pcapMagicMicrosSwapped, pcapMagicNanosSwapped:
		return true
	}
	return false
}

func newPcapReader(data []byte) (*pcapReader, error) {
	if len(data) < 24 {
		return nil, errors.New("pcap file header truncated")
	}
	r := &pcapReader{data: data, off: 24, order: binary.LittleEndian}
	switch binary.LittleEndian.Uint32(data) {
	case pcapMagicMicros:
	case pcapMagicNanos:
		r.nanos = true
	case pcapMagicMicrosSwapped:
		r.order = binary.BigEndian
	case pcapMagicNanosSwapped:
		r.order, r.nanos = binary.BigEndian, true
	default:
		return nil, errors.New("not a pcap file")
	}
	r.snap = r.order.Uint32(data[16:20])
	r.link = layers.LinkType(r.order.Uint32(data[20:24]) & 0x0FFFFFFF) // high bits: FCS flags
	return r, nil
}

func (r *pcapReader) ZeroCopyReadPacketData() ([]byte, gopacket.CaptureInfo, error) {
	var ci gopacket.CaptureInfo
	rest := r.data[r.off:]
	if len(rest) == 0 {
		return nil, ci, io.EOF
	}
	if len(rest) < 16 {
		return nil, ci, io.ErrUnexpectedEOF
	}
	sec, frac := r.order.Uint32(rest[0:4]), r.order.Uint32(rest[4:8])
	capLen, origLen := r.order.Uint32(rest[8:12]), r.order.Uint32(rest[12:16])
	if capLen > pcapMaxRecord {
		return nil, ci, fmt.Errorf("record of %d bytes (snap length %d): corrupt record header", capLen, r.snap)
	}
	if len(rest) < 16+int(capLen) {
		return nil, ci, io.ErrUnexpectedEOF
	}
	if !r.nanos {
		frac *= 1000
	}
	ci.Timestamp = time.Unix(int64(sec), int64(frac))
	ci.CaptureLength, ci.Length = int(capLen), int(origLen)
	r.off += 16 + int(capLen)
	return rest[16 : 16+capLen : 16+capLen], ci, nil
}
