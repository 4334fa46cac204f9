package tlshello

import (
	"bytes"
	"errors"
	"testing"
)

func TestRealHellos(t *testing.T) {
	for _, hc := range helloConfigs() {
		t.Run(hc.name, func(t *testing.T) {
			stream := clientHelloRecords(t, hc.cfg)
			msg := handshakeOf(t, stream)
			if hc.name == "default-pq" && len(msg) < 1500 {
				t.Errorf("default hello is %d bytes; expected a post-quantum key share to make it exceed one MTU", len(msg))
			}
			var p Parser

			check := func(what string, got []byte, err error) {
				t.Helper()
				if err != nil {
					t.Fatalf("%s: %v", what, err)
				}
				if string(got) != hc.sni {
					t.Fatalf("%s: sni %q, want %q", what, got, hc.sni)
				}
			}

			sni, err := p.FromRecords(stream)
			check("whole stream", sni, err)
			sni, err = p.FromHandshake(msg)
			check("handshake", sni, err)

			// Trailing bytes (the next flight, application data) do not matter.
			sni, err = p.FromRecords(append(append([]byte{}, stream...), 0x14, 0x03, 0x03, 0x00, 0x01, 0x01))
			check("stream with trailing bytes", sni, err)

			for _, size := range []int{1, 2, 3, 4, 5, 7, 100, 1000, 16384} {
				for _, version := range []byte{0x01, 0x03} {
					sni, err = p.FromRecords(rerecord(msg, size, version))
					check("fragmented handshake", sni, err)
				}
			}

			// Byte by byte: ErrNeedMore until the last byte, then the answer.
			for _, s := range [][]byte{stream, rerecord(msg, 7, 0x03)} {
				for i := 0; i < len(s); i++ {
					if _, err := p.FromRecords(s[:i]); err != ErrNeedMore {
						t.Fatalf("prefix of %d/%d bytes: err %v, want ErrNeedMore", i, len(s), err)
					}
				}
				sni, err = p.FromRecords(s)
				check("after byte by byte", sni, err)
			}
			for i := 0; i < len(msg); i++ {
				if _, err := p.FromHandshake(msg[:i]); err != ErrNeedMore {
					t.Fatalf("handshake prefix of %d/%d bytes: err %v, want ErrNeedMore", i, len(msg), err)
				}
			}
		})
	}
}

func TestParserReuse(t *testing.T) {
	// A small fragmented hello after a big one must not see the big one's bytes.
	var p Parser
	cfgs := helloConfigs()
	big := handshakeOf(t, clientHelloRecords(t, cfgs[0].cfg))
	small := handshakeOf(t, clientHelloRecords(t, cfgs[1].cfg))
	for i, c := range []struct {
		msg  []byte
		want string
	}{{big, cfgs[0].sni}, {small, cfgs[1].sni}, {big, cfgs[0].sni}} {
		sni, err := p.FromRecords(rerecord(c.msg, 50, 0x03))
		if err != nil || string(sni) != c.want {
			t.Fatalf("round %d: %q, %v; want %q", i, sni, err, c.want)
		}
	}
}

func TestNotTLS(t *testing.T) {
	var p Parser
	for _, in := range []string{
		"GET / HTTP/1.1\r\n",
		"\x17\x03\x03\x00\x10",
		"\x15\x03\x03\x00\x02\x02\x28",
		"\x16\x02",
		"\x16\x03\x05",
		"\x80\x2e\x01\x03\x01", // SSLv2-compatible hello
		"SSH-2.0-OpenSSH_9.6\r\n",
	} {
		if _, err := p.FromRecords([]byte(in)); err != ErrNotTLS {
			t.Errorf("%q: err %v, want ErrNotTLS", in, err)
		}
	}
	if _, err := p.FromRecords([]byte("\x16\x03\x01\x40\x01")); !errors.Is(err, ErrNotTLS) {
		t.Errorf("first record longer than 2^14: err %v, want ErrNotTLS", err)
	}
	for _, in := range []string{"", "\x16", "\x16\x03", "\x16\x03\x01", "\x16\x03\x01\x00", "\x16\x03\x01\x00\x05\x01"} {
		if _, err := p.FromRecords([]byte(in)); err != ErrNeedMore {
			t.Errorf("%q: err %v, want ErrNeedMore", in, err)
		}
	}
}

