package hitlog

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// The spool and chDB's inserts share one encoding: ClickHouse's RowBinary
// of the hits columns in Columns order. A spool record puts a small header
// in front so a batch can be replayed with its own id.
//
//	record := magic | id uint64 | created unix ms int64 | rows uvarint | RowBinary rows
//	magic  := "CGB1" (an INSERT of the batch was attempted) | "CGN1" (never sent)
//
// Integers are little-endian; strings are a uvarint length and the bytes;
// ts is Int64 milliseconds (DateTime64(3)) in records and UInt32 seconds
// where the table's ts is a DateTime.

const (
	batchMagic      = "CGB1"
	freshBatchMagic = "CGN1"
)

// maxRecordRows bounds a decoded batch so a corrupt count cannot make the
// decoder allocate without limit.
const maxRecordRows = 1 << 22

// appendRowBinary appends the rows of b to dst; ms says whether ts is
// DateTime64(3) (Int64 milliseconds) or DateTime (UInt32 seconds).
func appendRowBinary(dst []byte, b *Batch, ms bool) []byte {
	for i := range b.Rows {
		r := &b.Rows[i]
		if ms {
			dst = binary.LittleEndian.AppendUint64(dst, uint64(r.Time.UnixMilli()))
		} else {
			dst = binary.LittleEndian.AppendUint32(dst, uint32(r.Time.Unix()))
		}
		for _, s := range [...]string{r.Sensor, r.Kind, r.Client, r.Server} {
			dst = appendString(dst, s)
		}
		dst = binary.LittleEndian.AppendUint16(dst, r.Port)
		for _, s := range [...]string{r.Name, r.URL, r.Pack, r.Rule, r.Category} {
			dst = appendString(dst, s)
		}
		dst = append(dst, r.Severity)
		for _, s := range [...]string{r.Action, r.Field, r.Match} {
			dst = appendString(dst, s)
		}
		dst = binary.LittleEndian.AppendUint32(dst, r.MatchStart)
		dst = binary.LittleEndian.AppendUint32(dst, r.MatchEnd)
		dst = binary.LittleEndian.AppendUint64(dst, b.ID)
		dst = binary.LittleEndian.AppendUint32(dst, b.seq(i))
	}
	return dst
}

func appendString(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

// EncodeRecord turns a batch into a spool record.
func EncodeRecord(b *Batch) []byte {
	dst := make([]byte, 0, 64+len(b.Rows)*160)
	if b.Attempted {
		dst = append(dst, batchMagic...)
	} else {
		dst = append(dst, freshBatchMagic...)
	}
	dst = binary.LittleEndian.AppendUint64(dst, b.ID)
	dst = binary.LittleEndian.AppendUint64(dst, uint64(b.Created.UnixMilli()))
	dst = binary.AppendUvarint(dst, uint64(len(b.Rows)))
	return appendRowBinary(dst, b, true)
}

var errShort = errors.New("record ends early")

// recordReader reads a record front to back; the first error sticks.
type recordReader struct {
	p   []byte
	err error
}

func (r *recordReader) take(n int) []byte {
	if r.err != nil || n > len(r.p) {
		r.err = errShort
		return nil
	}
	v := r.p[:n]
	r.p = r.p[n:]
	return v
}

func (r *recordReader) u8() uint8 {
	if v := r.take(1); v != nil {
		return v[0]
	}
	return 0
}

func (r *recordReader) u16() uint16 {
	if v := r.take(2); v != nil {
		return binary.LittleEndian.Uint16(v)
	}
	return 0
}

func (r *recordReader) u32() uint32 {
	if v := r.take(4); v != nil {
		return binary.LittleEndian.Uint32(v)
	}
	return 0
}

func (r *recordReader) u64() uint64 {
	if v := r.take(8); v != nil {
		return binary.LittleEndian.Uint64(v)
	}
	return 0
}

func (r *recordReader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.p)
	if n <= 0 {
		r.err = errors.New("bad length")
		return 0
	}
	r.p = r.p[n:]
	return v
}

func (r *recordReader) str() string {
	n := r.uvarint()
	if r.err == nil && n > uint64(len(r.p)) {
		r.err = errShort
	}
	s := r.take(int(n))
	return string(s)
}

// DecodeRecord parses a spool record. It never panics and never allocates
// more than the record's own size suggests, whatever the bytes.
func DecodeRecord(p []byte) (*Batch, error) {
	if len(p) < len(batchMagic) {
		return nil, errors.New("hitlog record: bad magic")
	}
	var attempted bool
	switch string(p[:len(batchMagic)]) {
	case batchMagic:
		attempted = true
	case freshBatchMagic:
	default:
		return nil, errors.New("hitlog record: bad magic")
	}
	r := &recordReader{p: p[len(batchMagic):]}
	b := &Batch{ID: r.u64(), Attempted: attempted}
	b.Created = time.UnixMilli(int64(r.u64())).UTC()
	n := r.uvarint()
	if r.err != nil {
		return nil, fmt.Errorf("hitlog record header: %w", r.err)
	}
	// Every row takes at least 40 bytes, which bounds n by the input.
	if n > maxRecordRows || n > uint64(len(r.p)/40+1) {
		return nil, fmt.Errorf("hitlog record: %d rows cannot fit in %d bytes", n, len(r.p))
	}
	b.Rows = make([]Row, n)
	for i := range b.Rows {
		row := &b.Rows[i]
		row.Time = time.UnixMilli(int64(r.u64())).UTC()
		row.Sensor, row.Kind, row.Client, row.Server = r.str(), r.str(), r.str(), r.str()
		row.Port = r.u16()
		row.Name, row.URL, row.Pack, row.Rule, row.Category = r.str(), r.str(), r.str(), r.str(), r.str()
		row.Severity = r.u8()
		row.Action, row.Field, row.Match = r.str(), r.str(), r.str()
		row.MatchStart, row.MatchEnd = r.u32(), r.u32()
		id, seq := r.u64(), r.u32()
		if r.err != nil {
			return nil, fmt.Errorf("hitlog record row %d: %w", i, r.err)
		}
		if id != b.ID {
			return nil, fmt.Errorf("hitlog record row %d: batch id %d, want %d", i, id, b.ID)
		}
		if seq != uint32(i) && b.Seqs == nil {
			b.Seqs = make([]uint32, i, n)
			for j := range b.Seqs {
				b.Seqs[j] = uint32(j)
			}
		}
		if b.Seqs != nil {
			b.Seqs = append(b.Seqs, seq)
		}
	}
	if len(r.p) != 0 {
		return nil, fmt.Errorf("hitlog record: %d bytes after the last row", len(r.p))
	}
	return b, nil
}
