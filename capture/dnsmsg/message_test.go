package dnsmsg

import (
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/net/dns/dnsmessage"
)

// rawName makes a dnsmessage.Name from wire labels joined by dots, so tests
// can build names with bytes that presentation form would escape.
func rawName(t testing.TB, s string) dnsmessage.Name {
	t.Helper()
	var n dnsmessage.Name
	if len(s) > len(n.Data) {
		t.Fatalf("name %q too long for dnsmessage", s)
	}
	n.Length = uint8(copy(n.Data[:], s))
	return n
}

// rr is an answer record for build: a CNAME target or an address.
type rr struct {
	name  string
	cname string
	addr  string
}

// build packs a message with dnsmessage, compression on.
func build(t testing.TB, h dnsmessage.Header, qname string, qtype dnsmessage.Type, answers ...rr) []byte {
	t.Helper()
	b := dnsmessage.NewBuilder(nil, h)
	b.EnableCompression()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(b.StartQuestions())
	must(b.Question(dnsmessage.Question{Name: rawName(t, qname), Type: qtype, Class: dnsmessage.ClassINET}))
	must(b.StartAnswers())
	for _, a := range answers {
		hdr := dnsmessage.ResourceHeader{Name: rawName(t, a.name), Class: dnsmessage.ClassINET, TTL: 300}
		switch {
		case a.cname != "":
			must(b.CNAMEResource(hdr, dnsmessage.CNAMEResource{CNAME: rawName(t, a.cname)}))
		case strings.Contains(a.addr, ":"):
			must(b.AAAAResource(hdr, dnsmessage.AAAAResource{AAAA: netip.MustParseAddr(a.addr).As16()}))
		default:
			must(b.AResource(hdr, dnsmessage.AResource{A: netip.MustParseAddr(a.addr).As4()}))
		}
	}
	msg, err := b.Finish()
	must(err)
	return msg
}

// result is what a test compares: the Message with names as strings.
type result struct {
	ID        uint16
	Response  bool
	Opcode    uint8
	Truncated bool
	RCode     uint8
	QName     string
	QType     string
	QClass    uint16
	CNAMEs    []string
	Addrs     []string
}

func resultOf(m *Message) result {
	r := result{ID: m.ID, Response: m.Response, Opcode: m.Opcode, Truncated: m.Truncated, RCode: m.RCode,
		QName: string(m.QName), QType: TypeString(m.QType), QClass: m.QClass}
	for _, c := range m.CNAMEs {
		r.CNAMEs = append(r.CNAMEs, string(c))
	}
	for _, a := range m.Addrs {
		r.Addrs = append(r.Addrs, a.String())
	}
	return r
}

