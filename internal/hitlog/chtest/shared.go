package chtest

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// One server for all tests of a package: a start takes seconds, a database
// milliseconds.
var shared struct {
	mu      sync.Mutex
	inMain  bool
	tried   bool
	srv     *Server
	err     error
	dropDir string
}

// RunShared runs a package's tests, m.Run, and then stops the server that
// SharedServer started, if any. Use it as the package's TestMain:
//
//	func TestMain(m *testing.M) { os.Exit(chtest.RunShared(m)) }
func RunShared(m *testing.M) int {
	shared.mu.Lock()
	shared.inMain = true
	shared.mu.Unlock()

	code := m.Run()

	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.srv != nil {
		shared.srv.kill()
	}
	if shared.dropDir != "" {
		os.RemoveAll(shared.dropDir)
	}
	return code
}

// SharedServer returns the package's one server, starting it on first use;
// tests keep apart by database (NewDatabase). It skips like StartServer when
// ClickHouse is missing. Stop, Kill and Pause fail on it: outage tests start
// their own with StartServer. The package's TestMain must call RunShared.
func SharedServer(tb testing.TB) *Server {
	tb.Helper()
	if err := available(); err != nil {
		unavailable(tb, "%v; run `make deps` (scripts/deps.sh)", err)
	}
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if !shared.inMain {
		tb.Fatal("chtest.SharedServer: the package's TestMain must call chtest.RunShared(m)")
	}
	if !shared.tried {
		shared.tried = true
		shared.err = startShared()
	}
	if shared.err != nil {
		tb.Fatalf("shared %v", shared.err)
	}
	return shared.srv
}

func startShared() error {
	dir, err := os.MkdirTemp("", "chtest-")
	if err != nil {
		return fmt.Errorf("clickhouse-server: %w", err)
	}
	shared.dropDir = dir
	s, err := newServer(dir)
	if s != nil {
		s.shared = true
		shared.srv = s
	}
	return err
}

var dbSeq atomic.Int64

// NewDatabase creates a database of its own for this test, named after it,
// and drops it at cleanup while the server still runs.
func (s *Server) NewDatabase(tb testing.TB) string {
	tb.Helper()
	name := fmt.Sprintf("t%d_%s", dbSeq.Add(1), identifier(tb.Name()))
	s.Client(tb, "CREATE DATABASE "+name)
	tb.Cleanup(func() {
		s.mu.Lock()
		up := s.proc != nil
		s.mu.Unlock()
		if !up {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), ClientTimeout)
		defer cancel()
		if _, err := s.Query(ctx, "DROP DATABASE IF EXISTS "+name); err != nil {
			tb.Logf("chtest: %v", err)
		}
	})
	return name
}

// identifier keeps letters, digits and underscores of a test name, at most
// 48 of them, so it needs no quoting in SQL.
func identifier(name string) string {
	var b strings.Builder
	for _, r := range name {
		if b.Len() == 48 {
			break
		}
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '_':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	return b.String()
}
