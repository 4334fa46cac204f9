package quic

import (
	"bytes"
	"encoding/hex"
	"errors"
	"testing"

	"github.com/campusguard/campusguard/capture/tlshello"
)

// frame is one CRYPTO frame as fn saw it.
type frame struct {
	offset uint64
	data   string
}

// openAll opens each datagram in turn and collects the CRYPTO frames.
func openAll(t *testing.T, o *Opener, datagrams ...[]byte) ([]frame, []Info, error) {
	t.Helper()
	var frames []frame
	var infos []Info
	for _, d := range datagrams {
		info, err := o.Open(d, func(off uint64, data []byte) {
			frames = append(frames, frame{off, string(data)})
		})
		infos = append(infos, info)
		if err != nil {
			return frames, infos, err
		}
	}
	return frames, infos, nil
}

// sniOf reassembles frames and reads the SNI, failing the test on any error.
func sniOf(t *testing.T, frames []frame) string {
	t.Helper()
	var cs CryptoStream
	for _, f := range frames {
		if err := cs.Add(f.offset, []byte(f.data)); err != nil {
			t.Fatal(err)
		}
	}
	msg, complete := cs.Hello()
	if !complete {
		t.Fatalf("hello incomplete after %d frames: %d contiguous bytes", len(frames), len(msg))
	}
	var p tlshello.Parser
	sni, err := p.FromHandshake(msg)
	if err != nil {
		t.Fatalf("FromHandshake: %v", err)
	}
	return string(sni)
}

func TestRFCClientInitials(t *testing.T) {
	for _, tt := range []struct {
		name    string
		version uint32
		packet  string
	}{
		{"v1 RFC 9001 A.2", Version1, rfc9001ClientInitial},
		{"v2 RFC 9369 A.2", Version2, rfc9369ClientInitial},
	} {
		t.Run(tt.name, func(t *testing.T) {
			pkt := unhex(t, tt.packet)
			orig := append([]byte{}, pkt...)
			var o Opener
			frames, infos, err := openAll(t, &o, pkt)
			if err != nil {
				t.Fatal(err)
			}
			info := infos[0]
			if info.Version != tt.version || hex.EncodeToString(info.DCID) != rfcDCID || len(info.SCID) != 0 || info.Initials != 1 {
				t.Errorf("info = %+v", info)
			}
			if len(frames) != 1 || frames[0].offset != 0 || hex.EncodeToString([]byte(frames[0].data)) != rfcClientHello {
				t.Fatalf("frames = %x", frames)
			}
			if got := sniOf(t, frames); got != "example.com" {
				t.Errorf("sni %q, want example.com", got)
			}
			if !bytes.Equal(pkt, orig) {
				t.Error("Open modified the caller's datagram")
			}
			// Opening again reuses the cached keys and gives the same.
			frames2, _, err := openAll(t, &o, pkt)
			if err != nil || len(frames2) != 1 || frames2[0] != frames[0] {
				t.Errorf("second open: %v, %d frames", err, len(frames2))
			}
		})
	}
}

func TestRFCServerInitialsDoNotOpen(t *testing.T) {
	for _, s := range []string{rfc9001ServerInitial, rfc9369ServerInitial} {
		var o Opener
		called := false
		info, err := o.Open(padDatagram(unhex(t, s)), func(uint64, []byte) { called = true })
		if err != ErrDecrypt || called {
			t.Errorf("server Initial: err %v, fn called %v; want ErrDecrypt, no call", err, called)
		}
		if info.Version == 0 || len(info.SCID) != 8 {
			t.Errorf("server Initial: info %+v should still describe the header", info)
		}
	}
}

// padDatagram pads d with zeros to MinInitialDatagram bytes, as a sender
// pads a short packet's datagram (zeros read as a short header and end the
// walk).
func padDatagram(d []byte) []byte {
	return append(d, make([]byte, max(0, MinInitialDatagram-len(d)))...)
}

func TestSmallDatagramRejectedBeforeKeys(t *testing.T) {
	d := sealer{version: Version1, dcid: []byte("small-dg")}.seal(t, 0, []byte{framePing}, 0)
	var o Opener
	if _, err := o.Open(d, nil); !errors.Is(err, ErrMalformed) || o.aead != nil {
		t.Errorf("%d-byte datagram: err %v, keys derived %v", len(d), err, o.aead != nil)
	}
	if _, err := o.Open(padDatagram(d), nil); err != nil {
		t.Errorf("padded to %d: %v", MinInitialDatagram, err)
	}
}

