// Package spool is an on-disk, append-only, ordered queue of opaque records.
// The hit log parks encoded batches of hits in it while ClickHouse is down
// and drains it when ClickHouse is back. It knows nothing about hits,
// batches or ClickHouse: a record is a byte slice, delivered at least once,
// in append order, unless the size cap or corruption drops it (counted in
// Stats and logged).
//
// # On-disk format
//
// A spool is a directory used by one process at a time. It holds:
//
//   - Segment files named "%020d.seg", a sequence number that only grows, so
//     lexical order is creation order. A segment starts with a 12-byte
//     header, the magic "CGSPOOL1" then a little-endian uint32 format
//     version (1), followed by records framed as
//
//     [uint32 LE payload length][uint32 LE CRC-32C (Castagnoli) of payload][payload]
//
//     A length of 0 or above MaxRecordBytes is corrupt. Zero is what a
//     zero-filled tail left by a crash looks like, so Append refuses empty
//     records rather than write one. Only the newest segment is written to;
//     segments are never rewritten, only truncated (a torn tail, on Open) or
//     deleted whole.
//
//   - "ack": the acknowledged position, in two 32-byte slots written in
//     place, alternately: the magic "CGSA", a uint64 LE generation, the
//     uint64 LE segment sequence number, the uint64 LE offset in that
//     segment, a uint32 LE CRC-32C of the preceding 28 bytes. The valid slot
//     with the higher generation wins: every record before its offset, and
//     every older segment, is acknowledged. A crash mid-write spoils one
//     slot and the other still holds the previous position (one record
//     replayed). No valid slot, or an offset that is not a record boundary,
//     replays from the oldest segment: duplicates, never loss. An in-place
//     write rather than write-and-rename because Ack runs once a record and
//     a rename costs hundreds of microseconds on ext4.
//
// # Recovery
//
// Open walks the frame headers (not the CRCs) of every segment to count
// what is pending. In the newest segment, a record running past the end of
// the file, or a zero-filled tail, is a torn write: the file is truncated
// where that record starts, TruncatedTails is counted and the cut is logged.
// Anywhere else (older segments are fsynced when the next one is created)
// broken framing is corruption, left for Next to find and count. A segment
// with a bad header is counted corrupt and deleted. Open never appends to a
// segment it found; the first Append starts a new one.
//
// # Reading
//
// Next returns the oldest unacknowledged record, the same one until Ack
// moves past it, and checks its CRC. A corrupt record ends its segment —
// the framing after it cannot be trusted — so the rest of that segment is
// counted in CorruptRecords, logged with file name and offset, and deleted,
// and Next goes on with the next segment. A segment is deleted as soon as
// all of it is acknowledged, including the one being written (the next
// Append starts another).
//
// One mutex guards everything, disk I/O included: the spool is meant for
// one appending goroutine and one reading goroutine, and a record's write
// or read never waits on more than one other record's.
package spool

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sync"
)

// Defaults and limits.
const (
	DefaultMaxBytes     = 1 << 30
	DefaultSegmentBytes = 64 << 20
	// MaxRecordBytes is the largest record Append takes; a longer length
	// field on disk is corruption.
	MaxRecordBytes = 256 << 20
)

// Errors returned by Append and the others; compare with errors.Is.
var (
	// ErrFull: the record does not fit under MaxBytes (always with
	// DropNewest; with DropOldest only when it would not fit in an empty
	// spool). It is counted in DroppedRecords.
	ErrFull     = errors.New("spool: full")
	ErrEmpty    = errors.New("spool: empty record")
	ErrTooLarge = errors.New("spool: record larger than MaxRecordBytes")
	ErrClosed   = errors.New("spool: closed")
)

// DropPolicy says what Append does when a record does not fit.
type DropPolicy int

const (
	// DropOldest deletes whole oldest segments, read or not, until the new
	// record fits.
	DropOldest DropPolicy = iota
	// DropNewest refuses the new record with ErrFull.
	DropNewest
)

func (p DropPolicy) String() string {
	switch p {
	case DropOldest:
		return "drop-oldest"
	case DropNewest:
		return "drop-newest"
	}
	return fmt.Sprintf("DropPolicy(%d)", int(p))
}

// Options configure Open.
type Options struct {
	Dir          string // created if missing (0700)
	MaxBytes     int64  // cap on the bytes of all segment files; 0 means DefaultMaxBytes
	SegmentBytes int64  // start a new segment past this; 0 means DefaultSegmentBytes. A larger record still goes in, alone.
	Policy       DropPolicy
	Sync         bool // fsync after each Append and Ack; segments are fsynced on roll and Close regardless
	Logf         func(format string, args ...any)
}

