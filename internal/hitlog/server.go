package hitlog

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// serverStore writes to a ClickHouse server over the native protocol.
type serverStore struct {
	conn    driver.Conn
	cfg     serverConfig
	version Version
	insert  string
}

func openServer(ctx context.Context, cfg serverConfig) (*serverStore, error) {
	opts := &clickhouse.Options{
		Addr: []string{cfg.addr},
		// Connect to "default" first: the campusguard database may not
		// exist until the first migration creates it.
		Auth:            clickhouse.Auth{Database: "default", Username: cfg.user, Password: cfg.password},
		TLS:             cfg.tls,
		DialTimeout:     cfg.dialTimeout,
		ReadTimeout:     2 * time.Minute,
		MaxOpenConns:    4,
		MaxIdleConns:    2,
		ConnMaxLifetime: time.Hour,
		Compression:     &clickhouse.Compression{Method: clickhouse.CompressionLZ4},
	}
	conn, err := clickhouse.Open(opts)
	if err != nil {
		return nil, fmt.Errorf("hit store %s: %w", cfg.addr, err)
	}
	s := &serverStore{conn: conn, cfg: cfg}
	if err := conn.Ping(ctx); err != nil {
		conn.Close()
		return nil, fmt.Errorf("hit store clickhouse://%s: %w", cfg.addr, explainConnError(err))
	}
	sv, err := conn.ServerVersion()
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("hit store %s: server version: %w", cfg.addr, err)
	}
	s.version = Version{Major: int(sv.Version.Major), Minor: int(sv.Version.Minor), Patch: int(sv.Version.Patch)}
	s.insert = fmt.Sprintf("INSERT INTO %s.hits (%s)", cfg.database, strings.Join(Columns, ", "))
	return s, nil
}

// explainConnError turns the driver's errors at start into one line a
// person can act on.
func explainConnError(err error) error {
	var ex *clickhouse.Exception
	if errors.As(err, &ex) {
		switch ex.Code {
		case 516, 192, 193: // AUTHENTICATION_FAILED, UNKNOWN_USER, WRONG_PASSWORD
			return fmt.Errorf("login refused (check the user and password in the URL): %w", err)
		}
	}
	return err
}

func (s *serverStore) Exec(ctx context.Context, query string) error {
	return s.conn.Exec(ctx, query)
}

func (s *serverStore) Query(ctx context.Context, query string) (Rows, error) {
	rows, err := s.conn.Query(ctx, query)
	if err != nil {
		return nil, err
	}
	types := rows.ColumnTypes()
	scratch := make([]any, len(types))
	for i, t := range types {
		scratch[i] = reflect.New(t.ScanType()).Interface()
	}
	return &serverRows{rows: rows, scratch: scratch}, nil
}

// serverRows scans into the driver's own types, then converts, so that
// both stores accept the same destinations.
type serverRows struct {
	rows    driver.Rows
	scratch []any
}

func (r *serverRows) Next() bool   { return r.rows.Next() }
func (r *serverRows) Err() error   { return r.rows.Err() }
func (r *serverRows) Close() error { return r.rows.Close() }

func (r *serverRows) Scan(dest ...any) error {
	if len(dest) != len(r.scratch) {
		return fmt.Errorf("scan: %d destinations for %d columns", len(dest), len(r.scratch))
	}
	if err := r.rows.Scan(r.scratch...); err != nil {
		return err
	}
	for i, p := range r.scratch {
		if err := assign(dest[i], reflect.ValueOf(p).Elem().Interface()); err != nil {
			return fmt.Errorf("column %d: %w", i, err)
		}
	}
	return nil
}

func (s *serverStore) Insert(ctx context.Context, b *Batch) error {
	batch, err := s.conn.PrepareBatch(ctx, s.insert)
	if err != nil {
		return err
	}
	defer batch.Abort()
	// Column-wise appends: one slice per column is far cheaper than a
	// reflective Append per row.
	n := len(b.Rows)
	ts := make([]time.Time, n)
	port := make([]uint16, n)
	sev := make([]uint8, n)
	start, end := make([]uint32, n), make([]uint32, n)
	ids, seqs := make([]uint64, n), make([]uint32, n)
	var strs [12][]string
	for i := range strs {
		strs[i] = make([]string, n)
	}
	for i := range b.Rows {
		r := &b.Rows[i]
		ts[i], port[i], sev[i], start[i], end[i] = r.Time, r.Port, r.Severity, r.MatchStart, r.MatchEnd
		ids[i], seqs[i] = b.ID, b.seq(i)
		for j, v := range [...]string{r.Sensor, r.Kind, r.Client, r.Server, r.Name, r.URL, r.Pack, r.Rule, r.Category, r.Action, r.Field, r.Match} {
			strs[j][i] = v
		}
	}
	// In Columns order.
	cols := []any{ts, strs[0], strs[1], strs[2], strs[3], port, strs[4], strs[5],
		strs[6], strs[7], strs[8], sev, strs[9], strs[10], strs[11], start, end, ids, seqs}
	for i, c := range cols {
		if err := batch.Column(i).Append(c); err != nil {
			return fmt.Errorf("column %s: %w", Columns[i], err)
		}
	}
	return batch.Send()
}

// ParallelInserts: a server takes two INSERTs at once, one encoding and
// sending while the other is being written (the pool holds 4 conns).
func (s *serverStore) ParallelInserts() int { return 2 }

func (s *serverStore) Ping(ctx context.Context) error { return s.conn.Ping(ctx) }
func (s *serverStore) Version() Version               { return s.version }
func (s *serverStore) Database() string               { return s.cfg.database }
func (s *serverStore) Describe() string {
	return fmt.Sprintf("clickhouse://%s/%s (ClickHouse %s)", s.cfg.addr, s.cfg.database, s.version)
}
func (s *serverStore) Close() error { return s.conn.Close() }
