package chdb

import (
	"os"
	"strings"
	"testing"
)

// libPath finds the library the way the hit store does; the tests need the
// real engine, so without it they fail under `make test`
// (CAMPUSGUARD_TEST_REQUIRE_SERVERS=1) and skip elsewhere.
func libPath(t *testing.T) {
	t.Helper()
	if LibPath() != "" {
		return
	}
	if os.Getenv("CAMPUSGUARD_TEST_REQUIRE_SERVERS") == "1" {
		t.Fatalf("libchdb.so not found: set %s or run `make deps`", LibEnv)
	}
	t.Skipf("libchdb.so not found: set %s or run `make deps`", LibEnv)
}

// One test function: the engine allows one connection per process.
func TestEngine(t *testing.T) {
	libPath(t)
	before := signalDispositions()
	dir := t.TempDir()
	c, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir); err == nil || !strings.Contains(err.Error(), "one open database") {
		t.Errorf("second Open: got %v, want the one-connection error", err)
	}

	t.Run("signals kept", func(t *testing.T) {
		if _, err := c.Query("SELECT 1", "CSV"); err != nil {
			t.Fatal(err)
		}
		after := signalDispositions()
		for sig := 1; sig <= maxSignal; sig++ {
			if before[sig] != after[sig] {
				t.Errorf("signal %d disposition changed by the engine: %+v -> %+v", sig, before[sig], after[sig])
			}
		}
		// A Go nil dereference still panics (and is recovered) instead of
		// killing the process.
		func() {
			defer func() {
				if recover() == nil {
					t.Error("nil dereference did not panic")
				}
			}()
			var p *int
			_ = *p
		}()
	})

	t.Run("query and binary-safe insert", func(t *testing.T) {
		if _, err := c.Query("CREATE TABLE t (s String, n UInt32) ENGINE = MergeTree ORDER BY n", ""); err != nil {
			t.Fatal(err)
		}
		// RowBinary with NUL bytes in the data: the _n entry point is binary-safe.
		data := []byte{3, 'a', 0, 'b', 7, 0, 0, 0}
		if _, err := c.Query("INSERT INTO t (s, n) FORMAT RowBinary\n"+string(data), ""); err != nil {
			t.Fatal(err)
		}
		out, err := c.Query("SELECT length(s), n FROM t", "TabSeparated")
		if err != nil {
			t.Fatal(err)
		}
		if got := string(out); got != "3\t7\n" {
			t.Errorf("got %q, want %q", got, "3\t7\n")
		}
	})

	t.Run("errors", func(t *testing.T) {
		_, err := c.Query("SELECT * FROM no_such_table", "CSV")
		if err == nil || !strings.Contains(err.Error(), "no_such_table") {
			t.Errorf("got %v, want an error naming the table", err)
		}
	})

	t.Run("reopen keeps data", func(t *testing.T) {
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Query("SELECT 1", "CSV"); err == nil {
			t.Error("query on a closed connection succeeded")
		}
		c2, err := Open(dir)
		if err != nil {
			t.Fatal(err)
		}
		defer c2.Close()
		out, err := c2.Query("SELECT count() FROM t", "CSV")
		if err != nil {
			t.Fatal(err)
		}
		if strings.TrimSpace(string(out)) != "1" {
			t.Errorf("after reopen: count %q, want 1", out)
		}
	})
}

func TestMissingLibrary(t *testing.T) {
	_, err := loadLib("/nonexistent/libchdb.so")
	if err == nil || !strings.Contains(err.Error(), LibEnv) {
		t.Fatalf("got %v, want an error naming %s", err, LibEnv)
	}
	t.Setenv(LibEnv, "")
	t.Setenv("CAMPUSGUARD_CACHE", t.TempDir())
	t.Setenv("HOME", t.TempDir())
	t.Setenv("XDG_CACHE_HOME", "")
	if p := LibPath(); p != "" && !strings.HasPrefix(p, "/usr/") {
		t.Errorf("LibPath with nothing installed = %q", p)
	}
}
