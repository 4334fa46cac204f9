package chtest_test

import (
	"context"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/campusguard/campusguard/internal/hitlog/chtest"
	"github.com/campusguard/campusguard/internal/testhttp"
)

func TestMain(m *testing.M) { os.Exit(chtest.RunShared(m)) }

func TestServerAnswers(t *testing.T) {
	s := chtest.StartServer(t)
	if !strings.HasPrefix(s.Version, "18.") {
		t.Errorf("Version = %q, want 18.*", s.Version)
	}
	if got := s.Client(t, "SELECT version()"); got != s.Version {
		t.Errorf("SELECT version() = %q, want %q", got, s.Version)
	}
	if got := s.Client(t, "SELECT timezone()"); got != "UTC" && got != "Etc/UTC" {
		t.Errorf("SELECT timezone() = %q, want UTC", got)
	}
	want := "clickhouse://campusguard:" + s.Password + "@" + s.Addr + "/hits"
	if got := s.URL("hits"); got != want {
		t.Errorf("URL(hits) = %q, want %q", got, want)
	}
	if host, _, _ := net.SplitHostPort(s.Addr); host != "127.0.0.1" {
		t.Errorf("Addr = %q, want 127.0.0.1:port", s.Addr)
	}

	// The HTTP interface, with the password and without it.
	q := url.Values{"query": {"SELECT 1"}, "user": {s.User}, "password": {s.Password}}
	if body, code := httpGet(t, "http://"+s.HTTPAddr+"/?"+q.Encode()); code != 200 || body != "1" {
		t.Errorf("HTTP SELECT 1 = %d %q, want 200 \"1\"", code, body)
	}
	q.Set("password", "wrong")
	if _, code := httpGet(t, "http://"+s.HTTPAddr+"/?"+q.Encode()); code == 200 {
		t.Errorf("HTTP with a wrong password answered 200")
	}
}

// httpGet reads u's answer, trimmed as ClickHouse ends it with a newline.
func httpGet(t *testing.T, u string) (string, int) {
	t.Helper()
	r := testhttp.Do(t, &http.Client{Timeout: 10 * time.Second}, http.MethodGet, u)
	return strings.TrimSpace(r.Body), r.Code
}

func TestPauseResume(t *testing.T) {
	s := chtest.StartServer(t)
	s.Pause(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	start := time.Now()
	out, err := s.Query(ctx, "SELECT 1")
	if err == nil {
		t.Fatalf("SELECT 1 on a paused server = %q, want a timeout", out)
	}
	if took := time.Since(start); took > 6*time.Second {
		t.Errorf("query on a paused server gave up after %s, want about 3 s", took)
	}
	s.Resume(t)
	if got := s.Client(t, "SELECT 1"); got != "1" {
		t.Errorf("SELECT 1 after Resume = %q", got)
	}
}

// Data written before a crash (Kill) or a shutdown (Stop) is there after
// Start, on the same address.
func TestRestartKeepsData(t *testing.T) {
	s := chtest.StartServer(t)
	addr := s.Addr
	db := s.NewDatabase(t)
	s.Client(t, "CREATE TABLE "+db+".t (n UInt32) ENGINE = MergeTree() ORDER BY n")
	s.Client(t, "INSERT INTO "+db+".t VALUES (1)")

	s.Kill(t)
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Fatalf("%s still accepts connections after Kill", addr)
	}
	s.Start(t)
	if s.Addr != addr {
		t.Errorf("Addr after Start = %s, want %s", s.Addr, addr)
	}
	if got := s.Client(t, "SELECT count() FROM "+db+".t"); got != "1" {
		t.Errorf("rows after Kill and Start = %s, want 1", got)
	}

	s.Client(t, "INSERT INTO "+db+".t VALUES (2)")
	s.Stop(t)
	s.Start(t)
	if got := s.Client(t, "SELECT sum(n) FROM "+db+".t"); got != "3" {
		t.Errorf("sum after Stop and Start = %s, want 3", got)
	}
}

func TestSharedServer(t *testing.T) {
	s := chtest.SharedServer(t)
	if s2 := chtest.SharedServer(t); s2 != s {
		t.Fatal("SharedServer returned a second server")
	}
	var dbs []string
	for range 2 {
		db := s.NewDatabase(t)
		s.Client(t, "CREATE TABLE "+db+".t (n UInt8) ENGINE = Memory")
		dbs = append(dbs, db)
	}
	if dbs[0] == dbs[1] {
		t.Fatalf("NewDatabase twice gave %s", dbs[0])
	}
	t.Run("sub/test name", func(t *testing.T) {
		db := chtest.SharedServer(t).NewDatabase(t)
		if !regexp.MustCompile(`^t\d+_[A-Za-z0-9_]+$`).MatchString(db) {
			t.Errorf("NewDatabase = %q, want a plain identifier", db)
		}
	})
}

func TestLibPathFromEnv(t *testing.T) {
	lib := filepath.Join(t.TempDir(), "libchdb.so")
	if err := os.WriteFile(lib, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv(chtest.LibEnv, lib)
	if got := chtest.LibPath(t); got != lib {
		t.Errorf("LibPath = %q, want %q", got, lib)
	}
}

func TestDefaultLibPath(t *testing.T) {
	for _, tc := range []struct{ cache, xdg, home, want string }{
		{"/c", "/x", "/h", "/c/chdb/" + chtest.ChDBVersion + "/libchdb.so"},
		{"", "/x", "/h", "/x/campusguard/chdb/" + chtest.ChDBVersion + "/libchdb.so"},
		{"", "", "/h", "/h/.cache/campusguard/chdb/" + chtest.ChDBVersion + "/libchdb.so"},
	} {
		t.Setenv("CAMPUSGUARD_CACHE", tc.cache)
		t.Setenv("XDG_CACHE_HOME", tc.xdg)
		t.Setenv("HOME", tc.home)
		got, err := chtest.DefaultLibPath()
		if err != nil || got != tc.want {
			t.Errorf("CAMPUSGUARD_CACHE=%q XDG_CACHE_HOME=%q HOME=%q: DefaultLibPath = %q, %v; want %q",
				tc.cache, tc.xdg, tc.home, got, err, tc.want)
		}
	}
}

// The real library, where `make deps` put it.
func TestLibPath(t *testing.T) {
	lib := chtest.LibPath(t)
	st, err := os.Stat(lib)
	if err != nil {
		t.Fatal(err)
	}
	if st.Size() < 100<<20 {
		t.Errorf("%s: %d bytes, want the ~566 MB library", lib, st.Size())
	}
}

// scripts/chdb-lib.sh fetches the version LibPath looks for.
func TestChDBVersionMatchesScript(t *testing.T) {
	script, err := os.ReadFile("../../../scripts/chdb-lib.sh")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^CHDB_VERSION=(\S+)$`).FindSubmatch(script)
	if m == nil {
		t.Fatal("scripts/chdb-lib.sh: no CHDB_VERSION= line")
	}
	if string(m[1]) != chtest.ChDBVersion {
		t.Errorf("scripts/chdb-lib.sh fetches chDB %s, chtest.ChDBVersion is %s", m[1], chtest.ChDBVersion)
	}
}
