package capture

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/campusguard/campusguard/capture/pcapgen"
	"github.com/campusguard/campusguard/internal/event"
	"github.com/campusguard/campusguard/matcher"
	"github.com/campusguard/campusguard/rules"
)

// frameBuilder serializes test frames.
type frameBuilder struct {
	tb  testing.TB
	buf gopacket.SerializeBuffer
}

func newFrameBuilder(tb testing.TB) *frameBuilder {
	return &frameBuilder{tb: tb, buf: gopacket.NewSerializeBuffer()}
}

func (b *frameBuilder) tcp(src, dst string, sport, dport uint16, seq uint32, flags string, payload []byte) []byte {
	b.tb.Helper()
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: net.ParseIP(src).To4(), DstIP: net.ParseIP(dst).To4()}
	t := &layers.TCP{SrcPort: layers.TCPPort(sport), DstPort: layers.TCPPort(dport), Seq: seq, Window: 1000,
		SYN: strings.Contains(flags, "S"), ACK: strings.Contains(flags, "A"), FIN: strings.Contains(flags, "F"), RST: strings.Contains(flags, "R")}
	if err := t.SetNetworkLayerForChecksum(ip); err != nil {
		b.tb.Fatal(err)
	}
	eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, EthernetType: layers.EthernetTypeIPv4}
	if err := gopacket.SerializeLayers(b.buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, eth, ip, t, gopacket.Payload(payload)); err != nil {
		b.tb.Fatal(err)
	}
	return append([]byte(nil), b.buf.Bytes()...)
}

func collect(w *Worker) *[]*event.Event {
	var evs []*event.Event
	w.opts.Emit = func(ev *event.Event) { evs = append(evs, ev) }
	return &evs
}

// TestTLSHelloOutOfOrderAndRetransmitted: a post-quantum ClientHello in
// three segments arriving 3, 1, 1 (again), 2 yields its SNI once, on the
// frame that completed it, with the client as src.
func TestTLSHelloOutOfOrderAndRetransmitted(t *testing.T) {
	hello, err := pcapgen.ClientHello("reorder.example", true)
	if err != nil {
		t.Fatal(err)
	}
	if len(hello) < 1500 {
		t.Fatalf("post-quantum hello is only %d bytes", len(hello))
	}
	b := newFrameBuilder(t)
	const isn = 0xFFFFFF00 // the stream wraps the sequence space
	cut1, cut2 := 700, 1400
	segs := [][]byte{
		b.tcp("10.0.0.9", "192.0.2.1", 40000, 443, isn, "S", nil),
		b.tcp("10.0.0.9", "192.0.2.1", 40000, 443, isn+1+uint32(cut2), "A", hello[cut2:]),
		b.tcp("10.0.0.9", "192.0.2.1", 40000, 443, isn+1, "A", hello[:cut1]),
		b.tcp("10.0.0.9", "192.0.2.1", 40000, 443, isn+1, "A", hello[:cut1]),
		b.tcp("10.0.0.9", "192.0.2.1", 40000, 443, isn+1+uint32(cut1), "A", hello[cut1:cut2]),
	}
	w := NewWorker(Options{AllEvents: true}, nil)
	evs := collect(w)
	for i, f := range segs {
		w.Packet(layers.LayerTypeEthernet, f, time.Unix(1, 0), uint64(i+1))
	}
	if len(*evs) != 1 {
		t.Fatalf("got %d events, want 1", len(*evs))
	}
	ev := (*evs)[0]
	if ev.Kind != event.KindTLS || ev.Name != "reorder.example" || ev.Frame != 5 || ev.Src != "10.0.0.9" || ev.DstPort != 443 {
		t.Errorf("event = %+v", ev)
	}
	if st := w.Stats(); st.Retransmits != 1 || st.ReassemblyBytes != 0 {
		t.Errorf("retransmits %d (want 1), reassembly bytes left %d (want 0)", st.Retransmits, st.ReassemblyBytes)
	}
}