func TestPostQuantumHelloAcrossDatagrams(t *testing.T) {
	hello := quicClientHello(t, "video.example.edu")
	if len(hello) <= 1200 {
		t.Fatalf("hello is %d bytes; expected X25519MLKEM768 to push it past one Initial", len(hello))
	}
	for _, version := range []uint32{Version1, Version2} {
		s := sealer{version: version, dcid: []byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, scid: []byte{0xaa, 0xbb}}
		first, second := s.twoDatagrams(t, hello)
		if len(first) != 1200 || len(second) != 1200 {
			t.Fatalf("datagrams of %d and %d bytes", len(first), len(second))
		}
		for _, order := range []struct {
			name string
			d    [][]byte
		}{
			{"in order", [][]byte{first, second}},
			{"reversed", [][]byte{second, first}},
			{"coalesced", [][]byte{append(append([]byte{}, first...), second...)}},
			{"duplicated", [][]byte{second, second, first, first}},
		} {
			t.Run(hex.EncodeToString([]byte{byte(version)})+" "+order.name, func(t *testing.T) {
				var o Opener
				frames, infos, err := openAll(t, &o, order.d...)
				if err != nil {
					t.Fatal(err)
				}
				if infos[0].Version != version || !bytes.Equal(infos[0].DCID, s.dcid) || !bytes.Equal(infos[0].SCID, s.scid) {
					t.Errorf("info %+v", infos[0])
				}
				if got := sniOf(t, frames); got != "video.example.edu" {
					t.Errorf("sni %q", got)
				}
			})
		}
	}
}

// TestChaosFrames mimics clients that split the hello into many small CRYPTO
// frames, shuffle them and interleave PING and PADDING, ACK and
// CONNECTION_CLOSE (all frames an Initial may carry).
func TestChaosFrames(t *testing.T) {
	hello := quicClientHello(t, "chaos.example")
	var payload1, payload2 []byte
	ack := []byte{frameAck, 0x05, 0x00, 0x01, 0x00, 0x01, 0x02} // largest 5, 1 extra range
	ackECN := []byte{frameAckECN, 0x05, 0x00, 0x00, 0x00, 0x01, 0x02, 0x03}
	cc := append([]byte{frameConnectionClose, 0x00, 0x06, 0x03}, "bye"...)
	chunks := [][2]int{}
	for off := 0; off < len(hello); off += 97 {
		chunks = append(chunks, [2]int{off, min(off+97, len(hello))})
	}
	for i := len(chunks) - 1; i >= 0; i-- { // reversed order
		c := chunks[i]
		f := cryptoFrame(uint64(c[0]), hello[c[0]:c[1]])
		if i%2 == 0 {
			payload1 = append(payload1, f...)
			payload1 = append(payload1, framePing, framePadding, framePadding)
		} else {
			payload2 = append(payload2, f...)
		}
	}
	payload1 = append(append(payload1, ack...), ackECN...)
	payload2 = append(payload2, cc...)
	s := sealer{version: Version1, dcid: []byte("chaosdcid"), pnLen: 2}
	d1 := s.seal(t, 7, payload1, 1200)
	d2 := s.seal(t, 8, payload2, 1200)
	var o Opener
	frames, _, err := openAll(t, &o, d2, d1)
	if err != nil {
		t.Fatal(err)
	}
	if len(frames) != len(chunks) {
		t.Errorf("%d CRYPTO frames, want %d", len(frames), len(chunks))
	}
	if got := sniOf(t, frames); got != "chaos.example" {
		t.Errorf("sni %q", got)
	}
}