func TestUnpack(t *testing.T) {
	resp := dnsmessage.Header{ID: 0xBEEF, Response: true, RecursionDesired: true, RecursionAvailable: true}
	tests := []struct {
		name string
		msg  []byte
		want result
	}{{
		name: "query A",
		msg:  build(t, dnsmessage.Header{ID: 1, RecursionDesired: true}, "www.example.com.", dnsmessage.TypeA),
		want: result{ID: 1, QName: "www.example.com", QType: "A", QClass: 1},
	}, {
		name: "query HTTPS keeps case",
		msg:  build(t, dnsmessage.Header{ID: 2}, "WwW.ExAmPle.COM.", dnsmessage.TypeHTTPS),
		want: result{ID: 2, QName: "WwW.ExAmPle.COM", QType: "HTTPS", QClass: 1},
	}, {
		name: "root",
		msg:  build(t, dnsmessage.Header{ID: 3}, ".", dnsmessage.TypeNS),
		want: result{ID: 3, QName: ".", QType: "NS", QClass: 1},
	}, {
		name: "IDN punycode",
		msg:  build(t, dnsmessage.Header{ID: 4}, "xn--fsqu00a.xn--0zwm56d.", dnsmessage.TypeAAAA),
		want: result{ID: 4, QName: "xn--fsqu00a.xn--0zwm56d", QType: "AAAA", QClass: 1},
	}, {
		name: "odd bytes escaped like dig",
		msg:  build(t, dnsmessage.Header{ID: 5}, "a b.\x00\xff\\\x7f\".~!.", dnsmessage.TypeTXT),
		want: result{ID: 5, QName: `a\032b.\000\255\\\127".~!`, QType: "TXT", QClass: 1},
	}, {
		name: "response A",
		msg: build(t, resp, "example.com.", dnsmessage.TypeA,
			rr{name: "example.com.", addr: "93.184.215.14"}),
		want: result{ID: 0xBEEF, Response: true, QName: "example.com", QType: "A", QClass: 1,
			Addrs: []string{"93.184.215.14"}},
	}, {
		name: "response CNAME chain with compression",
		msg: build(t, resp, "www.shop.example.", dnsmessage.TypeA,
			rr{name: "www.shop.example.", cname: "shop.example.cdn.example.net."},
			rr{name: "shop.example.cdn.example.net.", cname: "edge.cdn.example.net."},
			rr{name: "edge.cdn.example.net.", cname: "e1.edge.cdn.example.net."},
			rr{name: "e1.edge.cdn.example.net.", addr: "192.0.2.1"},
			rr{name: "e1.edge.cdn.example.net.", addr: "192.0.2.2"}),
		want: result{ID: 0xBEEF, Response: true, QName: "www.shop.example", QType: "A", QClass: 1,
			CNAMEs: []string{"shop.example.cdn.example.net", "edge.cdn.example.net", "e1.edge.cdn.example.net"},
			Addrs:  []string{"192.0.2.1", "192.0.2.2"}},
	}, {
		name: "response AAAA after CNAME",
		msg: build(t, resp, "v6.example.", dnsmessage.TypeAAAA,
			rr{name: "v6.example.", cname: "host.v6.example."},
			rr{name: "host.v6.example.", addr: "2001:db8::1"}),
		want: result{ID: 0xBEEF, Response: true, QName: "v6.example", QType: "AAAA", QClass: 1,
			CNAMEs: []string{"host.v6.example"}, Addrs: []string{"2001:db8::1"}},
	}, {
		name: "NXDOMAIN truncated opcode",
		msg: build(t, dnsmessage.Header{ID: 7, Response: true, Truncated: true, OpCode: 4,
			RCode: dnsmessage.RCodeNameError}, "nope.example.", dnsmessage.TypeSOA),
		want: result{ID: 7, Response: true, Truncated: true, Opcode: 4, RCode: 3,
			QName: "nope.example", QType: "SOA", QClass: 1},
	}}
	var m Message // one Message for all cases: reuse must not leak state
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := m.Unpack(tt.msg); err != nil {
				t.Fatalf("Unpack: %v", err)
			}
			if diff := cmp.Diff(tt.want, resultOf(&m)); diff != "" {
				t.Errorf("Unpack (-want +got):\n%s", diff)
			}
		})
	}
}

// wire assembles a message by hand: a header with the given counts and the
// raw bytes after it.
func wire(qd, an uint16, rest ...string) []byte {
	b := []byte{0x12, 0x34, 0x81, 0x80, byte(qd >> 8), byte(qd), byte(an >> 8), byte(an), 0, 0, 0, 0}
	for _, r := range rest {
		b = append(b, r...)
	}
	return b
}

const (
	qA      = "\x00\x01\x00\x01"                 // type A, class IN
	rrAHead = "\x00\x01\x00\x01\x00\x00\x00\x3c" // type A, class IN, TTL 60
)