// hello builds a ClientHello handshake message from its parts so that the
// malformed cases below can break exactly one thing.
type hello struct {
	typ         byte
	lenDelta    int // added to the true body length in the handshake header
	sessionID   []byte
	suites      []byte
	comp        []byte
	noExts      bool
	exts        []byte
	extsLenDiff int
	trailer     []byte
}

func (h hello) bytes() []byte {
	body := []byte{0x03, 0x03}
	body = append(body, bytes.Repeat([]byte{0xab}, 32)...)
	body = append(body, byte(len(h.sessionID)))
	body = append(body, h.sessionID...)
	body = append(body, byte(len(h.suites)>>8), byte(len(h.suites)))
	body = append(body, h.suites...)
	body = append(body, byte(len(h.comp)))
	body = append(body, h.comp...)
	if !h.noExts {
		n := len(h.exts) + h.extsLenDiff
		body = append(body, byte(n>>8), byte(n))
		body = append(body, h.exts...)
	}
	body = append(body, h.trailer...)
	n := len(body) + h.lenDelta
	typ := h.typ
	if typ == 0 {
		typ = 1
	}
	return append([]byte{typ, byte(n >> 16), byte(n >> 8), byte(n)}, body...)
}

func ext(typ int, data []byte) []byte {
	return append([]byte{byte(typ >> 8), byte(typ), byte(len(data) >> 8), byte(len(data))}, data...)
}

func sniExt(names ...string) []byte {
	var list []byte
	for _, n := range names {
		list = append(list, 0, byte(len(n)>>8), byte(len(n)))
		list = append(list, n...)
	}
	return ext(0, append([]byte{byte(len(list) >> 8), byte(len(list))}, list...))
}

func cat(bs ...[]byte) []byte { return bytes.Join(bs, nil) }

