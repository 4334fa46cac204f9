// Package state keeps campusguard's small, transactional state in SQLite
// (modernc.org/sqlite, pure Go): console users and sessions, API tokens and
// the hash-chained audit log here, and whatever tables other components
// migrate in through Migrate (the moderation queue, decisions).
package state

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// DB is the state database.
type DB struct {
	*sql.DB
	path string
}

// Open opens (creating if needed) the database at path and brings this
// package's tables up to date. ":memory:" is accepted for tests.
func Open(ctx context.Context, path string) (*DB, error) {
	if path != ":memory:" {
		if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
			return nil, fmt.Errorf("state database %s: %w", path, err)
		}
	}
	// WAL lets the console read while the queue writes; IMMEDIATE
	// transactions take the write lock at BEGIN, so read-then-write
	// sequences (the audit chain, claims) cannot interleave.
	q := url.Values{}
	for _, p := range []string{"busy_timeout(10000)", "journal_mode(WAL)", "foreign_keys(1)", "synchronous(NORMAL)"} {
		q.Add("_pragma", p)
	}
	q.Set("_txlock", "immediate")
	dsn := "file:" + path + "?" + q.Encode()
	sqldb, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("state database %s: %w", path, err)
	}
	if path == ":memory:" {
		sqldb.SetMaxOpenConns(1) // each connection would be its own database
	}
	db := &DB{DB: sqldb, path: path}
	if err := db.PingContext(ctx); err != nil {
		sqldb.Close()
		return nil, fmt.Errorf("state database %s: %w", path, err)
	}
	if err := db.Migrate(ctx, "state", migrations); err != nil {
		sqldb.Close()
		return nil, err
	}
	return db, nil
}

// Path is where the database lives.
func (db *DB) Path() string { return db.path }

// Migration is one step of a component's schema.
type Migration struct {
	Version int
	Name    string
	SQL     string // one or more statements
}

// Migrate applies a component's migrations that are not yet applied, each
// in its own transaction with its version record, so a step either lands
// whole or not at all.
func (db *DB) Migrate(ctx context.Context, component string, steps []Migration) error {
	if _, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_versions (
		component TEXT NOT NULL, version INTEGER NOT NULL, name TEXT NOT NULL, applied TEXT NOT NULL,
		PRIMARY KEY (component, version))`); err != nil {
		return fmt.Errorf("state database: %w", err)
	}
	var current int
	if err := db.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_versions WHERE component = ?`, component).Scan(&current); err != nil {
		return fmt.Errorf("state database: %s schema version: %w", component, err)
	}
	if n := len(steps); n > 0 && current > steps[n-1].Version {
		return fmt.Errorf("state database %s: %s schema is at version %d, newer than this build's %d; upgrade campusguard", db.path, component, current, steps[n-1].Version)
	}
	for _, m := range steps {
		if m.Version <= current {
			continue
		}
		err := db.Tx(ctx, func(tx *sql.Tx) error {
			if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, `INSERT INTO schema_versions (component, version, name, applied) VALUES (?, ?, ?, ?)`,
				component, m.Version, m.Name, time.Now().UTC().Format(time.RFC3339))
			return err
		})
		if err != nil {
			return fmt.Errorf("state database: migrate %s to version %d (%s): %w", component, m.Version, m.Name, err)
		}
	}
	return nil
}

// Tx runs fn in a transaction that commits when fn returns nil.
func (db *DB) Tx(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

// ErrNotFound is returned for a user, token or session that does not exist.
var ErrNotFound = errors.New("not found")

var migrations = []Migration{
	{1, "users, sessions, tokens, audit log", `
CREATE TABLE users (
	id INTEGER PRIMARY KEY,
	name TEXT NOT NULL UNIQUE,
	role TEXT NOT NULL CHECK (role IN ('admin', 'moderator', 'viewer')),
	password TEXT NOT NULL,
	created TEXT NOT NULL,
	disabled INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE sessions (
	id_hash TEXT PRIMARY KEY,
	user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
	csrf TEXT NOT NULL,
	lang TEXT NOT NULL DEFAULT '',
	created TEXT NOT NULL,
	expires TEXT NOT NULL
);
CREATE INDEX sessions_expires ON sessions(expires);
CREATE TABLE tokens (
	id INTEGER PRIMARY KEY,
	name TEXT NOT NULL UNIQUE,
	scope TEXT NOT NULL CHECK (scope IN ('ingest', 'bouncer', 'feeds')),
	secret_hash TEXT NOT NULL UNIQUE,
	created TEXT NOT NULL,
	last_used TEXT NOT NULL DEFAULT '',
	revoked TEXT NOT NULL DEFAULT ''
);
CREATE TABLE audit_log (
	id INTEGER PRIMARY KEY,
	ts TEXT NOT NULL,
	actor TEXT NOT NULL,
	action TEXT NOT NULL,
	object TEXT NOT NULL,
	before TEXT NOT NULL,
	after TEXT NOT NULL,
	reason TEXT NOT NULL,
	prev TEXT NOT NULL,
	hash TEXT NOT NULL
);
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
`},
}
