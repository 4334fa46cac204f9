package quic

import (
	"bytes"
	"errors"
	"testing"
)

func TestCryptoStream(t *testing.T) {
	msg := append([]byte{1, 0, 0, 200}, bytes.Repeat([]byte("abcdefghij"), 20)...) // 204 bytes
	type add struct{ from, to int }
	tests := []struct {
		name         string
		adds         []add
		wantPrefix   int
		wantComplete bool
	}{
		{"nothing", nil, 0, false},
		{"whole", []add{{0, 204}}, 204, true},
		{"header only", []add{{0, 4}}, 4, false},
		{"three header bytes", []add{{0, 3}}, 3, false},
		{"reversed", []add{{150, 204}, {70, 150}, {0, 70}}, 204, true},
		{"gap", []add{{0, 50}, {60, 204}}, 50, false},
		{"gap filled", []add{{0, 50}, {60, 204}, {50, 60}}, 204, true},
		{"overlaps", []add{{10, 100}, {0, 20}, {90, 204}, {5, 150}}, 204, true},
		{"missing start", []add{{1, 204}}, 0, false},
		{"byte by byte backwards", func() []add {
			var a []add
			for i := 203; i >= 0; i-- {
				a = append(a, add{i, i + 1})
			}
			return a
		}(), 204, true},
		{"word boundaries", []add{{64, 128}, {0, 63}, {128, 204}, {63, 64}}, 204, true},
	}
	var cs CryptoStream
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cs.Reset() // reused across cases on purpose
			for _, a := range tt.adds {
				if err := cs.Add(uint64(a.from), msg[a.from:a.to]); err != nil {
					t.Fatal(err)
				}
			}
			got, complete := cs.Hello()
			if len(got) != tt.wantPrefix || complete != tt.wantComplete || !bytes.Equal(got, msg[:len(got)]) {
				t.Errorf("Hello() = %d bytes, complete %v; want %d, %v", len(got), complete, tt.wantPrefix, tt.wantComplete)
			}
		})
	}
}

func TestCryptoStreamResetForgets(t *testing.T) {
	var cs CryptoStream
	_ = cs.Add(0, bytes.Repeat([]byte{1}, 3000))
	cs.Reset()
	_ = cs.Add(100, []byte("late"))
	if got, _ := cs.Hello(); len(got) != 0 {
		t.Fatalf("after Reset, %d bytes of the old stream count as received", len(got))
	}
	_ = cs.Add(0, bytes.Repeat([]byte{2}, 50))
	if got, _ := cs.Hello(); len(got) != 50 {
		t.Fatalf("after Reset, prefix %d, want 50 (bytes 50..99 were never received)", len(got))
	}
}

func TestCryptoStreamLimit(t *testing.T) {
	var cs CryptoStream
	for _, tt := range []struct {
		offset uint64
		n      int
		ok     bool
	}{
		{0, MaxCryptoStream, true},
		{MaxCryptoStream - 1, 1, true},
		{MaxCryptoStream, 0, true}, // empty frames store nothing
		{MaxCryptoStream, 1, false},
		{MaxCryptoStream - 1, 2, false},
		{1 << 62, 1, false},
		{^uint64(0), 1, false},
		{0, MaxCryptoStream + 1, false},
	} {
		err := cs.Add(tt.offset, make([]byte, tt.n))
		if (err == nil) != tt.ok || err != nil && !errors.Is(err, ErrCryptoTooLarge) {
			t.Errorf("Add(%d, %d bytes) = %v, want ok %v", tt.offset, tt.n, err, tt.ok)
		}
	}
	if got, _ := cs.Hello(); len(got) != MaxCryptoStream {
		t.Errorf("prefix %d after filling, want %d", len(got), MaxCryptoStream)
	}
}

func TestCryptoStreamZeroAllocs(t *testing.T) {
	var cs CryptoStream
	data := make([]byte, 1800)
	run := func() {
		cs.Reset()
		_ = cs.Add(1000, data[1000:])
		_ = cs.Add(0, data[:1000])
		_, _ = cs.Hello()
	}
	run()
	if a := testing.AllocsPerRun(100, run); a != 0 {
		t.Errorf("%v allocs, want 0", a)
	}
}

func BenchmarkCryptoStreamTwoFrames(b *testing.B) {
	var cs CryptoStream
	data := make([]byte, 1800)
	data[0], data[2], data[3] = 1, 0x07, 0x04
	b.ReportAllocs()
	for b.Loop() {
		cs.Reset()
		_ = cs.Add(1100, data[1100:])
		_ = cs.Add(0, data[:1100])
		if _, ok := cs.Hello(); !ok {
			b.Fatal("incomplete")
		}
	}
}
