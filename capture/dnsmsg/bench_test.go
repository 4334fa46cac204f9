package dnsmsg

import (
	"testing"

	"golang.org/x/net/dns/dnsmessage"
)

func benchUnpack(b *testing.B, msg []byte) {
	var m Message
	if err := m.Unpack(msg); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	for b.Loop() {
		if err := m.Unpack(msg); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkUnpackQuery(b *testing.B) {
	benchUnpack(b, build(b, dnsmessage.Header{ID: 1, RecursionDesired: true}, "www.example.com.", dnsmessage.TypeA))
}

func BenchmarkUnpackResponse(b *testing.B) {
	benchUnpack(b, build(b, dnsmessage.Header{ID: 1, Response: true, RecursionDesired: true}, "www.shop.example.", dnsmessage.TypeA,
		rr{name: "www.shop.example.", cname: "shop.example.cdn.example.net."},
		rr{name: "shop.example.cdn.example.net.", cname: "edge.cdn.example.net."},
		rr{name: "edge.cdn.example.net.", addr: "192.0.2.1"},
		rr{name: "edge.cdn.example.net.", addr: "192.0.2.2"}))
}

func BenchmarkUnpackMalformed(b *testing.B) {
	msg := wire(1, 0, "\x01a\xc0\x0c", qA) // a pointer loop
	var m Message
	b.ReportAllocs()
	for b.Loop() {
		if m.Unpack(msg) == nil {
			b.Fatal("no error")
		}
	}
}

func BenchmarkTCPStream(b *testing.B) {
	stream := frame(testMessages(8)...)
	var s TCPStream
	fn := func([]byte) {}
	b.SetBytes(int64(len(stream)))
	b.ReportAllocs()
	for b.Loop() {
		for i := 0; i < len(stream); i += 100 {
			_ = s.Feed(stream[i:min(i+100, len(stream))], fn)
		}
	}
}
