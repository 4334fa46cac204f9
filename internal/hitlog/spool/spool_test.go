package spool

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

// Sizes used throughout: 100-byte records make 108-byte frames, and a
// 552-byte segment holds exactly five of them after its 12-byte header.
const (
	recSize   = 100
	frameSize = frameHeaderLen + recSize
	seg5      = segHeaderLen + 5*frameSize
)

// rec builds record id of the given size: the id, then bytes derived from
// it, so a record read back is checked whole, not just its id.
func rec(id, size int) []byte {
	b := make([]byte, size)
	binary.LittleEndian.PutUint32(b, uint32(id))
	for i := 4; i < size; i++ {
		b[i] = byte(id*7 + i)
	}
	return b
}

// recID returns the id of a record built by rec, failing if any byte is off.
func recID(t testing.TB, b []byte) int {
	t.Helper()
	if len(b) < 4 {
		t.Fatalf("record of %d bytes", len(b))
	}
	id := int(binary.LittleEndian.Uint32(b))
	if want := rec(id, len(b)); string(want) != string(b) {
		t.Fatalf("record %d: content differs from what was appended", id)
	}
	return id
}

func openSpool(t testing.TB, opts Options) *Spool {
	t.Helper()
	if opts.Logf == nil {
		opts.Logf = t.Logf
	}
	s, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func appendRange(t testing.TB, s *Spool, from, to, size int) {
	t.Helper()
	for i := from; i < to; i++ {
		if err := s.Append(rec(i, size)); err != nil {
			t.Fatalf("append %d: %v", i, err)
		}
	}
}

// drain reads and acknowledges everything, returning the ids in order.
func drain(t testing.TB, s *Spool) []int {
	t.Helper()
	var ids []int
	for {
		b, pos, err := s.Next()
		if err == io.EOF {
			return ids
		}
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, recID(t, b))
		if err := s.Ack(pos); err != nil {
			t.Fatal(err)
		}
		if len(ids) > 1e6 {
			t.Fatal("drain does not end")
		}
	}
}

func span(from, to int) []int {
	var ids []int
	for i := from; i < to; i++ {
		ids = append(ids, i)
	}
	return ids
}

func segFiles(t testing.TB, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "*"+segSuffix))
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(m)
	return m
}

// diskBytes sums the sizes of the segment files actually on disk.
func diskBytes(t testing.TB, dir string) int64 {
	t.Helper()
	var n int64
	for _, p := range segFiles(t, dir) {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		n += fi.Size()
	}
	return n
}

func checkIDs(t testing.TB, got, want []int) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Fatalf("records read back:\n got %v\nwant %v", got, want)
	}
}

func checkLen(t testing.TB, s *Spool, dir string, records int64) {
	t.Helper()
	n, b := s.Len()
	if n != records {
		t.Errorf("Len records = %d, want %d", n, records)
	}
	if d := diskBytes(t, dir); b != d {
		t.Errorf("Len bytes = %d, segment files hold %d", b, d)
	}
}

