package httpreq

import "testing"

// browserGET is a typical browser request head (about 500 bytes).
const browserGET = "GET /search?q=campus+events&page=2 HTTP/1.1\r\n" +
	"Host: www.example.edu\r\n" +
	"User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0\r\n" +
	"Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n" +
	"Accept-Language: zh-CN,zh;q=0.8,en-US;q=0.5,en;q=0.3\r\n" +
	"Accept-Encoding: gzip, deflate\r\n" +
	"Connection: keep-alive\r\n" +
	"Cookie: session=0123456789abcdef0123456789abcdef; theme=dark\r\n" +
	"Upgrade-Insecure-Requests: 1\r\n" +
	"Priority: u=0, i\r\n\r\n"

func benchFeed(b *testing.B, in []byte, segment int) {
	var s Stream
	n := 0
	fn := func(*Request) { n++ }
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		for i := 0; i < len(in); i += segment {
			if err := s.Feed(in[i:min(i+segment, len(in))], fn); err != nil {
				b.Fatal(err)
			}
		}
	}
	if n == 0 {
		b.Fatal("no requests")
	}
}

// BenchmarkStreamGET: one request head per segment, parsed in place.
func BenchmarkStreamGET(b *testing.B) { benchFeed(b, []byte(browserGET), len(browserGET)) }

// BenchmarkStreamGETSplit: the same head over three segments, buffered.
func BenchmarkStreamGETSplit(b *testing.B) { benchFeed(b, []byte(browserGET), len(browserGET)/3+1) }

// BenchmarkStreamPipelined: GET, POST with a 4 KiB body, chunked POST, in 1448-byte segments.
func BenchmarkStreamPipelined(b *testing.B) {
	body := make([]byte, 4096)
	in := []byte(browserGET + "POST /api/posts HTTP/1.1\r\nHost: forum.example.edu\r\nContent-Type: application/json\r\nContent-Length: 4096\r\n\r\n")
	in = append(in, body...)
	in = append(in, "POST /upload HTTP/1.1\r\nHost: forum.example.edu\r\nTransfer-Encoding: chunked\r\n\r\n400\r\n"...)
	in = append(in, body[:1024]...)
	in = append(in, "\r\n0\r\n\r\n"...)
	benchFeed(b, in, 1448)
}