// Stats are cumulative counts since Open.
type Stats struct {
	Appended int64
	Acked    int64
	// DroppedRecords counts records lost to the size cap: refused by
	// Append, or unacknowledged in a segment DropOldest deleted.
	DroppedRecords int64
	// DroppedBytes is their framed size (payload plus 8-byte header).
	DroppedBytes int64
	// CorruptRecords counts records lost to corruption: the bad one and
	// the rest of its segment (at least 1 an incident).
	CorruptRecords int64
	// CorruptSegments counts segments cut short or discarded for it.
	CorruptSegments int64
	// TruncatedTails counts torn writes cut off the newest segment on Open.
	TruncatedTails int64
}

// Pos identifies a record returned by Next, for Ack.
type Pos struct {
	seg      uint64
	off, end int64
}

func (p Pos) String() string { return fmt.Sprintf("%s@%d", segName(p.seg), p.off) }

type segment struct {
	seq     uint64
	path    string
	f       *os.File // opened on demand; the write handle for the active segment
	size    int64    // bytes in the file, counted against MaxBytes
	end     int64    // end of the well-framed records; the reader stops here
	bad     string   // if set, framing is broken at end: reaching it is corruption
	pending int64    // unacknowledged records (by framing, not yet CRC-checked)
}

// Spool is an open spool directory. See the package comment.
type Spool struct {
	opts Options
	logf func(format string, args ...any)

	mu      sync.Mutex
	closed  bool
	segs    []*segment // oldest first; segs[0] holds the oldest unacknowledged record
	active  *segment   // being appended to: the last of segs, or nil
	readOff int64      // offset in segs[0] of the oldest unacknowledged record
	nextSeq uint64
	ack     *ackFile
	total   int64 // sum of segs[i].size
	pending int64 // sum of segs[i].pending
	stats   Stats
}

// Open opens or creates the spool in opts.Dir, recovering what a previous
// run left there.
func Open(opts Options) (*Spool, error) {
	if opts.Dir == "" {
		return nil, errors.New("spool: Options.Dir is empty")
	}
	if opts.MaxBytes <= 0 {
		opts.MaxBytes = DefaultMaxBytes
	}
	if opts.SegmentBytes <= 0 {
		opts.SegmentBytes = DefaultSegmentBytes
	}
	if opts.Policy != DropOldest && opts.Policy != DropNewest {
		return nil, fmt.Errorf("spool: unknown %v", opts.Policy)
	}
	s := &Spool{opts: opts, logf: opts.Logf, nextSeq: 1}
	if s.logf == nil {
		s.logf = func(string, ...any) {}
	}
	if err := os.MkdirAll(opts.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("spool: create %s: %w", opts.Dir, err)
	}
	if err := s.recover(); err != nil {
		s.closeFiles()
		return nil, fmt.Errorf("spool: open %s: %w", opts.Dir, err)
	}
	return s, nil
}

func (s *Spool) recover() error {
	dir := s.opts.Dir
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	var seqs []uint64
	for _, e := range entries {
		if seq, ok := parseSegName(e.Name()); ok && e.Type().IsRegular() {
			seqs = append(seqs, seq)
		}
	}
	slices.Sort(seqs)
	if len(seqs) > 0 {
		s.nextSeq = seqs[len(seqs)-1] + 1
	}

	if s.ack, err = openAck(dir); err != nil {
		return err
	}
	ack, ackOK, problem := s.ack.load()
	if problem != nil {
		s.logf("spool: %s: ignoring ack file (%v): replaying from the oldest segment", s.ack.path, problem)
	}
	if ackOK {
		// New segments must sort after everything the ack file covers,
		// even segments already deleted.
		s.nextSeq = max(s.nextSeq, ack.seq+1)
	}
	ackSeq, ackOff := ack.seq, ack.off
	for i, seq := range seqs {
		path := filepath.Join(dir, segName(seq))
		if ackOK && seq < ackSeq {
			// Acknowledged, but the process stopped before deleting it.
			if err := os.Remove(path); err != nil {
				return err
			}
			continue
		}
		from := int64(segHeaderLen)
		if ackOK && seq == ackSeq {
			from = ackOff
		}
		seg, start, err := s.recoverSegment(seq, path, from, i == len(seqs)-1)
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		if seg == nil {
			continue
		}
		if len(s.segs) == 0 {
			s.readOff = start
		}
		s.segs = append(s.segs, seg)
		s.total += seg.size
		s.pending += seg.pending
	}
	if err := s.gc(); err != nil {
		return err
	}
	if len(s.segs) > 0 {
		s.logf("spool: %s: recovered %d segments, %d pending records, %d bytes", dir, len(s.segs), s.pending, s.total)
	}
	return nil
}

