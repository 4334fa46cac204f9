package dnsmsg

import (
	"errors"
	"strconv"
)

// Reasons a message is rejected. Unpack wraps them in an *Error that says
// where in the message the problem is; test for them with errors.Is.
var (
	ErrShort           = errors.New("message truncated")
	ErrNoQuestion      = errors.New("no question (QDCOUNT is 0)")
	ErrTooManyRecords  = errors.New("record count above limit")
	ErrLabelType       = errors.New("reserved label type (0x40/0x80) or label longer than 63 octets")
	ErrPointer         = errors.New("compression pointer does not point backwards")
	ErrTooManyPointers = errors.New("too many compression pointers")
	ErrNameTooLong     = errors.New("name longer than 255 octets")
	ErrRDataLength     = errors.New("record data length does not fit the record type")
)

// ErrZeroLength is returned by TCPStream.Feed when a message's length prefix
// is zero, which no DNS message can have; the stream cannot resynchronise.
var ErrZeroLength = errors.New("dnsmsg: zero DNS-over-TCP length prefix")

// Section names a part of a DNS message.
type Section uint8

// Sections of a message, in wire order.
const (
	SectionHeader Section = iota
	SectionQuestion
	SectionAnswer
)

func (s Section) String() string {
	switch s {
	case SectionHeader:
		return "header"
	case SectionQuestion:
		return "question"
	case SectionAnswer:
		return "answer"
	}
	return "section?"
}

// Error is a malformed-message error: where it happened and why.
// Errors returned by Unpack are shared, immutable values (so that rejecting a
// packet does not allocate); they may be kept and compared.
type Error struct {
	Section Section
	Record  int // 0-based record index in Section, or -1 for the section as a whole
	Err     error
}

func (e *Error) Error() string {
	s := "dnsmsg: " + e.Section.String()
	if e.Record >= 0 {
		s += " record " + strconv.Itoa(e.Record)
	}
	return s + ": " + e.Err.Error()
}

func (e *Error) Unwrap() error { return e.Err }

var reasons = [...]error{ErrShort, ErrNoQuestion, ErrTooManyRecords, ErrLabelType,
	ErrPointer, ErrTooManyPointers, ErrNameTooLong, ErrRDataLength}

// errTable holds every *Error Unpack can return, built once at init and never
// written afterwards: [section][record+1][reason].
var errTable [3][MaxRecords + 1][len(reasons)]Error

func init() {
	for s := range errTable {
		for r := range errTable[s] {
			for i, why := range reasons {
				errTable[s][r][i] = Error{Section: Section(s), Record: r - 1, Err: why}
			}
		}
	}
}

// fail returns the shared *Error for why at record (-1: whole section).
func fail(sec Section, record int, why error) error {
	if record < -1 || record >= MaxRecords {
		// Not reachable with the bounds Unpack enforces; keep the error
		// rather than index out of range.
		return &Error{Section: sec, Record: record, Err: why}
	}
	for i, r := range reasons {
		if r == why {
			return &errTable[sec][record+1][i]
		}
	}
	return &Error{Section: sec, Record: record, Err: why}
}
