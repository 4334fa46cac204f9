package tlshello_test

import (
	"crypto/tls"
	"fmt"
	"net"

	"github.com/campusguard/campusguard/capture/tlshello"
)

// The caller appends each in-order TCP segment to the flow's buffer and asks
// again until the answer is not ErrNeedMore. Here a crypto/tls client writes
// its post-quantum ClientHello (bigger than one MTU) and the reader takes it
// in 512-byte segments.
func ExampleParser_FromRecords() {
	client, server := net.Pipe()
	go func() {
		_ = tls.Client(client, &tls.Config{ServerName: "www.example.edu"}).Handshake()
	}()
	defer client.Close()
	defer server.Close()

	var p tlshello.Parser
	var stream []byte
	segment := make([]byte, 512)
	for {
		n, err := server.Read(segment)
		if err != nil {
			fmt.Println("read:", err)
			return
		}
		stream = append(stream, segment[:n]...)
		sni, err := p.FromRecords(stream)
		if err == tlshello.ErrNeedMore {
			continue
		}
		fmt.Printf("SNI %q, err %v, more than one segment: %v\n", sni, err, len(stream) > len(segment))
		return
	}
	// Output:
	// SNI "www.example.edu", err <nil>, more than one segment: true
}
