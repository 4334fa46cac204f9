package chtest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

const (
	// ReadyTimeout bounds how long a start waits for `SELECT version()`.
	ReadyTimeout = 60 * time.Second
	// ClientTimeout bounds one Server.Client call.
	ClientTimeout = 60 * time.Second
	// stopTimeout is how long Stop waits after SIGTERM before SIGKILL.
	stopTimeout = 30 * time.Second
	// User is the password-protected account tests connect as.
	User = "campusguard"
	// portTries is how often a start picks new ports when another process
	// took the picked ones between the pick and the server's bind.
	portTries = 3
)

// Server is a clickhouse-server 18.16 started for one test binary, on free
// loopback ports, with its own temp data dir, killed at cleanup. Its time
// zone is UTC whatever the machine's.
type Server struct {
	Addr     string // native protocol, 127.0.0.1:port
	HTTPAddr string // HTTP interface, 127.0.0.1:port
	User     string // campusguard, with Password; `default` has none
	Password string
	Dir      string // config.xml, users.xml, data/, *.log
	Version  string // SELECT version(), e.g. 18.16.1

	shared bool // SharedServer's: no Stop, Kill or Pause

	mu   sync.Mutex
	proc *process // nil when not running
}

// process is one run of the server binary.
type process struct {
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited
	err  error         // Wait's result, set before done is closed
}

// StartServer starts a clickhouse-server for this test and waits until it
// answers. It skips when the binary is missing (fails under RequireEnv) and
// fails when the server does not come up within ReadyTimeout, with the
// server's logs in the message. The server is killed at cleanup.
func StartServer(tb testing.TB) *Server {
	tb.Helper()
	if err := available(); err != nil {
		unavailable(tb, "%v; run `make deps` (scripts/deps.sh)", err)
	}
	dir := tb.TempDir() // removed after the kill below: cleanups run last-in first-out
	s, err := newServer(dir)
	if s != nil {
		tb.Cleanup(s.kill)
	}
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// available says why ClickHouse servers can't be started here, or nil.
func available() error {
	for _, bin := range []string{ServerBin, ClientBin} {
		if err := isFile(bin); err != nil {
			return fmt.Errorf("ClickHouse: %w (Debian packages clickhouse-server, clickhouse-client)", err)
		}
	}
	return nil
}

// newServer writes the configuration into dir and starts the server. On a
// start failure the returned Server, if any, still needs killing.
func newServer(dir string) (*Server, error) {
	pw := make([]byte, 16)
	if _, err := rand.Read(pw); err != nil {
		return nil, fmt.Errorf("clickhouse-server password: %w", err)
	}
	s := &Server{User: User, Password: hex.EncodeToString(pw), Dir: dir}
	for _, d := range []string{"data/tmp", "data/user_files", "data/format_schemas"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return nil, fmt.Errorf("clickhouse-server dir: %w", err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "users.xml"), []byte(s.usersXML()), 0o600); err != nil {
		return nil, fmt.Errorf("clickhouse-server users.xml: %w", err)
	}
	var err error
	for try := 1; try <= portTries; try++ {
		var tcp, http int
		if tcp, http, err = freePorts(); err != nil {
			return nil, err
		}
		s.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(tcp))
		s.HTTPAddr = net.JoinHostPort("127.0.0.1", strconv.Itoa(http))
		if err = os.WriteFile(filepath.Join(dir, "config.xml"), []byte(s.configXML(tcp, http)), 0o644); err != nil {
			return nil, fmt.Errorf("clickhouse-server config.xml: %w", err)
		}
		if err = s.start(); err == nil {
			return s, nil
		}
		if !strings.Contains(err.Error(), "Address already in use") {
			break
		}
		s.kill()
	}
	return s, err
}

// freePorts picks two distinct free loopback ports by listening on :0.
func freePorts() (int, int, error) {
	var ports [2]int
	for i := range ports {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, 0, fmt.Errorf("pick a free port: %w", err)
		}
		defer l.Close()
		ports[i] = l.Addr().(*net.TCPAddr).Port
	}
	return ports[0], ports[1], nil
}