// TestHTTPKeepAliveMidStream: requests on a connection whose SYN was not
// captured are still read, bodies are skipped, and hosts lose their port.
func TestHTTPKeepAliveMidStream(t *testing.T) {
	b := newFrameBuilder(t)
	reqs := "GET /a HTTP/1.1\r\nHost: one.example:8080\r\n\r\n" +
		"POST /b HTTP/1.1\r\nHost: two.example\r\nContent-Length: 20\r\n\r\nGET /no HTTP/1.1\r\n\r\n" +
		"GET /c?x=1 HTTP/1.1\r\nhost:  three.example \r\n\r\n"
	w := NewWorker(Options{AllEvents: true}, nil)
	evs := collect(w)
	seq := uint32(5000)
	for i := 0; i < len(reqs); i += 37 {
		end := min(i+37, len(reqs))
		w.Packet(layers.LayerTypeEthernet, b.tcp("10.0.0.2", "192.0.2.80", 50000, 80, seq, "A", []byte(reqs[i:end])), time.Unix(1, 0), uint64(i/37+1))
		seq += uint32(end - i)
	}
	var got []string
	for _, ev := range *evs {
		got = append(got, ev.Name+" "+ev.URL)
	}
	want := []string{"one.example /a", "two.example /b", "three.example /c?x=1"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("got %q, want %q", got, want)
	}
}

