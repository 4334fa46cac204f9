package moderation

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/campusguard/campusguard/internal/event"
	"github.com/campusguard/campusguard/internal/state"
)

// ErrNoRules is returned by Ingest when there is no rule set to match with
// (IngestHandler answers 503): posts are never waved through unmatched.
var ErrNoRules = errors.New("moderation: no rule set loaded")

// ingestPost is one post on its way through Ingest.
type ingestPost struct {
	post     Post
	hash     [sha256.Size]byte
	hits     []event.Hit
	verdict  Verdict
	category string
	severity event.Severity

	result  Result
	changed bool // new or edited: counted, sent to the sink
}

// Ingest matches posts against the current rule set, records them and
// returns a Result for each, in order. It is idempotent by (forum, id): a
// post sent again unchanged gets the Result it got the first time and
// changes nothing. A changed post (an edit) is matched again; if it hits,
// its queue item is reopened with the new content (or created, if it never
// hit before). An edit that no longer hits leaves its item as it is: the
// moderator still judges what was posted, and the forum gets "allow" for
// the new version. actor ("token:NAME") is who sent the posts, for the
// audit log.
//
// All posts of one call commit in one transaction (shared with concurrent
// calls, see committer): either all are recorded or none.
func (s *Service) Ingest(ctx context.Context, posts []Post, actor string) ([]Result, error) {
	if len(posts) == 0 {
		return []Result{}, nil
	}
	set := s.opts.Rules()
	if set == nil {
		return nil, ErrNoRules
	}
	now := s.now()
	work := make([]ingestPost, len(posts))
	for i := range posts {
		w := &work[i]
		w.post = posts[i]
		if err := checkPost(&w.post, s.limits); err != nil {
			if len(posts) > 1 {
				err.Line = i + 1
			}
			return nil, err
		}
		if w.post.Time.IsZero() {
			w.post.Time = now
		}
		w.hash = contentHash(&w.post)
		ev := event.Event{Kind: event.KindPost, PostID: w.post.ID, Forum: w.post.Forum, Author: w.post.Author,
			Title: w.post.Title, Text: w.post.Body, URL: w.post.URL}
		set.MatchEvent(&ev)
		w.hits = ev.Hits
		if w.hits == nil {
			w.hits = []event.Hit{}
		}
		w.verdict, w.category, w.severity = judge(w.hits)
	}
	err := s.writer.do(ctx, len(work), func(tx *sql.Tx) error {
		for i := range work {
			if err := s.ingestOne(tx, &work[i], actor, now); err != nil {
				return fmt.Errorf("moderation: post %s/%s: %w", work[i].post.Forum, work[i].post.ID, err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	results := make([]Result, len(work))
	for i := range work {
		w := &work[i]
		results[i] = w.result
		if !w.changed {
			s.metrics.unchanged.Inc()
			continue
		}
		s.metrics.ingested[w.verdict].Inc()
		if len(w.hits) > 0 && s.opts.Sink != nil {
			s.opts.Sink(&event.Event{Time: now, Sensor: s.opts.Sensor, Kind: event.KindPost, PostID: w.post.ID,
				Forum: w.post.Forum, Author: w.post.Author, URL: w.post.URL, Hits: w.hits})
		}
	}
	return results, nil
}

// ingestOne records one post inside the writer's transaction.
func (s *Service) ingestOne(tx *sql.Tx, w *ingestPost, actor string, now time.Time) error {
	ctx := context.Background()
	p := &w.post
	var (
		oldHash    []byte
		oldVerdict string
		oldHits    string
		itemID     int64
	)
	err := tx.StmtContext(ctx, s.stmts.postGet).QueryRowContext(ctx, p.Forum, p.ID).Scan(&oldHash, &oldVerdict, &oldHits, &itemID)
	exists := err == nil
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return err
	}
	if exists && bytes.Equal(oldHash, w.hash[:]) {
		// A retry: the answer it got before.
		w.result = Result{ID: p.ID, Forum: p.Forum, Verdict: Verdict(oldVerdict), Hits: []event.Hit{}}
		if oldHits != "" {
			if err := json.Unmarshal([]byte(oldHits), &w.result.Hits); err != nil {
				return fmt.Errorf("stored hits: %w", err)
			}
		}
		if w.result.Verdict != VerdictAllow {
			w.result.Item = itemID
		}
		return nil
	}
	w.changed = true
	w.result = Result{ID: p.ID, Forum: p.Forum, Verdict: w.verdict, Hits: w.hits}
	if w.verdict != VerdictAllow {
		id, err := s.queuePost(ctx, tx, w, actor, now)
		if err != nil {
			return err
		}
		itemID, w.result.Item = id, id
	}
	hits := ""
	if len(w.hits) > 0 {
		b, err := json.Marshal(w.hits)
		if err != nil {
			return err
		}
		hits = string(b)
	}
	if exists {
		_, err = tx.StmtContext(ctx, s.stmts.postUpdate).ExecContext(ctx, p.Author, w.hash[:], string(w.verdict), hits, itemID,
			nanos(p.Time), nanos(now), p.Forum, p.ID)
	} else {
		_, err = tx.StmtContext(ctx, s.stmts.postInsert).ExecContext(ctx, p.Forum, p.ID, p.Author, w.hash[:], string(w.verdict), hits,
			itemID, nanos(p.Time), nanos(now), nanos(now))
	}
	return err
}

// queuePost creates the post's item, or reopens the one it has.
func (s *Service) queuePost(ctx context.Context, tx *sql.Tx, w *ingestPost, actor string, now time.Time) (int64, error) {
	p := &w.post
	r, err := scanRow(tx.StmtContext(ctx, s.stmts.itemByPost).QueryRowContext(ctx, p.Forum, p.ID), now)
	if errors.Is(err, sql.ErrNoRows) {
		hits, err := json.Marshal(w.hits)
		if err != nil {
			return 0, err
		}
		res, err := tx.StmtContext(ctx, s.stmts.itemInsert).ExecContext(ctx, p.Forum, p.ID, p.Author, p.Title, p.Body, p.URL,
			nanos(p.Time), string(w.verdict), string(hits), w.category, int(w.severity), nanos(now), nanos(now))
		if err != nil {
			return 0, err
		}
		id, err := res.LastInsertId()
		if err != nil {
			return 0, err
		}
		after := auditView{Item: id, State: StatePending, Version: 1, Verdict: w.verdict, Category: w.category,
			Severity: w.severity, Rules: ruleList(w.hits)}
		_, err = state.AppendAudit(ctx, tx, state.AuditEntry{Time: now, Actor: actor, Action: "queue.add",
			Object: objectName(p.Forum, p.ID), After: state.MarshalAudit(after), Reason: "rules: " + string(w.verdict)})
		return id, err
	}
	if err != nil {
		return 0, err
	}
	before := r.audit()
	r.Author, r.Title, r.Body, r.URL, r.PostTime = p.Author, p.Title, p.Body, p.URL, p.Time
	r.Verdict, r.Hits, r.Category, r.Severity = w.verdict, w.hits, w.category, w.severity
	if r.stored == StateApproved || r.stored == StateRejected {
		r.stored = StatePending
	}
	r.ClaimedBy, r.ClaimExpires = "", time.Time{}
	r.undo = undoInfo{}
	r.Version++
	r.Reopened++
	r.Updated = now
	r.present(now)
	if err := r.save(ctx, tx, &s.stmts); err != nil {
		return 0, err
	}
	_, err = state.AppendAudit(ctx, tx, state.AuditEntry{Time: now, Actor: actor, Action: "queue.reopen",
		Object: objectName(p.Forum, p.ID), Before: state.MarshalAudit(before), After: state.MarshalAudit(r.audit()),
		Reason: "post changed; rules: " + string(w.verdict)})
	return r.ID, err
}

// judge returns the verdict for a post's hits (the most severe post
// action; a hit with an action this package does not know is a flag, so it
// is reviewed), and the category and severity of the most severe hit.
func judge(hits []event.Hit) (Verdict, string, event.Severity) {
	v := VerdictAllow
	var cat string
	var sev event.Severity
	for i, h := range hits {
		hv := Verdict(h.Action)
		switch hv {
		case VerdictAllow, VerdictFlag, VerdictHold, VerdictReject:
		default:
			hv = VerdictFlag
		}
		if hv.rank() > v.rank() {
			v = hv
		}
		if i == 0 || h.Severity > sev {
			cat, sev = h.Category, h.Severity
		}
	}
	return v, cat, sev
}

// contentHash identifies a post's content: what a retry repeats and an
// edit changes. Each field is length-prefixed, so no two different posts
// hash alike by moving bytes between fields.
func contentHash(p *Post) [sha256.Size]byte {
	h := sha256.New()
	var n [8]byte
	for _, f := range [...]string{p.Author, p.Title, p.Body, p.URL} {
		binary.BigEndian.PutUint64(n[:], uint64(len(f)))
		h.Write(n[:])
		h.Write([]byte(f))
	}
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	return sum
}
