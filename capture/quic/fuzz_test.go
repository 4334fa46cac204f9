package quic

import (
	"bytes"
	"errors"
	"testing"

	"github.com/campusguard/campusguard/capture/tlshello"
)

var fuzzSealer = sealer{version: Version1, dcid: []byte("fuzzdcid"), padFront: true}

func FuzzOpen(f *testing.F) {
	hello := quicClientHello(f, "fuzz.example")
	first, second := sealer{version: Version2, dcid: []byte("seed-dcid")}.twoDatagrams(f, hello)
	for _, s := range []string{rfc9001ClientInitial, rfc9369ClientInitial, rfc9001ServerInitial, rfc9369ServerInitial} {
		f.Add(unhex(f, s), false)
	}
	f.Add(first, false)
	f.Add(append(append([]byte{}, first...), second...), false)
	// As a payload to seal: the frames of a real Initial.
	f.Add(append(cryptoFrame(0, hello[:300]), framePing, frameAck, 1, 0, 0, 0, frameConnectionClose, 0, 0, 1, 'x'), true)

	f.Fuzz(func(t *testing.T, in []byte, seal bool) {
		d := in
		if seal {
			// Seal the input as the payload of a valid Initial so the frame
			// walker sees arbitrary plaintext, which raw bytes never reach
			// past authentication.
			if len(in) > 1500 {
				return
			}
			d = fuzzSealer.seal(t, 0, in, MinInitialDatagram)
		}
		orig := append([]byte{}, d...)
		var o Opener
		var cs CryptoStream
		calls := 0
		info, err := o.Open(d, func(off uint64, data []byte) {
			calls++
			if len(data) > len(d) {
				t.Fatalf("CRYPTO frame of %d bytes from a %d-byte datagram", len(data), len(d))
			}
			if err := cs.Add(off, data); err != nil && !errors.Is(err, ErrCryptoTooLarge) {
				t.Fatalf("CryptoStream.Add: unexpected error %v", err)
			}
		})
		if !bytes.Equal(d, orig) {
			t.Fatal("Open modified the datagram")
		}
		if err != nil && err != ErrNotQUIC && err != ErrDecrypt && !errors.Is(err, ErrMalformed) {
			t.Fatalf("unexpected error kind: %v", err)
		}
		if err == ErrNotQUIC && (calls != 0 || info.Version != 0) {
			t.Fatalf("ErrNotQUIC after looking inside: %+v, %d calls", info, calls)
		}
		if len(info.DCID) > maxCIDLen || len(info.SCID) > maxCIDLen || info.Initials > len(d)/20 {
			t.Fatalf("implausible info %+v", info)
		}
		if calls > 0 && info.Initials == 0 && err == nil {
			t.Fatal("CRYPTO frames from no opened Initial")
		}
		msg, _ := cs.Hello()
		var p tlshello.Parser
		_, _ = p.FromHandshake(msg)

		// The same datagram opened again by the warmed-up Opener (cached
		// keys) gives the same outcome.
		info2, err2 := o.Open(d, nil)
		if (err == nil) != (err2 == nil) || info2.Initials != info.Initials {
			t.Fatalf("second open differs: %+v, %v vs %+v, %v", info2, err2, info, err)
		}
	})
}

// FuzzCryptoStream adds slices of msg at the offsets ops names, in that
// order, and checks the reassembled prefix against a byte-by-byte model.
// Each op is 5 bytes: a flag, a 16-bit offset and a 16-bit length. Flag bit
// 0x80 shifts the offset far out (past the limit), 0x40 resets the stream,
// 0x20 lets the length exceed 2047.
func FuzzCryptoStream(f *testing.F) {
	rfcHello := unhex(f, rfcClientHello)
	f.Add(rfcHello, []byte{0, 0, 0, 0, 241})
	f.Add(rfcHello, []byte{0, 0, 100, 0, 141, 0, 0, 0, 0, 100})
	f.Add(rfcHello, []byte{0, 0, 50, 0, 10, 0x40, 0, 0, 0, 0, 0, 0, 0, 0, 60, 0x80, 0, 1, 0, 1})
	f.Add(quicClientHello(f, "fuzz.example"), []byte{0, 4, 0, 2, 0, 0, 0, 0, 4, 0, 0, 0, 20, 0xff, 0xff})

	// Scratch reused across inputs (a fuzz worker runs one at a time), so
	// an execution costs what the ops touch, not 128 KiB of allocation.
	have := make([]bool, MaxCryptoStream)
	scratch := make([]byte, 1<<16)
	f.Fuzz(func(t *testing.T, msg, ops []byte) {
		var cs CryptoStream
		prefix := 0 // the model's contiguous prefix; only Reset shrinks it
		touched := 0
		defer func() { clear(have[:touched]) }()
		for len(ops) >= 5 {
			flag := ops[0]
			off := uint64(ops[1])<<8 | uint64(ops[2])
			n := int(ops[3])<<8 | int(ops[4])
			ops = ops[5:]
			if flag&0x20 == 0 {
				n %= 2048 // mostly frame-sized pieces; 0x20 allows up to 64 KiB
			}
			if flag&0x40 != 0 {
				cs.Reset()
				clear(have[:touched])
				prefix, touched = 0, 0
				continue
			}
			if flag&0x80 != 0 {
				off <<= flag & 0x3f
			}
			// Data comes from msg where it has bytes there, else zeros.
			data := scratch[:n]
			clear(data)
			if off < uint64(len(msg)) {
				copy(data, msg[off:])
			}
			err := cs.Add(off, data)
			fits := n == 0 || off <= MaxCryptoStream && uint64(n) <= MaxCryptoStream-off
			if (err == nil) != fits {
				t.Fatalf("Add(%d, %d bytes) = %v; fits %v", off, n, err, fits)
			}
			if err == nil && n > 0 {
				for i := range n {
					have[int(off)+i] = true
				}
				touched = max(touched, int(off)+n)
			}
			got, complete := cs.Hello()
			for prefix < len(have) && have[prefix] {
				prefix++
			}
			if len(got) != prefix {
				t.Fatalf("prefix %d, model %d", len(got), prefix)
			}
			// Bytes below len(msg) always come from msg.
			k := min(len(got), len(msg))
			if !bytes.Equal(got[:k], msg[:k]) {
				t.Fatalf("prefix bytes differ from what was added")
			}
			wantComplete := prefix >= 4 && prefix >= 4+(int(got[1])<<16|int(got[2])<<8|int(got[3]))
			if complete != wantComplete {
				t.Fatalf("complete %v, want %v", complete, wantComplete)
			}
		}
	})
}