func TestAppendReadAckAcrossSegments(t *testing.T) {
	dir := t.TempDir()
	s := openSpool(t, Options{Dir: dir, SegmentBytes: seg5})
	appendRange(t, s, 0, 23, recSize)
	if got := len(segFiles(t, dir)); got != 5 {
		t.Fatalf("23 records in 5-record segments made %d files, want 5", got)
	}
	checkLen(t, s, dir, 23)

	// Next does not consume: the same record until it is acknowledged.
	b1, p1, err := s.Next()
	if err != nil {
		t.Fatal(err)
	}
	b2, p2, _ := s.Next()
	if recID(t, b1) != 0 || recID(t, b2) != 0 || p1 != p2 {
		t.Fatalf("two Nexts without Ack gave %v and %v", p1, p2)
	}
	b1[10] ^= 0xff // the caller owns the slice
	if b3, _, _ := s.Next(); recID(t, b3) != 0 {
		t.Fatal("modifying a returned record changed the spool")
	}

	var ids []int
	for i := 0; ; i++ {
		b, pos, err := s.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, recID(t, b))
		if err := s.Ack(pos); err != nil {
			t.Fatal(err)
		}
		// After the fifth ack of a segment its file is gone.
		wantFiles := 5 - (i+1)/5
		if i+1 == 23 {
			wantFiles = 0 // the active segment too, once all of it is acknowledged
		}
		if len(segFiles(t, dir)) != wantFiles {
			t.Fatalf("after %d acks: %d segment files, want %d", i+1, len(segFiles(t, dir)), wantFiles)
		}
		checkLen(t, s, dir, int64(23-i-1))
	}
	checkIDs(t, ids, span(0, 23))
	if n, b := s.Len(); n != 0 || b != 0 {
		t.Fatalf("Len after draining = %d records, %d bytes; want 0, 0", n, b)
	}
	if f := segFiles(t, dir); len(f) != 0 {
		t.Fatalf("segment files left after draining: %v", f)
	}
	if st := s.Stats(); st.Appended != 23 || st.Acked != 23 {
		t.Fatalf("stats %+v, want 23 appended and acked", st)
	}

	// Stale and forged positions.
	if err := s.Ack(p1); err != nil {
		t.Fatalf("ack of an acknowledged record: %v", err)
	}
	if err := s.Ack(Pos{}); err == nil {
		t.Fatal("ack of a zero Pos succeeded")
	}
	appendRange(t, s, 23, 25, recSize)
	if _, pos, _ := s.Next(); s.Ack(Pos{seg: pos.seg, off: pos.off + 1, end: pos.end}) == nil {
		t.Fatal("ack of a position Next did not return succeeded")
	}
	checkIDs(t, drain(t, s), span(23, 25))
}

func TestOversizedRecordGetsItsOwnSegment(t *testing.T) {
	dir := t.TempDir()
	s := openSpool(t, Options{Dir: dir, SegmentBytes: seg5})
	appendRange(t, s, 0, 2, recSize)
	appendRange(t, s, 2, 3, 3*seg5)
	appendRange(t, s, 3, 5, recSize)
	if got := len(segFiles(t, dir)); got != 3 {
		t.Fatalf("%d segment files, want 3 (small, big alone, small)", got)
	}
	checkIDs(t, drain(t, s), span(0, 5))
}

func TestAppendErrors(t *testing.T) {
	s := openSpool(t, Options{Dir: t.TempDir()})
	if err := s.Append(nil); !errors.Is(err, ErrEmpty) {
		t.Errorf("empty record: %v, want ErrEmpty", err)
	}
	if err := s.Append(make([]byte, MaxRecordBytes+1)); !errors.Is(err, ErrTooLarge) {
		t.Errorf("oversized record: %v, want ErrTooLarge", err)
	}
	s.Close()
	if err := s.Append(rec(0, recSize)); !errors.Is(err, ErrClosed) {
		t.Errorf("after Close: %v, want ErrClosed", err)
	}
	if _, _, err := s.Next(); !errors.Is(err, ErrClosed) {
		t.Errorf("Next after Close: %v, want ErrClosed", err)
	}
}

// ackThrough reads and acknowledges n records, checking they are ids from..from+n-1.
func ackThrough(t testing.TB, s *Spool, from, n int) {
	t.Helper()
	for i := from; i < from+n; i++ {
		b, pos, err := s.Next()
		if err != nil {
			t.Fatal(err)
		}
		if id := recID(t, b); id != i {
			t.Fatalf("read %d, want %d", id, i)
		}
		if err := s.Ack(pos); err != nil {
			t.Fatal(err)
		}
	}
}

func TestRestart(t *testing.T) {
	for _, tc := range []struct {
		name  string
		close bool // false: abandon the Spool as a crash would
	}{{"close", true}, {"crash", false}} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			opts := Options{Dir: dir, SegmentBytes: seg5}
			s := openSpool(t, opts)
			appendRange(t, s, 0, 30, recSize)
			ackThrough(t, s, 0, 13) // into the third segment
			if tc.close {
				if err := s.Close(); err != nil {
					t.Fatal(err)
				}
			}

			s = openSpool(t, opts)
			checkLen(t, s, dir, 17)
			ackThrough(t, s, 13, 4)
			appendRange(t, s, 30, 33, recSize) // after the recovered ones
			if tc.close {
				s.Close()
			}

			s = openSpool(t, opts)
			checkLen(t, s, dir, 16)
			checkIDs(t, drain(t, s), span(17, 33))
			if st := s.Stats(); st.TruncatedTails+st.CorruptRecords+st.CorruptSegments != 0 {
				t.Fatalf("clean restart counted damage: %+v", st)
			}
		})
	}
}