func TestUnpackHandMade(t *testing.T) {
	// A label containing a dot, which dnsmessage cannot build.
	var m Message
	if err := m.Unpack(wire(1, 0, "\x03a.b\x07example\x00", qA)); err != nil {
		t.Fatal(err)
	}
	if got, want := string(m.QName), `a\.b.example`; got != want {
		t.Errorf("QName = %q, want %q", got, want)
	}

	// The longest legal name: 255 octets in wire form.
	long := strings.Repeat("\x3f"+strings.Repeat("x", 63), 3) + "\x3d" + strings.Repeat("y", 61) + "\x00"
	if err := m.Unpack(wire(1, 0, long, qA)); err != nil {
		t.Fatalf("255-octet name: %v", err)
	}
	if len(m.QName) != 253 {
		t.Errorf("255-octet name: len(QName) = %d, want 253", len(m.QName))
	}

	// mDNS cache-flush bit on the class still counts as IN.
	msg := wire(1, 1, "\x01a\x00", qA, "\xc0\x0c\x00\x01\x80\x01\x00\x00\x00\x3c\x00\x04\x0a\x00\x00\x01")
	if err := m.Unpack(msg); err != nil || len(m.Addrs) != 1 || m.Addrs[0] != netip.MustParseAddr("10.0.0.1") {
		t.Errorf("cache-flush class: err %v, Addrs %v", err, m.Addrs)
	}

	// Records of other classes are skipped.
	msg = wire(1, 1, "\x01a\x00", qA, "\xc0\x0c\x00\x01\x00\x03\x00\x00\x00\x3c\x00\x04\x0a\x00\x00\x01")
	if err := m.Unpack(msg); err != nil || len(m.Addrs) != 0 {
		t.Errorf("CHAOS class: err %v, Addrs %v", err, m.Addrs)
	}

	// Several questions: the first is reported, the rest skipped, answers read.
	msg = wire(2, 1, "\x01a\x00", qA, "\x01b\xc0\x0c", qA, "\xc0\x0c", rrAHead, "\x00\x04\x0a\x00\x00\x02")
	if err := m.Unpack(msg); err != nil || string(m.QName) != "a" || len(m.Addrs) != 1 {
		t.Errorf("two questions: err %v, QName %q, Addrs %v", err, m.QName, m.Addrs)
	}
}

func TestUnpackAnswerLimit(t *testing.T) {
	var answers []rr
	for i := range 100 {
		answers = append(answers, rr{name: "many.example.", addr: netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}).String()})
	}
	var m Message
	if err := m.Unpack(build(t, dnsmessage.Header{Response: true}, "many.example.", dnsmessage.TypeA, answers...)); err != nil {
		t.Fatal(err)
	}
	if len(m.Addrs) != MaxRecords {
		t.Errorf("len(Addrs) = %d, want %d", len(m.Addrs), MaxRecords)
	}
}

func TestUnpackKeepsAnswersBeforeBadRecord(t *testing.T) {
	good := build(t, dnsmessage.Header{Response: true}, "a.example.", dnsmessage.TypeA,
		rr{name: "a.example.", cname: "b.example."},
		rr{name: "b.example.", addr: "192.0.2.7"})
	// Claim a third answer and append a record whose A data is 5 bytes long.
	msg := append([]byte(nil), good...)
	msg[7] = 3
	msg = append(msg, "\xc0\x0c"+rrAHead+"\x00\x05\x01\x02\x03\x04\x05"...)
	var m Message
	err := m.Unpack(msg)
	var e *Error
	if !errors.As(err, &e) || e.Section != SectionAnswer || e.Record != 2 || !errors.Is(err, ErrRDataLength) {
		t.Fatalf("err = %v, want answer record 2: %v", err, ErrRDataLength)
	}
	if got := resultOf(&m); len(got.CNAMEs) != 1 || got.CNAMEs[0] != "b.example" || len(got.Addrs) != 1 {
		t.Errorf("records before the bad one: CNAMEs %q, Addrs %v", got.CNAMEs, got.Addrs)
	}
	if want := "dnsmsg: answer record 2: record data length does not fit the record type"; err.Error() != want {
		t.Errorf("err.Error() = %q, want %q", err, want)
	}
}