// TestMatchingAndPseudonyms: hits come from the rule set with owned
// strings, and clients are replaced by stable pseudonyms.
func TestMatchingAndPseudonyms(t *testing.T) {
	m, _, err := matcher.New(matcher.Options{Packs: []string{"builtin"}, Builtin: rules.FS})
	if err != nil {
		t.Fatal(err)
	}
	p, err := NewPseudonymizer(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	path, _ := writeCapture(t, pcapgen.Config{Seed: 4, Packets: 3000, NoQUIC: true})
	evs, st := scanEvents(t, path, Options{Rules: m.Set, Pseudonyms: p})
	hits := 0
	for _, ev := range evs {
		if !strings.HasPrefix(ev.Src, "anon-") || len(ev.Src) != len("anon-")+16 {
			t.Fatalf("src %q is not a pseudonym", ev.Src)
		}
		for _, h := range ev.Hits {
			hits++
			text := ev.Name
			if h.Field == event.FieldCNAME {
				continue
			}
			if text[h.Start:h.End] != h.Match {
				t.Errorf("hit %+v does not slice %q", h, text)
			}
		}
	}
	if hits == 0 || uint64(hits) != st.Hits {
		t.Errorf("%d hits in events, %d counted", hits, st.Hits)
	}
	a := netip.MustParseAddr("10.1.2.3")
	if p.Name(a) != p.Name(netip.AddrFrom16(a.As16())) {
		t.Error("IPv4 and its mapped form get different pseudonyms")
	}
	q, _ := NewPseudonymizer(bytes.Repeat([]byte{8}, 32))
	if p.Name(a) == q.Name(a) {
		t.Error("another key gives the same pseudonym")
	}
}

// TestCNAMEToBlockedName: a response whose chain passes through a listed
// name hits, with the hit on the cname field.
func TestCNAMEToBlockedName(t *testing.T) {
	m, _, err := matcher.New(matcher.Options{Packs: []string{"builtin"}, Builtin: rules.FS})
	if err != nil {
		t.Fatal(err)
	}
	path, _ := writeCapture(t, pcapgen.Config{Seed: 11, Packets: 20000, NoQUIC: true,
		Names: []string{"www.example.com", "c2.botnet.test"}})
	evs, _ := scanEvents(t, path, Options{Rules: m.Set})
	for _, ev := range evs {
		if ev.Kind != event.KindDNS || ev.Name != "www.example.com" || len(ev.Hits) == 0 {
			continue
		}
		if ev.Hits[0].Field != event.FieldCNAME || ev.CNAMEs[0] != "c2.botnet.test" {
			t.Fatalf("unexpected hit %+v on %+v", ev.Hits[0], ev)
		}
		return
	}
	t.Fatal("no benign name that resolved through c2.botnet.test hit")
}

// TestBadCaptureFiles: bad files give clear errors or counted skips.
func TestBadCaptureFiles(t *testing.T) {
	dir := t.TempDir()
	good, _ := writeCapture(t, pcapgen.Config{Seed: 5, Packets: 200, NoQUIC: true})
	goodBytes, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	random := make([]byte, 4096)
	for i := range random {
		random[i] = byte(rng.Uint32())
	}
	var wrongLink bytes.Buffer
	pw := pcapgo.NewWriter(&wrongLink)
	_ = pw.WriteFileHeader(65535, layers.LinkTypeIEEE802_11)
	_ = pw.WritePacket(gopacket.CaptureInfo{CaptureLength: 4, Length: 4, Timestamp: time.Unix(1, 0)}, []byte{1, 2, 3, 4})
	cases := []struct {
		name    string
		data    []byte
		wantErr string
	}{
		{"empty", nil, "empty file"},
		{"short", []byte{0xd4, 0xc3}, "too short"},
		{"random", random, "not a pcap or pcapng"},
		{"truncated", goodBytes[:len(goodBytes)-37], "truncated"},
		{"header only", goodBytes[:24], ""},
		{"wrong link type", wrongLink.Bytes(), "unsupported link type"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(c.name, " ", "_")+".pcap")
			if err := os.WriteFile(path, c.data, 0o600); err != nil {
				t.Fatal(err)
			}
			w := NewWorker(Options{}, nil)
			err := ReadFile(path, w, nil)
			if c.wantErr == "" {
				if err != nil {
					t.Fatalf("error %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.wantErr) || !strings.Contains(err.Error(), path) {
				t.Fatalf("error %v, want one naming the file and saying %q", err, c.wantErr)
			}
			if c.name == "truncated" && (!errors.Is(err, ErrTruncated) || w.Stats().Packets == 0) {
				t.Errorf("truncated file: %v after %d packets", err, w.Stats().Packets)
			}
		})
	}
}

// TestMangledFramesNeverPanic: every frame of a real capture, truncated
// at random and with random bytes flipped, is decoded without a panic
// escaping, and panics inside are counted rather than crashing.
func TestMangledFramesNeverPanic(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	w := NewWorker(Options{AllEvents: true, Emit: func(*event.Event) {}}, nil)
	for i, data := range generatedFrames(t, pcapgen.Config{Seed: 6, Packets: 4000, Tunnels: 0.5}) {
		no := uint64(i + 1)
		for k := 0; k < 4; k++ {
			m := append([]byte(nil), data[:rng.IntN(len(data)+1)]...)
			for j := 0; j < 1+rng.IntN(4) && len(m) > 0; j++ {
				m[rng.IntN(len(m))] ^= byte(1 + rng.IntN(255))
			}
			w.Packet(layers.LayerTypeEthernet, m, time.Unix(int64(no), 0), no)
		}
	}
	st := w.Stats()
	if st.Panics > 0 {
		t.Errorf("%d panics recovered: a decoder panicked on mangled input", st.Panics)
	}
	if len(st.DecodeErrors) == 0 {
		t.Error("no decode errors counted on mangled frames")
	}
}

// TestFlowTableUnderCapWithSYNFlood: a million SYNs from distinct sources
// keep the flow table within its memory cap, evicting the oldest.
func TestFlowTableUnderCapWithSYNFlood(t *testing.T) {
	if testing.Short() {
		t.Skip("a million packets")
	}
	const capBytes = 16 << 20
	w := NewWorker(Options{Flows: FlowLimits{Memory: capBytes}}, nil)
	b := newFrameBuilder(t)
	frame := b.tcp("10.0.0.1", "192.0.2.1", 1, 443, 1, "S", nil)
	// The source address and port sit at fixed offsets: rewrite them in
	// place instead of serializing a million frames (checksums do not
	// matter to the decoder).
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	for i := uint32(0); i < 1_000_000; i++ {
		frame[26], frame[27], frame[28], frame[29] = 10, byte(i>>16), byte(i>>8), byte(i)
		frame[34], frame[35] = byte(i>>8), byte(i)
		w.Packet(layers.LayerTypeEthernet, frame, time.Unix(0, int64(i)*1000), uint64(i+1))
	}
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	st := w.Stats()
	if got := w.flows.memory(); got > capBytes {
		t.Errorf("flow table accounts %d bytes, cap %d", got, capBytes)
	}
	if grown := int64(after.HeapAlloc) - int64(before.HeapAlloc); grown > capBytes {
		t.Errorf("heap grew %d MB under a %d MB cap", grown>>20, capBytes>>20)
	}
	if st.flows.evicted == 0 || st.FlowsActive != w.flows.maxFlows {
		t.Errorf("evicted %d, active %d (max %d)", st.flows.evicted, st.FlowsActive, w.flows.maxFlows)
	}
	t.Logf("1M SYNs: %d flows kept (max %d), %d evicted, heap +%d MB (cap %d MB)",
		st.FlowsActive, w.flows.maxFlows, st.flows.evicted, (int64(after.HeapAlloc)-int64(before.HeapAlloc))>>20, capBytes>>20)
}

// TestIdleFlowsExpire: flows not seen for the idle time are dropped.
func TestIdleFlowsExpire(t *testing.T) {
	w := NewWorker(Options{Flows: FlowLimits{Idle: int64(time.Second)}}, nil)
	b := newFrameBuilder(t)
	w.Packet(layers.LayerTypeEthernet, b.tcp("10.0.0.1", "192.0.2.1", 1000, 443, 1, "S", nil), time.Unix(100, 0), 1)
	w.Packet(layers.LayerTypeEthernet, b.tcp("10.0.0.2", "192.0.2.1", 1000, 443, 1, "S", nil), time.Unix(100, 5e8), 2)
	if n := w.Stats().FlowsActive; n != 2 {
		t.Fatalf("%d flows, want 2", n)
	}
	w.Packet(layers.LayerTypeEthernet, b.tcp("10.0.0.3", "192.0.2.1", 1000, 443, 1, "S", nil), time.Unix(101, 2e8), 3)
	st := w.Stats()
	if st.FlowsActive != 2 || st.flows.expired != 1 {
		t.Errorf("active %d expired %d, want 2 and 1", st.FlowsActive, st.flows.expired)
	}
}

// TestSteadyStateAllocations: once pools and the flow table are warm,
// decoding and extracting traffic that hits nothing allocates nothing —
// DNS, split and reordered TLS hellos, keep-alive HTTP and bulk TCP alike.
// (IPv4 fragments are copied for the defragmenter and are left out.)
func TestSteadyStateAllocations(t *testing.T) {
	frames := generatedFrames(t, pcapgen.Config{Seed: 12, Packets: 5000, NoQUIC: true,
		Names: []string{"www.example.com", "cdn.example.net"}})
	m, _, err := matcher.New(matcher.Options{Packs: []string{"builtin"}, Builtin: rules.FS})
	if err != nil {
		t.Fatal(err)
	}
	w := NewWorker(Options{Rules: m.Set, Emit: func(ev *event.Event) { t.Fatalf("unexpected hit %+v", ev) }}, nil)
	ts := time.Unix(1e9, 0)
	pass := func() {
		for i, fr := range frames {
			if len(fr) > 34 && fr[12] == 8 && fr[13] == 0 && (fr[20]&0x20 != 0 || fr[21] != 0) {
				continue // an IPv4 fragment
			}
			w.Packet(layers.LayerTypeEthernet, fr, ts, uint64(i+1))
		}
	}
	pass()
	pass()
	if n := testing.AllocsPerRun(3, pass); n > 0 {
		t.Errorf("%.1f allocations per pass of %d frames in steady state", n, len(frames))
	}
}
