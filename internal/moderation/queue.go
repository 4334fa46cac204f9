package moderation

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/campusguard/campusguard/internal/state"
)

// Limits of queue calls.
const (
	MaxNoteBytes   = 4096
	MaxReasonBytes = 4096
	MaxBulk        = 500 // ids in one Bulk call
	maxListLimit   = 500
	defaultLimit   = 50
	recentItems    = 10
)

// Get returns one item.
func (s *Service) Get(ctx context.Context, id int64) (Item, error) {
	r, err := scanRow(s.stmts.itemByID.QueryRowContext(ctx, id), s.now())
	if errors.Is(err, sql.ErrNoRows) {
		return Item{}, fmt.Errorf("item %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return Item{}, fmt.Errorf("moderation: item %d: %w", id, err)
	}
	return r.Item, nil
}

// Claim reserves an item for user for ClaimTTL, so two moderators do not
// review the same post. version is the one the caller saw. Claiming an item
// one already holds renews the claim. Decided items cannot be claimed.
func (s *Service) Claim(ctx context.Context, id int64, version int, user string) (Item, error) {
	if err := checkUser(user); err != nil {
		return Item{}, err
	}
	return s.change(ctx, id, user, "queue.claim", "", "", func(r *row, now time.Time) error {
		if err := r.checkVersion(version); err != nil {
			return err
		}
		if !r.Open() {
			return fmt.Errorf("%w: item %d is %s", ErrConflict, r.ID, r.State)
		}
		if err := r.checkClaim(user); err != nil {
			return err
		}
		r.ClaimedBy, r.ClaimExpires = user, now.Add(s.claimTTL())
		return nil
	})
}

// Release gives up user's claim.
func (s *Service) Release(ctx context.Context, id int64, version int, user string) (Item, error) {
	if err := checkUser(user); err != nil {
		return Item{}, err
	}
	return s.change(ctx, id, user, "queue.release", "", "", func(r *row, now time.Time) error {
		if err := r.checkVersion(version); err != nil {
			return err
		}
		if r.State != StateClaimed || r.ClaimedBy != user {
			return fmt.Errorf("%w: item %d is not claimed by %s", ErrConflict, r.ID, user)
		}
		r.ClaimedBy, r.ClaimExpires = "", time.Time{}
		return nil
	})
}

// Decide records a moderator's decision on the item at the version the
// caller saw. The item must not be claimed by someone else (claiming it
// first is not required); a reject needs a reason. approve and reject close
// the item, escalate keeps it open for a senior moderator. A decided item
// may be decided again (an appeal), but not to the state it is in. The
// decision is sent to the forum's webhook.
func (s *Service) Decide(ctx context.Context, id int64, version int, user string, d Decision, reason string) (Item, error) {
	fn, err := s.decision(user, d, reason, version)
	if err != nil {
		return Item{}, err
	}
	it, err := s.change(ctx, id, user, "queue."+string(d), reason, "", fn)
	if err == nil {
		s.decided(&it, string(d), user, reason)
	}
	return it, err
}

// anyVersion decides at whatever version the item is at (Bulk).
const anyVersion = -1

// decision checks a decision's arguments and returns the change it makes.
func (s *Service) decision(user string, d Decision, reason string, version int) (func(*row, time.Time) error, error) {
	if err := checkUser(user); err != nil {
		return nil, err
	}
	target, err := d.target()
	if err != nil {
		return nil, err
	}
	if d == DecideReject && strings.TrimSpace(reason) == "" {
		return nil, ErrNeedReason
	}
	if len(reason) > MaxReasonBytes {
		return nil, fmt.Errorf("%w: reason too long (%d bytes, at most %d)", ErrInvalid, len(reason), MaxReasonBytes)
	}
	return func(r *row, now time.Time) error {
		if version != anyVersion {
			if err := r.checkVersion(version); err != nil {
				return err
			}
		}
		if err := r.checkClaim(user); err != nil {
			return err
		}
		if r.stored == target {
			return fmt.Errorf("%w: item %d is already %s", ErrConflict, r.ID, target)
		}
		r.undo = undoInfo{By: user, Until: now.Add(s.undoWindow()), Decision: d, State: r.stored,
			DecidedBy: r.DecidedBy, DecidedAt: r.DecidedAt, Reason: r.Reason}
		r.stored, r.DecidedBy, r.DecidedAt, r.Reason = target, user, now, reason
		r.ClaimedBy, r.ClaimExpires = "", time.Time{}
		return nil
	}, nil
}

// Bulk decides several items, each at its current version, in one
// transaction with a savepoint per item: the items and errors returned are
// index for index with ids (an error leaves its Item zero). An item claimed
// by someone else, or already in the target state, fails alone.
func (s *Service) Bulk(ctx context.Context, ids []int64, user string, d Decision, reason string) ([]Item, []error) {
	items := make([]Item, len(ids))
	errs := make([]error, len(ids))
	failAll := func(err error) ([]Item, []error) {
		for i := range errs {
			if errs[i] == nil {
				errs[i] = err
			}
			items[i] = Item{}
		}
		return items, errs
	}
	if len(ids) > MaxBulk {
		return failAll(fmt.Errorf("%w: %d items, at most %d in one bulk decision", ErrInvalid, len(ids), MaxBulk))
	}
	fn, err := s.decision(user, d, reason, anyVersion)
	if err != nil {
		return failAll(err)
	}
	err = s.writer.do(ctx, len(ids), func(tx *sql.Tx) error {
		bg := context.Background()
		for i, id := range ids {
			if _, err := tx.ExecContext(bg, "SAVEPOINT bulk_item"); err != nil {
				return err
			}
			it, err := s.changeTx(tx, id, user, "queue."+string(d), reason, "", fn)
			if err != nil {
				if _, rerr := tx.ExecContext(bg, "ROLLBACK TO bulk_item"); rerr != nil {
					return rerr
				}
				errs[i] = err
			} else {
				items[i] = it
			}
			if _, err := tx.ExecContext(bg, "RELEASE bulk_item"); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		clear(errs)
		return failAll(err)
	}
	for i := range items {
		if errs[i] == nil {
			s.decided(&items[i], string(d), user, reason)
		}
	}
	return items, errs
}

// Undo takes back the last decision on an item: permitted to the user who
// decided, within UndoWindow, and only while nobody else holds a claim on
// it. It restores the state before the decision (pending or escalated, or
// the earlier decision when a decided item was decided again) and the
// earlier decision's moderator, time and reason. The forum's webhook gets
// decision "undo" with the state the item returns to.
func (s *Service) Undo(ctx context.Context, id int64, user string) (Item, error) {
	if err := checkUser(user); err != nil {
		return Item{}, err
	}
	var undone Decision
	it, err := s.change(ctx, id, user, "queue.undo", "", "", func(r *row, now time.Time) error {
		u := r.undo
		switch {
		case u.By == "":
			return fmt.Errorf("%w: item %d has no decision to undo", ErrConflict, r.ID)
		case u.By != user:
			return fmt.Errorf("%w: item %d was decided by %s: %w", ErrNotDecider, r.ID, u.By, ErrConflict)
		case now.After(u.Until):
			return fmt.Errorf("%w: item %d was decided at %s; undo is possible for %s", ErrUndoExpired, r.ID,
				r.DecidedAt.Format(time.RFC3339), s.undoWindow())
		}
		if err := r.checkClaim(user); err != nil {
			return err
		}
		undone = u.Decision
		r.stored, r.DecidedBy, r.DecidedAt, r.Reason = u.State, u.DecidedBy, u.DecidedAt, u.Reason
		r.ClaimedBy, r.ClaimExpires = "", time.Time{}
		r.undo = undoInfo{}
		return nil
	})
	if err == nil {
		s.decided(&it, "undo", user, "undo "+string(undone))
	}
	return it, err
}

// AddNote appends a note to an item. Notes need no claim and no version:
// they only add.
func (s *Service) AddNote(ctx context.Context, id int64, user, text string) (Item, error) {
	if err := checkUser(user); err != nil {
		return Item{}, err
	}
	text = strings.TrimSpace(text)
	if text == "" {
		return Item{}, fmt.Errorf("%w: empty note", ErrInvalid)
	}
	if len(text) > MaxNoteBytes {
		return Item{}, fmt.Errorf("%w: note too long (%d bytes, at most %d)", ErrInvalid, len(text), MaxNoteBytes)
	}
	return s.change(ctx, id, user, "queue.note", "", text, func(r *row, now time.Time) error {
		r.Notes = append(r.Notes, Note{By: user, At: now, Text: text})
		return nil
	})
}

// change runs fn on the item in the writer's transaction and, when fn
// accepts, saves the item with its version incremented and audits it.
func (s *Service) change(ctx context.Context, id int64, user, action, reason, note string, fn func(*row, time.Time) error) (Item, error) {
	var out Item
	err := s.writer.do(ctx, 1, func(tx *sql.Tx) error {
		it, err := s.changeTx(tx, id, user, action, reason, note, fn)
		out = it
		return err
	})
	if err != nil {
		return Item{}, err
	}
	return out, nil
}

func (s *Service) changeTx(tx *sql.Tx, id int64, user, action, reason, note string, fn func(*row, time.Time) error) (Item, error) {
	ctx := context.Background()
	now := s.now()
	r, err := scanRow(tx.StmtContext(ctx, s.stmts.itemByID).QueryRowContext(ctx, id), now)
	if errors.Is(err, sql.ErrNoRows) {
		return Item{}, fmt.Errorf("item %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return Item{}, err
	}
	before := r.audit()
	if err := fn(r, now); err != nil {
		return Item{}, err
	}
	r.Version++
	r.Updated = now
	r.present(now)
	if err := r.save(ctx, tx, &s.stmts); err != nil {
		return Item{}, err
	}
	after := r.audit()
	after.Note = note
	_, err = state.AppendAudit(ctx, tx, state.AuditEntry{Time: now, Actor: user, Action: action,
		Object: objectName(r.Forum, r.PostID), Before: state.MarshalAudit(before), After: state.MarshalAudit(after), Reason: reason})
	if err != nil {
		return Item{}, err
	}
	return r.Item, nil
}

func (r *row) checkVersion(version int) error {
	if r.Version != version {
		return fmt.Errorf("%w: item %d is at version %d, not %d (it changed; reload it)", ErrConflict, r.ID, r.Version, version)
	}
	return nil
}

// checkClaim refuses when someone other than user holds an active claim.
func (r *row) checkClaim(user string) error {
	if r.State == StateClaimed && r.ClaimedBy != user {
		return fmt.Errorf("%w: item %d is claimed by %s until %s", ErrConflict, r.ID, r.ClaimedBy, r.ClaimExpires.Format(time.RFC3339))
	}
	return nil
}

func checkUser(user string) error {
	if strings.TrimSpace(user) == "" {
		return fmt.Errorf("%w: no user name", ErrInvalid)
	}
	if len(user) > MaxIDBytes {
		return fmt.Errorf("%w: user name too long", ErrInvalid)
	}
	return nil
}

// decided counts a decision and queues its webhook.
func (s *Service) decided(it *Item, decision, user, reason string) {
	s.metrics.decisions.WithLabelValues(decision).Inc()
	if s.hook != nil {
		s.hook.enqueue(WebhookPayload{ID: it.PostID, Forum: it.Forum, Item: it.ID, Decision: decision, Reason: reason,
			Moderator: user, Time: it.Updated, State: it.State, Version: it.Version})
	}
}

// stateCond is the SQL condition for items presented in state st at now
// (one argument: now, in nanoseconds).
func stateCond(st State) (string, error) {
	const active = `(claimed_by <> '' AND claim_expires > ?)`
	switch st {
	case StatePending:
		return `(state = 'pending' AND NOT ` + active + `)`, nil
	case StateEscalated:
		return `(state = 'escalated' AND NOT ` + active + `)`, nil
	case StateClaimed:
		return `(state IN ('pending', 'escalated') AND ` + active + `)`, nil
	case StateApproved, StateRejected:
		return `(state = '` + string(st) + `' AND ? IS NOT NULL)`, nil
	}
	return "", fmt.Errorf("%w: unknown state %q (want pending, claimed, escalated, approved or rejected)", ErrInvalid, st)
}

// List returns items in priority order: severity desc, then oldest first
// (by Created), and how many match in all.
func (s *Service) List(ctx context.Context, f ListFilter) ([]Item, int, error) {
	now := s.now()
	states := f.States
	if len(states) == 0 {
		states = []State{StatePending, StateClaimed, StateEscalated}
	}
	var conds []string
	var args []any
	for _, st := range states {
		c, err := stateCond(st)
		if err != nil {
			return nil, 0, err
		}
		conds = append(conds, c)
		args = append(args, nanos(now))
	}
	where := "(" + strings.Join(conds, " OR ") + ")"
	if f.Forum != "" {
		where += " AND forum = ?"
		args = append(args, f.Forum)
	}
	if f.Category != "" {
		where += " AND category = ?"
		args = append(args, f.Category)
	}
	limit := f.Limit
	if limit <= 0 {
		limit = defaultLimit
	}
	limit = min(limit, maxListLimit)
	offset := max(f.Offset, 0)

	var total int
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM moderation_items WHERE `+where, args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("moderation: list: %w", err)
	}
	rows, err := s.db.QueryContext(ctx, `SELECT `+itemColumns+` FROM moderation_items WHERE `+where+
		` ORDER BY severity DESC, created, id LIMIT ? OFFSET ?`, append(args, limit, offset)...)
	if err != nil {
		return nil, 0, fmt.Errorf("moderation: list: %w", err)
	}
	defer rows.Close()
	items := []Item{}
	for rows.Next() {
		r, err := scanRow(rows, now)
		if err != nil {
			return nil, 0, fmt.Errorf("moderation: list: %w", err)
		}
		items = append(items, r.Item)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, fmt.Errorf("moderation: list: %w", err)
	}
	return items, total, nil
}

// Counts returns how many items are in each state (every state present,
// zero included) and the Created time of the oldest open item (zero if
// none).
func (s *Service) Counts(ctx context.Context) (map[State]int, time.Time, error) {
	now := nanos(s.now())
	out := make(map[State]int, 5)
	for _, st := range States() {
		out[st] = 0
	}
	rows, err := s.db.QueryContext(ctx, `SELECT state, claimed_by <> '' AND claim_expires > ?, COUNT(*), MIN(created)
		FROM moderation_items GROUP BY 1, 2`, now)
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("moderation: counts: %w", err)
	}
	defer rows.Close()
	var oldest int64
	for rows.Next() {
		var st string
		var claimed bool
		var n int
		var first int64
		if err := rows.Scan(&st, &claimed, &n, &first); err != nil {
			return nil, time.Time{}, fmt.Errorf("moderation: counts: %w", err)
		}
		cur := State(st)
		open := cur == StatePending || cur == StateEscalated
		if open && claimed {
			cur = StateClaimed
		}
		out[cur] += n
		if open && (oldest == 0 || first < oldest) {
			oldest = first
		}
	}
	if err := rows.Err(); err != nil {
		return nil, time.Time{}, fmt.Errorf("moderation: counts: %w", err)
	}
	return out, fromNanos(oldest), nil
}

// AuthorHistory is the author's record in one forum, for a moderator
// judging a post: see History.
func (s *Service) AuthorHistory(ctx context.Context, forum, author string) (History, error) {
	now := s.now()
	var h History
	err := s.db.QueryRowContext(ctx, `SELECT COUNT(*), COALESCE(SUM(verdict <> 'allow'), 0), COALESCE(SUM(verdict IN ('hold', 'reject')), 0)
		FROM moderation_posts WHERE forum = ? AND author = ?`, forum, author).Scan(&h.Posts, &h.Flagged, &h.Held)
	if err != nil {
		return History{}, fmt.Errorf("moderation: author history: %w", err)
	}
	err = s.db.QueryRowContext(ctx, `SELECT COALESCE(SUM(state = 'rejected'), 0), COALESCE(SUM(state = 'approved'), 0)
		FROM moderation_items WHERE forum = ? AND author = ?`, forum, author).Scan(&h.Rejected, &h.Approved)
	if err != nil {
		return History{}, fmt.Errorf("moderation: author history: %w", err)
	}
	rows, err := s.db.QueryContext(ctx, `SELECT `+itemColumns+` FROM moderation_items WHERE forum = ? AND author = ?
		ORDER BY created DESC, id DESC LIMIT ?`, forum, author, recentItems)
	if err != nil {
		return History{}, fmt.Errorf("moderation: author history: %w", err)
	}
	defer rows.Close()
	h.Recent = []Item{}
	for rows.Next() {
		r, err := scanRow(rows, now)
		if err != nil {
			return History{}, fmt.Errorf("moderation: author history: %w", err)
		}
		h.Recent = append(h.Recent, r.Item)
	}
	if err := rows.Err(); err != nil {
		return History{}, fmt.Errorf("moderation: author history: %w", err)
	}
	return h, nil
}