func TestUnpackMalformed(t *testing.T) {
	// 70 pointers, each to the one before, hidden in the rdata of a NULL record.
	chain := "\xc0\x0c"
	for i := range 69 {
		off := 31 + 2*i // where the previous pointer sits
		chain += string([]byte{0xc0, byte(off)})
	}
	lastPtr := 31 + 2*69
	pointerChain := wire(1, 2, "\x01a\x00", qA, // question: offsets 12..18
		"\xc0\x0c\x00\x0a\x00\x01\x00\x00\x00\x00\x00\x8c", chain, // record 0 at 19, rdata at 31
		string([]byte{0xc0, byte(lastPtr)}), rrAHead, "\x00\x04\x01\x02\x03\x04")

	name64 := "\x3f" + strings.Repeat("x", 63)
	tests := []struct {
		name    string
		msg     []byte
		section Section
		record  int
		want    error
	}{
		{"empty", nil, SectionHeader, -1, ErrShort},
		{"short header", wire(1, 0)[:11], SectionHeader, -1, ErrShort},
		{"no question", wire(0, 0), SectionQuestion, -1, ErrNoQuestion},
		{"huge QDCOUNT", wire(0xffff, 0, "\x00", qA), SectionQuestion, -1, ErrTooManyRecords},
		{"question missing", wire(1, 0), SectionQuestion, 0, ErrShort},
		{"label past end", wire(1, 0, "\x05ab"), SectionQuestion, 0, ErrShort},
		{"no root label", wire(1, 0, "\x01a"), SectionQuestion, 0, ErrShort},
		{"type missing", wire(1, 0, "\x01a\x00\x00\x01"), SectionQuestion, 0, ErrShort},
		{"pointer to itself", wire(1, 0, "\xc0\x0c", qA), SectionQuestion, 0, ErrPointer},
		{"pointer loop via label", wire(1, 0, "\x01a\xc0\x0c", qA), SectionQuestion, 0, ErrPointer},
		{"forward pointer", wire(1, 0, "\xc0\x12", qA, "\x01a\x00"), SectionQuestion, 0, ErrPointer},
		{"half pointer", wire(1, 0, "\xc0"), SectionQuestion, 0, ErrShort},
		{"label type 0x40", wire(1, 0, "\x40", qA), SectionQuestion, 0, ErrLabelType},
		{"label type 0x80", wire(1, 0, "\x80", qA), SectionQuestion, 0, ErrLabelType},
		{"label of 64", wire(1, 0, "\x40"+strings.Repeat("x", 64)+"\x00", qA), SectionQuestion, 0, ErrLabelType},
		{"name of 256", wire(1, 0, strings.Repeat(name64, 3)+"\x3e"+strings.Repeat("y", 62)+"\x00", qA), SectionQuestion, 0, ErrNameTooLong},
		{"name of 320", wire(1, 0, strings.Repeat(name64, 5)+"\x00", qA), SectionQuestion, 0, ErrNameTooLong},
		{"long name via pointers", wire(1, 1, strings.Repeat(name64, 3)+"\x00", qA, name64+"\xc0\x0c", rrAHead, "\x00\x04\x01\x02\x03\x04"), SectionAnswer, 0, ErrNameTooLong},
		{"second question bad", wire(2, 0, "\x00", qA, "\xc0\x20"), SectionQuestion, 1, ErrPointer},
		{"huge ANCOUNT, no answers", wire(1, 0xffff, "\x00", qA), SectionAnswer, 0, ErrShort},
		{"answer header short", wire(1, 1, "\x00", qA, "\x00\x00\x01"), SectionAnswer, 0, ErrShort},
		{"rdata past end", wire(1, 1, "\x00", qA, "\x00", rrAHead, "\x00\x04\x01\x02"), SectionAnswer, 0, ErrShort},
		{"A of 5 bytes", wire(1, 1, "\x00", qA, "\x00", rrAHead, "\x00\x05\x01\x02\x03\x04\x05"), SectionAnswer, 0, ErrRDataLength},
		{"AAAA of 4 bytes", wire(1, 1, "\x00", qA, "\x00\x00\x1c\x00\x01\x00\x00\x00\x00\x00\x04\x01\x02\x03\x04"), SectionAnswer, 0, ErrRDataLength},
		{"CNAME with trailing bytes", wire(1, 1, "\x00", qA, "\x00\x00\x05\x00\x01\x00\x00\x00\x00\x00\x04\x01b\x00\xff"), SectionAnswer, 0, ErrRDataLength},
		{"CNAME past rdata", wire(1, 1, "\x00", qA, "\x00\x00\x05\x00\x01\x00\x00\x00\x00\x00\x02\x01b\x00"), SectionAnswer, 0, ErrShort},
		{"CNAME forward pointer", wire(1, 1, "\x00", qA, "\x00\x00\x05\x00\x01\x00\x00\x00\x00\x00\x02\xc0\x30"), SectionAnswer, 0, ErrPointer},
		{"too many pointers", pointerChain, SectionAnswer, 1, ErrTooManyPointers},
	}
	var m Message
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := m.Unpack(tt.msg)
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("err = %v, want an *Error", err)
			}
			if e.Section != tt.section || e.Record != tt.record || !errors.Is(err, tt.want) {
				t.Errorf("err = %v, want %v record %d: %v", err, tt.section, tt.record, tt.want)
			}
		})
	}
}