func (s *Server) configXML(tcp, http int) string {
	data := filepath.Join(s.Dir, "data")
	return fmt.Sprintf(`<?xml version="1.0"?>
<!-- clickhouse-server 18.16 for one test binary: written by internal/hitlog/chtest. -->
<yandex>
  <logger>
    <level>warning</level>
    <log>%[1]s/server.log</log>
    <errorlog>%[1]s/error.log</errorlog>
    <size>100M</size>
    <count>1</count>
    <console>0</console>
  </logger>
  <listen_host>127.0.0.1</listen_host>
  <tcp_port>%[2]d</tcp_port>
  <http_port>%[3]d</http_port>
  <path>%[4]s/</path>
  <tmp_path>%[4]s/tmp/</tmp_path>
  <user_files_path>%[4]s/user_files/</user_files_path>
  <format_schema_path>%[4]s/format_schemas/</format_schema_path>
  <users_config>%[1]s/users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <timezone>UTC</timezone>
  <mark_cache_size>268435456</mark_cache_size>
  <max_concurrent_queries>100</max_concurrent_queries>
</yandex>
`, s.Dir, tcp, http, data)
}

func (s *Server) usersXML() string {
	loopback := `<networks><ip>127.0.0.1</ip><ip>::1</ip></networks>`
	return fmt.Sprintf(`<?xml version="1.0"?>
<yandex>
  <profiles>
    <default><max_memory_usage>4000000000</max_memory_usage></default>
  </profiles>
  <users>
    <default><password></password>%[1]s<profile>default</profile><quota>default</quota></default>
    <%[2]s><password>%[3]s</password>%[1]s<profile>default</profile><quota>default</quota></%[2]s>
  </users>
  <quotas><default></default></quotas>
</yandex>
`, loopback, s.User, s.Password)
}

// start runs the server binary and waits until it answers.
func (s *Server) start() error {
	s.mu.Lock()
	if s.proc != nil {
		s.mu.Unlock()
		return fmt.Errorf("clickhouse-server %s: already running", s.Addr)
	}
	out, err := os.OpenFile(filepath.Join(s.Dir, "stdout.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		s.mu.Unlock()
		return fmt.Errorf("clickhouse-server: %w", err)
	}
	defer out.Close() // the child has its own copy
	cmd := exec.Command(ServerBin, "--config-file="+filepath.Join(s.Dir, "config.xml"))
	cmd.Dir = s.Dir
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Setpgid:   true,            // so kill reaches anything it forks
		Pdeathsig: syscall.SIGKILL, // dies with the test binary, even on a crash
	}
	onSpawnThread(func() { err = cmd.Start() })
	if err != nil {
		s.mu.Unlock()
		return fmt.Errorf("start %s: %w", ServerBin, err)
	}
	p := &process{cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	s.proc = p
	s.mu.Unlock()

	if err := s.waitReady(p); err != nil {
		return fmt.Errorf("clickhouse-server %s (dir %s): %w\n%s", s.Addr, s.Dir, err, s.logs())
	}
	return nil
}

// Pdeathsig fires when the thread that forked the child exits, and a Go
// thread exits when a goroutine ends while locked to it. Forking from one
// locked goroutine that never ends ties the server to the process instead.
var (
	spawnOnce sync.Once
	spawnCh   chan func()
)

func onSpawnThread(f func()) {
	spawnOnce.Do(func() {
		spawnCh = make(chan func())
		go func() {
			runtime.LockOSThread()
			for f := range spawnCh {
				f()
			}
		}()
	})
	done := make(chan struct{})
	spawnCh <- func() { f(); close(done) }
	<-done
}

func (s *Server) waitReady(p *process) error {
	deadline := time.Now().Add(ReadyTimeout)
	var last error
	for {
		select {
		case <-p.done:
			return fmt.Errorf("exited before answering: %v", p.err)
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no answer to SELECT version() after %s: %v", ReadyTimeout, last)
		}
		c, err := net.DialTimeout("tcp", s.Addr, time.Second)
		if err == nil {
			c.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			var v string
			v, err = s.Query(ctx, "SELECT version()")
			cancel()
			if err == nil {
				s.Version = v
				return nil
			}
		}
		last = err
		time.Sleep(100 * time.Millisecond)
	}
}

// logs returns the tails of the server's error log and output, for failure
// messages.
func (s *Server) logs() string {
	var b strings.Builder
	for _, name := range []string{"error.log", "stdout.log"} {
		data, err := os.ReadFile(filepath.Join(s.Dir, name))
		if err != nil {
			fmt.Fprintf(&b, "--- %s: %v\n", name, err)
			continue
		}
		if len(data) > 4096 {
			data = data[len(data)-4096:]
		}
		fmt.Fprintf(&b, "--- %s (tail):\n%s\n", name, bytes.TrimSpace(data))
	}
	return b.String()
}

// URL is the server's native-protocol address for database db, as
// clickhouse://user:password@127.0.0.1:port/db.
func (s *Server) URL(db string) string {
	u := url.URL{Scheme: "clickhouse", User: url.UserPassword(s.User, s.Password), Host: s.Addr}
	if db != "" {
		u.Path = "/" + db
	}
	return u.String()
}

// Query runs one query through clickhouse-client as s.User and returns its
// output, trimmed. It stops the client when ctx is done.
func (s *Server) Query(ctx context.Context, query string) (string, error) {
	host, port, _ := net.SplitHostPort(s.Addr)
	cmd := exec.CommandContext(ctx, ClientBin,
		"--host", host, "--port", port, "--user", s.User, "--password", s.Password,
		"--query", query)
	cmd.WaitDelay = time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		return "", fmt.Errorf("clickhouse-client %s -q %q: %w: %s", s.Addr, query, err, bytes.TrimSpace(stderr.Bytes()))
	}
	return strings.TrimSpace(stdout.String()), nil
}

