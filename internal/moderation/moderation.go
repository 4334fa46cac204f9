// Package moderation is the review queue for forum posts: it takes posts
// from forums (POST /api/v1/posts), runs them through the current rule set,
// answers each with a verdict (allow, flag, hold or reject), and keeps the
// posts that hit in a queue where moderators claim, decide, escalate, undo
// and annotate them. Every change to the queue is written to the audit log
// in the same transaction; decisions are sent to the forum as signed
// webhooks.
//
// It knows the matcher only as a function returning the rule set in force,
// the hit log only as a Sink that must not block, and the state database
// only through the state package (its tables are migrated in by New). It
// knows nothing about users, sessions or the console: callers pass the
// acting user's name.
//
// Privacy: of a post that hits no rule only metadata is kept (forum, id,
// author, a SHA-256 of its content, times and the verdict); title and body
// are stored only for posts that go to the queue.
package moderation

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/campusguard/campusguard/internal/event"
	"github.com/campusguard/campusguard/internal/state"
	"github.com/campusguard/campusguard/matcher"
)

// Post is what a forum sends to POST /api/v1/posts (DESIGN.md):
// {id, forum, author, title, body, url}, optional "ts" (RFC 3339).
type Post struct {
	ID     string    `json:"id"`
	Forum  string    `json:"forum"`
	Author string    `json:"author"`
	Title  string    `json:"title"`
	Body   string    `json:"body"`
	URL    string    `json:"url"`
	Time   time.Time `json:"ts"` // zero: time of ingest
}

// Verdict is what the rules say about a post.
type Verdict string

// Verdicts, in severity order allow < flag < hold < reject. A flagged post
// stays visible and goes to the queue; a held one waits for a moderator; a
// rejected one is hidden by the forum but still reviewed (a moderator can
// approve it).
const (
	VerdictAllow  Verdict = "allow"
	VerdictFlag   Verdict = "flag"
	VerdictHold   Verdict = "hold"
	VerdictReject Verdict = "reject"
)

func (v Verdict) rank() int {
	switch v {
	case VerdictFlag:
		return 1
	case VerdictHold:
		return 2
	case VerdictReject:
		return 3
	}
	return 0
}

// Result is the answer per post: {id, forum, verdict, hits:[event.Hit...]}
// ("hits" always present, [] when none).
type Result struct {
	ID      string      `json:"id"`
	Forum   string      `json:"forum"`
	Verdict Verdict     `json:"verdict"`
	Hits    []event.Hit `json:"hits"`
	Item    int64       `json:"item,omitempty"` // queue item id when the post is in the queue
}

// State is where an item is in the queue.
type State string

// States. Pending, claimed and escalated items are open; approved and
// rejected ones are decided. "claimed" is a pending or escalated item with
// a claim that has not expired: an expired claim reads as the state below
// it.
const (
	StatePending   State = "pending"
	StateClaimed   State = "claimed"
	StateApproved  State = "approved"
	StateRejected  State = "rejected"
	StateEscalated State = "escalated"
)

// States lists every state, open ones first.
func States() []State {
	return []State{StatePending, StateClaimed, StateEscalated, StateApproved, StateRejected}
}

// Decision is what a moderator does with an item.
type Decision string

// Decisions.
const (
	DecideApprove  Decision = "approve"
	DecideReject   Decision = "reject"
	DecideEscalate Decision = "escalate"
)

func (d Decision) target() (State, error) {
	switch d {
	case DecideApprove:
		return StateApproved, nil
	case DecideReject:
		return StateRejected, nil
	case DecideEscalate:
		return StateEscalated, nil
	}
	return "", fmt.Errorf("%w: unknown decision %q (want approve, reject or escalate)", ErrInvalid, d)
}

// Note is a moderator's remark on an item.
type Note struct {
	By   string
	At   time.Time
	Text string
}

// Item is one post in the moderation queue (one per (forum, post id); an
// edited or re-flagged post reopens its item).
type Item struct {
	ID                                      int64
	Forum, PostID, Author, Title, Body, URL string
	PostTime                                time.Time
	Verdict                                 Verdict        // what the rules said
	Hits                                    []event.Hit    // spans are UTF-8 byte offsets into Title (Field "title") or Body (Field "text")
	Category                                string         // of the most severe hit
	Severity                                event.Severity // of the most severe hit
	State                                   State
	Version                                 int // optimistic lock: every change increments it; callers pass the version they saw
	ClaimedBy                               string
	ClaimExpires                            time.Time
	DecidedBy                               string
	DecidedAt                               time.Time
	Reason                                  string // of the last decision (mandatory for reject)
	Notes                                   []Note
	Created, Updated                        time.Time
	Reopened                                int // how many times an edit or a new flag reopened it
}

// Open reports whether the item still waits for a decision.
func (it *Item) Open() bool {
	return it.State == StatePending || it.State == StateClaimed || it.State == StateEscalated
}

// ListFilter selects items for List.
type ListFilter struct {
	States   []State // empty: pending, claimed and escalated (the open queue)
	Forum    string
	Category string
	Limit    int // default 50, max 500
	Offset   int
}

// History is the author's recent record in one forum.
type History struct {
	// Posts is every post of the author ingested; Flagged those the rules
	// sent to the queue (verdict flag, hold or reject); Held those kept
	// from view (hold or reject). Rejected and Approved count the author's
	// items as moderators decided them.
	Posts, Flagged, Held, Rejected, Approved int
	Recent                                   []Item // up to 10, newest first
}