// recoverSegment checks one segment found by Open. It returns nil if the
// segment was deleted, and the offset reading should start from (from, if
// that is a record boundary).
func (s *Spool) recoverSegment(seq uint64, path string, from int64, newest bool) (*segment, int64, error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, 0, err
	}
	size := fi.Size()

	why := fmt.Sprintf("%d bytes, short of the segment header", size)
	if size >= segHeaderLen {
		hdr := make([]byte, segHeaderLen)
		if _, err := f.ReadAt(hdr, 0); err != nil {
			return nil, 0, fmt.Errorf("read header: %w", err)
		}
		why = checkSegHeader(hdr)
	}
	if why != "" {
		// The newest segment may have been created just before a crash:
		// short, or zero-filled if its size got out before its data.
		torn := newest && size < segHeaderLen
		if newest && !torn {
			if torn, err = zeroFrom(f, 0, size); err != nil {
				return nil, 0, err
			}
		}
		if torn {
			s.stats.TruncatedTails++
			s.logf("spool: %s: torn segment (%s): deleting it", path, why)
		} else {
			s.stats.CorruptSegments++
			s.logf("spool: %s: offset 0: %s: deleting corrupt segment", path, why)
		}
		return nil, 0, os.Remove(path)
	}

	sc, err := scanFrames(f, size, from, newest)
	if err != nil {
		return nil, 0, err
	}
	if sc.torn {
		s.stats.TruncatedTails++
		s.logf("spool: %s: torn record at offset %d (%d bytes to end of file): truncating", path, sc.end, size-sc.end)
		if err := f.Truncate(sc.end); err != nil {
			return nil, 0, err
		}
		if err := f.Sync(); err != nil {
			return nil, 0, err
		}
		size = sc.end
	}
	start, pending := int64(segHeaderLen), sc.frames
	if from != segHeaderLen {
		if sc.fromOK {
			start, pending = from, sc.frames-sc.before
		} else {
			s.logf("spool: %s: acknowledged offset %d is not a record boundary: replaying the segment", path, from)
		}
	}
	return &segment{seq: seq, path: path, size: size, end: sc.end, bad: sc.bad, pending: pending}, start, nil
}

// Append adds rec at the end of the spool. rec is not retained.
func (s *Spool) Append(rec []byte) error {
	n := int64(len(rec))
	if n == 0 {
		return ErrEmpty
	}
	if n > MaxRecordBytes {
		return fmt.Errorf("append %d bytes: %w", n, ErrTooLarge)
	}
	frame := frameHeaderLen + n

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	if segHeaderLen+frame > s.opts.MaxBytes {
		// Would not fit in an empty spool: refuse before dropping anything.
		return s.refuse(frame)
	}
	for {
		need := frame
		if s.needRoll(frame) {
			need += segHeaderLen
		}
		if s.total+need <= s.opts.MaxBytes {
			break
		}
		if s.opts.Policy == DropNewest || len(s.segs) == 0 {
			return s.refuse(frame)
		}
		if err := s.dropOldest(); err != nil {
			return err
		}
	}
	if s.needRoll(frame) {
		if err := s.roll(); err != nil {
			return err
		}
	}
	return s.write(rec)
}

func (s *Spool) refuse(frame int64) error {
	s.stats.DroppedRecords++
	s.stats.DroppedBytes += frame
	return fmt.Errorf("append %d bytes (spool holds %d of %d): %w", frame-frameHeaderLen, s.total, s.opts.MaxBytes, ErrFull)
}

// needRoll reports whether a frame of this size goes in a new segment.
func (s *Spool) needRoll(frame int64) bool {
	a := s.active
	return a == nil || (a.end > segHeaderLen && a.size+frame > s.opts.SegmentBytes)
}

// dropOldest deletes the oldest segment to make room, counting what in it
// was still unacknowledged.
func (s *Spool) dropOldest() error {
	seg := s.segs[0]
	lost := max(seg.end-s.readOff, 0)
	s.stats.DroppedRecords += seg.pending
	s.stats.DroppedBytes += lost
	s.logf("spool: full (%d of %d bytes): dropping oldest segment %s with %d unacknowledged records (%d bytes)",
		s.total, s.opts.MaxBytes, seg.path, seg.pending, lost)
	return s.removeHead()
}