// Client runs one query through clickhouse-client, bounded by ClientTimeout,
// and returns its output, trimmed; an error fails the test.
func (s *Server) Client(tb testing.TB, query string) string {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), ClientTimeout)
	defer cancel()
	out, err := s.Query(ctx, query)
	if err != nil {
		tb.Fatal(err)
	}
	return out
}

// Start starts a stopped or killed server again, on the same ports and data
// directory, and waits until it answers.
func (s *Server) Start(tb testing.TB) {
	tb.Helper()
	if err := s.start(); err != nil {
		tb.Fatal(err)
	}
}

// Stop shuts the server down with SIGTERM and waits for it, sending SIGKILL
// after 30 s.
func (s *Server) Stop(tb testing.TB) {
	tb.Helper()
	s.notShared(tb, "Stop")
	p := s.running(tb)
	s.signal(p, syscall.SIGTERM)
	s.signal(p, syscall.SIGCONT) // a paused server handles SIGTERM only once resumed
	select {
	case <-p.done:
	case <-time.After(stopTimeout):
		tb.Logf("clickhouse-server %s: still running %s after SIGTERM; killing it", s.Addr, stopTimeout)
		s.signal(p, syscall.SIGKILL)
		<-p.done
	}
	s.clear(p)
}

// Kill kills the server with SIGKILL, as a crash or power loss would, and
// waits for it to be gone.
func (s *Server) Kill(tb testing.TB) {
	tb.Helper()
	s.notShared(tb, "Kill")
	s.running(tb)
	s.kill()
}

// Pause stops the server with SIGSTOP: connections open but nothing answers.
func (s *Server) Pause(tb testing.TB) {
	tb.Helper()
	s.notShared(tb, "Pause")
	s.signal(s.running(tb), syscall.SIGSTOP)
}

// Resume continues a paused server with SIGCONT.
func (s *Server) Resume(tb testing.TB) {
	tb.Helper()
	s.signal(s.running(tb), syscall.SIGCONT)
}

// kill SIGKILLs the server's process group, if running, and waits.
func (s *Server) kill() {
	s.mu.Lock()
	p := s.proc
	s.mu.Unlock()
	if p == nil {
		return
	}
	s.signal(p, syscall.SIGKILL)
	<-p.done
	s.clear(p)
}

func (s *Server) running(tb testing.TB) *process {
	tb.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc == nil {
		tb.Fatalf("clickhouse-server %s: not running", s.Addr)
	}
	return s.proc
}

func (s *Server) notShared(tb testing.TB, op string) {
	tb.Helper()
	if s.shared {
		tb.Fatalf("chtest: %s on the shared server would break the other tests; use StartServer for outage tests", op)
	}
}

// signal sends sig to the server's process group.
func (s *Server) signal(p *process, sig syscall.Signal) {
	if err := syscall.Kill(-p.cmd.Process.Pid, sig); err != nil {
		_ = p.cmd.Process.Signal(sig) // no group: the process alone, if still there
	}
}

func (s *Server) clear(p *process) {
	s.mu.Lock()
	if s.proc == p {
		s.proc = nil
	}
	s.mu.Unlock()
}
