package nft

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/campusguard/campusguard/internal/netns"
)

// The kernel tests run in network namespaces they create, so they need
// root. They are skipped, loudly, only where namespaces cannot be made.

var (
	netnsOnce   sync.Once
	netnsReason string
	nsSeq       atomic.Int64
)

func requireNetNS(t testing.TB) {
	t.Helper()
	netnsOnce.Do(func() {
		if os.Geteuid() != 0 {
			netnsReason = "not running as root"
			return
		}
		if _, err := exec.LookPath("ip"); err != nil {
			netnsReason = "iproute2 (ip) is not installed"
			return
		}
		name := fmt.Sprintf("cg%d-probe", os.Getpid())
		if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
			netnsReason = fmt.Sprintf("ip netns add failed: %v: %s", err, out)
			return
		}
		_ = exec.Command("ip", "netns", "del", name).Run()
	})
	if netnsReason != "" {
		t.Skipf("SKIPPING nftables kernel test: cannot create network namespaces (%s); these tests need root", netnsReason)
	}
}

// netNS is a network namespace made for one test and deleted after it.
type netNS struct {
	name string
	fd   int
}

func newNetNS(t testing.TB, role string) *netNS {
	t.Helper()
	requireNetNS(t)
	name := fmt.Sprintf("cg%d-%d-%s", os.Getpid(), nsSeq.Add(1), role)
	run(t, "ip", "netns", "add", name)
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
			t.Errorf("delete network namespace %s: %v: %s", name, err, out)
		}
	})
	fd, err := unix.Open("/var/run/netns/"+name, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatalf("open network namespace %s: %v", name, err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	n := &netNS{name: name, fd: fd}
	n.ip(t, "link", "set", "lo", "up")
	// No duplicate address detection on the links made later: it delays
	// the first IPv6 packets by a second.
	n.exec(t, "sysctl", "-qw", "net.ipv6.conf.default.accept_dad=0", "net.ipv6.conf.all.accept_dad=0")
	return n
}

// run runs a command and fails the test if it fails.
func run(t testing.TB, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// ip runs `ip -n NS args...`.
func (n *netNS) ip(t testing.TB, args ...string) {
	t.Helper()
	run(t, "ip", append([]string{"-n", n.name}, args...)...)
}

// exec runs a command inside the namespace.
func (n *netNS) exec(t testing.TB, args ...string) string {
	t.Helper()
	return run(t, "ip", append([]string{"netns", "exec", n.name}, args...)...)
}

// execIn returns a command that runs inside the namespace.
func execIn(n *netNS, name string, args ...string) *exec.Cmd {
	return exec.Command("ip", append([]string{"netns", "exec", n.name, name}, args...)...)
}

// nft runs the nft CLI inside the namespace, as an outside check.
func (n *netNS) nft(t testing.TB, args ...string) string {
	t.Helper()
	return n.exec(t, append([]string{"nft"}, args...)...)
}

// do runs f on an OS thread that has entered the namespace; sockets f
// opens belong to the namespace for their whole life.
func (n *netNS) do(t testing.TB, f func()) {
	t.Helper()
	if err := netns.Do(n.fd, f); err != nil {
		t.Fatalf("%s: %v", n.name, err)
	}
}

// listen serves TCP on addr inside the namespace, closing every
// connection it accepts.
func (n *netNS) listen(t testing.TB, addr string) {
	t.Helper()
	var ln net.Listener
	var err error
	n.do(t, func() { ln, err = net.Listen("tcp", addr) })
	if err != nil {
		t.Fatalf("listen on %s in %s: %v", addr, n.name, err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
}

// listenUDP receives datagrams on addr inside the namespace and passes
// their payloads on.
func (n *netNS) listenUDP(t testing.TB, addr string) <-chan string {
	t.Helper()
	var pc net.PacketConn
	var err error
	n.do(t, func() { pc, err = net.ListenPacket("udp", addr) })
	if err != nil {
		t.Fatalf("listen on udp %s in %s: %v", addr, n.name, err)
	}
	t.Cleanup(func() { pc.Close() })
	ch := make(chan string, 16)
	go func() {
		buf := make([]byte, 64)
		for {
			k, _, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			select {
			case ch <- string(buf[:k]):
			default:
			}
		}
	}()
	return ch
}

// sendUDP sends one datagram to addr from inside the namespace.
func (n *netNS) sendUDP(t testing.TB, addr, payload string) {
	t.Helper()
	var err error
	n.do(t, func() {
		var c net.Conn
		if c, err = net.Dial("udp", addr); err == nil {
			_, err = c.Write([]byte(payload))
			c.Close()
		}
	})
	if err != nil {
		t.Fatalf("send udp to %s from %s: %v", addr, n.name, err)
	}
}

// udpArrives sends a datagram from the client to addr and reports whether
// it arrived at rx: one-way traffic, so it tests a destination rule on
// its own, where a TCP handshake would also be stopped by the source
// rule on the answer.
func (l *lab) udpArrives(t *testing.T, rx <-chan string, addr string) bool {
	t.Helper()
	payload := fmt.Sprintf("probe-%d", time.Now().UnixNano())
	l.client.sendUDP(t, addr, payload)
	deadline := time.After(blockProbe)
	for {
		select {
		case got := <-rx:
			if got == payload {
				return true
			}
		case <-deadline:
			return false
		}
	}
}

// dial connects to addr from inside the namespace.
func (n *netNS) dial(t testing.TB, addr string, timeout time.Duration) error {
	t.Helper()
	var err error
	n.do(t, func() {
		var c net.Conn
		c, err = net.DialTimeout("tcp", addr, timeout)
		if err == nil {
			c.Close()
		}
	})
	return err
}

// lab is three namespaces in a row: a client, the firewall that routes
// between two networks, and a server.
//
//	client c0 10.99.1.2/24 fd00:99:1::2/64
//	fw     f0 10.99.1.1/24 fd00:99:1::1/64, f1 10.99.2.1/24 fd00:99:2::1/64, forwarding
//	server s0 10.99.2.2/24 fd00:99:2::2/64
type lab struct {
	client, fw, server *netNS
}

func newLab(t testing.TB) *lab {
	t.Helper()
	l := &lab{client: newNetNS(t, "c"), fw: newNetNS(t, "f"), server: newNetNS(t, "s")}
	run(t, "ip", "link", "add", "c0", "netns", l.client.name, "type", "veth", "peer", "name", "f0", "netns", l.fw.name)
	run(t, "ip", "link", "add", "s0", "netns", l.server.name, "type", "veth", "peer", "name", "f1", "netns", l.fw.name)
	for _, c := range []struct {
		ns        *netNS
		dev       string
		v4, v6    string
		gw4, gw6  string
		forwarder bool
	}{
		{l.client, "c0", "10.99.1.2/24", "fd00:99:1::2/64", "10.99.1.1", "fd00:99:1::1", false},
		{l.fw, "f0", "10.99.1.1/24", "fd00:99:1::1/64", "", "", true},
		{l.fw, "f1", "10.99.2.1/24", "fd00:99:2::1/64", "", "", true},
		{l.server, "s0", "10.99.2.2/24", "fd00:99:2::2/64", "10.99.2.1", "fd00:99:2::1", false},
	} {
		c.ns.ip(t, "addr", "add", c.v4, "dev", c.dev)
		c.ns.ip(t, "addr", "add", c.v6, "dev", c.dev, "nodad")
		c.ns.ip(t, "link", "set", c.dev, "up")
		if c.gw4 != "" {
			c.ns.ip(t, "route", "add", "default", "via", c.gw4)
			c.ns.ip(t, "-6", "route", "add", "default", "via", c.gw6)
		}
	}
	l.fw.exec(t, "sysctl", "-qw", "net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1")
	// The kernel reports a veth's carrier with a delay (linkwatch, up to
	// a second) and IPv6 drops packets on a link without carrier; wait.
	for _, c := range []struct {
		ns  *netNS
		dev string
	}{{l.client, "c0"}, {l.fw, "f0"}, {l.fw, "f1"}, {l.server, "s0"}} {
		deadline := time.Now().Add(5 * time.Second)
		for {
			out := run(t, "ip", "-n", c.ns.name, "link", "show", "dev", c.dev)
			if !strings.Contains(out, "NO-CARRIER") && strings.Contains(out, "state UP") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s in %s has no carrier after 5s:\n%s", c.dev, c.ns.name, out)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return l
}

// Addresses in the lab, with the port the listeners use.
const (
	fwAddr4     = "10.99.1.1:7000"
	fwAddr6     = "[fd00:99:1::1]:7000"
	serverAddr4 = "10.99.2.2:7000"
	serverAddr6 = "[fd00:99:2::2]:7000"
)

// blockProbe is how long a connection attempt may take before the test
// calls it dropped. Through a veth pair a connection takes microseconds.
const blockProbe = 300 * time.Millisecond

// mustPass fails unless the client can connect to addr within a few
// tries (the first packets may wait for neighbour discovery).
func (l *lab) mustPass(t *testing.T, addr string) {
	t.Helper()
	var err error
	for range 5 {
		if err = l.client.dial(t, addr, time.Second); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("client → %s: %v; want a connection", addr, err)
}

// mustDrop fails unless connecting to addr times out (a drop, not a reset).
func (l *lab) mustDrop(t *testing.T, addr string) {
	t.Helper()
	err := l.client.dial(t, addr, blockProbe)
	var ne net.Error
	if err == nil || !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("client → %s: %v; want the connection attempt dropped (a timeout)", addr, err)
	}
}

// nftElem is a set element as `nft -j` lists it.
type nftElem struct {
	Timeout, Expires float64 // seconds; 0 when the element has none
}

// listSet reads a set of campusguard's table with `nft -j`, keyed by the
// element as nft writes it: "10.0.0.5", "10.0.0.0/24" or "10.0.0.0-10.0.0.4".
func listSet(t testing.TB, ns *netNS, table, set string) map[string]nftElem {
	t.Helper()
	out := ns.nft(t, "-j", "list", "set", "inet", table, set)
	var doc struct {
		Nftables []map[string]json.RawMessage `json:"nftables"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("nft -j output: %v\n%s", err, out)
	}
	got := map[string]nftElem{}
	for _, obj := range doc.Nftables {
		raw, ok := obj["set"]
		if !ok {
			continue
		}
		var s struct {
			Elem []json.RawMessage `json:"elem"`
		}
		if err := json.Unmarshal(raw, &s); err != nil {
			t.Fatalf("nft -j set: %v\n%s", err, raw)
		}
		for _, e := range s.Elem {
			var wrapped struct {
				Elem *struct {
					Val     json.RawMessage `json:"val"`
					Timeout float64         `json:"timeout"`
					Expires float64         `json:"expires"`
				} `json:"elem"`
			}
			if err := json.Unmarshal(e, &wrapped); err == nil && wrapped.Elem != nil {
				got[nftValue(t, wrapped.Elem.Val)] = nftElem{wrapped.Elem.Timeout, wrapped.Elem.Expires}
				continue
			}
			got[nftValue(t, e)] = nftElem{}
		}
	}
	return got
}

func nftValue(t testing.TB, raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var v struct {
		Prefix *struct {
			Addr string `json:"addr"`
			Len  int    `json:"len"`
		} `json:"prefix"`
		Range []string `json:"range"`
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatalf("nft -j element %s: %v", raw, err)
	}
	switch {
	case v.Prefix != nil:
		return fmt.Sprintf("%s/%d", v.Prefix.Addr, v.Prefix.Len)
	case len(v.Range) == 2:
		return v.Range[0] + "-" + v.Range[1]
	}
	t.Fatalf("nft -j element %s: not an address, prefix or range", raw)
	return ""
}

func keys(m map[string]nftElem) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
