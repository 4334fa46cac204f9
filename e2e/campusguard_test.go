package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// build compiles cmd/campusguard into a temporary directory.
func build(t *testing.T) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = filepath.Join(runtimeGOROOT(), "bin", "go")
	}
	bin := filepath.Join(t.TempDir(), "campusguard")
	// A cold build cache takes minutes on two cores; a warm one seconds.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, goBin, "build", "-o", bin, "./cmd/campusguard")
	cmd.Dir = ".." // the module root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/campusguard: %v\n%s", err, out)
	}
	return bin
}

// childEnv is the environment for campusguard processes: this one's
// without CAMPUSGUARD_* overrides (only CAMPUSGUARD_TEST_* and the cache
// pass), so the config file written here is what they run on.
func childEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, "CAMPUSGUARD_") && !strings.HasPrefix(name, "CAMPUSGUARD_TEST_") && name != "CAMPUSGUARD_CACHE" {
			continue
		}
		env = append(env, kv)
	}
	return env
}

// cli runs a campusguard subcommand (in the test's namespace: users and
// tokens only touch the state database) and returns its stdout.
func cli(t *testing.T, bin, stdin string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = childEnv()
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("campusguard %s: %v\n%s%s", strings.Join(args, " "), err, stdout.Bytes(), stderr.Bytes())
	}
	return strings.TrimSpace(stdout.String())
}

// serve is `campusguard serve` running in the gateway namespace.
type serve struct {
	cmd  *exec.Cmd
	log  string // its stdout and stderr
	done chan struct{}
	err  error
}

func startServe(t *testing.T, l *lab, bin, cfg, dir string) *serve {
	t.Helper()
	s := &serve{log: filepath.Join(dir, "serve.log"), done: make(chan struct{})}
	f, err := os.Create(s.log)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close() // the child has its own copy
	s.cmd = exec.Command("ip", "netns", "exec", l.gw, bin, "serve", "--config", cfg)
	s.cmd.Env = childEnv()
	s.cmd.Stdout, s.cmd.Stderr = f, f
	if err := startTied(s.cmd); err != nil {
		t.Fatalf("start campusguard serve: %v", err)
	}
	go func() {
		s.err = s.cmd.Wait()
		close(s.done)
	}()
	t.Cleanup(func() {
		if err := s.stop(); err != nil {
			t.Errorf("campusguard serve: %v", err)
		}
		if t.Failed() {
			t.Logf("campusguard serve log (%s), tail:\n%s", s.log, s.tail(6000))
		}
	})
	return s
}

// stop ends serve with SIGTERM, as systemd would, and waits for it to
// flush and exit; SIGKILL after 30 s.
func (s *serve) stop() error {
	select {
	case <-s.done:
		return s.exitErr()
	default:
	}
	_ = syscall.Kill(s.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-s.done:
		return s.exitErr()
	case <-time.After(30 * time.Second):
		_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
		<-s.done
		return fmt.Errorf("did not stop within 30 s of SIGTERM; killed")
	}
}

func (s *serve) exitErr() error {
	if s.err != nil {
		return fmt.Errorf("exited: %v", s.err)
	}
	return nil
}

func (s *serve) tail(n int) string {
	b, err := os.ReadFile(s.log)
	if err != nil {
		return err.Error()
	}
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

// waitReady polls /readyz until serve answers 200.
func (s *serve) waitReady(t *testing.T, ctx context.Context, c *client) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	var last string
	for {
		select {
		case <-s.done:
			t.Fatalf("campusguard serve exited before it was ready: %v\n%s", s.err, s.tail(6000))
		default:
		}
		code, body, err := c.get(ctx, "/readyz", nil)
		if err == nil && code == 200 {
			return
		}
		last = fmt.Sprintf("%d %s %v", code, strings.TrimSpace(body), err)
		select {
		case <-ctx.Done():
			t.Fatalf("campusguard serve not ready after 60 s (last answer: %s)\n%s", last, s.tail(6000))
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// client talks to serve's HTTP listener from the test's namespace, over
// the management link. It never uses a proxy from the environment.
type client struct {
	base string
	http *http.Client
	csrf string // the console session's, after login
}

func newClient(t *testing.T, base string) *client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &client{base: base, http: &http.Client{Jar: jar, Timeout: 15 * time.Second,
		Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}}
}

func (c *client) do(ctx context.Context, method, path string, header http.Header, body io.Reader) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return 0, "", err
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	return resp.StatusCode, string(b), err
}

func (c *client) get(ctx context.Context, path string, header http.Header) (int, string, error) {
	return c.do(ctx, http.MethodGet, path, header, nil)
}

// must is do that fails the test on a transport error or an unexpected
// status.
func (c *client) must(t *testing.T, ctx context.Context, method, path string, header http.Header, body io.Reader, want int) string {
	t.Helper()
	code, b, err := c.do(ctx, method, path, header, body)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	if code != want {
		t.Fatalf("%s %s: %d, want %d:\n%.2000s", method, path, code, want, b)
	}
	return b
}

func bearer(token string) http.Header {
	return http.Header{"Authorization": {"Bearer " + token}}
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// login signs in to the console as a person would: the login form's
// double-submit token, then name and password.
func (c *client) login(t *testing.T, ctx context.Context, name, password string) {
	t.Helper()
	page := c.must(t, ctx, http.MethodGet, "/login", nil, nil, 200)
	m := csrfField.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("the login page has no csrf field:\n%.1000s", page)
	}
	form := url.Values{"csrf": {m[1]}, "name": {name}, "password": {password}, "next": {"/queue"}}
	page = c.must(t, ctx, http.MethodPost, "/login", http.Header{"Content-Type": {"application/x-www-form-urlencoded"}},
		strings.NewReader(form.Encode()), 200) // after the redirect to /queue
	if m = csrfField.FindStringSubmatch(page); m == nil {
		t.Fatalf("after login, the queue page has no csrf field (not signed in?):\n%.1000s", page)
	}
	c.csrf = m[1]
}

// decisionJSON is a decision as GET /api/v1/decisions lists it.
type decisionJSON struct {
	ID       int64     `json:"id"`
	Action   string    `json:"action"`
	Scope    string    `json:"scope"`
	Value    string    `json:"value"`
	Category string    `json:"category"`
	Policy   string    `json:"policy"`
	Strike   int       `json:"strike"`
	DryRun   bool      `json:"dry_run"`
	State    string    `json:"state"`
	Created  time.Time `json:"created"`
	Expires  time.Time `json:"expires"`
	Reason   string    `json:"reason"`
}

// decisions lists the decisions on an address, newest first.
func (c *client) decisions(t *testing.T, ctx context.Context, addr string) []decisionJSON {
	t.Helper()
	body := c.must(t, ctx, http.MethodGet, "/api/v1/decisions?scope=ip&value="+url.QueryEscape(addr), nil, nil, 200)
	var out struct {
		Decisions []decisionJSON `json:"decisions"`
	}
	if err := json.Unmarshal([]byte(body), &out); err != nil {
		t.Fatalf("GET /api/v1/decisions: %v\n%.1000s", err, body)
	}
	return out.Decisions
}

func runtimeGOROOT() string {
	if r := os.Getenv("GOROOT"); r != "" {
		return r
	}
	return "/usr/local/go"
}