// After a full drain the directory holds only the ack file, naming a
// segment that no longer exists. Segments created next must sort after it,
// or the next Open would take them for acknowledged and delete them.
func TestRestartAfterDrain(t *testing.T) {
	dir := t.TempDir()
	opts := Options{Dir: dir, SegmentBytes: seg5}
	s := openSpool(t, opts)
	appendRange(t, s, 0, 12, recSize)
	checkIDs(t, drain(t, s), span(0, 12))
	s.Close()

	s = openSpool(t, opts)
	appendRange(t, s, 12, 15, recSize)
	s.Close()

	s = openSpool(t, opts)
	checkIDs(t, drain(t, s), span(12, 15))
}

// A damaged ack file must cost duplicates, never records.
func TestDamagedAckFile(t *testing.T) {
	for _, tc := range []struct {
		name   string
		damage func(b []byte, newest int) // newest: offset of the newest slot
		want   []int
	}{
		{"intact", func([]byte, int) {}, span(7, 12)},
		{"newest slot torn", func(b []byte, newest int) { b[newest+22] ^= 1 }, span(6, 12)},
		{"both slots", func(b []byte, newest int) { b[3] ^= 1; b[ackSlotLen+3] ^= 1 }, span(5, 12)},
		{"truncated", func(b []byte, newest int) { clear(b) }, span(5, 12)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			opts := Options{Dir: dir, SegmentBytes: seg5}
			s := openSpool(t, opts)
			appendRange(t, s, 0, 12, recSize)
			ackThrough(t, s, 0, 7) // the first segment is gone, the second half read
			s.Close()

			path := filepath.Join(dir, ackName)
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if len(b) != 2*ackSlotLen {
				t.Fatalf("ack file of %d bytes", len(b))
			}
			g0, _, _ := decodeAckSlot(b[:ackSlotLen])
			g1, _, _ := decodeAckSlot(b[ackSlotLen:])
			newest := 0
			if g1 > g0 {
				newest = ackSlotLen
			}
			tc.damage(b, newest)
			if err := os.WriteFile(path, b, 0o600); err != nil {
				t.Fatal(err)
			}
			s = openSpool(t, opts)
			checkIDs(t, drain(t, s), tc.want)
		})
	}
}

func TestTornTail(t *testing.T) {
	last := int64(segHeaderLen + 9*frameSize) // start of the tenth record
	for _, tc := range []struct {
		name string
		tear func(t *testing.T, path string)
		want []int
	}{
		{"mid payload", func(t *testing.T, p string) { truncate(t, p, last+frameHeaderLen+50) }, span(0, 9)},
		{"mid header", func(t *testing.T, p string) { truncate(t, p, last+3) }, span(0, 9)},
		{"zero filled", func(t *testing.T, p string) { writeAt(t, p, last, make([]byte, frameSize)) }, span(0, 9)},
		{"empty newer segment", func(t *testing.T, p string) {
			writeAt(t, filepath.Join(filepath.Dir(p), segName(2)), 0, nil)
		}, span(0, 10)},
		{"zero-filled newer segment", func(t *testing.T, p string) {
			writeAt(t, filepath.Join(filepath.Dir(p), segName(2)), 0, make([]byte, 4096))
		}, span(0, 10)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			opts := Options{Dir: dir}
			s := openSpool(t, opts)
			appendRange(t, s, 0, 10, recSize)
			s.Close()
			path := segFiles(t, dir)[0]
			tc.tear(t, path)

			var logs strings.Builder
			opts.Logf = func(f string, a ...any) { fmt.Fprintf(&logs, f+"\n", a...) }
			s = openSpool(t, opts)
			if st := s.Stats(); st.TruncatedTails != 1 || st.CorruptRecords != 0 || st.CorruptSegments != 0 {
				t.Fatalf("stats %+v, want one truncated tail and no corruption", st)
			}
			if !strings.Contains(logs.String(), "torn") {
				t.Errorf("log does not mention the torn tail:\n%s", logs.String())
			}
			if fi, err := os.Stat(path); err != nil || fi.Size() != segHeaderLen+int64(len(tc.want))*frameSize {
				t.Fatalf("segment after recovery: %v, %v; want %d bytes", fi.Size(), err, segHeaderLen+int64(len(tc.want))*frameSize)
			}
			appendRange(t, s, 100, 101, recSize)
			checkIDs(t, drain(t, s), append(tc.want, 100))
		})
	}
}