func TestCoalescedWithOtherPackets(t *testing.T) {
	hello := quicClientHello(t, "coalesced.example")
	dcid := []byte{9, 9, 9, 9, 9, 9, 9, 9}
	s := sealer{version: Version2, dcid: dcid}
	first, second := s.twoDatagrams(t, hello)
	hs := sealer{version: Version2, dcid: dcid, typ: 0b11}.seal(t, 0, []byte{framePing}, 0)      // Handshake
	zeroRTT := sealer{version: Version2, dcid: dcid, typ: 0b10}.seal(t, 0, []byte{framePing}, 0) // 0-RTT
	otherDCID := sealer{version: Version2, dcid: []byte{1, 1, 1, 1}}.seal(t, 3, []byte{0x08}, 0) // skipped: other DCID
	short := []byte{0x40, 1, 2, 3, 4, 5, 6, 7, 8, 9}

	d := bytes.Join([][]byte{first, hs, zeroRTT, otherDCID, second, short}, nil)
	var o Opener
	frames, infos, err := openAll(t, &o, d)
	if err != nil {
		t.Fatal(err)
	}
	if infos[0].Initials != 2 {
		t.Errorf("Initials = %d, want 2", infos[0].Initials)
	}
	if got := sniOf(t, frames); got != "coalesced.example" {
		t.Errorf("sni %q", got)
	}

	// A datagram of non-Initial packets only: described, nothing opened.
	info, err := o.Open(hs, nil)
	if err != nil || info.Initials != 0 || info.Version != Version2 {
		t.Errorf("Handshake-only datagram: %+v, %v", info, err)
	}
	// A trailing Retry or unknown-version packet ends the walk quietly.
	retry := append([]byte{0xc0 | paramsV2.typeRetry<<4}, 0x6b, 0x33, 0x43, 0xcf, 0, 0, 1, 2, 3)
	unknown := []byte{0xc0, 0xff, 0, 0, 0x1d, 0, 0, 0, 0}
	for _, tail := range [][]byte{retry, unknown} {
		if info, err := o.Open(append(append([]byte{}, first...), tail...), nil); err != nil || info.Initials != 1 {
			t.Errorf("tail %x: %+v, %v", tail[:5], info, err)
		}
	}
}

func TestPacketNumberLengths(t *testing.T) {
	hello := quicClientHello(t, "pn.example")
	for pnLen := 1; pnLen <= 4; pnLen++ {
		s := sealer{version: Version1, dcid: []byte("pn-dcid!"), pnLen: pnLen}
		var o Opener
		// Increasing packet numbers across the window of a 1-byte encoding
		// exercise the decoding against the largest seen.
		var frames []frame
		for i, pn := range []uint64{0, 100, 200, 300} {
			part := hello[i*len(hello)/4 : (i+1)*len(hello)/4]
			d := s.seal(t, pn, cryptoFrame(uint64(i*len(hello)/4), part), 1200)
			got, _, err := openAll(t, &o, d)
			if err != nil {
				t.Fatalf("pnLen %d, pn %d: %v", pnLen, pn, err)
			}
			frames = append(frames, got...)
		}
		if got := sniOf(t, frames); got != "pn.example" {
			t.Errorf("pnLen %d: sni %q", pnLen, got)
		}
	}
}

func TestWrongKeys(t *testing.T) {
	hello := quicClientHello(t, "wrong.example")
	for _, s := range []sealer{
		{version: Version1, dcid: []byte("header-dcid"), keysFor: []byte("other-dcid")},
		{version: Version2, dcid: []byte("header-dcid"), keysFor: []byte("other-dcid")},
	} {
		d := s.seal(t, 0, cryptoFrame(0, hello[:500]), 1200)
		var o Opener
		if _, _, err := openAll(t, &o, d); err != ErrDecrypt {
			t.Errorf("version %#x: err %v, want ErrDecrypt", s.version, err)
		}
	}
	// v1 packet bytes labelled as v2 (and the reverse) do not open either.
	d := unhex(t, rfc9001ClientInitial)
	copy(d[1:5], []byte{0x6b, 0x33, 0x43, 0xcf})
	var o Opener
	if info, err := o.Open(d, nil); err == nil && info.Initials > 0 {
		t.Error("a v1 packet relabelled v2 opened")
	}
}

