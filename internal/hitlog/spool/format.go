package spool

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// On-disk constants; the layout is described in the package comment.
const (
	segMagic       = "CGSPOOL1"
	segVersion     = 1
	segHeaderLen   = 12 // magic + uint32 version
	frameHeaderLen = 8  // uint32 length + uint32 CRC-32C
	segSuffix      = ".seg"
	segDigits      = 20

	ackMagic   = "CGSA"
	ackSlotLen = 32 // magic + uint64 generation + uint64 seq + uint64 offset + uint32 CRC-32C
	ackName    = "ack"

	// maxSeq keeps sequence numbers far from overflow; a file named above it
	// is not one of ours.
	maxSeq = 1 << 62
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func segName(seq uint64) string { return fmt.Sprintf("%0*d%s", segDigits, seq, segSuffix) }

// parseSegName returns the sequence number of a segment file name.
func parseSegName(name string) (uint64, bool) {
	if len(name) != segDigits+len(segSuffix) || !strings.HasSuffix(name, segSuffix) {
		return 0, false
	}
	digits := name[:segDigits]
	for i := 0; i < len(digits); i++ {
		if digits[i] < '0' || digits[i] > '9' {
			return 0, false
		}
	}
	seq, err := strconv.ParseUint(digits, 10, 64)
	if err != nil || seq == 0 || seq >= maxSeq {
		return 0, false
	}
	return seq, true
}

func segHeader() []byte {
	b := make([]byte, segHeaderLen)
	copy(b, segMagic)
	binary.LittleEndian.PutUint32(b[len(segMagic):], segVersion)
	return b
}

// checkSegHeader says what is wrong with a segment header, or "" if nothing.
func checkSegHeader(b []byte) string {
	if string(b[:len(segMagic)]) != segMagic {
		return fmt.Sprintf("bad magic %q", b[:len(segMagic)])
	}
	if v := binary.LittleEndian.Uint32(b[len(segMagic):]); v != segVersion {
		return fmt.Sprintf("unsupported version %d", v)
	}
	return ""
}

func putFrameHeader(b *[frameHeaderLen]byte, rec []byte) {
	binary.LittleEndian.PutUint32(b[0:4], uint32(len(rec)))
	binary.LittleEndian.PutUint32(b[4:8], crc32.Checksum(rec, castagnoli))
}

// scanResult is what a framing walk of one segment found.
type scanResult struct {
	end    int64  // end of the well-framed records
	torn   bool   // [end, size) is a torn tail
	bad    string // why framing breaks at end, if it does and the tail is not torn
	frames int64  // well-framed records in [segHeaderLen, end)
	before int64  // of those, how many start before from
	fromOK bool   // from is a record boundary (or end)
}

// scanFrames walks the frame headers of a segment without reading payloads
// or checking CRCs (Next does that), so Open costs one small read a record.
// mayTear says the segment is the newest one, the only one a crash can
// leave half written; in older segments every framing fault is corruption.
func scanFrames(r io.ReaderAt, size, from int64, mayTear bool) (scanResult, error) {
	var sc scanResult
	// broken records why framing ends early: a torn tail if a crash can
	// explain it, corruption otherwise.
	broken := func(why string, crashShaped bool) {
		if mayTear && crashShaped {
			sc.torn = true
		} else {
			sc.bad = why
		}
	}
	var hdr [frameHeaderLen]byte
	off := int64(segHeaderLen)
	for off < size {
		if off == from {
			sc.fromOK = true
		}
		if size-off < frameHeaderLen {
			broken(fmt.Sprintf("%d bytes left, short of a record header", size-off), true)
			break
		}
		if _, err := r.ReadAt(hdr[:], off); err != nil {
			return sc, fmt.Errorf("read record header at offset %d: %w", off, err)
		}
		n := int64(binary.LittleEndian.Uint32(hdr[0:4]))
		if n == 0 || n > MaxRecordBytes {
			// A crash can leave the tail zero-filled; a zero length is
			// what that looks like, which is why Append refuses empty
			// records. Any other bad length is damage.
			zero, err := zeroFrom(r, off, size)
			if err != nil {
				return sc, err
			}
			broken(fmt.Sprintf("bad record length %d", n), zero)
			break
		}
		if off+frameHeaderLen+n > size {
			broken(fmt.Sprintf("record length %d runs past end of file (%d bytes)", n, size), true)
			break
		}
		sc.frames++
		if off < from {
			sc.before++
		}
		off += frameHeaderLen + n
	}
	sc.end = off
	if off == from {
		sc.fromOK = true
	}
	return sc, nil
}

// zeroFrom reports whether [off, size) of r holds only zero bytes.
func zeroFrom(r io.ReaderAt, off, size int64) (bool, error) {
	buf := make([]byte, 32<<10)
	for off < size {
		n := min(int64(len(buf)), size-off)
		if _, err := r.ReadAt(buf[:n], off); err != nil {
			return false, fmt.Errorf("read tail at offset %d: %w", off, err)
		}
		for _, b := range buf[:n] {
			if b != 0 {
				return false, nil
			}
		}
		off += n
	}
	return true, nil
}

// ackFile holds the acknowledged position in two 32-byte slots written in
// place, alternately, each with a generation number and a CRC. Writing one
// slot with pwrite costs a few microseconds where a write-and-rename costs
// hundreds on ext4; a write torn by a crash spoils only its own slot, and
// the other slot still holds the previous position: one record replayed.
type ackFile struct {
	f    *os.File
	path string
	gen  uint64 // of the newest valid slot; the next store writes gen+1
}

type ackPos struct {
	seq uint64
	off int64
}

func openAck(dir string) (*ackFile, error) {
	path := filepath.Join(dir, ackName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	return &ackFile{f: f, path: path}, nil
}

// load returns the position in the newest valid slot. ok is false when
// there is none; problem says why a non-empty file had none (the caller
// replays from the oldest segment).
func (a *ackFile) load() (pos ackPos, ok bool, problem error) {
	var b [2 * ackSlotLen]byte
	n, err := a.f.ReadAt(b[:], 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return ackPos{}, false, err
	}
	for i := 0; i+ackSlotLen <= n; i += ackSlotLen {
		gen, p, valid := decodeAckSlot(b[i : i+ackSlotLen])
		if valid && (!ok || gen > a.gen) {
			a.gen, pos, ok = gen, p, true
		}
	}
	if !ok && n > 0 {
		return ackPos{}, false, fmt.Errorf("no valid slot in %d bytes", n)
	}
	return pos, ok, nil
}

func decodeAckSlot(b []byte) (gen uint64, pos ackPos, valid bool) {
	if string(b[:4]) != ackMagic || crc32.Checksum(b[:28], castagnoli) != binary.LittleEndian.Uint32(b[28:]) {
		return 0, ackPos{}, false
	}
	gen = binary.LittleEndian.Uint64(b[4:])
	pos.seq = binary.LittleEndian.Uint64(b[12:])
	off := binary.LittleEndian.Uint64(b[20:])
	// Segments created after this one are numbered from seq+1: keep
	// that far below maxSeq, which a forged file could otherwise reach.
	if pos.seq >= maxSeq/2 || off >= 1<<62 {
		return 0, ackPos{}, false
	}
	pos.off = int64(off)
	return gen, pos, true
}

// store writes pos to the slot not holding the newest position.
func (a *ackFile) store(pos ackPos, sync bool) error {
	gen := a.gen + 1
	var b [ackSlotLen]byte
	copy(b[:], ackMagic)
	binary.LittleEndian.PutUint64(b[4:], gen)
	binary.LittleEndian.PutUint64(b[12:], pos.seq)
	binary.LittleEndian.PutUint64(b[20:], uint64(pos.off))
	binary.LittleEndian.PutUint32(b[28:], crc32.Checksum(b[:28], castagnoli))
	if _, err := a.f.WriteAt(b[:], int64(gen%2)*ackSlotLen); err != nil {
		return fmt.Errorf("write %s: %w", a.path, err)
	}
	a.gen = gen
	if sync {
		if err := a.f.Sync(); err != nil {
			return fmt.Errorf("sync %s: %w", a.path, err)
		}
	}
	return nil
}

func (a *ackFile) close() error { return a.f.Close() }

// syncDir makes created, renamed and removed names in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("sync dir %s: %w", dir, err)
	}
	return nil
}
