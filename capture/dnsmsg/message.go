package dnsmsg

import (
	"encoding/binary"
	"net/netip"
)

// MaxRecords bounds the answer records Unpack reads and the questions it
// skips, so the work per message is bounded whatever its counts say.
// Answers past the limit are ignored without error.
const MaxRecords = 64

const headerLen = 12

// Record types and the class Unpack interprets.
const (
	TypeA     uint16 = 1
	TypeCNAME uint16 = 5
	TypeAAAA  uint16 = 28
	ClassINET uint16 = 1
)

// Message is the metadata of one DNS message. Unpack fills it in place,
// reusing the memory of QName, CNAMEs and Addrs, so their contents are valid
// only until the next Unpack; copy what must outlive it.
//
// Names are in presentation form without the trailing dot ("www.example.com";
// the root is "."), with the case as on the wire. Inside labels '.' and '\'
// are escaped as "\." and "\\", and bytes outside printable ASCII as \DDD.
type Message struct {
	ID        uint16
	Response  bool  // QR bit
	Opcode    uint8 // 0 QUERY, 4 NOTIFY, 5 UPDATE, ...
	Truncated bool  // TC bit: the full answer needs TCP
	RCode     uint8 // 0 NOERROR, 2 SERVFAIL, 3 NXDOMAIN, ... (header bits only)

	// The first question.
	QName  []byte
	QType  uint16
	QClass uint16

	// From the answer section, in order: the targets of CNAME records
	// (the chain) and the addresses of A and AAAA records, class IN.
	CNAMEs [][]byte
	Addrs  []netip.Addr
}

// Unpack parses the DNS message b into m. b is not retained.
//
// A message must hold a header and at least one question. Questions after
// the first are skipped, answers are read up to MaxRecords, the authority and
// additional sections are not read. If an answer record is malformed, Unpack
// stops there, keeps the records read before it and returns an *Error naming
// the record. If the header or the first question is malformed, the header
// fields read are kept and QName is empty.
func (m *Message) Unpack(b []byte) error {
	m.reset()
	if len(b) < headerLen {
		return fail(SectionHeader, -1, ErrShort)
	}
	m.ID = binary.BigEndian.Uint16(b)
	m.Response = b[2]&0x80 != 0
	m.Opcode = b[2] >> 3 & 0x0F
	m.Truncated = b[2]&0x02 != 0
	m.RCode = b[3] & 0x0F
	qdcount := int(binary.BigEndian.Uint16(b[4:]))
	ancount := int(binary.BigEndian.Uint16(b[6:]))

	if qdcount == 0 {
		return fail(SectionQuestion, -1, ErrNoQuestion)
	}
	if qdcount > MaxRecords {
		return fail(SectionQuestion, -1, ErrTooManyRecords)
	}
	off := headerLen
	for i := range qdcount {
		var err error
		if i == 0 {
			m.QName, off, err = readName(m.QName, b, off, true)
		} else {
			_, off, err = readName(nil, b, off, false)
		}
		if err == nil && off+4 > len(b) {
			err = ErrShort
		}
		if err != nil {
			if i == 0 {
				m.QName = m.QName[:0] // a question without its type is no question
			}
			return fail(SectionQuestion, i, err)
		}
		if i == 0 {
			m.QType = binary.BigEndian.Uint16(b[off:])
			m.QClass = binary.BigEndian.Uint16(b[off+2:])
		}
		off += 4
	}

	for i := range min(ancount, MaxRecords) {
		var err error
		if off, err = m.readAnswer(b, off); err != nil {
			return fail(SectionAnswer, i, err)
		}
	}
	return nil
}

// readAnswer reads the resource record at off and returns the offset after it.
func (m *Message) readAnswer(b []byte, off int) (int, error) {
	_, off, err := readName(nil, b, off, false)
	if err != nil {
		return 0, err
	}
	if off+10 > len(b) {
		return 0, ErrShort
	}
	typ := binary.BigEndian.Uint16(b[off:])
	// The top bit of the class is mDNS's cache-flush flag.
	class := binary.BigEndian.Uint16(b[off+2:]) & 0x7FFF
	rdlen := int(binary.BigEndian.Uint16(b[off+8:]))
	rdata := off + 10
	end := rdata + rdlen
	if end > len(b) {
		return 0, ErrShort
	}
	if class != ClassINET {
		return end, nil
	}
	switch typ {
	case TypeA:
		if rdlen != 4 {
			return 0, ErrRDataLength
		}
		m.Addrs = append(m.Addrs, netip.AddrFrom4([4]byte(b[rdata:end])))
	case TypeAAAA:
		if rdlen != 16 {
			return 0, ErrRDataLength
		}
		m.Addrs = append(m.Addrs, netip.AddrFrom16([16]byte(b[rdata:end])))
	case TypeCNAME:
		// Reuse the buffer of a slot beyond len from an earlier message.
		n := len(m.CNAMEs)
		if n < cap(m.CNAMEs) {
			m.CNAMEs = m.CNAMEs[:n+1]
		} else {
			m.CNAMEs = append(m.CNAMEs, nil)
		}
		name, next, err := readName(m.CNAMEs[n][:0], b[:end], rdata, true)
		m.CNAMEs[n] = name
		if err == nil && next != end {
			err = ErrRDataLength
		}
		if err != nil {
			m.CNAMEs = m.CNAMEs[:n]
			return 0, err
		}
	}
	return end, nil
}

func (m *Message) reset() {
	*m = Message{QName: m.QName[:0], CNAMEs: m.CNAMEs[:0], Addrs: m.Addrs[:0]}
}