func TestDisallowedFrames(t *testing.T) {
	for _, tt := range []struct {
		name    string
		payload []byte
	}{
		{"STREAM", []byte{0x08, 0x00, 0x01, 'x'}},
		{"NEW_TOKEN", []byte{0x07, 0x01, 'x'}},
		{"application CONNECTION_CLOSE", []byte{0x1d, 0x00, 0x00}},
		{"non-minimal CRYPTO type", []byte{0x40, 0x06, 0x00, 0x01, 'x'}},
		{"CRYPTO overruns", []byte{0x06, 0x00, 0x44, 0x00, 'x'}},
		{"CRYPTO offset truncated", []byte{0x06, 0xc0}},
		{"CRYPTO length truncated", []byte{0x06, 0x00, 0x80, 0x00}},
		{"CRYPTO beyond 2^62", append([]byte{0x06, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02}, "xy"...)},
		{"ACK truncated", []byte{0x02, 0x05, 0x00}},
		{"ACK range count huge", []byte{0x02, 0x05, 0x00, 0xbf, 0xff, 0xff, 0xff, 0x00}},
		{"ACK ranges truncated", []byte{0x02, 0x05, 0x00, 0x02, 0x00, 0x01, 0x02}},
		{"ACK ECN truncated", []byte{0x03, 0x05, 0x00, 0x00, 0x00, 0x01, 0x02}},
		{"CONNECTION_CLOSE reason overruns", []byte{0x1c, 0x00, 0x00, 0x44, 0x00, 'x'}},
		{"CONNECTION_CLOSE truncated", []byte{0x1c, 0x00}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			// Padding in front keeps the bad frame at the end of the packet.
			d := sealer{version: Version1, dcid: []byte("frames!!"), padFront: true}.seal(t, 0, tt.payload, MinInitialDatagram)
			var o Opener
			_, err := o.Open(d, nil)
			if !errors.Is(err, ErrMalformed) {
				t.Errorf("err %v, want ErrMalformed", err)
			}
		})
	}
}

func TestNotQUIC(t *testing.T) {
	var o Opener
	for _, tt := range []struct {
		name string
		d    string
	}{
		{"empty", ""},
		{"too short", "c000000001"},
		{"short header", "4000000001088394c8f03e5157080000449e"},
		{"version negotiation", "c000000000088394c8f03e51570800000000010a0a0a0a"},
		{"unknown version", "c0ff00001d088394c8f03e5157080000449e00000002"},
		{"dns query", "123401000001000000000000076578616d706c6503636f6d0000010001"},
	} {
		d := unhex(t, tt.d)
		if _, err := o.Open(d, nil); err != ErrNotQUIC {
			t.Errorf("%s: err %v, want ErrNotQUIC", tt.name, err)
		}
		if a := testing.AllocsPerRun(50, func() { _, _ = o.Open(d, nil) }); a != 0 {
			t.Errorf("%s: %v allocs, want 0", tt.name, a)
		}
	}
}

func TestMalformedHeaders(t *testing.T) {
	for _, tt := range []struct {
		name string
		d    string
	}{
		{"dcid too long", "c00000000115" + "000102030405060708090a0b0c0d0e0f1011121314" + "00000000"},
		{"dcid overruns", "c00000000108000102"},
		{"scid missing", "c000000001020102"},
		{"scid too long", "c0000000010015000102030405060708090a0b0c0d0e0f101112131400"},
		{"token length truncated", "c0000000010000"},
		{"token overruns", "c000000001000005aa"},
		{"length truncated", "c00000000100000040"},
		{"length overruns", "c0000000010000004fffaabb"},
		{"too short for sample", "c00000000100000005000000000000"},
		{"small datagram", "c0000000010000000500000000000000000000000000000000000000000000000000000000"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var o Opener
			d := unhex(t, tt.d)
			if tt.name != "small datagram" {
				d = padDatagram(d) // so the header, not the size, is what fails
			}
			_, err := o.Open(d, nil)
			if !errors.Is(err, ErrMalformed) {
				t.Errorf("err %v, want ErrMalformed", err)
			}
		})
	}
}

// TestTruncatedAndFlipped cuts a real Initial at every length and flips
// every bit: each result is an error (or, for flips outside the packet's
// authenticated bytes, the same answer), never a panic or a wrong hello.
func TestTruncatedAndFlipped(t *testing.T) {
	hello := quicClientHello(t, "flip.example")
	s := sealer{version: Version1, dcid: []byte("flipflop"), token: []byte("tok")}
	d, _ := s.twoDatagrams(t, hello)
	var o Opener
	want, _, err := openAll(t, &o, d)
	if err != nil {
		t.Fatal(err)
	}
	for n := 0; n < len(d); n++ {
		info, err := o.Open(d[:n], func(uint64, []byte) { t.Fatalf("fn called for a packet truncated to %d", n) })
		if err == nil {
			t.Fatalf("truncated to %d: no error, info %+v", n, info)
		}
	}
	for i := 0; i < len(d); i++ {
		for bit := 0; bit < 8; bit++ {
			c := append([]byte{}, d...)
			c[i] ^= 1 << bit
			// The whole header is authenticated, so a flip either fails or
			// turns the packet into one that is not a client Initial (type
			// bits), which is skipped.
			info, err := o.Open(c, func(uint64, []byte) {
				t.Fatalf("byte %d bit %d flipped: fn called", i, bit)
			})
			if err == nil && info.Initials != 0 {
				t.Fatalf("byte %d bit %d flipped: packet still opened", i, bit)
			}
		}
	}
	if len(want) != 1 {
		t.Errorf("%d frames before flipping, want 1", len(want))
	}
}