// TestUnpackTruncatedEverywhere cuts a response at every length: each cut
// must fail with ErrShort in the section the cut falls into.
func TestUnpackTruncatedEverywhere(t *testing.T) {
	msg := build(t, dnsmessage.Header{ID: 9, Response: true}, "www.example.org.", dnsmessage.TypeA,
		rr{name: "www.example.org.", cname: "cdn.example.net."},
		rr{name: "cdn.example.net.", addr: "198.51.100.1"})
	qEnd := 12 + len("\x03www\x07example\x03org\x00") + 4
	rec1 := qEnd + 2 + 10 + len("\x03cdn\x07example\x03net\x00")
	var m Message
	if err := m.Unpack(msg); err != nil {
		t.Fatal(err)
	}
	for n := range len(msg) {
		err := m.Unpack(msg[:n])
		var e *Error
		if !errors.As(err, &e) || !errors.Is(err, ErrShort) {
			t.Fatalf("cut at %d: err = %v, want %v", n, err, ErrShort)
		}
		want := Error{Section: SectionHeader, Record: -1}
		switch {
		case n >= rec1:
			want = Error{Section: SectionAnswer, Record: 1}
		case n >= qEnd:
			want = Error{Section: SectionAnswer, Record: 0}
		case n >= 12:
			want = Error{Section: SectionQuestion, Record: 0}
		}
		if e.Section != want.Section || e.Record != want.Record {
			t.Errorf("cut at %d: err = %v, want %v record %d", n, err, want.Section, want.Record)
		}
	}
}

func TestTypeString(t *testing.T) {
	for typ, want := range map[uint16]string{1: "A", 28: "AAAA", 5: "CNAME", 15: "MX", 16: "TXT", 65: "HTTPS",
		64: "SVCB", 12: "PTR", 2: "NS", 6: "SOA", 33: "SRV", 255: "ANY", 0: "TYPE0", 65534: "TYPE65534"} {
		if got := TypeString(typ); got != want {
			t.Errorf("TypeString(%d) = %q, want %q", typ, got, want)
		}
	}
	// Agree with dnsmessage on the types it knows.
	for typ := range uint16(300) {
		// dnsmessage calls 255 "ALL"; dig and the IANA registry say ANY (checked above).
		if s, known := strings.CutPrefix(dnsmessage.Type(typ).String(), "Type"); known && typ != 255 {
			if got := TypeString(typ); got != s {
				t.Errorf("TypeString(%d) = %q, dnsmessage says %q", typ, got, s)
			}
		}
	}
	if n := testing.AllocsPerRun(100, func() { _ = TypeString(65) }); n != 0 {
		t.Errorf("TypeString allocates %v times", n)
	}
}
