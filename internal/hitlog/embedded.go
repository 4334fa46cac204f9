package hitlog

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/campusguard/campusguard/internal/hitlog/chdb"
)

// embeddedDatabase is the database chDB stores hits in.
const embeddedDatabase = "campusguard"

// The engine allows one open directory per process, so stores of the same
// directory share its connection.
var (
	engineMu   sync.Mutex
	engine     *chdb.Conn
	engineRefs int
)

// embeddedStore writes to chDB in this process.
type embeddedStore struct {
	conn    *chdb.Conn
	dir     string
	version Version
	insert  string
	ms      bool // ts is DateTime64(3)

	closeOnce sync.Once
}

func openEmbedded(ctx context.Context, dir string) (*embeddedStore, error) {
	dir = filepath.Clean(dir)
	engineMu.Lock()
	defer engineMu.Unlock()
	if engine == nil {
		c, err := chdb.Open(dir)
		if err != nil {
			return nil, fmt.Errorf("hit store chdb://%s: %w", dir, err)
		}
		engine = c
	} else if engine.Path() != dir {
		return nil, fmt.Errorf("hit store chdb://%s: this process already has chdb://%s open, and the engine allows one", dir, engine.Path())
	}
	engineRefs++
	s := &embeddedStore{conn: engine, dir: dir}
	out, err := s.conn.Query("SELECT version()", "TabSeparated")
	if err == nil {
		s.version, err = ParseVersion(string(out))
	}
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("hit store chdb://%s: version: %w", dir, err)
	}
	s.ms = FeaturesOf(s.version).DateTime64
	s.insert = fmt.Sprintf("INSERT INTO %s.hits (%s) FORMAT RowBinary\n", embeddedDatabase, strings.Join(Columns, ", "))
	return s, nil
}

func (s *embeddedStore) Exec(ctx context.Context, query string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	_, err := s.conn.Query(query, "")
	return err
}

func (s *embeddedStore) Query(ctx context.Context, query string) (Rows, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	out, err := s.conn.Query(query, "JSONCompactEachRow")
	if err != nil {
		return nil, err
	}
	return &jsonRows{sc: bufio.NewScanner(bytes.NewReader(out))}, nil
}

// jsonRows reads JSONCompactEachRow: one JSON array per row.
type jsonRows struct {
	sc  *bufio.Scanner
	row []any
	err error
}

func (r *jsonRows) Next() bool {
	if r.err != nil || !r.sc.Scan() {
		return false
	}
	d := json.NewDecoder(bytes.NewReader(r.sc.Bytes()))
	d.UseNumber()
	r.row = r.row[:0]
	if err := d.Decode(&r.row); err != nil {
		r.err = fmt.Errorf("decode row: %w", err)
		return false
	}
	return true
}

func (r *jsonRows) Scan(dest ...any) error {
	if len(dest) != len(r.row) {
		return fmt.Errorf("scan: %d destinations for %d columns", len(dest), len(r.row))
	}
	for i, v := range r.row {
		if err := assign(dest[i], v); err != nil {
			return fmt.Errorf("column %d: %w", i, err)
		}
	}
	return nil
}

func (r *jsonRows) Err() error {
	if r.err != nil {
		return r.err
	}
	return r.sc.Err()
}

func (r *jsonRows) Close() error { return nil }

// Insert writes b to a RowBinary file in the store's directory and has the
// engine read it with file(). RowBinary inline in the query text does not
// work: the engine ends inline INSERT data at the first blank line ("\n\n"),
// and binary rows hold one sooner or later (row 2570's seq is 0x0a0a, so
// every batch of more than 2570 rows failed; so did a post with a blank line).
func (s *embeddedStore) Insert(ctx context.Context, b *Batch) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	f, err := os.CreateTemp(s.dir, ".insert-*.rowbinary")
	if err != nil {
		return fmt.Errorf("chdb insert: %w", err)
	}
	defer os.Remove(f.Name())
	_, err = f.Write(appendRowBinary(make([]byte, 0, len(b.Rows)*200), b, s.ms))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("chdb insert: %w", err)
	}
	// The file's columns, as appendRowBinary writes them, in Columns order.
	ts := "DateTime"
	if s.ms {
		ts = "DateTime64(3)"
	}
	structure := "ts " + ts + ", sensor String, kind String, client String, server String, port UInt16, name String, url String, " +
		"pack String, rule String, category String, severity UInt8, action String, field String, match String, " +
		"match_start UInt32, match_end UInt32, batch UInt64, seq UInt32"
	_, err = s.conn.Query(fmt.Sprintf("INSERT INTO %s.hits (%s) SELECT * FROM file(%s, RowBinary, %s)",
		embeddedDatabase, strings.Join(Columns, ", "), quote(f.Name()), quote(structure)), "")
	return err
}

func (s *embeddedStore) Ping(ctx context.Context) error {
	_, err := s.conn.Query("SELECT 1", "TabSeparated")
	return err
}

func (s *embeddedStore) Version() Version { return s.version }
func (s *embeddedStore) Database() string { return embeddedDatabase }
func (s *embeddedStore) Describe() string {
	return fmt.Sprintf("chdb://%s (chDB, ClickHouse %s)", s.dir, s.version)
}

// Close releases this store's share of the engine; the last one closes it.
func (s *embeddedStore) Close() error {
	var err error
	s.closeOnce.Do(func() {
		engineMu.Lock()
		defer engineMu.Unlock()
		engineRefs--
		if engineRefs == 0 {
			err = engine.Close()
			engine = nil
		}
	})
	return err
}