// Errors. Wrapped errors carry the details (the item, the versions, who
// holds the claim); test with errors.Is.
var (
	// ErrConflict: version mismatch, or claimed by someone else whose claim
	// has not expired, or the item is not in a state the action applies to.
	ErrConflict = errors.New("conflict")
	// ErrNotFound: no such item.
	ErrNotFound = errors.New("no such item")
	// ErrNeedReason: reject without a reason.
	ErrNeedReason = errors.New("a reason is required to reject")
	// ErrUndoExpired: the undo window has passed.
	ErrUndoExpired = errors.New("too late to undo")
	// ErrNotDecider: only the moderator who made a decision may undo it.
	// Errors with it also match ErrConflict.
	ErrNotDecider = errors.New("only the moderator who decided may undo")
	// ErrInvalid: a malformed call (no user name, an unknown decision or
	// state, an empty or oversized note, too many ids).
	ErrInvalid = errors.New("invalid request")
)

// Options configure a Service.
type Options struct {
	Rules         func() *matcher.Set // the current rule set (matcher.Matcher.Set)
	Sink          func(*event.Event)  // events with hits go here (the hit log); may be nil; must not block
	Sensor        string
	ClaimTTL      time.Duration         // default 10m
	UndoWindow    time.Duration         // default 2m
	WebhookURL    string                // "" = no webhook
	WebhookSecret string                // HMAC-SHA256 key; required with WebhookURL
	Registerer    prometheus.Registerer // may be nil
	Logger        *slog.Logger          // may be nil
	Now           func() time.Time      // for tests; default time.Now

	// Limits bound a request to IngestHandler; zero fields take
	// DefaultLimits.
	Limits Limits
	// WebhookQueue is how many deliveries may wait (default 1024); when
	// it is full a decision's webhook is dropped, logged and counted as
	// failed. The decision itself is never held up.
	WebhookQueue int
}

// Service is the moderation queue. It is safe for concurrent use.
type Service struct {
	db      *state.DB
	opts    Options
	now     func() time.Time
	log     *slog.Logger
	limits  Limits
	writer  *committer
	metrics *metrics
	stmts   statements
	hook    *webhook

	mu      sync.Mutex
	started bool
	cancel  context.CancelFunc
	done    chan struct{}
}

// New opens the moderation queue on db, migrating its tables through
// db.Migrate(ctx, "moderation", ...).
func New(db *state.DB, opts Options) (*Service, error) {
	if db == nil {
		return nil, errors.New("moderation: no state database")
	}
	if opts.Rules == nil {
		return nil, errors.New("moderation: no rule set (Options.Rules)")
	}
	if opts.ClaimTTL <= 0 {
		opts.ClaimTTL = 10 * time.Minute
	}
	if opts.UndoWindow <= 0 {
		opts.UndoWindow = 2 * time.Minute
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.WebhookQueue <= 0 {
		opts.WebhookQueue = 1024
	}
	if opts.WebhookURL != "" {
		u, err := url.Parse(opts.WebhookURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("moderation: webhook URL %q: want http:// or https:// and a host", opts.WebhookURL)
		}
		if opts.WebhookSecret == "" {
			return nil, errors.New("moderation: a webhook URL needs a webhook secret (the HMAC-SHA256 key forums check signatures with)")
		}
	}
	ctx := context.Background()
	if err := db.Migrate(ctx, "moderation", migrations); err != nil {
		return nil, err
	}
	s := &Service{
		db:     db,
		opts:   opts,
		now:    func() time.Time { return opts.Now().UTC() },
		log:    opts.Logger,
		limits: opts.Limits.withDefaults(),
		writer: newCommitter(db, opts.Logger),
	}
	if err := s.stmts.prepare(ctx, db); err != nil {
		return nil, fmt.Errorf("moderation: %w", err)
	}
	s.metrics = newMetrics(s)
	if opts.Registerer != nil {
		if err := s.metrics.register(opts.Registerer); err != nil {
			s.stmts.close()
			return nil, fmt.Errorf("moderation: metrics: %w", err)
		}
	}
	if opts.WebhookURL != "" {
		s.hook = newWebhook(opts.WebhookURL, []byte(opts.WebhookSecret), opts.WebhookQueue, s.metrics, s.log, s.now)
	}
	return s, nil
}

// Start runs the webhook delivery goroutine until Stop (or until ctx
// ends). Decisions made before Start wait in the queue. Without a webhook
// URL it does nothing.
func (s *Service) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started {
		return errors.New("moderation: already started")
	}
	s.started = true
	if s.hook == nil {
		return nil
	}
	ctx, s.cancel = context.WithCancel(ctx)
	s.done = make(chan struct{})
	go func() {
		defer close(s.done)
		s.hook.run(ctx)
	}()
	return nil
}

// Stop ends webhook delivery: the delivery in flight ends without further
// retries, and what is still queued gets one attempt each within a few
// seconds; what remains is logged and counted as failed. It then gives
// back the writer's database connection. Stop does not close the
// database; call it before closing the database. The queue keeps working
// after Stop (without webhooks), for calls still under way.
func (s *Service) Stop() {
	s.mu.Lock()
	cancel, done := s.cancel, s.done
	s.cancel, s.done = nil, nil
	s.mu.Unlock()
	if cancel != nil {
		cancel()
		<-done
	}
	s.writer.close()
}

func (s *Service) claimTTL() time.Duration   { return s.opts.ClaimTTL }
func (s *Service) undoWindow() time.Duration { return s.opts.UndoWindow }
