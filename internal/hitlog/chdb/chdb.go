// Package chdb binds the few functions of chDB's C API (libchdb.so, the
// ClickHouse engine as a library) that the embedded hit store needs.
//
// Why not github.com/chdb-io/chdb-go: its binding opens libchdb.so in a
// package init and panics when the 566 MB library is missing, so merely
// linking it kills every campusguard binary on a sensor that writes to a
// ClickHouse server; and it lets the engine install its own SIGSEGV/SIGBUS
// handlers, which turn a recovered Go nil-pointer panic into a crash. This
// binding loads the library only when Open is called, fails with an error
// naming CHDB_LIB_PATH, opts out of the engine's signal handlers and puts
// back every handler the Go runtime had.
package chdb

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"unsafe"

	"github.com/ebitengine/purego"
)

// LibEnv is the environment variable naming libchdb.so.
const LibEnv = "CHDB_LIB_PATH"

// api holds the C functions, resolved once per process.
type api struct {
	connect           func(argc int32, argv **byte) unsafe.Pointer
	closeConn         func(conn unsafe.Pointer)
	queryN            func(conn unsafe.Pointer, query *byte, queryLen uintptr, format *byte, formatLen uintptr) unsafe.Pointer
	destroyResult     func(res unsafe.Pointer)
	resultBuffer      func(res unsafe.Pointer) unsafe.Pointer
	resultLength      func(res unsafe.Pointer) uintptr
	resultError       func(res unsafe.Pointer) unsafe.Pointer
	resultRowsRead    func(res unsafe.Pointer) uint64
	setSignalHandlers func(enabled int32)
}

var (
	loadOnce sync.Once
	lib      *api
	loadErr  error

	// The engine allows one connection per process.
	openMu sync.Mutex
	isOpen bool
)

// LibPath says which file Open will load: CHDB_LIB_PATH when set, else the
// first of the usual places that exists, else "" (the error names them).
func LibPath() string {
	if p := os.Getenv(LibEnv); p != "" {
		return p
	}
	for _, p := range candidatePaths() {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return ""
}

// candidatePaths are where an install or `make deps` (scripts/chdb-lib.sh)
// puts the library.
func candidatePaths() []string {
	paths := []string{"/usr/local/lib/libchdb.so", "/usr/lib/campusguard/libchdb.so"}
	cache := os.Getenv("CAMPUSGUARD_CACHE")
	if cache == "" {
		if dir, err := os.UserCacheDir(); err == nil {
			cache = filepath.Join(dir, "campusguard")
		}
	}
	if cache != "" {
		paths = append(paths, filepath.Join(cache, "chdb", "libchdb.so"))
	}
	return paths
}

func load() (*api, error) {
	loadOnce.Do(func() { lib, loadErr = loadLib(LibPath()) })
	return lib, loadErr
}

func loadLib(path string) (*api, error) {
	if path == "" {
		return nil, fmt.Errorf("chdb: libchdb.so not found: set %s to its path (`make deps` fetches it; looked in %v)", LibEnv, candidatePaths())
	}
	h, err := purego.Dlopen(path, purego.RTLD_NOW|purego.RTLD_GLOBAL)
	if err != nil {
		return nil, fmt.Errorf("chdb: load %s (from %s or the default places): %w", path, LibEnv, err)
	}
	a := &api{}
	syms := []struct {
		fn   any
		name string
	}{
		{&a.connect, "chdb_connect"},
		{&a.closeConn, "chdb_close_conn"},
		{&a.queryN, "chdb_query_n"},
		{&a.destroyResult, "chdb_destroy_query_result"},
		{&a.resultBuffer, "chdb_result_buffer"},
		{&a.resultLength, "chdb_result_length"},
		{&a.resultError, "chdb_result_error"},
		{&a.resultRowsRead, "chdb_result_rows_read"},
		{&a.setSignalHandlers, "chdb_set_signal_handlers_enabled"},
	}
	for _, s := range syms {
		if _, err := purego.Dlsym(h, s.name); err != nil {
			return nil, fmt.Errorf("chdb: %s has no %s (want chDB 26.3 or newer): %w", path, s.name, err)
		}
		purego.RegisterLibFunc(s.fn, h, s.name)
	}
	// Opt out before the first connect; the call resets the deadly
	// signals to SIG_DFL as a side effect, so Go's handlers go back.
	withSignalsKept(func() { a.setSignalHandlers(0) })
	return a, nil
}

// Conn is the process's connection to the embedded engine. Queries are
// serialized: the engine runs one at a time per connection anyway.
type Conn struct {
	mu   sync.Mutex
	api  *api
	conn unsafe.Pointer // chdb_connection*
	path string
}

// Open loads libchdb.so if needed and opens the database directory path
// (created if missing). Only one Conn may be open per process.
func Open(path string) (*Conn, error) {
	a, err := load()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(path, 0o750); err != nil {
		return nil, fmt.Errorf("chdb: create %s: %w", path, err)
	}
	openMu.Lock()
	defer openMu.Unlock()
	if isOpen {
		return nil, errors.New("chdb: the engine allows one open database per process, and one is open")
	}
	args := [][]byte{cString("clickhouse"), cString("--path=" + path)}
	argv := []*byte{&args[0][0], &args[1][0], nil}
	var conn unsafe.Pointer
	withSignalsKept(func() { conn = a.connect(int32(len(args)), &argv[0]) })
	runtime.KeepAlive(args)
	if conn == nil {
		return nil, fmt.Errorf("chdb: open %s: the engine refused (is the directory writable and not used by another process?)", path)
	}
	isOpen = true
	return &Conn{api: a, conn: conn, path: path}, nil
}

// Path is the database directory.
func (c *Conn) Path() string { return c.path }

// Query runs one statement and returns its output in format (e.g.
// "JSONCompactEachRow", "TabSeparated"); statements without output return
// nil. The query may carry inline data of any bytes (INSERT … FORMAT …).
func (c *Conn) Query(query, format string) ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.conn == nil {
		return nil, errors.New("chdb: query on a closed connection")
	}
	q := cString(query)
	f := cString(format)
	conn := *(*unsafe.Pointer)(c.conn)
	res := c.api.queryN(conn, &q[0], uintptr(len(query)), &f[0], uintptr(len(format)))
	runtime.KeepAlive(q)
	runtime.KeepAlive(f)
	if res == nil {
		return nil, nil
	}
	defer c.api.destroyResult(res)
	if msg := goString(c.api.resultError(res)); msg != "" {
		return nil, errors.New(msg)
	}
	n := c.api.resultLength(res)
	buf := c.api.resultBuffer(res)
	if n == 0 || buf == nil {
		return nil, nil
	}
	return append([]byte(nil), unsafe.Slice((*byte)(buf), n)...), nil
}

// Close closes the connection; another Open may follow.
func (c *Conn) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.conn == nil {
		return nil
	}
	withSignalsKept(func() { c.api.closeConn(c.conn) })
	c.conn = nil
	openMu.Lock()
	isOpen = false
	openMu.Unlock()
	return nil
}

// cString copies s into a NUL-terminated byte slice owned by Go.
func cString(s string) []byte {
	b := make([]byte, len(s)+1)
	copy(b, s)
	return b
}

// goString copies a C string.
func goString(p unsafe.Pointer) string {
	if p == nil {
		return ""
	}
	n := 0
	for *(*byte)(unsafe.Add(p, n)) != 0 {
		n++
	}
	return string(unsafe.Slice((*byte)(p), n))
}
