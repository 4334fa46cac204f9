package dnsmsg

import (
	"bytes"
	"errors"
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/net/dns/dnsmessage"
)

// parsePresentation turns a name as Unpack writes it back into wire labels,
// checking that exactly the bytes that need escaping are escaped.
func parsePresentation(t *testing.T, name []byte) [][]byte {
	t.Helper()
	if string(name) == "." {
		return nil
	}
	var labels [][]byte
	var cur []byte
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c == '.':
			labels = append(labels, cur)
			cur = nil
		case c == '\\' && i+3 < len(name) && isDigit(name[i+1]) && isDigit(name[i+2]) && isDigit(name[i+3]):
			d := int(name[i+1]-'0')*100 + int(name[i+2]-'0')*10 + int(name[i+3]-'0')
			if d > 255 || (d >= 0x21 && d <= 0x7E) {
				t.Fatalf("name %q: needless or bad escape \\%03d", name, d)
			}
			cur = append(cur, byte(d))
			i += 3
		case c == '\\' && i+1 < len(name) && (name[i+1] == '.' || name[i+1] == '\\'):
			cur = append(cur, name[i+1])
			i++
		case c < 0x21 || c > 0x7E || c == '\\':
			t.Fatalf("name %q: byte %#x not escaped", name, c)
		default:
			cur = append(cur, c)
		}
	}
	labels = append(labels, cur)
	wire := 1
	for _, l := range labels {
		if len(l) == 0 || len(l) > 63 {
			t.Fatalf("name %q: label of %d octets", name, len(l))
		}
		wire += 1 + len(l)
	}
	if wire > 255 {
		t.Fatalf("name %q: %d octets in wire form", name, wire)
	}
	return labels
}

// dnsmessageLabels splits a dnsmessage name ("a.b.") into its labels;
// dnsmessage refuses labels containing dots, so the split is exact.
func dnsmessageLabels(n dnsmessage.Name) [][]byte {
	s := n.Data[:n.Length]
	if string(s) == "." {
		return nil
	}
	return bytes.Split(s[:len(s)-1], []byte("."))
}

func fuzzSeeds(f *testing.F) [][]byte {
	resp := dnsmessage.Header{ID: 0x4242, Response: true}
	return [][]byte{
		build(f, dnsmessage.Header{ID: 1}, "www.example.com.", dnsmessage.TypeA),
		build(f, dnsmessage.Header{ID: 1}, ".", dnsmessage.TypeNS),
		build(f, resp, "a.example.", dnsmessage.TypeA,
			rr{name: "a.example.", cname: "b.cdn.example."},
			rr{name: "b.cdn.example.", cname: "c.cdn.example."},
			rr{name: "c.cdn.example.", addr: "192.0.2.1"},
			rr{name: "c.cdn.example.", addr: "2001:db8::2"}),
		build(f, resp, "a\\b.\x00\xff.example.", dnsmessage.TypeTXT),
		wire(1, 0, "\xc0\x0c", qA),
		wire(1, 0, "\x01a\xc0\x0c", qA),
		wire(1, 0, "\xc0\x12", qA, "\x01a\x00"),
		wire(1, 0, "\x40", qA),
		wire(1, 0, "\x03a.b\x00", qA),
		wire(0xffff, 0xffff, "\x00", qA),
		wire(1, 0xffff, "\x00", qA, "\x00", rrAHead, "\x00\x04\x01\x02\x03\x04"),
	}
}