func truncate(t *testing.T, path string, size int64) {
	t.Helper()
	if err := os.Truncate(path, size); err != nil {
		t.Fatal(err)
	}
}

func writeAt(t *testing.T, path string, off int64, b []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

func TestCorruptSegment(t *testing.T) {
	rec2 := int64(segHeaderLen + 2*frameSize) // third record of a segment
	for _, tc := range []struct {
		name     string
		damage   func(t *testing.T, path string)
		want     []int
		corrupt  int64 // CorruptRecords
		segments int64 // CorruptSegments
	}{
		{"payload byte", func(t *testing.T, p string) { flip(t, p, rec2+frameHeaderLen+40) },
			concat(span(0, 5), span(5, 7), span(10, 15)), 3, 1},
		{"crc byte", func(t *testing.T, p string) { flip(t, p, rec2+5) },
			concat(span(0, 5), span(5, 7), span(10, 15)), 3, 1},
		{"length past end", func(t *testing.T, p string) { writeAt(t, p, rec2, []byte{0, 0, 1, 0}) },
			concat(span(0, 5), span(5, 7), span(10, 15)), 1, 1},
		{"huge length", func(t *testing.T, p string) { writeAt(t, p, rec2, []byte{0xff, 0xff, 0xff, 0xff}) },
			concat(span(0, 5), span(5, 7), span(10, 15)), 1, 1},
		{"short length", func(t *testing.T, p string) { writeAt(t, p, rec2, []byte{10, 0, 0, 0}) },
			concat(span(0, 5), span(5, 7), span(10, 15)), 1, 1},
		{"segment header", func(t *testing.T, p string) { flip(t, p, 3) },
			concat(span(0, 5), span(10, 15)), 0, 1},
		{"truncated middle segment", func(t *testing.T, p string) { truncate(t, p, rec2+20) },
			concat(span(0, 5), span(5, 7), span(10, 15)), 1, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			opts := Options{Dir: dir, SegmentBytes: seg5}
			s := openSpool(t, opts)
			appendRange(t, s, 0, 15, recSize)
			s.Close()
			segs := segFiles(t, dir)
			if len(segs) != 3 {
				t.Fatalf("%d segments, want 3", len(segs))
			}
			tc.damage(t, segs[1])

			var logs strings.Builder
			opts.Logf = func(f string, a ...any) { fmt.Fprintf(&logs, f+"\n", a...) }
			s = openSpool(t, opts)
			checkIDs(t, drain(t, s), tc.want)
			st := s.Stats()
			if st.CorruptRecords != tc.corrupt || st.CorruptSegments != tc.segments || st.TruncatedTails != 0 {
				t.Errorf("stats %+v, want %d corrupt records in %d segments, no truncated tail", st, tc.corrupt, tc.segments)
			}
			if !strings.Contains(logs.String(), filepath.Base(segs[1])) {
				t.Errorf("log does not name %s:\n%s", segs[1], logs.String())
			}
			if n, b := s.Len(); n != 0 || b != 0 {
				t.Errorf("Len after draining = %d, %d", n, b)
			}
			if f := segFiles(t, dir); len(f) != 0 {
				t.Errorf("segment files left after draining: %v", f)
			}
		})
	}
}

