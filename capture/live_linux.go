package capture

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/afpacket"
	"github.com/gopacket/gopacket/layers"
	"golang.org/x/net/bpf"
)

// LiveConfig says what to capture from.
type LiveConfig struct {
	Interfaces []string
	// Workers is the number of fanout members per interface: each has its
	// own socket, ring and Worker, and the kernel spreads flows over them.
	Workers int
	// BPF is a tcpdump filter expression, compiled with tcpdump -ddd.
	BPF string
	// RingMB sizes each socket's TPACKET_V3 ring (default 32 MiB).
	RingMB int
}

// Live captures from interfaces with AF_PACKET TPACKET_V3 rings and fanout.
type Live struct {
	cfg     LiveConfig
	opts    Options
	met     *Metrics
	members []*liveMember
	cancel  context.CancelFunc
	wg      sync.WaitGroup
}

type liveMember struct {
	iface string
	first gopacket.LayerType
	tp    *afpacket.TPacket
	w     *Worker
	stats atomic.Pointer[Stats] // the worker's counters as of its last flush
	// Kernel counters already published.
	kernPackets, kernDrops uint
}

// NewLive opens a socket per interface and worker; it needs CAP_NET_RAW.
func NewLive(cfg LiveConfig, opts Options, met *Metrics) (*Live, error) {
	if len(cfg.Interfaces) == 0 {
		return nil, errors.New("live capture: no interfaces configured (capture.interfaces)")
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 1
	}
	if cfg.RingMB <= 0 {
		cfg.RingMB = 32
	}
	l := &Live{cfg: cfg, opts: opts, met: met}
	for _, iface := range cfg.Interfaces {
		first, err := interfaceLayer(iface)
		if err != nil {
			l.close()
			return nil, err
		}
		var filter []bpf.RawInstruction
		if cfg.BPF != "" {
			if filter, err = CompileBPF(cfg.BPF, first); err != nil {
				l.close()
				return nil, err
			}
		}
		// One fanout group per interface and process.
		group := uint16(os.Getpid()&0xff00 | len(l.members)&0xff)
		for i := 0; i < cfg.Workers; i++ {
			m, err := openMember(iface, first, filter, cfg, group)
			if err != nil {
				l.close()
				return nil, err
			}
			m.w = NewWorker(opts, met)
			l.members = append(l.members, m)
		}
	}
	return l, nil
}

func openMember(iface string, first gopacket.LayerType, filter []bpf.RawInstruction, cfg LiveConfig, group uint16) (*liveMember, error) {
	const frame = 1 << 16 // whole frames up to 64 KiB (GRO, jumbo)
	block := 1 << 20
	blocks := max(cfg.RingMB<<20/block, 2)
	tp, err := afpacket.NewTPacket(
		afpacket.OptInterface(iface),
		afpacket.OptFrameSize(frame),
		afpacket.OptBlockSize(block),
		afpacket.OptNumBlocks(blocks),
		afpacket.OptPollTimeout(200*time.Millisecond),
		afpacket.OptBlockTimeout(20*time.Millisecond),
		afpacket.TPacketVersion3)
	if err != nil {
		return nil, fmt.Errorf("capture on %s: %w (campusguard needs CAP_NET_RAW)", iface, err)
	}
	if filter != nil {
		if err := tp.SetBPF(filter); err != nil {
			tp.Close()
			return nil, fmt.Errorf("capture on %s: attach BPF filter: %w", iface, err)
		}
	}
	if cfg.Workers > 1 {
		if err := tp.SetFanout(afpacket.FanoutHashWithDefrag, group); err != nil {
			tp.Close()
			return nil, fmt.Errorf("capture on %s: join fanout group %d: %w", iface, group, err)
		}
	}
	return &liveMember{iface: iface, first: first, tp: tp}, nil
}

// Start runs one goroutine per socket until ctx ends or Stop.
func (l *Live) Start(ctx context.Context) error {
	ctx, l.cancel = context.WithCancel(ctx)
	for _, m := range l.members {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			l.run(ctx, m)
		}()
	}
	return nil
}

// Stop ends capture and closes the sockets.
func (l *Live) Stop() {
	if l.cancel != nil {
		l.cancel()
	}
	l.wg.Wait()
	l.close()
}

// close closes the sockets; the members stay for Stats.
func (l *Live) close() {
	for _, m := range l.members {
		if m.tp != nil {
			m.tp.Close()
			m.tp = nil
		}
	}
}

