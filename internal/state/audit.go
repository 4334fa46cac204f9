package state

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"time"
)

// AuditEntry is one recorded action: who did what to which object, the
// object before and after (JSON), and why.
type AuditEntry struct {
	ID     int64
	Time   time.Time
	Actor  string // a user name, "token:NAME", or "system"
	Action string // e.g. "queue.approve", "user.add", "login"
	Object string // e.g. "post:bbs/123", "user:alice"
	Before string
	After  string
	Reason string
	Prev   string // hash of the entry before
	Hash   string // sha256 over Prev and this entry's fields
}

// entryHash chains an entry to the one before it. The fields are JSON
// encoded as an array, so no separator can be forged by field contents.
func entryHash(e AuditEntry) string {
	fields, _ := json.Marshal([]string{e.Prev, strconv.FormatInt(e.ID, 10), e.Time.UTC().Format(time.RFC3339Nano),
		e.Actor, e.Action, e.Object, e.Before, e.After, e.Reason})
	sum := sha256.Sum256(fields)
	return hex.EncodeToString(sum[:])
}

// AppendAudit adds e to the audit log inside tx, so an action and its
// record commit together. JSON-able before/after values may be given
// with MarshalAudit.
func AppendAudit(ctx context.Context, tx *sql.Tx, e AuditEntry) (AuditEntry, error) {
	var lastID int64
	var prev string
	err := tx.QueryRowContext(ctx, `SELECT id, hash FROM audit_log ORDER BY id DESC LIMIT 1`).Scan(&lastID, &prev)
	if err != nil && err != sql.ErrNoRows {
		return e, fmt.Errorf("audit log: %w", err)
	}
	e.ID = lastID + 1
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	e.Time = e.Time.UTC()
	e.Prev = prev
	e.Hash = entryHash(e)
	_, err = tx.ExecContext(ctx, `INSERT INTO audit_log (id, ts, actor, action, object, before, after, reason, prev, hash)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, e.ID, e.Time.Format(time.RFC3339Nano), e.Actor, e.Action, e.Object,
		e.Before, e.After, e.Reason, e.Prev, e.Hash)
	if err != nil {
		return e, fmt.Errorf("audit log: %w", err)
	}
	return e, nil
}

// Audit records an action on its own.
func (db *DB) Audit(ctx context.Context, e AuditEntry) error {
	return db.Tx(ctx, func(tx *sql.Tx) error {
		_, err := AppendAudit(ctx, tx, e)
		return err
	})
}

// MarshalAudit renders a before/after value; nil is "".
func MarshalAudit(v any) string {
	if v == nil {
		return ""
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprintf("%q", fmt.Sprint(v))
	}
	return string(b)
}

// AuditLog lists up to limit entries, newest first, older than beforeID
// (0: from the newest).
func (db *DB) AuditLog(ctx context.Context, limit int, beforeID int64) ([]AuditEntry, error) {
	if beforeID <= 0 {
		beforeID = 1<<63 - 1
	}
	rows, err := db.QueryContext(ctx, `SELECT id, ts, actor, action, object, before, after, reason, prev, hash
		FROM audit_log WHERE id < ? ORDER BY id DESC LIMIT ?`, beforeID, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []AuditEntry
	for rows.Next() {
		var e AuditEntry
		var ts string
		if err := rows.Scan(&e.ID, &ts, &e.Actor, &e.Action, &e.Object, &e.Before, &e.After, &e.Reason, &e.Prev, &e.Hash); err != nil {
			return nil, err
		}
		e.Time, _ = time.Parse(time.RFC3339Nano, ts)
		out = append(out, e)
	}
	return out, rows.Err()
}

// VerifyAudit walks the whole chain and returns the number of entries, or
// an error naming the first entry whose hash or link does not hold: the
// trace of an edit made to the database file behind the triggers' back.
func (db *DB) VerifyAudit(ctx context.Context) (int, error) {
	rows, err := db.QueryContext(ctx, `SELECT id, ts, actor, action, object, before, after, reason, prev, hash FROM audit_log ORDER BY id`)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	n := 0
	prev := ""
	var lastID int64
	for rows.Next() {
		var e AuditEntry
		var ts string
		if err := rows.Scan(&e.ID, &ts, &e.Actor, &e.Action, &e.Object, &e.Before, &e.After, &e.Reason, &e.Prev, &e.Hash); err != nil {
			return n, err
		}
		e.Time, _ = time.Parse(time.RFC3339Nano, ts)
		switch {
		case e.ID != lastID+1:
			return n, fmt.Errorf("audit log: entry %d follows %d: an entry is missing", e.ID, lastID)
		case e.Prev != prev:
			return n, fmt.Errorf("audit log: entry %d does not link to entry %d", e.ID, lastID)
		case entryHash(e) != e.Hash:
			return n, fmt.Errorf("audit log: entry %d was changed after it was written", e.ID)
		}
		prev, lastID = e.Hash, e.ID
		n++
	}
	return n, rows.Err()
}
