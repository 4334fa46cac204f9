package e2e

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/campusguard/campusguard/internal/netns"
)

// The lab: two network namespaces made for this run, and a management
// link from the test's own namespace to the gateway.
//
//	host (this test, ClickHouse, Chromium)
//	  cge2e<PID>  10.78.N.1/30 ──veth── m0 10.78.N.2/30  gw: campusguard serve
//	                                    g0 10.77.0.1/24       (console/API :8080 on m0,
//	                                     │                     DNS :53, capture and
//	                                   veth                    nftables on g0)
//	                                     │
//	client                              c0 10.77.0.2/24  (dig, curl)
//
// N is derived from the test's pid, so two runs do not share a subnet.
const (
	nsPrefix   = "cg-e2e-"
	hostPrefix = "cge2e" // + pid: the host end of the management veth
	clientIP   = "10.77.0.2"
	gwIP       = "10.77.0.1"
	clientLink = "c0"
	gwLink     = "g0" // the link serve captures on
	mgmtLink   = "m0" // the gateway's end of the management veth
)

type lab struct {
	client, gw       string // namespace names
	hostLink         string // the management veth's end in the test's namespace
	mgmtHost, mgmtGW string // its addresses, host and gateway side
	gwFD             int    // an open handle on the gateway namespace
}

// preflight skips (or, under CAMPUSGUARD_TEST_REQUIRE_SERVERS=1, fails)
// where the test cannot run at all: not root, no iproute2, no namespaces.
func preflight(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		unavailable(t, "the end-to-end test needs root to create network namespaces, veth pairs and nftables tables (run `sudo make e2e`)")
	}
	for _, tool := range []string{"ip", "nft", "dig", "curl"} {
		if _, err := exec.LookPath(tool); err != nil {
			unavailable(t, "the end-to-end test needs %s, which is not installed (make deps installs iproute2, nftables, dnsutils, curl)", tool)
		}
	}
	name := fmt.Sprintf("%sprobe-%d", nsPrefix, os.Getpid())
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		unavailable(t, "the end-to-end test cannot create a network namespace here (ip netns add: %v: %s)", err, strings.TrimSpace(string(out)))
	}
	_ = exec.Command("ip", "netns", "del", name).Run()
}

// sweepStale deletes what an earlier run left behind when it was killed
// before its cleanups ran: namespaces and host links named after a
// process that no longer exists. Nothing else is touched.
func sweepStale(t *testing.T) {
	t.Helper()
	nsRe := regexp.MustCompile(`^` + regexp.QuoteMeta(nsPrefix) + `(?:client|gw|probe)-(\d+)$`)
	out, _ := exec.Command("ip", "netns", "list").Output()
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if m := nsRe.FindStringSubmatch(f[0]); m != nil && !alive(m[1]) {
			t.Logf("deleting network namespace %s left by an earlier run", f[0])
			_ = exec.Command("ip", "netns", "del", f[0]).Run()
		}
	}
	linkRe := regexp.MustCompile(`^\d+:\s+` + hostPrefix + `(\d+)[@:]`)
	out, _ = exec.Command("ip", "-o", "link", "show").Output()
	for _, line := range strings.Split(string(out), "\n") {
		if m := linkRe.FindStringSubmatch(line); m != nil && !alive(m[1]) {
			t.Logf("deleting link %s%s left by an earlier run", hostPrefix, m[1])
			_ = exec.Command("ip", "link", "del", hostPrefix+m[1]).Run()
		}
	}
}

func alive(pid string) bool {
	n, err := strconv.Atoi(pid)
	if err != nil {
		return true // not ours to judge
	}
	if n == os.Getpid() {
		return true
	}
	err = syscall.Kill(n, 0)
	return err == nil || err == syscall.EPERM
}