func FuzzUnpack(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	warm := fuzzSeeds(f)[2]
	f.Fuzz(func(t *testing.T, b []byte) {
		var m Message
		err := m.Unpack(b)
		var e *Error
		if err != nil && !errors.As(err, &e) {
			t.Fatalf("error %v is not an *Error", err)
		}

		// Bounds, and names that read back as legal wire names.
		if len(m.CNAMEs)+len(m.Addrs) > MaxRecords {
			t.Fatalf("%d CNAMEs and %d addresses, more than %d records", len(m.CNAMEs), len(m.Addrs), MaxRecords)
		}
		questionRead := err == nil || e.Section == SectionAnswer || (e.Section == SectionQuestion && e.Record > 0)
		if questionRead {
			parsePresentation(t, m.QName)
		} else if len(m.QName) != 0 {
			t.Fatalf("QName %q set although the question failed: %v", m.QName, err)
		}
		for _, c := range m.CNAMEs {
			parsePresentation(t, c)
		}

		// A reused Message gives the same result as a fresh one.
		var r Message
		_ = r.Unpack(warm)
		rerr := r.Unpack(b)
		if rerr != err {
			t.Fatalf("reused Message: err %v, fresh: %v", rerr, err)
		}
		if diff := cmp.Diff(resultOf(&m), resultOf(&r)); diff != "" {
			t.Fatalf("reused Message differs (-fresh +reused):\n%s", diff)
		}

		// Agree with dnsmessage wherever both parse.
		var p dnsmessage.Parser
		h, perr := p.Start(b)
		if perr != nil {
			return
		}
		if e != nil && e.Section == SectionHeader {
			t.Fatalf("dnsmessage reads the header, Unpack: %v", err)
		}
		if h.ID != m.ID || h.Response != m.Response || uint8(h.OpCode) != m.Opcode ||
			h.Truncated != m.Truncated || uint8(h.RCode&0x0F) != m.RCode {
			t.Fatalf("header differs: dnsmessage %+v, Unpack %+v", h, resultOf(&m))
		}
		q, qerr := p.Question()
		if qerr != nil {
			return
		}
		if !questionRead {
			// Stricter than dnsmessage only where meant to be: pointers
			// must point backwards, and at most MaxRecords questions.
			if !errors.Is(err, ErrPointer) && !errors.Is(err, ErrTooManyRecords) {
				t.Fatalf("dnsmessage reads question %v, Unpack: %v", q, err)
			}
			return
		}
		if diff := cmp.Diff(dnsmessageLabels(q.Name), parsePresentation(t, m.QName)); diff != "" {
			t.Fatalf("QName %q, dnsmessage %q:\n%s", m.QName, q.Name.Data[:q.Name.Length], diff)
		}
		if uint16(q.Type) != m.QType || uint16(q.Class) != m.QClass {
			t.Fatalf("question type/class %d/%d, dnsmessage %d/%d", m.QType, m.QClass, q.Type, q.Class)
		}

		if err != nil || p.SkipAllQuestions() != nil {
			return
		}
		answers, aerr := p.AllAnswers()
		if aerr != nil || len(answers) > MaxRecords {
			return
		}
		var cnames []string
		var addrs []netip.Addr
		for _, a := range answers {
			if a.Header.Class&0x7FFF != dnsmessage.ClassINET {
				continue
			}
			switch body := a.Body.(type) {
			case *dnsmessage.CNAMEResource:
				cnames = append(cnames, string(bytes.Join(dnsmessageLabels(body.CNAME), []byte{0})))
			case *dnsmessage.AResource:
				addrs = append(addrs, netip.AddrFrom4(body.A))
			case *dnsmessage.AAAAResource:
				addrs = append(addrs, netip.AddrFrom16(body.AAAA))
			}
		}
		var got []string
		for _, c := range m.CNAMEs {
			got = append(got, string(bytes.Join(parsePresentation(t, c), []byte{0})))
		}
		if diff := cmp.Diff(cnames, got); diff != "" {
			t.Fatalf("CNAMEs differ from dnsmessage (-dnsmessage +Unpack):\n%s", diff)
		}
		if diff := cmp.Diff(addrs, m.Addrs, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
			t.Fatalf("Addrs differ from dnsmessage (-dnsmessage +Unpack):\n%s", diff)
		}
	})
}

func FuzzTCPStream(f *testing.F) {
	f.Add(frame([]byte("abc"), []byte("de")), uint16(3))
	f.Add(frame(testMessages(5)...), uint16(100))
	f.Add([]byte{0, 0}, uint16(1))
	f.Add([]byte{0, 3, 'a', 'b', 'c', 0}, uint16(5))
	f.Add([]byte{0xff, 0xff, 1, 2, 3}, uint16(2))
	f.Fuzz(func(t *testing.T, data []byte, cut uint16) {
		// The reference: walk the prefixes directly.
		var want [][]byte
		var wantErr error
		rest := data
		for len(rest) >= 2 {
			n := int(rest[0])<<8 | int(rest[1])
			if n == 0 {
				wantErr = ErrZeroLength
				break
			}
			if len(rest) < 2+n {
				break
			}
			want = append(want, rest[2:2+n])
			rest = rest[2+n:]
		}

		c := 0
		if len(data) > 0 {
			c = int(cut) % (len(data) + 1)
		}
		var bytewise [][]byte
		for i := range data {
			bytewise = append(bytewise, data[i:i+1])
		}
		for name, chunks := range map[string][][]byte{
			"whole":        {data},
			"split":        {data[:c], data[c:]},
			"byte by byte": bytewise,
		} {
			var s TCPStream
			var got [][]byte
			var err error
			for _, ch := range chunks {
				if err = s.Feed(ch, func(msg []byte) { got = append(got, bytes.Clone(msg)) }); err != nil {
					break
				}
				if s.Buffered() > 2+65535 {
					t.Fatalf("%s: %d bytes buffered", name, s.Buffered())
				}
			}
			if err != wantErr {
				t.Fatalf("%s: err %v, want %v", name, err, wantErr)
			}
			if len(got) != len(want) {
				t.Fatalf("%s: %d messages, want %d", name, len(got), len(want))
			}
			for i := range want {
				if !bytes.Equal(got[i], want[i]) {
					t.Fatalf("%s: message %d differs", name, i)
				}
			}
			if err == nil && s.Buffered() != len(rest) {
				t.Fatalf("%s: %d bytes buffered, want %d", name, s.Buffered(), len(rest))
			}
		}
	})
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }
