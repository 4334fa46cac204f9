package capture

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/net/dns/dnsmessage"
	"golang.org/x/sys/unix"

	"github.com/campusguard/campusguard/internal/event"
	"github.com/campusguard/campusguard/matcher"
	"github.com/campusguard/campusguard/rules"
)

// netnsPair is two network namespaces joined by a veth pair: the client
// side (10.99.0.1) and the sensor side (10.99.0.2). Nothing leaves them.
type netnsPair struct {
	client, sensor string
}

func run(t *testing.T, name string, args ...string) {
	t.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

func newNetnsPair(t *testing.T) *netnsPair {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("network namespaces need root")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("iproute2 not installed")
	}
	p := &netnsPair{client: fmt.Sprintf("cgc%d", os.Getpid()), sensor: fmt.Sprintf("cgs%d", os.Getpid())}
	run(t, "ip", "netns", "add", p.client)
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", p.client).Run() })
	run(t, "ip", "netns", "add", p.sensor)
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", p.sensor).Run() })
	run(t, "ip", "-n", p.client, "link", "add", "cg0", "type", "veth", "peer", "name", "cg1", "netns", p.sensor)
	for _, c := range [][]string{
		{"-n", p.client, "addr", "add", "10.99.0.1/24", "dev", "cg0"},
		{"-n", p.client, "link", "set", "cg0", "up"},
		{"-n", p.client, "link", "set", "lo", "up"},
		{"-n", p.sensor, "addr", "add", "10.99.0.2/24", "dev", "cg1"},
		{"-n", p.sensor, "link", "set", "cg1", "up"},
		{"-n", p.sensor, "link", "set", "lo", "up"},
	} {
		run(t, "ip", c...)
	}
	return p
}

// in runs fn on a thread moved into namespace ns: sockets fn opens belong
// to ns for their whole life, whatever thread later uses them.
func in(t *testing.T, ns string, fn func()) {
	t.Helper()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	self, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	defer self.Close()
	target, err := os.Open("/var/run/netns/" + ns)
	if err != nil {
		t.Fatal(err)
	}
	defer target.Close()
	if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
		t.Fatalf("setns %s: %v", ns, err)
	}
	defer func() {
		if err := unix.Setns(int(self.Fd()), unix.CLONE_NEWNET); err != nil {
			panic("cannot return to the test's network namespace: " + err.Error())
		}
	}()
	fn()
}