// newLab builds the topology; everything it creates is deleted at
// cleanup, also when the test fails.
func newLab(t *testing.T) *lab {
	t.Helper()
	pid := os.Getpid()
	n := pid%254 + 1
	l := &lab{
		client:   fmt.Sprintf("%sclient-%d", nsPrefix, pid),
		gw:       fmt.Sprintf("%sgw-%d", nsPrefix, pid),
		hostLink: fmt.Sprintf("%s%d", hostPrefix, pid),
		mgmtHost: fmt.Sprintf("10.78.%d.1", n),
		mgmtGW:   fmt.Sprintf("10.78.%d.2", n),
	}
	if out, _ := exec.Command("ip", "-4", "-o", "addr", "show", "to", fmt.Sprintf("10.78.%d.0/30", n)).Output(); len(strings.TrimSpace(string(out))) > 0 {
		t.Fatalf("this machine already has an address in 10.78.%d.0/30, the management subnet this run would use:\n%s", n, out)
	}
	for _, ns := range []string{l.client, l.gw} {
		run(t, "ip", "netns", "add", ns)
		t.Cleanup(func() {
			if out, err := exec.Command("ip", "netns", "del", ns).CombinedOutput(); err != nil {
				t.Errorf("delete network namespace %s: %v: %s", ns, err, out)
			}
		})
	}
	// Deleting the gateway namespace destroys m0 and with it the host end;
	// deleting the host end first makes sure, whatever happened to it.
	t.Cleanup(func() { _ = exec.Command("ip", "link", "del", l.hostLink).Run() })
	fd, err := unix.Open("/var/run/netns/"+l.gw, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatalf("open network namespace %s: %v", l.gw, err)
	}
	l.gwFD = fd
	t.Cleanup(func() { unix.Close(fd) })

	run(t, "ip", "link", "add", clientLink, "netns", l.client, "type", "veth", "peer", "name", gwLink, "netns", l.gw)
	run(t, "ip", "link", "add", l.hostLink, "type", "veth", "peer", "name", mgmtLink, "netns", l.gw)
	for _, c := range [][]string{
		{"-n", l.client, "link", "set", "lo", "up"},
		{"-n", l.client, "addr", "add", clientIP + "/24", "dev", clientLink},
		{"-n", l.client, "link", "set", clientLink, "up"},
		{"-n", l.gw, "link", "set", "lo", "up"},
		{"-n", l.gw, "addr", "add", gwIP + "/24", "dev", gwLink},
		{"-n", l.gw, "link", "set", gwLink, "up"},
		{"-n", l.gw, "addr", "add", l.mgmtGW + "/30", "dev", mgmtLink},
		{"-n", l.gw, "link", "set", mgmtLink, "up"},
		{"addr", "add", l.mgmtHost + "/30", "dev", l.hostLink},
		{"link", "set", l.hostLink, "up"},
	} {
		run(t, "ip", c...)
	}
	// A veth reports its carrier after a moment (linkwatch); wait for it.
	for _, c := range []struct{ ns, dev string }{{l.client, clientLink}, {l.gw, gwLink}, {l.gw, mgmtLink}, {"", l.hostLink}} {
		args := []string{"link", "show", "dev", c.dev}
		if c.ns != "" {
			args = append([]string{"-n", c.ns}, args...)
		}
		deadline := time.Now().Add(5 * time.Second)
		for {
			out := run(t, "ip", args...)
			if !strings.Contains(out, "NO-CARRIER") && strings.Contains(out, "state UP") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s has no carrier after 5s:\n%s", c.dev, out)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return l
}

// run runs a command in the test's namespace and fails the test if it fails.
func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// inNS runs a command inside namespace ns, bounded by timeout (and ctx),
// and returns its combined output.
func inNS(ctx context.Context, ns string, timeout time.Duration, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", ns, name}, args...)...)
	cmd.WaitDelay = time.Second
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil && err != nil {
		err = fmt.Errorf("%w (%v)", err, ctx.Err())
	}
	return string(out), err
}

// doInGW runs f on an OS thread that has entered the gateway namespace:
// sockets f opens belong to that namespace for their whole life.
func (l *lab) doInGW(t *testing.T, f func()) {
	t.Helper()
	if err := netns.Do(l.gwFD, f); err != nil {
		t.Fatalf("%s: %v", l.gw, err)
	}
}

// forward relays TCP connections from a listener on host (an address of
// the test's namespace) to target, and returns the listener's address.
// The gateway namespace reaches the test's loopback-only ClickHouse
// through it.
func forward(t *testing.T, host, target string) string {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		t.Fatalf("forwarder to %s: %v", target, err)
	}
	var (
		mu    sync.Mutex
		conns = map[net.Conn]bool{}
		wg    sync.WaitGroup
	)
	track := func(c net.Conn, on bool) {
		mu.Lock()
		defer mu.Unlock()
		if on {
			conns[c] = true
		} else {
			delete(conns, c)
		}
	}
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			in, err := ln.Accept()
			if err != nil {
				return
			}
			out, err := net.DialTimeout("tcp", target, 5*time.Second)
			if err != nil {
				in.Close()
				continue
			}
			track(in, true)
			track(out, true)
			wg.Add(2)
			pipe := func(dst, src net.Conn) {
				defer wg.Done()
				_, _ = io.Copy(dst, src)
				// One direction ended: end the other as well.
				dst.Close()
				src.Close()
				track(dst, false)
				track(src, false)
			}
			go pipe(out, in)
			go pipe(in, out)
		}
	}()
	return ln.Addr().String()
}

// Processes started from one locked thread that never ends: Pdeathsig
// fires when the forking thread exits, so this ties a child (serve) to the
// test process itself, which matters when `go test -timeout` kills it
// before cleanups run.
var (
	spawnOnce sync.Once
	spawnCh   chan func()
)

func startTied(cmd *exec.Cmd) error {
	spawnOnce.Do(func() {
		spawnCh = make(chan func())
		go func() {
			runtime.LockOSThread()
			for f := range spawnCh {
				f()
			}
		}()
	})
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setpgid = true
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	var err error
	done := make(chan struct{})
	spawnCh <- func() { err = cmd.Start(); close(done) }
	<-done
	return err
}