// roll seals the active segment, if any, and starts a new one.
func (s *Spool) roll() error {
	if s.active != nil {
		if err := s.seal(); err != nil {
			return err
		}
	}
	seq := s.nextSeq
	if seq >= maxSeq {
		return fmt.Errorf("spool: segment sequence numbers exhausted (%d)", seq)
	}
	s.nextSeq++ // even on failure, so a retry does not trip over a leftover file
	path := filepath.Join(s.opts.Dir, segName(seq))
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("spool: create segment: %w", err)
	}
	if _, err := f.Write(segHeader()); err != nil {
		f.Close()
		os.Remove(path)
		return fmt.Errorf("spool: write header of %s: %w", path, err)
	}
	// The header itself is fsynced with the first records (next roll,
	// Close, or Append with Sync); a crash before that leaves a short file
	// that Open deletes. The name must be durable now.
	if err := syncDir(s.opts.Dir); err != nil {
		f.Close()
		os.Remove(path)
		return fmt.Errorf("spool: %w", err)
	}
	seg := &segment{seq: seq, path: path, f: f, size: segHeaderLen, end: segHeaderLen}
	if len(s.segs) == 0 {
		s.readOff = segHeaderLen
	}
	s.segs = append(s.segs, seg)
	s.active = seg
	s.total += seg.size
	return nil
}

// seal fsyncs and closes the active segment; it stays readable. The
// segment is sealed even if that fails, so later records go to a new one.
func (s *Spool) seal() error {
	a := s.active
	s.active = nil
	err := a.f.Sync()
	if cerr := a.f.Close(); err == nil {
		err = cerr
	}
	a.f = nil
	if err != nil {
		return fmt.Errorf("spool: seal %s: %w", a.path, err)
	}
	return nil
}

// write appends one frame to the active segment.
func (s *Spool) write(rec []byte) error {
	a := s.active
	off := a.end
	var hdr [frameHeaderLen]byte
	putFrameHeader(&hdr, rec)
	n1, err := a.f.WriteAt(hdr[:], off)
	n2 := 0
	if err == nil {
		n2, err = a.f.WriteAt(rec, off+frameHeaderLen)
	}
	if err != nil {
		// Cut the partial frame so the segment stays well framed; if even
		// that fails, seal the segment: the reader stops at end and Open
		// will truncate the rest.
		if terr := a.f.Truncate(off); terr != nil {
			s.logf("spool: %s: cannot cut partial record at offset %d (%v): sealing the segment", a.path, off, terr)
			a.size = off + int64(n1+n2)
			s.total += a.size - off
			s.seal() // already failing; the append error says enough
		}
		return fmt.Errorf("spool: append to %s at offset %d: %w", a.path, off, err)
	}
	frame := frameHeaderLen + int64(len(rec))
	a.end += frame
	a.size = a.end
	a.pending++
	s.total += frame
	s.pending++
	s.stats.Appended++
	if s.opts.Sync {
		// The record is queued either way; the error says it may not
		// survive a crash.
		if err := a.f.Sync(); err != nil {
			return fmt.Errorf("spool: sync %s: %w", a.path, err)
		}
	}
	return nil
}

// Next returns the oldest unacknowledged record, or io.EOF if there is
// none. It returns the same record until it is acknowledged. The slice is
// the caller's.
func (s *Spool) Next() ([]byte, Pos, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, Pos{}, ErrClosed
	}
	for len(s.segs) > 0 {
		seg := s.segs[0]
		if s.readOff >= seg.end {
			switch {
			case seg.bad != "":
				if err := s.abandon(seg.bad); err != nil {
					return nil, Pos{}, err
				}
			case seg == s.active:
				return nil, Pos{}, io.EOF // caught up with the writer
			default:
				if err := s.removeHead(); err != nil {
					return nil, Pos{}, err
				}
			}
			continue
		}
		rec, end, why, err := s.read(seg, s.readOff)
		if err != nil {
			return nil, Pos{}, err
		}
		if why != "" {
			if err := s.abandon(why); err != nil {
				return nil, Pos{}, err
			}
			continue
		}
		return rec, Pos{seg: seg.seq, off: s.readOff, end: end}, nil
	}
	return nil, Pos{}, io.EOF
}

