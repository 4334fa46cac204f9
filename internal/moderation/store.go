package moderation

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/campusguard/campusguard/internal/event"
	"github.com/campusguard/campusguard/internal/state"
)

// The moderation tables. Times are Unix nanoseconds (UTC), 0 for none.
//
// moderation_posts has a row for every post ever ingested, hit or not:
// metadata only (no title or body), the SHA-256 of its content so a retry
// is recognized, the verdict and hits it got (so a retry is answered the
// same), and its queue item if it has one.
//
// moderation_items is the queue: one row per (forum, post id) that ever hit,
// with the content of its latest version. state is the stored state
// (pending, escalated, approved, rejected); "claimed" is derived from the
// claim columns at read time, so an expired claim needs no sweeper. undo
// holds what the last decision replaced, while it may still be undone.
var migrations = []state.Migration{
	{Version: 1, Name: "posts and queue items", SQL: `
CREATE TABLE moderation_posts (
	forum TEXT NOT NULL,
	post_id TEXT NOT NULL,
	author TEXT NOT NULL,
	hash BLOB NOT NULL,
	verdict TEXT NOT NULL,
	hits TEXT NOT NULL DEFAULT '',
	item INTEGER NOT NULL DEFAULT 0,
	post_time INTEGER NOT NULL,
	first_seen INTEGER NOT NULL,
	last_seen INTEGER NOT NULL,
	edits INTEGER NOT NULL DEFAULT 0,
	PRIMARY KEY (forum, post_id)
) WITHOUT ROWID;
CREATE INDEX moderation_posts_author ON moderation_posts(forum, author);
CREATE TABLE moderation_items (
	id INTEGER PRIMARY KEY,
	forum TEXT NOT NULL,
	post_id TEXT NOT NULL,
	author TEXT NOT NULL,
	title TEXT NOT NULL,
	body TEXT NOT NULL,
	url TEXT NOT NULL,
	post_time INTEGER NOT NULL,
	verdict TEXT NOT NULL,
	hits TEXT NOT NULL,
	category TEXT NOT NULL,
	severity INTEGER NOT NULL,
	state TEXT NOT NULL CHECK (state IN ('pending', 'escalated', 'approved', 'rejected')),
	version INTEGER NOT NULL,
	claimed_by TEXT NOT NULL DEFAULT '',
	claim_expires INTEGER NOT NULL DEFAULT 0,
	decided_by TEXT NOT NULL DEFAULT '',
	decided_at INTEGER NOT NULL DEFAULT 0,
	reason TEXT NOT NULL DEFAULT '',
	undo TEXT NOT NULL DEFAULT '',
	notes TEXT NOT NULL DEFAULT '',
	created INTEGER NOT NULL,
	updated INTEGER NOT NULL,
	reopened INTEGER NOT NULL DEFAULT 0,
	UNIQUE (forum, post_id)
);
CREATE INDEX moderation_items_queue ON moderation_items(state, severity DESC, created, id);
CREATE INDEX moderation_items_author ON moderation_items(forum, author, created);
`},
}

const itemColumns = `id, forum, post_id, author, title, body, url, post_time, verdict, hits, category, severity,
	state, version, claimed_by, claim_expires, decided_by, decided_at, reason, undo, notes, created, updated, reopened`

// statements are prepared once; a transaction uses them through tx.Stmt.
type statements struct {
	postGet, postInsert, postUpdate          *sql.Stmt
	itemByPost, itemByID, itemInsert, itemUp *sql.Stmt
}

func (st *statements) prepare(ctx context.Context, db *state.DB) error {
	for _, p := range []struct {
		s **sql.Stmt
		q string
	}{
		{&st.postGet, `SELECT hash, verdict, hits, item FROM moderation_posts WHERE forum = ? AND post_id = ?`},
		{&st.postInsert, `INSERT INTO moderation_posts (forum, post_id, author, hash, verdict, hits, item, post_time, first_seen, last_seen)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`},
		{&st.postUpdate, `UPDATE moderation_posts SET author = ?, hash = ?, verdict = ?, hits = ?, item = ?, post_time = ?, last_seen = ?, edits = edits + 1
			WHERE forum = ? AND post_id = ?`},
		{&st.itemByPost, `SELECT ` + itemColumns + ` FROM moderation_items WHERE forum = ? AND post_id = ?`},
		{&st.itemByID, `SELECT ` + itemColumns + ` FROM moderation_items WHERE id = ?`},
		{&st.itemInsert, `INSERT INTO moderation_items (forum, post_id, author, title, body, url, post_time, verdict, hits, category, severity,
			state, version, notes, created, updated) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', 1, '', ?, ?)`},
		{&st.itemUp, `UPDATE moderation_items SET author = ?, title = ?, body = ?, url = ?, post_time = ?, verdict = ?, hits = ?,
			category = ?, severity = ?, state = ?, version = ?, claimed_by = ?, claim_expires = ?, decided_by = ?, decided_at = ?,
			reason = ?, undo = ?, notes = ?, updated = ?, reopened = ? WHERE id = ?`},
	} {
		s, err := db.PrepareContext(ctx, p.q)
		if err != nil {
			st.close()
			return err
		}
		*p.s = s
	}
	return nil
}

func (st *statements) close() {
	for _, s := range []*sql.Stmt{st.postGet, st.postInsert, st.postUpdate, st.itemByPost, st.itemByID, st.itemInsert, st.itemUp} {
		if s != nil {
			s.Close()
		}
	}
}