// TestLiveCaptureInNamespace: real clients (dig, curl, openssl) in one
// namespace talk to small servers in another across a veth pair; live
// capture with two fanout workers on the sensor end reports their DNS
// name, HTTP host and TLS SNI, and the hits.
func TestLiveCaptureInNamespace(t *testing.T) {
	for _, tool := range []string{"dig", "curl", "openssl"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s not installed (make test installs dnsutils, curl and openssl)", tool)
		}
	}
	ns := newNetnsPair(t)
	m, _, err := matcher.New(matcher.Options{Packs: []string{"builtin"}, Builtin: rules.FS})
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu  sync.Mutex
		evs []*event.Event
	)
	opts := Options{Sensor: "netns", Rules: m.Set, AllEvents: true, Emit: func(ev *event.Event) {
		mu.Lock()
		evs = append(evs, ev)
		mu.Unlock()
	}}
	var (
		live                 *Live
		dnsConn              net.PacketConn
		httpLn, tlsLn, dnsLn net.Listener
		liveErr, srvErrs     error
	)
	in(t, ns.sensor, func() {
		live, liveErr = NewLive(LiveConfig{Interfaces: []string{"cg1"}, Workers: 2, BPF: "port 53 or tcp port 80 or tcp port 443"}, opts, NewMetrics(prometheus.NewRegistry()))
		if liveErr != nil {
			return
		}
		dnsConn, srvErrs = net.ListenPacket("udp", "10.99.0.2:53")
		if srvErrs != nil {
			return
		}
		if httpLn, srvErrs = net.Listen("tcp", "10.99.0.2:80"); srvErrs != nil {
			return
		}
		if tlsLn, srvErrs = net.Listen("tcp", "10.99.0.2:443"); srvErrs != nil {
			return
		}
		dnsLn, srvErrs = net.Listen("tcp", "10.99.0.2:53")
	})
	if liveErr != nil {
		t.Fatal(liveErr)
	}
	if srvErrs != nil {
		t.Fatal(srvErrs)
	}
	defer dnsConn.Close()
	defer httpLn.Close()
	defer tlsLn.Close()
	defer dnsLn.Close()
	go serveDNS(dnsConn)
	go serveDNSTCP(dnsLn)
	go serveTCP(httpLn, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
	go serveTCP(tlsLn, "") // reads the ClientHello, then closes
	if err := live.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond) // rings ready
	client := func(args ...string) {
		cmd := exec.Command("ip", append([]string{"netns", "exec", ns.client}, args...)...)
		cmd.Stdin = strings.NewReader("")
		out, err := cmd.CombinedOutput()
		t.Logf("%s: %v\n%s", args[0], err, firstLines(string(out), 3))
	}
	client("dig", "@10.99.0.2", "+tries=1", "+time=2", "login-verify.example", "A")
	client("curl", "-s", "-m", "3", "-H", "Host: lucky-casino.test", "http://10.99.0.2/promo?id=7")
	client("timeout", "5", "openssl", "s_client", "-connect", "10.99.0.2:443", "-servername", "a.netid-verify.test")
	client("dig", "@10.99.0.2", "+tries=1", "+time=2", "+tcp", "c2.botnet.test", "AAAA")

	deadline := time.Now().Add(5 * time.Second)
	want := map[string]bool{"dns login-verify.example": false, "http lucky-casino.test": false,
		"tls a.netid-verify.test": false, "dns c2.botnet.test": false}
	for time.Now().Before(deadline) {
		mu.Lock()
		for _, ev := range evs {
			k := ev.Kind.String() + " " + ev.Name
			if _, ok := want[k]; ok && len(ev.Hits) > 0 && ev.Src == "10.99.0.1" && ev.Sensor == "netns" {
				want[k] = true
			}
		}
		mu.Unlock()
		done := true
		for _, ok := range want {
			done = done && ok
		}
		if done {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	live.Stop()
	for k, ok := range want {
		if !ok {
			t.Errorf("no event with hits for %s from 10.99.0.1", k)
		}
	}
	st := live.Stats()
	if st.Packets == 0 {
		t.Error("no packets counted")
	}
	mu.Lock()
	for _, ev := range evs {
		if ev.DstPort != 53 && ev.DstPort != 80 && ev.DstPort != 443 {
			t.Errorf("event outside the BPF filter: %+v", ev)
		}
	}
	mu.Unlock()
	t.Logf("%s", st.Summary())
}

func firstLines(s string, n int) string {
	lines := strings.SplitN(s, "\n", n+1)
	if len(lines) > n {
		lines = lines[:n]
	}
	return strings.Join(lines, "\n")
}

// serveDNS answers every query with one A record, over UDP.
func serveDNS(c net.PacketConn) {
	buf := make([]byte, 1500)
	for {
		n, addr, err := c.ReadFrom(buf)
		if err != nil {
			return
		}
		if resp := dnsAnswer(buf[:n]); resp != nil {
			_, _ = c.WriteTo(resp, addr)
		}
	}
}

func dnsAnswer(q []byte) []byte {
	var m dnsmessage.Message
	if err := m.Unpack(q); err != nil || len(m.Questions) == 0 {
		return nil
	}
	m.Response = true
	m.Answers = []dnsmessage.Resource{{Header: dnsmessage.ResourceHeader{Name: m.Questions[0].Name, Type: dnsmessage.TypeA, Class: dnsmessage.ClassINET, TTL: 5},
		Body: &dnsmessage.AResource{A: [4]byte{10, 99, 0, 2}}}}
	b, err := m.Pack()
	if err != nil {
		return nil
	}
	return b
}

// acceptEach runs handle on every connection ln accepts, with a deadline,
// until ln is closed.
func acceptEach(ln net.Listener, handle func(net.Conn)) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(2 * time.Second))
			handle(c)
		}()
	}
}

// serveDNSTCP answers length-prefixed queries over TCP.
func serveDNSTCP(ln net.Listener) {
	acceptEach(ln, func(c net.Conn) {
		var n [2]byte
		if _, err := io.ReadFull(c, n[:]); err != nil {
			return
		}
		q := make([]byte, int(n[0])<<8|int(n[1]))
		if _, err := io.ReadFull(c, q); err != nil {
			return
		}
		if resp := dnsAnswer(q); resp != nil {
			_, _ = c.Write(append([]byte{byte(len(resp) >> 8), byte(len(resp))}, resp...))
		}
	})
}

// serveTCP reads a little from each connection, writes reply and closes.
func serveTCP(ln net.Listener, reply string) {
	acceptEach(ln, func(c net.Conn) {
		buf := make([]byte, 4096)
		_, _ = c.Read(buf)
		if reply != "" {
			_, _ = io.WriteString(c, reply)
		}
	})
}
