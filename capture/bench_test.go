package capture

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"

	"github.com/campusguard/campusguard/capture/pcapgen"
	"github.com/campusguard/campusguard/internal/benchclock"
	"github.com/campusguard/campusguard/internal/event"
	"github.com/campusguard/campusguard/matcher"
	"github.com/campusguard/campusguard/rules"
)

var (
	benchOnce sync.Once
	benchPcap []byte
)

// loadBenchPcap generates a 200k-frame mixed capture (~150 MB) in memory.
func loadBenchPcap(b *testing.B) []byte {
	benchOnce.Do(func() {
		var buf bytes.Buffer
		if _, err := pcapgen.Write(&buf, pcapgen.Config{Seed: 42, Packets: 200_000, Tunnels: 0.1, Names: benchNames()}); err != nil {
			b.Fatal(err)
		}
		benchPcap = buf.Bytes()
	})
	return benchPcap
}

// benchNames are 40 hostnames of which 2 are on the example lists: about 5%
// of names hit, as on a campus link (the test captures use far more).
func benchNames() []string {
	names := []string{"login-verify.example", "c2.botnet.test"}
	for i := len(names); i < 40; i++ {
		names = append(names, fmt.Sprintf("www%d.example.edu", i))
	}
	return names
}

// BenchmarkDecodeExtract: read, decode and extract a 200k-frame mixed
// capture held in memory (pcap bytes, read with pcapgo as `scan` does), on
// one core, with the example rule packs. One op = the whole capture; the
// target is ≥ 2 Mpps per core, with 0 allocs per frame in steady state
// (the allocations per op are the reader's and the events' for hits).
func BenchmarkDecodeExtract(b *testing.B) {
	pcap := loadBenchPcap(b)
	m, _, err := matcher.New(matcher.Options{Packs: []string{"builtin"}, Builtin: rules.FS})
	if err != nil {
		b.Fatal(err)
	}
	w := NewWorker(Options{Rules: m.Set, Emit: func(*event.Event) {}}, nil)
	pass := func() {
		if err := ReadBytes(pcap, w, nil); err != nil {
			b.Fatal(err)
		}
	}
	pass() // warm the flow table and pools
	frames := w.Stats().Packets
	b.SetBytes(int64(len(pcap)))
	b.ReportAllocs()
	b.ResetTimer()
	c := benchclock.Start()
	for i := 0; i < b.N; i++ {
		pass()
	}
	cpu := c.Stop(b, int64(len(pcap)))
	b.ReportMetric(float64(frames)*float64(b.N)/b.Elapsed().Seconds()/1e6, "Mpps")
	if cpu > 0 {
		b.ReportMetric(float64(frames)*float64(b.N)/cpu.Seconds()/1e6, "cpu-Mpps")
	}
}

// BenchmarkDecodeNonMatching is the zero-allocation case: bulk TCP and DNS
// for names no rule lists.
func BenchmarkDecodeNonMatching(b *testing.B) {
	frames := generatedFrames(b, pcapgen.Config{Seed: 43, Packets: 50_000, Names: []string{"www.example.com", "cdn.example.net"},
		Mix: pcapgen.Mix{DNS: 40, Bulk: 40, TLS: 10, HTTP: 10}})
	m, _, err := matcher.New(matcher.Options{Packs: []string{"builtin"}, Builtin: rules.FS})
	if err != nil {
		b.Fatal(err)
	}
	w := NewWorker(Options{Rules: m.Set, Emit: func(*event.Event) { b.Fatal("a non-matching frame hit") }}, nil)
	ts := time.Unix(1e9, 0)
	for i, f := range frames {
		w.Packet(layers.LayerTypeEthernet, f, ts, uint64(i+1))
	}
	b.ReportAllocs()
	b.ResetTimer()
	c := benchclock.Start()
	for i := 0; i < b.N; i++ {
		j := i % len(frames)
		w.Packet(layers.LayerTypeEthernet, frames[j], ts, uint64(j+1))
	}
	reportPPS(b, c.Stop(b, 0))
}

// reportPPS reports million packets per second of wall and of CPU time.
func reportPPS(b *testing.B, cpu time.Duration) {
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds()/1e6, "Mpps")
	if cpu > 0 {
		b.ReportMetric(float64(b.N)/cpu.Seconds()/1e6, "cpu-Mpps")
	}
}

// BenchmarkScanVsTshark runs `campusguard scan --events` and tshark -T
// fields on the same generated capture, one run each, and reports both wall
// times and their ratio. CAMPUSGUARD_BENCH_PCAP_PACKETS sets the size
// (default 2M frames, ~1.6 GB); the capture is cached in the temp dir.
func BenchmarkScanVsTshark(b *testing.B) {
	tshark, err := exec.LookPath("tshark")
	if err != nil {
		b.Skip("tshark not installed")
	}
	packets := 2_000_000
	if v := os.Getenv("CAMPUSGUARD_BENCH_PCAP_PACKETS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			b.Fatal(err)
		}
		packets = n
	}
	path := filepath.Join(os.TempDir(), "campusguard-bench-"+strconv.Itoa(packets)+".pcap")
	if _, err := os.Stat(path); err != nil {
		f, err := os.Create(path + ".tmp")
		if err != nil {
			b.Fatal(err)
		}
		bw := bufio.NewWriterSize(f, 1<<20)
		if _, err := pcapgen.Write(bw, pcapgen.Config{Seed: 99, Packets: packets, Tunnels: 0.1}); err != nil {
			b.Fatal(err)
		}
		if err := bw.Flush(); err != nil {
			b.Fatal(err)
		}
		f.Close()
		if err := os.Rename(path+".tmp", path); err != nil {
			b.Fatal(err)
		}
	}
	fi, _ := os.Stat(path)
	bin := filepath.Join(b.TempDir(), "campusguard")
	if out, err := exec.Command("go", "build", "-o", bin, "../cmd/campusguard").CombinedOutput(); err != nil {
		b.Fatalf("build: %v\n%s", err, out)
	}
	run := func(name string, args ...string) time.Duration {
		cmd := exec.Command(name, args...)
		cmd.Stdout, cmd.Stderr = nil, nil
		start := time.Now()
		if err := cmd.Run(); err != nil {
			b.Fatalf("%s: %v", name, err)
		}
		return time.Since(start)
	}
	for i := 0; i < b.N; i++ {
		cg := run(bin, "scan", "--events", "--pseudonymize=off", path)
		ts := run(tshark, "-n", "-r", path, "-T", "fields", "-e", "dns.qry.name",
			"-e", "tls.handshake.extensions_server_name", "-e", "http.host")
		b.ReportMetric(cg.Seconds(), "campusguard-s")
		b.ReportMetric(ts.Seconds(), "tshark-s")
		b.ReportMetric(ts.Seconds()/cg.Seconds(), "speedup")
		b.ReportMetric(float64(fi.Size())/ts.Seconds()/1e6, "tshark-MB/s")
		b.ReportMetric(float64(fi.Size())/cg.Seconds()/1e6, "campusguard-MB/s")
	}
}