// Corruption in the segment being written: the writer must move on to a
// new segment, or everything it appends later would be skipped too.
func TestCorruptActiveSegment(t *testing.T) {
	dir := t.TempDir()
	s := openSpool(t, Options{Dir: dir})
	appendRange(t, s, 0, 5, recSize)
	flip(t, segFiles(t, dir)[0], segHeaderLen+3*frameSize+frameHeaderLen+1)
	appendRange(t, s, 5, 7, recSize)
	checkIDs(t, drain(t, s), span(0, 3))
	appendRange(t, s, 7, 9, recSize)
	checkIDs(t, drain(t, s), span(7, 9))
	if st := s.Stats(); st.CorruptRecords != 4 || st.CorruptSegments != 1 {
		t.Fatalf("stats %+v, want 4 corrupt records (3, 4, 5, 6) in 1 segment", st)
	}
}

func flip(t *testing.T, path string, off int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, off); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0x5a
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

func concat(a ...[]int) []int { return slices.Concat(a...) }

func TestFullDropNewest(t *testing.T) {
	dir := t.TempDir()
	const max = 2000
	s := openSpool(t, Options{Dir: dir, MaxBytes: max, SegmentBytes: seg5, Policy: DropNewest})
	accepted := 0
	for ; ; accepted++ {
		err := s.Append(rec(accepted, recSize))
		if errors.Is(err, ErrFull) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if d := diskBytes(t, dir); d > max {
			t.Fatalf("%d bytes on disk, cap %d", d, max)
		}
	}
	if accepted < 10 {
		t.Fatalf("only %d records fit in %d bytes", accepted, max)
	}
	for i := 0; i < 4; i++ {
		if err := s.Append(rec(1000+i, recSize)); !errors.Is(err, ErrFull) {
			t.Fatalf("append to a full spool: %v, want ErrFull", err)
		}
	}
	if st := s.Stats(); st.DroppedRecords != 5 || st.DroppedBytes != 5*frameSize {
		t.Fatalf("stats %+v, want 5 dropped records of %d bytes", st, frameSize)
	}
	checkLen(t, s, dir, int64(accepted))
	checkIDs(t, drain(t, s), span(0, accepted))
	appendRange(t, s, 2000, 2001, recSize) // room again
	checkIDs(t, drain(t, s), []int{2000})
}

func TestFullDropOldest(t *testing.T) {
	dir := t.TempDir()
	const max, total = 2000, 200
	s := openSpool(t, Options{Dir: dir, MaxBytes: max, SegmentBytes: seg5})
	appendRange(t, s, 0, 3, recSize)
	ackThrough(t, s, 0, 2)
	_, held, err := s.Next() // record 2, read but not acknowledged when its segment goes
	if err != nil {
		t.Fatal(err)
	}
	for i := 3; i < total; i++ {
		if err := s.Append(rec(i, recSize)); err != nil {
			t.Fatalf("append %d: %v", i, err)
		}
		if d := diskBytes(t, dir); d > max {
			t.Fatalf("after append %d: %d bytes on disk, cap %d", i, d, max)
		}
	}
	if err := s.Ack(held); err != nil {
		t.Fatalf("ack of a record in a dropped segment: %v", err)
	}
	if err := s.Append(rec(9999, max)); !errors.Is(err, ErrFull) {
		t.Fatalf("record larger than the cap: %v, want ErrFull", err)
	}
	n, _ := s.Len()
	got := drain(t, s)
	if int64(len(got)) != n || len(got) < 10 {
		t.Fatalf("read %d records, Len said %d", len(got), n)
	}
	checkIDs(t, got, span(total-len(got), total)) // the newest, all of them, in order
	st := s.Stats()
	lost := int64(total - 2 - len(got)) // 0 and 1 were acknowledged
	if st.DroppedRecords != lost+1 || st.DroppedBytes != lost*frameSize+max+frameHeaderLen {
		t.Fatalf("stats %+v, want %d dropped records (%d bytes) plus the refused one", st, lost, lost*frameSize)
	}
}

