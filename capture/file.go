package capture

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// ErrTruncated marks a capture file that ends inside a packet record, as
// files of a capture that was killed do; the packets before it count.
var ErrTruncated = errors.New("file ends inside a packet record (truncated capture)")

// packetReader is what pcapgo's two readers and pcapReader have in common.
type packetReader interface {
	ZeroCopyReadPacketData() ([]byte, gopacket.CaptureInfo, error)
}

// ReadFile feeds every frame of a pcap or pcapng file to w, numbering
// frames from 1 as Wireshark does. The file is mapped into memory, so
// frames are decoded where they lie. progress, when set, is called with the
// bytes read so far every few thousand packets. It returns ErrTruncated
// (wrapped) when the file ends mid-record.
func ReadFile(path string, w *Worker, progress func(int64)) error {
	data, unmap, err := mapFile(path)
	if err != nil {
		return err
	}
	defer unmap()
	if err := ReadBytes(data, w, progress); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// ReadBytes feeds every frame of a pcap or pcapng capture held in memory
// to w.
func ReadBytes(data []byte, w *Worker, progress func(int64)) error {
	if !isClassicPcap(data) {
		cr := &countingReader{r: bytes.NewReader(data)}
		return Read(bufio.NewReaderSize(cr, 1<<20), w, func() {
			if progress != nil {
				progress(cr.n)
			}
		})
	}
	r, err := newPcapReader(data)
	if err != nil {
		return err
	}
	lt := r.link
	return readFrames(r, func(gopacket.CaptureInfo) layers.LinkType { return lt }, w, func() {
		if progress != nil {
			progress(int64(r.off))
		}
	})
}

// Read feeds every frame of a pcap or pcapng stream to w.
func Read(r *bufio.Reader, w *Worker, tick func()) error {
	magic, err := r.Peek(4)
	if err != nil {
		if len(magic) == 0 {
			return errors.New("empty file, not a pcap or pcapng capture")
		}
		return errors.New("too short to be a pcap or pcapng capture")
	}
	if bytes.Equal(magic, []byte{0x0a, 0x0d, 0x0d, 0x0a}) {
		ng, err := pcapgo.NewNgReader(r, pcapgo.NgReaderOptions{})
		if err != nil {
			return fmt.Errorf("pcapng header: %w", err)
		}
		return readFrames(ng, func(ci gopacket.CaptureInfo) layers.LinkType {
			if iface, err := ng.Interface(ci.InterfaceIndex); err == nil {
				return iface.LinkType
			}
			return ng.LinkType()
		}, w, tick)
	}
	pr, err := pcapgo.NewReader(r)
	if err != nil {
		return fmt.Errorf("not a pcap or pcapng capture: %w", err)
	}
	lt := pr.LinkType()
	return readFrames(pr, func(gopacket.CaptureInfo) layers.LinkType { return lt }, w, tick)
}

// readFrames runs every frame of src through w.
func readFrames(src packetReader, links func(gopacket.CaptureInfo) layers.LinkType, w *Worker, tick func()) error {
	var (
		no       uint64
		lastLink layers.LinkType = 0xFFFF
		first    gopacket.LayerType
		linkErr  error
	)
	defer w.Flush()
	for {
		data, ci, err := src.ZeroCopyReadPacketData()
		switch {
		case err == io.EOF:
			return nil
		case errors.Is(err, io.ErrUnexpectedEOF):
			return fmt.Errorf("after frame %d: %w", no, ErrTruncated)
		case err != nil:
			return fmt.Errorf("frame %d: %w", no+1, err)
		}
		no++
		if lt := links(ci); lt != lastLink {
			lastLink = lt
			first, linkErr = firstLayer(lt)
		}
		if linkErr != nil {
			w.stats.decodeError("link")
			if no == 1 {
				return linkErr // a file of a kind we cannot read at all
			}
			continue
		}
		w.Packet(first, data, ci.Timestamp, no)
		if tick != nil && no%8192 == 0 {
			tick()
		}
	}
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}