// Stats sums the workers' counters as of their last flush (at most a poll
// timeout old).
func (l *Live) Stats() Stats {
	var s Stats
	for _, m := range l.members {
		if st := m.stats.Load(); st != nil {
			s.Add(*st)
		}
	}
	return s
}

func (l *Live) run(ctx context.Context, m *liveMember) {
	flushAt := time.Now().Add(time.Second)
	for ctx.Err() == nil {
		data, ci, err := m.tp.ZeroCopyReadPacketData()
		switch {
		case err == nil:
			m.w.Packet(m.first, data, ci.Timestamp, 0)
		case errors.Is(err, afpacket.ErrTimeout):
		default:
			// EINTR and friends: count as a decode error of the link and
			// go on; a closed socket ends with ctx.
			m.w.stats.decodeError("socket")
			time.Sleep(10 * time.Millisecond)
		}
		if now := time.Now(); err != nil || now.After(flushAt) {
			flushAt = now.Add(time.Second)
			l.flush(m)
		}
	}
	l.flush(m)
}

// flush publishes a member's counters and the kernel's.
func (l *Live) flush(m *liveMember) {
	m.w.Flush()
	st := m.w.Stats()
	m.stats.Store(&st)
	if l.met == nil {
		return
	}
	_, v3, err := m.tp.SocketStats()
	if err != nil {
		return
	}
	if p := v3.Packets(); p >= m.kernPackets {
		l.met.KernelPackets.WithLabelValues(m.iface).Add(float64(p - m.kernPackets))
		m.kernPackets = p
	}
	if d := v3.Drops(); d >= m.kernDrops {
		l.met.KernelDrops.WithLabelValues(m.iface).Add(float64(d - m.kernDrops))
		m.kernDrops = d
	}
}

// interfaceLayer picks the first layer from the interface's hardware
// address (read over netlink, in the calling thread's namespace): Ethernet
// and loopback frame with Ethernet headers, tun devices send raw IP.
func interfaceLayer(iface string) (gopacket.LayerType, error) {
	ifi, err := net.InterfaceByName(iface)
	if err != nil {
		return 0, fmt.Errorf("capture: interface %q: %w", iface, err)
	}
	switch {
	case len(ifi.HardwareAddr) == 6 || ifi.Flags&net.FlagLoopback != 0:
		return layers.LayerTypeEthernet, nil
	case len(ifi.HardwareAddr) == 0:
		return layers.LayerTypeIPv4, nil // the decoder picks v4 or v6 by nibble
	}
	return 0, fmt.Errorf("capture: interface %q has a %d-byte hardware address; campusguard captures Ethernet, loopback and raw IP interfaces", iface, len(ifi.HardwareAddr))
}

// CompileBPF compiles a tcpdump filter expression for a link layer with
// tcpdump -ddd, so campusguard needs neither cgo nor libpcap; tcpdump is a
// dependency only when a filter is configured.
func CompileBPF(expr string, first gopacket.LayerType) ([]bpf.RawInstruction, error) {
	link := "EN10MB"
	if first != layers.LayerTypeEthernet {
		link = "RAW"
	}
	tcpdump, err := exec.LookPath("tcpdump")
	if err != nil {
		return nil, fmt.Errorf("capture.bpf %q: compiling a filter needs tcpdump (apt install tcpdump): %w", expr, err)
	}
	out, err := exec.Command(tcpdump, "-y", link, "-ddd", expr).CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("capture.bpf %q: %s", expr, strings.TrimSpace(string(out)))
	}
	return parseBPF(string(out))
}

// parseBPF reads tcpdump -ddd output: a count, then "code jt jf k" lines
// (at most BPF_MAXINSNS, 4096, instructions).
func parseBPF(s string) ([]bpf.RawInstruction, error) {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	n, err := strconv.Atoi(strings.TrimSpace(lines[0]))
	if err != nil || n != len(lines)-1 || n == 0 || n > 4096 {
		return nil, fmt.Errorf("unexpected tcpdump -ddd output %q", lines[0])
	}
	prog := make([]bpf.RawInstruction, n)
	for i, line := range lines[1:] {
		var v [4]uint64
		f := strings.Fields(line)
		if len(f) != 4 {
			return nil, fmt.Errorf("unexpected tcpdump -ddd line %q", line)
		}
		for j := range f {
			if v[j], err = strconv.ParseUint(f[j], 10, 32); err != nil {
				return nil, fmt.Errorf("unexpected tcpdump -ddd line %q", line)
			}
		}
		prog[i] = bpf.RawInstruction{Op: uint16(v[0]), Jt: uint8(v[1]), Jf: uint8(v[2]), K: uint32(v[3])}
	}
	return prog, nil
}