// read reads the record at off. why is set if the record is corrupt; err
// only for I/O failures.
func (s *Spool) read(seg *segment, off int64) (rec []byte, end int64, why string, err error) {
	if seg.f == nil {
		if seg.f, err = os.Open(seg.path); err != nil {
			return nil, 0, "", fmt.Errorf("spool: %w", err)
		}
	}
	// short turns a file shorter than recorded into corruption.
	short := func(err error) (string, error) {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return "file shorter than expected", nil
		}
		return "", fmt.Errorf("spool: read %s at offset %d: %w", seg.path, off, err)
	}
	if seg.end-off < frameHeaderLen {
		return nil, 0, "record header past end of data", nil
	}
	var hdr [frameHeaderLen]byte
	if _, err := seg.f.ReadAt(hdr[:], off); err != nil {
		why, err := short(err)
		return nil, 0, why, err
	}
	n := int64(binary.LittleEndian.Uint32(hdr[0:4]))
	if n == 0 || n > MaxRecordBytes {
		return nil, 0, fmt.Sprintf("bad record length %d", n), nil
	}
	end = off + frameHeaderLen + n
	if end > seg.end {
		return nil, 0, fmt.Sprintf("record length %d runs past end of data at %d", n, seg.end), nil
	}
	rec = make([]byte, n)
	if _, err := seg.f.ReadAt(rec, off+frameHeaderLen); err != nil {
		why, err := short(err)
		return nil, 0, why, err
	}
	var want [frameHeaderLen]byte
	putFrameHeader(&want, rec)
	if want != hdr {
		return nil, 0, "CRC mismatch", nil
	}
	return rec, end, "", nil
}

// abandon gives up on the rest of segs[0] after corruption at readOff.
func (s *Spool) abandon(why string) error {
	seg := s.segs[0]
	lost := max(seg.pending, 1)
	s.stats.CorruptRecords += lost
	s.stats.CorruptSegments++
	s.logf("spool: %s: offset %d: corrupt record (%s): skipping the rest of the segment, %d records",
		seg.path, s.readOff, why, lost)
	return s.removeHead()
}

// Ack acknowledges the record at pos, which must come from the latest
// Next. Acknowledging a record already acknowledged, or dropped since, is
// a no-op. On a persistence error the record still counts as acknowledged
// in this process; only a restart may replay it.
func (s *Spool) Ack(pos Pos) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	if pos.seg == 0 {
		return errors.New("spool: ack of a zero Pos")
	}
	if len(s.segs) == 0 {
		return nil
	}
	head := s.segs[0]
	if pos.seg < head.seq || (pos.seg == head.seq && pos.off < s.readOff) {
		return nil
	}
	if pos.seg != head.seq || pos.off != s.readOff {
		return fmt.Errorf("spool: ack %v: not the oldest unacknowledged record (%s@%d)", pos, segName(head.seq), s.readOff)
	}
	s.readOff = pos.end
	head.pending--
	s.pending--
	s.stats.Acked++
	var err error
	if werr := s.ack.store(ackPos{seq: pos.seg, off: pos.end}, s.opts.Sync); werr != nil {
		err = fmt.Errorf("spool: persist ack %v: %w", pos, werr)
	}
	return errors.Join(err, s.gc())
}

// gc deletes leading segments that are fully acknowledged.
func (s *Spool) gc() error {
	for len(s.segs) > 0 {
		seg := s.segs[0]
		if seg.bad != "" || s.readOff < seg.end {
			return nil
		}
		if err := s.removeHead(); err != nil {
			return err
		}
	}
	return nil
}

// removeHead forgets and deletes segs[0]. It is forgotten even if the
// delete fails; a later Open would then replay it.
func (s *Spool) removeHead() error {
	seg := s.segs[0]
	s.segs[0] = nil
	s.segs = s.segs[1:]
	s.total -= seg.size
	s.pending -= seg.pending
	s.readOff = segHeaderLen
	if seg == s.active {
		s.active = nil
	}
	if seg.f != nil {
		seg.f.Close() // being deleted: nothing in it matters any more
		seg.f = nil
	}
	if err := os.Remove(seg.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("spool: %w", err)
	}
	return nil
}

// Len returns the number of unacknowledged records and the bytes of all
// segment files.
func (s *Spool) Len() (records, bytes int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pending, s.total
}

// Stats returns counts since Open.
func (s *Spool) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

// Close fsyncs the active segment and closes the spool. Records appended
// and not acknowledged come back on the next Open.
func (s *Spool) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	var err error
	if s.active != nil {
		err = s.seal()
	}
	return errors.Join(err, s.closeFiles())
}

func (s *Spool) closeFiles() error {
	for _, seg := range s.segs {
		if seg.f != nil {
			seg.f.Close() // read handles; the written one was sealed
			seg.f = nil
		}
	}
	if s.ack != nil {
		return s.ack.close()
	}
	return nil
}
