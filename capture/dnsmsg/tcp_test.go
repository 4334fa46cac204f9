package dnsmsg

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
)

// frame prefixes each message with its 2-byte length.
func frame(msgs ...[]byte) []byte {
	var b []byte
	for _, m := range msgs {
		b = append(b, byte(len(m)>>8), byte(len(m)))
		b = append(b, m...)
	}
	return b
}

// collect feeds the chunks to a fresh stream and returns copies of the
// messages and the first error.
func collect(chunks ...[]byte) ([][]byte, error) {
	var s TCPStream
	var got [][]byte
	for _, c := range chunks {
		if err := s.Feed(c, func(msg []byte) { got = append(got, bytes.Clone(msg)) }); err != nil {
			return got, err
		}
	}
	return got, nil
}

func testMessages(n int) [][]byte {
	var msgs [][]byte
	for i := range n {
		msgs = append(msgs, bytes.Repeat([]byte{byte(i)}, 1+i*37%300))
	}
	return msgs
}

func TestTCPStream(t *testing.T) {
	msgs := testMessages(3)
	stream := frame(msgs...)
	check := func(name string, got [][]byte, err error, want [][]byte) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(got) != len(want) {
			t.Fatalf("%s: %d messages, want %d", name, len(got), len(want))
		}
		for i := range want {
			if !bytes.Equal(got[i], want[i]) {
				t.Errorf("%s: message %d differs", name, i)
			}
		}
	}

	got, err := collect(stream)
	check("whole", got, err, msgs)

	var bytewise [][]byte
	for i := range stream {
		bytewise = append(bytewise, stream[i:i+1])
	}
	got, err = collect(bytewise...)
	check("byte by byte", got, err, msgs)

	for cut := range len(stream) + 1 {
		got, err = collect(stream[:cut], stream[cut:])
		check(fmt.Sprintf("split at %d", cut), got, err, msgs)
	}

	many := testMessages(500)
	got, err = collect(frame(many...))
	check("many in one chunk", got, err, many)

	big := bytes.Repeat([]byte{0xAB}, 65535)
	bigStream := frame(big, msgs[0])
	got, err = collect(bigStream[:1000], bigStream[1000:40000], bigStream[40000:])
	check("largest message split", got, err, [][]byte{big, msgs[0]})
}

func TestTCPStreamZeroLength(t *testing.T) {
	for _, chunks := range [][][]byte{
		{{0, 0}},
		{{0}, {0}},
		{frame([]byte("abc")), {0, 0, 0, 3}},
		{frame([]byte("abc"))[:4], {'c', 0}, {0}},
	} {
		var s TCPStream
		var err error
		for _, c := range chunks {
			if err = s.Feed(c, func([]byte) {}); err != nil {
				break
			}
		}
		if !errors.Is(err, ErrZeroLength) {
			t.Errorf("chunks %q: err = %v, want %v", chunks, err, ErrZeroLength)
		}
		if err := s.Feed(frame([]byte("x")), func([]byte) { t.Error("failed stream delivered a message") }); !errors.Is(err, ErrZeroLength) {
			t.Errorf("after failure: err = %v, want it to stay failed", err)
		}
		s.Reset()
		n := 0
		if err := s.Feed(frame([]byte("x")), func([]byte) { n++ }); err != nil || n != 1 {
			t.Errorf("after Reset: err %v, %d messages", err, n)
		}
	}
}

func TestTCPStreamBuffersOneMessage(t *testing.T) {
	var s TCPStream
	stream := frame(bytes.Repeat([]byte{1}, 65535))
	for i := 0; i < len(stream)-1; i += 1000 {
		if err := s.Feed(stream[i:min(i+1000, len(stream)-1)], func([]byte) { t.Fatal("message before its last byte") }); err != nil {
			t.Fatal(err)
		}
		if s.Buffered() > 2+65535 {
			t.Fatalf("Buffered() = %d", s.Buffered())
		}
	}
	n := 0
	if err := s.Feed(stream[len(stream)-1:], func([]byte) { n++ }); err != nil || n != 1 || s.Buffered() != 0 {
		t.Errorf("last byte: err %v, %d messages, %d buffered", err, n, s.Buffered())
	}
}

func TestTCPStreamNoAllocs(t *testing.T) {
	stream := frame(testMessages(4)...)
	var s TCPStream
	fn := func([]byte) {}
	feed := func() {
		for i := 0; i < len(stream); i += 7 {
			_ = s.Feed(stream[i:min(i+7, len(stream))], fn)
		}
	}
	feed() // grow the buffer
	if n := testing.AllocsPerRun(100, feed); n != 0 {
		t.Errorf("Feed allocates %v times per stream", n)
	}
}
