package pcapgen

import (
	"bytes"
	"net"
	"slices"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// TestDeterministic: a seed gives the same frames and events every time
// (only the key material crypto/tls draws differs), so tests that compare
// against the truth are reproducible; another seed gives another capture.
func TestDeterministic(t *testing.T) {
	gen := func(seed uint64) ([]byte, []Truth) {
		var b bytes.Buffer
		truth, err := Write(&b, Config{Seed: seed, Packets: 3000, Tunnels: 0.3})
		if err != nil {
			t.Fatal(err)
		}
		return b.Bytes(), truth
	}
	a, ta := gen(1)
	b, tb := gen(1)
	c, _ := gen(2)
	if len(a) != len(b) || !slices.Equal(ta, tb) {
		t.Error("the same seed gave different captures")
	}
	if bytes.Equal(a, c) {
		t.Error("different seeds gave the same capture")
	}
	kinds := map[string]int{}
	for _, tr := range ta {
		kinds[tr.Kind]++
	}
	for _, k := range []string{"dns", "tls", "http", "quic"} {
		if kinds[k] == 0 {
			t.Errorf("no %s events in 3000 frames: %v", k, kinds)
		}
	}
}

// TestFixedClient: with Config.Client every connection is that host's.
func TestFixedClient(t *testing.T) {
	for _, client := range []string{"10.9.8.7", "2001:db8:1::7"} {
		var b bytes.Buffer
		ip := net.ParseIP(client)
		if _, err := Write(&b, Config{Seed: 3, Packets: 500, Client: ip, Mix: Mix{DNS: 1, TLS: 1}}); err != nil {
			t.Fatal(err)
		}
		r, err := pcapgo.NewReader(&b)
		if err != nil {
			t.Fatal(err)
		}
		frames := 0
		for {
			data, _, err := r.ReadPacketData()
			if err != nil {
				break
			}
			frames++
			p := gopacket.NewPacket(data, layers.LayerTypeEthernet, gopacket.Default)
			var src, dst net.IP
			if l, ok := p.NetworkLayer().(*layers.IPv4); ok {
				src, dst = l.SrcIP, l.DstIP
			} else if l, ok := p.NetworkLayer().(*layers.IPv6); ok {
				src, dst = l.SrcIP, l.DstIP
			}
			if !src.Equal(ip) && !dst.Equal(ip) {
				t.Fatalf("frame %d: %v -> %v, not the client %s", frames, src, dst, client)
			}
		}
		if frames < 400 {
			t.Fatalf("%s: only %d frames", client, frames)
		}
	}
}