// row is an item as stored, with the fields Item does not show.
type row struct {
	Item
	stored State    // pending, escalated, approved or rejected
	undo   undoInfo // zero: nothing to undo
}

// undoInfo is what a decision replaced, kept while it may be undone.
type undoInfo struct {
	By        string    `json:"by"`
	Until     time.Time `json:"until"`
	Decision  Decision  `json:"decision"`
	State     State     `json:"state"` // stored state before the decision
	DecidedBy string    `json:"decided_by,omitempty"`
	DecidedAt time.Time `json:"decided_at,omitzero"`
	Reason    string    `json:"reason,omitempty"`
}

type scanner interface{ Scan(...any) error }

func scanRow(sc scanner, now time.Time) (*row, error) {
	var r row
	var postTime, claimExp, decidedAt, created, updated int64
	var hits, undo, notes, st string
	var sev int
	err := sc.Scan(&r.ID, &r.Forum, &r.PostID, &r.Author, &r.Title, &r.Body, &r.URL, &postTime, &r.Verdict, &hits,
		&r.Category, &sev, &st, &r.Version, &r.ClaimedBy, &claimExp, &r.DecidedBy, &decidedAt, &r.Reason, &undo, &notes,
		&created, &updated, &r.Reopened)
	if err != nil {
		return nil, err
	}
	r.stored = State(st)
	r.Severity = event.Severity(sev)
	r.PostTime, r.ClaimExpires, r.DecidedAt = fromNanos(postTime), fromNanos(claimExp), fromNanos(decidedAt)
	r.Created, r.Updated = fromNanos(created), fromNanos(updated)
	r.Hits = []event.Hit{}
	if hits != "" {
		if err := json.Unmarshal([]byte(hits), &r.Hits); err != nil {
			return nil, fmt.Errorf("item %d: hits: %w", r.ID, err)
		}
	}
	if notes != "" {
		if err := json.Unmarshal([]byte(notes), &r.Notes); err != nil {
			return nil, fmt.Errorf("item %d: notes: %w", r.ID, err)
		}
	}
	if undo != "" {
		if err := json.Unmarshal([]byte(undo), &r.undo); err != nil {
			return nil, fmt.Errorf("item %d: undo: %w", r.ID, err)
		}
	}
	r.present(now)
	return &r, nil
}

// present sets the State and claim fields callers see at time now.
func (r *row) present(now time.Time) {
	r.State = r.stored
	if r.claimActive(now) {
		r.State = StateClaimed
	} else {
		r.ClaimedBy, r.ClaimExpires = "", time.Time{}
	}
}

// claimActive reports whether the stored claim holds at now. After
// present, ClaimedBy is set only for an active claim.
func (r *row) claimActive(now time.Time) bool {
	return r.ClaimedBy != "" && r.ClaimExpires.After(now) && (r.stored == StatePending || r.stored == StateEscalated)
}

// save writes every mutable column of r.
func (r *row) save(ctx context.Context, tx *sql.Tx, st *statements) error {
	hits, err := json.Marshal(r.Hits)
	if err != nil {
		return err
	}
	notes := ""
	if len(r.Notes) > 0 {
		b, err := json.Marshal(r.Notes)
		if err != nil {
			return err
		}
		notes = string(b)
	}
	undo := ""
	if r.undo.By != "" {
		b, err := json.Marshal(r.undo)
		if err != nil {
			return err
		}
		undo = string(b)
	}
	_, err = tx.StmtContext(ctx, st.itemUp).ExecContext(ctx, r.Author, r.Title, r.Body, r.URL, nanos(r.PostTime), string(r.Verdict),
		string(hits), r.Category, int(r.Severity), string(r.stored), r.Version, r.ClaimedBy, nanos(r.ClaimExpires),
		r.DecidedBy, nanos(r.DecidedAt), r.Reason, undo, notes, nanos(r.Updated), r.Reopened, r.ID)
	return err
}

func nanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func fromNanos(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

// auditView is an item as the audit log records it: the queue metadata,
// never the post's title or body.
type auditView struct {
	Item         int64          `json:"item"`
	State        State          `json:"state"`
	Version      int            `json:"version"`
	Verdict      Verdict        `json:"verdict"`
	Category     string         `json:"category,omitempty"`
	Severity     event.Severity `json:"severity"`
	Rules        []string       `json:"rules,omitempty"`
	ClaimedBy    string         `json:"claimed_by,omitempty"`
	ClaimExpires time.Time      `json:"claim_expires,omitzero"`
	DecidedBy    string         `json:"decided_by,omitempty"`
	Reason       string         `json:"reason,omitempty"`
	Reopened     int            `json:"reopened,omitempty"`
	Note         string         `json:"note,omitempty"`
}

func (r *row) audit() auditView {
	return auditView{Item: r.ID, State: r.State, Version: r.Version, Verdict: r.Verdict, Category: r.Category,
		Severity: r.Severity, Rules: ruleList(r.Hits), ClaimedBy: r.ClaimedBy, ClaimExpires: r.ClaimExpires,
		DecidedBy: r.DecidedBy, Reason: r.Reason, Reopened: r.Reopened}
}

// ruleList names the rules hits came from, each once, at most 16.
func ruleList(hits []event.Hit) []string {
	var out []string
	for _, h := range hits {
		if len(out) == 16 {
			break
		}
		if !slices.Contains(out, h.Pack+":"+h.Rule) {
			out = append(out, h.Pack+":"+h.Rule)
		}
	}
	return out
}

func objectName(forum, postID string) string { return "post:" + forum + "/" + postID }
