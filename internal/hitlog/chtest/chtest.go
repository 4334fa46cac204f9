// Package chtest gives hit log tests the two ClickHouse engines they run
// against: a clickhouse-server 18.16 from Debian's packages, started per test
// binary on free loopback ports with its own data directory (StartServer,
// SharedServer), and chDB's embedded libchdb.so as fetched by
// scripts/chdb-lib.sh (LibPath).
//
// It is imported only from _test.go files. It knows nothing of campusguard's
// schema and uses no ClickHouse Go client: readiness and Server.Client go
// through the clickhouse-client binary, so tests of a client package can
// check it against a second, independent one.
//
// When a server binary or the library is missing, tests skip, unless
// CAMPUSGUARD_TEST_REQUIRE_SERVERS=1 (set by `make unit` and `make race`),
// when they fail: CI must not pass by skipping.
package chtest

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

const (
	// ServerBin and ClientBin are where Debian's clickhouse-server and
	// clickhouse-client packages put the binaries (scripts/deps.sh).
	ServerBin = "/usr/sbin/clickhouse-server"
	ClientBin = "/usr/bin/clickhouse-client"

	// RequireEnv set to 1 turns every skip for a missing server or library
	// into a failure.
	RequireEnv = "CAMPUSGUARD_TEST_REQUIRE_SERVERS"

	// LibEnv names libchdb.so; the Makefile exports it for every target.
	LibEnv = "CHDB_LIB_PATH"

	// ChDBVersion is the chDB build scripts/chdb-lib.sh fetches; a test keeps
	// the two in step.
	ChDBVersion = "26.7.3-stable.1"
)

// Required reports whether missing servers or libraries fail the tests
// instead of skipping them.
func Required() bool { return os.Getenv(RequireEnv) == "1" }

// unavailable skips the test, or fails it when RequireEnv is set.
func unavailable(tb testing.TB, format string, args ...any) {
	tb.Helper()
	msg := fmt.Sprintf(format, args...)
	if Required() {
		tb.Fatalf("%s (%s=1, so this fails instead of skipping)", msg, RequireEnv)
	}
	tb.Skip(msg)
}

// LibPath returns the path of libchdb.so: $CHDB_LIB_PATH when it is set,
// otherwise scripts/chdb-lib.sh's default cache path. It skips the test (or
// fails it, under RequireEnv) when the file is not there.
func LibPath(tb testing.TB) string {
	tb.Helper()
	if p := os.Getenv(LibEnv); p != "" {
		if err := isFile(p); err != nil {
			unavailable(tb, "chDB library %s=%s: %v; run `make deps` (scripts/chdb-lib.sh) to fetch it", LibEnv, p, err)
		}
		return p
	}
	p, err := DefaultLibPath()
	if err != nil {
		unavailable(tb, "chDB library: %s is unset and %v; run `make deps` (scripts/chdb-lib.sh) to fetch it", LibEnv, err)
	}
	if err := isFile(p); err != nil {
		unavailable(tb, "chDB library: %s is unset and %v; run `make deps` (scripts/chdb-lib.sh) to fetch it", LibEnv, err)
	}
	return p
}

// DefaultLibPath is where scripts/chdb-lib.sh puts libchdb.so:
// ${CAMPUSGUARD_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/campusguard}/chdb/<version>/libchdb.so.
func DefaultLibPath() (string, error) {
	root := os.Getenv("CAMPUSGUARD_CACHE")
	if root == "" {
		cache := os.Getenv("XDG_CACHE_HOME")
		if cache == "" {
			home, err := os.UserHomeDir()
			if err != nil {
				return "", fmt.Errorf("chDB cache: %w", err)
			}
			cache = filepath.Join(home, ".cache")
		}
		root = filepath.Join(cache, "campusguard")
	}
	return filepath.Join(root, "chdb", ChDBVersion, "libchdb.so"), nil
}

func isFile(p string) error {
	st, err := os.Stat(p)
	if err != nil {
		return err
	}
	if !st.Mode().IsRegular() {
		return &fs.PathError{Op: "stat", Path: p, Err: errors.New("not a regular file")}
	}
	return nil
}
