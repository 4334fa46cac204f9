package decision

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/campusguard/campusguard/internal/state"
)

var migrations = []state.Migration{
	{Version: 1, Name: "decisions and consumer cursors", SQL: `
CREATE TABLE decisions (
	id INTEGER PRIMARY KEY,
	action TEXT NOT NULL CHECK (action IN ('notify', 'warn', 'block')),
	scope TEXT NOT NULL CHECK (scope IN ('ip', 'range', 'domain')),
	value TEXT NOT NULL,
	category TEXT NOT NULL,
	severity INTEGER NOT NULL,
	origin TEXT NOT NULL CHECK (origin IN ('policy', 'manual')),
	policy TEXT NOT NULL,
	actor TEXT NOT NULL,
	reason TEXT NOT NULL CHECK (reason <> ''),
	strike INTEGER NOT NULL,
	dry_run INTEGER NOT NULL,
	hits TEXT NOT NULL,
	created INTEGER NOT NULL,  -- Unix milliseconds
	expires INTEGER NOT NULL,
	revoked INTEGER NOT NULL DEFAULT 0,
	revoked_by TEXT NOT NULL DEFAULT '',
	revoke_reason TEXT NOT NULL DEFAULT '',
	revoke_seq INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX decisions_live ON decisions (expires) WHERE revoked = 0 AND dry_run = 0;
CREATE INDEX decisions_subject ON decisions (scope, value, id);
CREATE INDEX decisions_revoke_seq ON decisions (revoke_seq) WHERE revoke_seq > 0;
-- Where each stream consumer (a bouncer token) got to: the last decision
-- id and revocation sequence it was sent, and when.
CREATE TABLE decision_cursors (
	consumer TEXT PRIMARY KEY,
	last_id INTEGER NOT NULL,
	last_revoke_seq INTEGER NOT NULL,
	last_time INTEGER NOT NULL
);
`},
}

// ErrNotFound is returned for a decision id that does not exist.
var ErrNotFound = errors.New("decision not found")

// Store keeps decisions in the state database. Every change is audited in
// the same transaction.
type Store struct {
	db *state.DB
}

// Open migrates the decision tables into db.
func Open(ctx context.Context, db *state.DB) (*Store, error) {
	if db == nil {
		return nil, errors.New("decisions: no state database")
	}
	if err := db.Migrate(ctx, "decisions", migrations); err != nil {
		return nil, err
	}
	return &Store{db: db}, nil
}

func ms(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func fromMS(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMilli(v).UTC()
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// Add validates and stores d and returns it with its id. Times are kept to
// the millisecond.
func (s *Store) Add(ctx context.Context, d Decision) (Decision, error) {
	d.Created = d.Created.UTC().Truncate(time.Millisecond)
	d.Expires = d.Expires.UTC().Truncate(time.Millisecond)
	if err := d.Validate(); err != nil {
		return d, fmt.Errorf("decision on %s %q: %w", d.Scope, d.Value, err)
	}
	d.Revoked, d.RevokedBy, d.RevokeReason = time.Time{}, "", ""
	hits, err := json.Marshal(d.Hits)
	if err != nil {
		return d, fmt.Errorf("decision hits: %w", err)
	}
	err = s.db.Tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO decisions (action, scope, value, category, severity, origin, policy, actor,
			reason, strike, dry_run, hits, created, expires) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			d.Action, d.Scope, d.Value, d.Category, d.Severity, d.Origin, d.Policy, d.Actor, d.Reason, d.Strike,
			boolInt(d.DryRun), string(hits), ms(d.Created), ms(d.Expires))
		if err != nil {
			return err
		}
		if d.ID, err = res.LastInsertId(); err != nil {
			return err
		}
		action := "decision.add"
		if d.DryRun {
			action = "decision.dry_run"
		}
		_, err = state.AppendAudit(ctx, tx, state.AuditEntry{Time: d.Created, Actor: d.Actor, Action: action,
			Object: "decision:" + strconv.FormatInt(d.ID, 10), After: state.MarshalAudit(d), Reason: d.Reason})
		return err
	})
	if err != nil {
		return d, fmt.Errorf("store decision on %s: %w", d.Subject(), err)
	}
	return d, nil
}