func TestZeroAllocsSteadyState(t *testing.T) {
	hello := quicClientHello(t, "alloc.example")
	first, second := sealer{version: Version1, dcid: []byte("allocs!!")}.twoDatagrams(t, hello)
	var o Opener
	var cs CryptoStream
	var p tlshello.Parser
	add := func(off uint64, data []byte) { _ = cs.Add(off, data) }
	run := func() {
		cs.Reset()
		_, _ = o.Open(first, add)
		_, _ = o.Open(second, add)
		msg, _ := cs.Hello()
		_, _ = p.FromHandshake(msg)
	}
	run() // warm up: keys, buffers
	if a := testing.AllocsPerRun(100, run); a != 0 {
		t.Errorf("%v allocs per hello, want 0", a)
	}
	server := padDatagram(unhex(t, rfc9001ServerInitial))
	if a := testing.AllocsPerRun(100, func() { _, _ = o.Open(server, nil) }); a != 0 {
		t.Errorf("%v allocs per undecryptable Initial, want 0", a)
	}
}

func BenchmarkOpenInitial(b *testing.B) {
	hello := quicClientHello(b, "bench.example")
	first, second := sealer{version: Version1, dcid: []byte("benchdcid")}.twoDatagrams(b, hello)
	b.Run("Datagram", func(b *testing.B) {
		var o Opener
		b.ReportAllocs()
		b.SetBytes(int64(len(first)))
		for b.Loop() {
			if _, err := o.Open(first, nil); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("HelloTwoDatagramsToSNI", func(b *testing.B) {
		var o Opener
		var cs CryptoStream
		var p tlshello.Parser
		add := func(off uint64, data []byte) { _ = cs.Add(off, data) }
		b.ReportAllocs()
		b.SetBytes(int64(len(first) + len(second)))
		for b.Loop() {
			cs.Reset()
			_, _ = o.Open(first, add)
			_, _ = o.Open(second, add)
			msg, _ := cs.Hello()
			if sni, err := p.FromHandshake(msg); err != nil || len(sni) == 0 {
				b.Fatal(err)
			}
		}
	})
	b.Run("NewDCIDEachDatagram", func(b *testing.B) {
		// Worst case: every datagram a new connection, so every one derives keys.
		v1 := unhex(b, rfc9001ClientInitial)
		v2 := unhex(b, rfc9369ClientInitial)
		var o Opener
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			d := v1
			if i%2 == 1 {
				d = v2
			}
			i++
			if _, err := o.Open(d, nil); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("NotQUIC", func(b *testing.B) {
		d := unhex(b, "123401000001000000000000076578616d706c6503636f6d0000010001")
		var o Opener
		b.ReportAllocs()
		for b.Loop() {
			_, _ = o.Open(d, nil)
		}
	})
}

// TestSealerMatchesRFC anchors the test sealer: given the RFC's header
// fields and frames, it must produce the RFCs' protected packets byte for
// byte, so packets it makes for the other tests are real client Initials.
func TestSealerMatchesRFC(t *testing.T) {
	for _, tt := range []struct {
		version uint32
		packet  string
	}{{Version1, rfc9001ClientInitial}, {Version2, rfc9369ClientInitial}} {
		s := sealer{version: tt.version, dcid: unhex(t, rfcDCID)}
		got := s.seal(t, 2, cryptoFrame(0, unhex(t, rfcClientHello)), MinInitialDatagram)
		if want := unhex(t, tt.packet); !bytes.Equal(got, want) {
			t.Errorf("version %#x: sealed packet differs from the RFC's\ngot  %x\nwant %x", tt.version, got[:64], want[:64])
		}
	}
}