func TestHandshakeCases(t *testing.T) {
	suites := []byte{0x13, 0x01}
	comp := []byte{0}
	base := hello{suites: suites, comp: comp}
	with := func(exts []byte) hello { h := base; h.exts = exts; return h }

	tests := []struct {
		name    string
		msg     []byte
		want    string
		wantErr error
	}{
		{"minimal with sni", with(sniExt("a.example")).bytes(), "a.example", nil},
		{"sni after other extensions", with(cat(ext(0x0a, []byte{0, 2, 0, 0x1d}), ext(0x2b, []byte{2, 3, 4}), sniExt("b.example"))).bytes(), "b.example", nil},
		{"no extensions block", hello{suites: suites, comp: comp, noExts: true}.bytes(), "", nil},
		{"empty extensions", with(nil).bytes(), "", nil},
		{"empty server_name extension", with(ext(0, nil)).bytes(), "", nil},
		{"empty server name list", with(ext(0, []byte{0, 0})).bytes(), "", nil},
		{"first of two host names", with(sniExt("first.example", "second.example")).bytes(), "first.example", nil},
		{"unknown name type skipped", with(ext(0, []byte{0, 8, 7, 0, 1, 'x', 0, 0, 1, 'y'})).bytes(), "y", nil},
		{"session id 32", hello{sessionID: make([]byte, 32), suites: suites, comp: comp, exts: sniExt("s.example")}.bytes(), "s.example", nil},
		{"trailing bytes after message ignored", append(with(sniExt("t.example")).bytes(), 0xde, 0xad), "t.example", nil},

		{"not a client hello", hello{typ: 2, suites: suites, comp: comp}.bytes(), "", ErrMalformed},
		{"too large", []byte{1, 0x01, 0x00, 0x00}, "", ErrTooLarge},
		{"short by header", hello{lenDelta: 1, suites: suites, comp: comp}.bytes(), "", ErrNeedMore},
		{"body too short for random", []byte{1, 0, 0, 10, 3, 3, 0, 0, 0, 0, 0, 0, 0, 0}, "", ErrMalformed},
		{"session id 33", hello{sessionID: make([]byte, 33), suites: suites, comp: comp}.bytes(), "", ErrMalformed},
		{"odd cipher suites", hello{suites: []byte{0x13, 0x01, 0x13}, comp: comp}.bytes(), "", ErrMalformed},
		{"no cipher suites", hello{comp: comp}.bytes(), "", ErrMalformed},
		{"no compression methods", hello{suites: suites}.bytes(), "", ErrMalformed},
		{"extensions length too long", func() []byte { h := with(sniExt("x.example")); h.extsLenDiff = 1; return h.bytes() }(), "", ErrMalformed},
		{"extensions length too short", func() []byte { h := with(sniExt("x.example")); h.extsLenDiff = -1; return h.bytes() }(), "", ErrMalformed},
		{"bytes after extensions", func() []byte { h := with(sniExt("x.example")); h.trailer = []byte{0}; return h.bytes() }(), "", ErrMalformed},
		{"extension overruns block", with([]byte{0, 0x0a, 0, 9, 0}).bytes(), "", ErrMalformed},
		{"truncated extension header", with([]byte{0, 0x0a, 0}).bytes(), "", ErrMalformed},
		{"server name list overruns", with(ext(0, []byte{0, 9, 0, 0, 1, 'a'})).bytes(), "", ErrMalformed},
		{"server name list short", with(ext(0, []byte{0, 3, 0, 0, 1, 'a'})).bytes(), "", ErrMalformed},
		{"host name overruns list", with(ext(0, []byte{0, 4, 0, 0, 5, 'a'})).bytes(), "", ErrMalformed},
		{"empty host name", with(ext(0, []byte{0, 3, 0, 0, 0})).bytes(), "", ErrMalformed},
		{"server_name twice", with(cat(sniExt("a.example"), sniExt("b.example"))).bytes(), "", ErrMalformed},
		{"one-byte server_name body", with(ext(0, []byte{0})).bytes(), "", ErrMalformed},
	}
	var p Parser
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, via := range []string{"handshake", "records", "records-3"} {
				var sni []byte
				var err error
				switch via {
				case "handshake":
					sni, err = p.FromHandshake(tt.msg)
				case "records":
					sni, err = p.FromRecords(rerecord(tt.msg, 1<<14, 0x01))
				case "records-3":
					sni, err = p.FromRecords(rerecord(tt.msg, 3, 0x03))
				}
				if tt.wantErr == nil {
					if err != nil || string(sni) != tt.want {
						t.Errorf("%s: got %q, %v; want %q", via, sni, err, tt.want)
					}
					continue
				}
				if tt.wantErr == ErrNeedMore && via != "handshake" && err == ErrNeedMore {
					continue
				}
				if !errors.Is(err, tt.wantErr) || sni != nil {
					t.Errorf("%s: got %q, %v; want error %v", via, sni, err, tt.wantErr)
				}
			}
		})
	}
}

func TestRecordCases(t *testing.T) {
	msg := hello{suites: []byte{0x13, 0x01}, comp: []byte{0}, exts: sniExt("r.example")}.bytes()
	twoRecords := rerecord(msg, 20, 0x03)
	second := 5 + 20 // offset of the second record header

	mutate := func(b []byte, off int, v byte) []byte {
		b = append([]byte{}, b...)
		b[off] = v
		return b
	}
	tests := []struct {
		name    string
		stream  []byte
		wantErr error
	}{
		{"alert between fragments", mutate(twoRecords, second, 0x15), ErrMalformed},
		{"ccs between fragments", mutate(twoRecords, second, 0x14), ErrMalformed},
		{"bad version in second record", mutate(twoRecords, second+1, 0x02), ErrMalformed},
		{"bad minor in second record", mutate(twoRecords, second+2, 0x09), ErrMalformed},
		{"second record too long", mutate(mutate(twoRecords, second+3, 0x40), second+4, 0x01), ErrMalformed},
		{"empty first record", append([]byte{0x16, 0x03, 0x01, 0, 0}, twoRecords...), ErrMalformed},
		{"empty second record", cat(twoRecords[:second], []byte{0x16, 0x03, 0x03, 0, 0}, twoRecords[second:]), ErrMalformed},
		{"server hello type", rerecord(mutate(msg, 0, 2), 1<<14, 0x03), ErrMalformed},
		{"handshake type in one-byte first record", rerecord(mutate(msg, 0, 0x0b), 1, 0x03), ErrMalformed},
		{"too large across records", rerecord([]byte{1, 0x01, 0x00, 0x01}, 2, 0x03), ErrTooLarge},
		{"length corrupted upward", mutate(twoRecords, 2+5, 0xff), ErrNeedMore},
	}
	var p Parser
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sni, err := p.FromRecords(tt.stream)
			if !errors.Is(err, tt.wantErr) || sni != nil {
				t.Errorf("got %q, %v; want %v", sni, err, tt.wantErr)
			}
		})
	}
}