// Revoke ends decision id early. Revoking a decision that is already
// revoked or expired is an error, so two people cannot both think they
// lifted it.
func (s *Store) Revoke(ctx context.Context, id int64, actor, reason string, now time.Time) (Decision, error) {
	if strings.TrimSpace(reason) == "" {
		return Decision{}, errors.New("revoke: a reason is required")
	}
	if actor == "" {
		return Decision{}, errors.New("revoke: who revokes it is required")
	}
	now = now.UTC().Truncate(time.Millisecond)
	var d Decision
	err := s.db.Tx(ctx, func(tx *sql.Tx) error {
		var err error
		if d, err = get(ctx, tx, id); err != nil {
			return err
		}
		if !d.Active(now) {
			return fmt.Errorf("decision %d is not in force (revoked, expired or dry run)", id)
		}
		before := d
		var seq int64
		if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(revoke_seq), 0) + 1 FROM decisions`).Scan(&seq); err != nil {
			return err
		}
		d.Revoked, d.RevokedBy, d.RevokeReason = now, actor, reason
		if _, err := tx.ExecContext(ctx, `UPDATE decisions SET revoked = ?, revoked_by = ?, revoke_reason = ?, revoke_seq = ? WHERE id = ?`,
			ms(now), actor, reason, seq, id); err != nil {
			return err
		}
		_, err = state.AppendAudit(ctx, tx, state.AuditEntry{Time: now, Actor: actor, Action: "decision.revoke",
			Object: "decision:" + strconv.FormatInt(id, 10), Before: state.MarshalAudit(before), After: state.MarshalAudit(d), Reason: reason})
		return err
	})
	if err != nil {
		return d, fmt.Errorf("revoke decision %d: %w", id, err)
	}
	return d, nil
}

type queryer interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

const columns = `id, action, scope, value, category, severity, origin, policy, actor, reason, strike, dry_run, hits,
	created, expires, revoked, revoked_by, revoke_reason`

type scanner interface{ Scan(dest ...any) error }

func scan(r scanner) (Decision, error) {
	var d Decision
	var dry int
	var hits string
	var created, expires, revoked int64
	err := r.Scan(&d.ID, &d.Action, &d.Scope, &d.Value, &d.Category, &d.Severity, &d.Origin, &d.Policy, &d.Actor,
		&d.Reason, &d.Strike, &dry, &hits, &created, &expires, &revoked, &d.RevokedBy, &d.RevokeReason)
	if err != nil {
		return d, err
	}
	d.DryRun = dry != 0
	d.Created, d.Expires, d.Revoked = fromMS(created), fromMS(expires), fromMS(revoked)
	if hits != "" && hits != "null" {
		if err := json.Unmarshal([]byte(hits), &d.Hits); err != nil {
			return d, fmt.Errorf("decision %d hits: %w", d.ID, err)
		}
	}
	return d, nil
}

func get(ctx context.Context, q queryer, id int64) (Decision, error) {
	d, err := scan(q.QueryRowContext(ctx, `SELECT `+columns+` FROM decisions WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return d, fmt.Errorf("decision %d: %w", id, ErrNotFound)
	}
	return d, err
}

