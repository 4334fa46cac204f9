package quic_test

import (
	"encoding/hex"
	"fmt"

	"github.com/campusguard/campusguard/capture/quic"
	"github.com/campusguard/campusguard/capture/tlshello"
)

// A worker keeps one Opener and one tlshello.Parser, and one CryptoStream
// per connection attempt it is reassembling (keyed by the flow and DCID in
// the caller's table). Here: the client Initial of RFC 9001 Appendix A.2.
func ExampleOpener() {
	var (
		opener quic.Opener
		stream quic.CryptoStream
		parser tlshello.Parser
	)
	datagram := rfc9001Datagram()

	info, err := opener.Open(datagram, func(offset uint64, data []byte) {
		if err := stream.Add(offset, data); err != nil {
			fmt.Println("crypto stream:", err)
		}
	})
	if err != nil {
		fmt.Println("open:", err)
		return
	}
	fmt.Printf("version %#x, DCID %x, %d Initial\n", info.Version, info.DCID, info.Initials)

	if msg, complete := stream.Hello(); complete {
		sni, err := parser.FromHandshake(msg)
		fmt.Printf("SNI %q, err %v\n", sni, err)
	}
	// Output:
	// version 0x1, DCID 8394c8f03e515708, 1 Initial
	// SNI "example.com", err <nil>
}

// rfc9001Datagram rebuilds the protected packet of RFC 9001 Appendix A.2
// from the package's test vector.
func rfc9001Datagram() []byte {
	b, err := hex.DecodeString(quic.RFC9001ClientInitialForExample)
	if err != nil {
		panic(err)
	}
	return b
}