func TestTruncatedAndCorrupted(t *testing.T) {
	stream := clientHelloRecords(t, helloConfigs()[0].cfg)
	msg := handshakeOf(t, stream)
	var p Parser
	// Corrupting any single length-bearing byte must give an error or an
	// answer, never a panic; shrinking the handshake length must not read
	// past what it announces.
	for i := 0; i < len(msg); i++ {
		for _, v := range []byte{0x00, 0xff, msg[i] ^ 0x01, msg[i] + 1} {
			b := append([]byte{}, msg...)
			b[i] = v
			sni, err := p.FromHandshake(b)
			if err == nil && sni != nil && !within(sni, b) {
				t.Fatalf("byte %d = %#x: sni %q is not inside the input", i, v, sni)
			}
			sni, err = p.FromRecords(rerecord(b, 1000, 0x03))
			if err == nil && sni != nil && !bytes.Contains(b, sni) {
				t.Fatalf("byte %d = %#x: sni %q is not from the input", i, v, sni)
			}
		}
	}
	for n := 4; n < len(msg); n++ {
		b := append([]byte{}, msg[:n]...)
		m := n - 4
		b[1], b[2], b[3] = byte(m>>16), byte(m>>8), byte(m)
		sni, err := p.FromHandshake(b)
		if err == nil && sni != nil && !within(sni, b) {
			t.Fatalf("truncated to %d: sni outside the message", n)
		}
	}
}

// within reports whether s is a subslice of b.
func within(s, b []byte) bool {
	if len(s) == 0 {
		return true
	}
	for i := 0; i+len(s) <= len(b); i++ {
		if &b[i] == &s[0] {
			return true
		}
	}
	return false
}

func TestZeroAllocs(t *testing.T) {
	stream := clientHelloRecords(t, helloConfigs()[0].cfg)
	fragmented := rerecord(handshakeOf(t, stream), 100, 0x03)
	var p Parser
	if _, err := p.FromRecords(fragmented); err != nil { // grow the scratch once
		t.Fatal(err)
	}
	for name, s := range map[string][]byte{"whole": stream, "fragmented": fragmented, "prefix": stream[:700]} {
		allocs := testing.AllocsPerRun(100, func() { _, _ = p.FromRecords(s) })
		if allocs != 0 {
			t.Errorf("%s: %v allocs per call, want 0", name, allocs)
		}
	}
	notTLS := []byte("GET / HTTP/1.1")
	if allocs := testing.AllocsPerRun(100, func() { _, _ = p.FromRecords(notTLS) }); allocs != 0 {
		t.Errorf("not TLS: %v allocs per call, want 0", allocs)
	}
}

func BenchmarkClientHelloSNI(b *testing.B) {
	stream := clientHelloRecords(b, helloConfigs()[0].cfg)
	for _, c := range []struct {
		name string
		in   []byte
	}{
		{"OneRecordPQ", stream},
		{"Fragmented100", rerecord(handshakeOf(b, stream), 100, 0x03)},
		{"NotTLS", []byte("GET / HTTP/1.1\r\nHost: example.com\r\n\r\n")},
	} {
		b.Run(c.name, func(b *testing.B) {
			var p Parser
			b.ReportAllocs()
			b.SetBytes(int64(len(c.in)))
			for b.Loop() {
				_, _ = p.FromRecords(c.in)
			}
		})
	}
}