// One writer and one reader at once: every record exactly once, in order.
// Run with -race.
func TestConcurrentWriterReader(t *testing.T) {
	const n = 20000
	dir := t.TempDir()
	s := openSpool(t, Options{Dir: dir, SegmentBytes: 64 << 10})
	size := func(i int) int { return 16 + i%300 }

	errc := make(chan error, 1)
	go func() {
		for i := 0; i < n; i++ {
			if err := s.Append(rec(i, size(i))); err != nil {
				errc <- fmt.Errorf("append %d: %w", i, err)
				return
			}
		}
		errc <- nil
	}()

	deadline := time.Now().Add(time.Minute)
	for next := 0; next < n; {
		b, pos, err := s.Next()
		if err == io.EOF {
			if time.Now().After(deadline) {
				t.Fatalf("stuck after %d records", next)
			}
			runtime.Gosched()
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if id := recID(t, b); id != next || len(b) != size(next) {
			t.Fatalf("read record %d (%d bytes), want %d", id, len(b), next)
		}
		if err := s.Ack(pos); err != nil {
			t.Fatal(err)
		}
		next++
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Next(); err != io.EOF {
		t.Fatalf("after all records: %v, want EOF", err)
	}
	if r, b := s.Len(); r != 0 || b != 0 {
		t.Fatalf("Len = %d, %d; want 0, 0", r, b)
	}
}

// FuzzOpen recovers arbitrary bytes as two segment files (the older one,
// where every fault is corruption, and the newest, where a tail may be
// torn) plus an ack file, then drains. It must not panic, error, loop,
// or allocate far beyond the input size; draining must leave nothing to
// replay, and a record appended afterwards must survive a reopen.
func FuzzOpen(f *testing.F) {
	f.Add([]byte{}, []byte{})
	f.Add(segHeader(), []byte{})
	f.Fuzz(func(t *testing.T, seg, ack []byte) {
		dir := t.TempDir()
		for _, seq := range []uint64{1, 2} {
			if err := os.WriteFile(filepath.Join(dir, segName(seq)), seg, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		if len(ack) > 0 {
			if err := os.WriteFile(filepath.Join(dir, ackName), ack, 0o600); err != nil {
				t.Fatal(err)
			}
		}

		// Allocation must follow the data, never a length field: Open
		// needs a fixed amount, each record read at most its file's size,
		// each Ack a little for its file write.
		var m0, m1, m2 runtime.MemStats
		runtime.ReadMemStats(&m0)
		s, err := Open(Options{Dir: dir})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		runtime.ReadMemStats(&m1)
		if got := m1.TotalAlloc - m0.TotalAlloc; got > 1<<20 {
			t.Fatalf("Open allocated %d bytes for %d-byte segments", got, len(seg))
		}
		acks := 0
		for {
			// Each record takes at least 9 bytes of a file.
			if acks > 2*len(seg)/(frameHeaderLen+1) {
				t.Fatal("drain does not end")
			}
			b, pos, err := s.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(b) == 0 {
				t.Fatal("empty record")
			}
			if err := s.Ack(pos); err != nil {
				t.Fatal(err)
			}
			acks++
		}
		runtime.ReadMemStats(&m2)
		if got, limit := m2.TotalAlloc-m1.TotalAlloc, uint64(2*len(seg)+acks<<12+1<<20); got > limit {
			t.Fatalf("draining %d records from %d-byte segments allocated %d bytes", acks, len(seg), got)
		}
		if n, _ := s.Len(); n != 0 {
			t.Fatalf("Len = %d after draining", n)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}

		s, err = Open(Options{Dir: dir})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if st := s.Stats(); st != (Stats{}) {
			t.Fatalf("second Open found damage again: %+v", st)
		}
		if _, _, err := s.Next(); err != io.EOF {
			t.Fatalf("after draining and reopening: %v, want EOF", err)
		}
		if err := s.Append([]byte("x")); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}

		// What is appended after recovery survives the next one.
		s, err = Open(Options{Dir: dir})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		b, pos, err := s.Next()
		if err != nil || string(b) != "x" {
			t.Fatalf("Next after Append and reopen = %q, %v", b, err)
		}
		if err := s.Ack(pos); err != nil {
			t.Fatal(err)
		}
	})
}

func BenchmarkAppend(b *testing.B) {
	for _, sync := range []bool{false, true} {
		b.Run(fmt.Sprintf("1MiB/sync=%v", sync), func(b *testing.B) {
			s, err := Open(Options{Dir: b.TempDir(), Sync: sync})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			r := rec(0, 1<<20)
			b.SetBytes(int64(len(r)))
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if err := s.Append(r); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