func list(ctx context.Context, q queryer, query string, args ...any) ([]Decision, error) {
	rows, err := q.QueryContext(ctx, `SELECT `+columns+` FROM decisions `+query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Decision
	for rows.Next() {
		d, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// Get returns decision id.
func (s *Store) Get(ctx context.Context, id int64) (Decision, error) {
	return get(ctx, s.db, id)
}

// Reader reads decisions, from the store or inside a pull's transaction.
type Reader struct{ q queryer }

// Active returns the decisions in force at now (warn and block, not dry
// runs), most severe first, then newest.
func (s *Store) Active(ctx context.Context, now time.Time) ([]Decision, error) {
	return Reader{s.db}.Active(ctx, now)
}

// Active is Store.Active.
func (r Reader) Active(ctx context.Context, now time.Time) ([]Decision, error) {
	out, err := list(ctx, r.q, `WHERE revoked = 0 AND dry_run = 0 AND expires > ? AND action <> 'notify'
		ORDER BY severity DESC, id DESC`, ms(now))
	if err != nil {
		return nil, fmt.Errorf("active decisions: %w", err)
	}
	return out, nil
}

// Trials returns the dry-run warns and blocks still running at now: what
// would be in force if the policies that made them were enforcing.
func (s *Store) Trials(ctx context.Context, now time.Time) ([]Decision, error) {
	out, err := list(ctx, s.db, `WHERE revoked = 0 AND dry_run = 1 AND expires > ? AND action <> 'notify' ORDER BY id`, ms(now))
	if err != nil {
		return nil, fmt.Errorf("dry-run decisions: %w", err)
	}
	return out, nil
}

// Filter selects decisions for List.
type Filter struct {
	Scope    Scope // with Value: one subject's history
	Value    string
	Policy   string
	Live     bool      // only those in force at Now
	Now      time.Time // for Live
	BeforeID int64     // keyset paging: ids below this
	Limit    int       // default 100, at most 1000
}

// List returns decisions, newest first.
func (s *Store) List(ctx context.Context, f Filter) ([]Decision, error) {
	return Reader{s.db}.List(ctx, f)
}

// List is Store.List.
func (r Reader) List(ctx context.Context, f Filter) ([]Decision, error) {
	var where []string
	var args []any
	if f.Scope != "" {
		v, err := NormalizeValue(f.Scope, f.Value)
		if err != nil {
			return nil, err
		}
		where, args = append(where, "scope = ? AND value = ?"), append(args, f.Scope, v)
	}
	if f.Policy != "" {
		where, args = append(where, "policy = ?"), append(args, f.Policy)
	}
	if f.Live {
		where, args = append(where, "revoked = 0 AND dry_run = 0 AND expires > ?"), append(args, ms(f.Now))
	}
	if f.BeforeID > 0 {
		where, args = append(where, "id < ?"), append(args, f.BeforeID)
	}
	if f.Limit <= 0 {
		f.Limit = 100
	}
	f.Limit = min(f.Limit, 1000)
	q := ""
	if len(where) > 0 {
		q = "WHERE " + strings.Join(where, " AND ")
	}
	out, err := list(ctx, r.q, q+" ORDER BY id DESC LIMIT "+strconv.Itoa(f.Limit), args...)
	if err != nil {
		return nil, fmt.Errorf("list decisions: %w", err)
	}
	return out, nil
}

// Pull returns what consumer must change since its last pull: decisions
// that came into force (Added) and those that were revoked or expired
// (Deleted). With startup, or on a consumer's first pull, Added is every
// decision in force and Deleted is empty. Cursors are decision ids and a
// revocation sequence, both assigned inside the write transaction, so a
// change committed during a pull is sent on the next one, never lost.
func (s *Store) Pull(ctx context.Context, consumer string, startup bool, now time.Time) (added, deleted []Decision, err error) {
	err = s.PullThen(ctx, consumer, startup, now, func(_ Reader, a, d []Decision) error {
		added, deleted = a, d
		return nil
	})
	return added, deleted, err
}

// PullThen is Pull that hands the changes to then, inside the pull's
// transaction, with a Reader on it; the consumer's cursor moves only when
// then succeeds, so an answer that could not be built is sent again on
// the next pull.
func (s *Store) PullThen(ctx context.Context, consumer string, startup bool, now time.Time, then func(r Reader, added, deleted []Decision) error) error {
	var added, deleted []Decision
	if consumer == "" {
		return errors.New("pull: consumer name required")
	}
	now = now.UTC()
	err := s.db.Tx(ctx, func(tx *sql.Tx) error {
		var lastID, lastSeq, lastTime int64
		err := tx.QueryRowContext(ctx, `SELECT last_id, last_revoke_seq, last_time FROM decision_cursors WHERE consumer = ?`, consumer).
			Scan(&lastID, &lastSeq, &lastTime)
		first := errors.Is(err, sql.ErrNoRows)
		if err != nil && !first {
			return err
		}
		var maxID, maxSeq int64
		if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(id), 0), COALESCE(MAX(revoke_seq), 0) FROM decisions`).Scan(&maxID, &maxSeq); err != nil {
			return err
		}
		live := `revoked = 0 AND dry_run = 0 AND action <> 'notify' AND expires > ? AND id <= ?`
		if startup || first {
			added, err = list(ctx, tx, `WHERE `+live+` ORDER BY id`, ms(now), maxID)
		} else {
			added, err = list(ctx, tx, `WHERE `+live+` AND id > ? ORDER BY id`, ms(now), maxID, lastID)
			if err != nil {
				return err
			}
			// Sent before (id <= lastID, in force at the last pull) and
			// since then expired, or revoked before expiring.
			deleted, err = list(ctx, tx, `WHERE dry_run = 0 AND action <> 'notify' AND id <= ? AND expires > ? AND (
				(revoked = 0 AND expires <= ?) OR (revoked > 0 AND revoke_seq > ? AND revoke_seq <= ?)) ORDER BY id`,
				lastID, lastTime, ms(now), lastSeq, maxSeq)
		}
		if err != nil {
			return err
		}
		if err := then(Reader{tx}, added, deleted); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO decision_cursors (consumer, last_id, last_revoke_seq, last_time) VALUES (?, ?, ?, ?)
			ON CONFLICT (consumer) DO UPDATE SET last_id = excluded.last_id, last_revoke_seq = excluded.last_revoke_seq, last_time = excluded.last_time`,
			consumer, maxID, maxSeq, ms(now))
		return err
	})
	if err != nil {
		return fmt.Errorf("pull decisions for %s: %w", consumer, err)
	}
	return nil
}
