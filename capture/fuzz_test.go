package capture

import (
	"bufio"
	"bytes"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/campusguard/campusguard/capture/pcapgen"
	"github.com/campusguard/campusguard/internal/event"
)

// generatedFrames returns the frames of a generated capture.
func generatedFrames(tb testing.TB, cfg pcapgen.Config) [][]byte {
	tb.Helper()
	var buf bytes.Buffer
	if _, err := pcapgen.Write(&buf, cfg); err != nil {
		tb.Fatal(err)
	}
	r, err := pcapgo.NewReader(&buf)
	if err != nil {
		tb.Fatal(err)
	}
	var out [][]byte
	for {
		data, _, err := r.ReadPacketData()
		if err != nil {
			return out
		}
		out = append(out, data)
	}
}

// FuzzPacket: any frame, under any link type, decodes without a panic
// (recovered panics count as failures here), and every event it yields
// has a kind and a name or URL.
func FuzzPacket(f *testing.F) {
	for _, fr := range generatedFrames(f, pcapgen.Config{Seed: 21, Packets: 300, Tunnels: 0.6}) {
		f.Add(uint8(0), fr)
	}
	f.Add(uint8(1), []byte{0, 0, 0, 0})
	f.Add(uint8(4), []byte{0x45, 0, 0, 20, 0, 0, 0x20, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2})
	links := []layers.LinkType{layers.LinkTypeEthernet, layers.LinkTypeLinuxSLL, layers.LinkTypeLinuxSLL2,
		layers.LinkTypeNull, layers.LinkTypeRaw, layers.LinkTypeIPv6}
	f.Fuzz(func(t *testing.T, link uint8, frame []byte) {
		first, err := firstLayer(links[int(link)%len(links)])
		if err != nil {
			t.Fatal(err)
		}
		w := NewWorker(Options{AllEvents: true, Emit: func(ev *event.Event) {
			if ev.Kind == event.KindUnknown || ev.Name == "" && ev.URL == "" {
				t.Fatalf("event without kind or name: %+v", ev)
			}
		}}, nil)
		// Twice: the second time the flow table knows the flow.
		w.Packet(first, frame, time.Unix(1, 0), 1)
		w.Packet(first, frame, time.Unix(2, 0), 2)
		if p := w.Stats().Panics; p > 0 {
			t.Fatalf("%d panics recovered", p)
		}
	})
}

// FuzzReassembly: a TLS ClientHello cut into segments delivered in a
// fuzzed order, with fuzzed overlaps and duplicates, yields its SNI at
// most once, only when every byte arrived, and never leaves buffered bytes
// behind once the flow is done.
func FuzzReassembly(f *testing.F) {
	hello, err := pcapgen.ClientHello("fuzz.example", true)
	if err != nil {
		f.Fatal(err)
	}
	f.Add([]byte{0, 10, 1, 200, 2, 100, 3, 255, 4, 0}, false)
	f.Add([]byte{3, 50, 2, 50, 1, 50, 0, 50}, true)
	f.Add([]byte{0, 255, 0, 255, 9, 1}, false)
	f.Fuzz(func(t *testing.T, plan []byte, syn bool) {
		b := newFrameBuilder(t)
		w := NewWorker(Options{AllEvents: true, Flows: FlowLimits{PerFlow: 4096}}, nil)
		evs := collect(w)
		const isn = 0xFFFFF000
		no := uint64(1)
		if syn {
			w.Packet(layers.LayerTypeEthernet, b.tcp("10.0.0.1", "192.0.2.1", 5555, 443, isn, "S", nil), time.Unix(1, 0), no)
			no++
		}
		covered := make([]bool, len(hello))
		// Each pair of plan bytes is (start in 1/16ths of the hello, length in 8-byte units).
		for i := 0; i+1 < len(plan) && i < 64; i += 2 {
			start := int(plan[i]) % 16 * len(hello) / 16
			if !syn && no == 1 {
				start = 0 // without a SYN, tracking starts at a record header
			}
			end := min(start+int(plan[i+1])*8+1, len(hello))
			seg := hello[start:end]
			seq := uint32(isn + 1 + start)
			w.Packet(layers.LayerTypeEthernet, b.tcp("10.0.0.1", "192.0.2.1", 5555, 443, seq, "A", seg), time.Unix(1, 0), no)
			no++
			for j := start; j < end; j++ {
				covered[j] = true
			}
		}
		complete := true
		for _, c := range covered {
			complete = complete && c
		}
		if len(*evs) > 1 {
			t.Fatalf("%d events for one hello", len(*evs))
		}
		if len(*evs) == 1 && (*evs)[0].Name != "fuzz.example" {
			t.Fatalf("SNI %q", (*evs)[0].Name)
		}
		if len(*evs) == 1 && !complete {
			t.Fatal("SNI reported before every byte of the hello arrived")
		}
		st := w.Stats()
		if st.Panics > 0 {
			t.Fatalf("%d panics", st.Panics)
		}
		if len(*evs) == 1 && st.ReassemblyBytes != 0 {
			t.Fatalf("%d bytes still buffered after the hello was read", st.ReassemblyBytes)
		}
	})
}

// FuzzCaptureFile: any bytes given as a capture file give events or an
// error, never a panic or a hang; the in-memory pcap reader and pcapgo's
// stream reader agree on what a file holds.
func FuzzCaptureFile(f *testing.F) {
	var buf bytes.Buffer
	if _, err := pcapgen.Write(&buf, pcapgen.Config{Seed: 31, Packets: 40, Tunnels: 0.5}); err != nil {
		f.Fatal(err)
	}
	good := buf.Bytes()
	f.Add(good)
	f.Add(good[:100])
	f.Add([]byte{0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0})
	f.Add([]byte{0x0a, 0x0d, 0x0d, 0x0a, 0x1c, 0, 0, 0, 0x4d, 0x3c, 0x2b, 0x1a})
	swapped := append([]byte{0xa1, 0xb2, 0xc3, 0xd4, 0, 2, 0, 4}, make([]byte, 16)...)
	f.Add(append(swapped, 0, 0, 0, 1, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0))
	f.Fuzz(func(t *testing.T, data []byte) {
		var a, b []seen
		wa := NewWorker(Options{AllEvents: true, Emit: func(ev *event.Event) { a = append(a, seen{ev.Frame, ev.Kind.String(), ev.Name}) }}, nil)
		errA := ReadBytes(data, wa, nil)
		if !isClassicPcap(data) {
			return
		}
		wb := NewWorker(Options{AllEvents: true, Emit: func(ev *event.Event) { b = append(b, seen{ev.Frame, ev.Kind.String(), ev.Name}) }}, nil)
		errB := Read(bufio.NewReader(bytes.NewReader(data)), wb, nil)
		// pcapgo rejects some headers the mapped reader reads, and takes a
		// truncated or corrupt record at the end for a clean end of file;
		// when it reads a file, both must see the same frames.
		if errB == nil && wa.Stats().Packets != wb.Stats().Packets {
			t.Fatalf("mapped reader saw %d frames (%v), pcapgo %d", wa.Stats().Packets, errA, wb.Stats().Packets)
		}
	})
}
