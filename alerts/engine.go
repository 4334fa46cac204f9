// Package alerts is the decision engine: it counts hits per policy and
// subject, climbs each policy's ladder (notify, warn, block) when a
// threshold is crossed within a window, lengthens blocks for repeat
// offenders and forgets strikes after a clean period. It records every
// decision in the decision store and hands it to the outputs. Allowlists
// always win; dry-run policies record what they would have done.
//
// It knows nothing about how decisions are enforced (nftables, feeds,
// bouncers) or announced (webhooks, syslog): those are Enforcers and
// Notifiers given to it.
package alerts

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/campusguard/campusguard/alerts/decision"
	"github.com/campusguard/campusguard/internal/event"
	"github.com/campusguard/campusguard/internal/state"
)

// Enforcer puts decisions into effect: a firewall, a DNS warn list.
type Enforcer interface {
	Apply(ctx context.Context, ds []decision.Decision, now time.Time) error
	Remove(ctx context.Context, ds []decision.Decision) error
	// Reconcile makes the enforcer hold exactly the active decisions with
	// their remaining time.
	Reconcile(ctx context.Context, active []decision.Decision, now time.Time) error
}

// Notifier announces decisions; it must not block. A decision whose
// Revoked is set or whose Expires has passed announces its end.
type Notifier interface {
	Notify(d decision.Decision)
}

// Options configure an Engine.
type Options struct {
	Policies  []*Policy
	Allowlist *Allowlist
	Enforcers map[string]Enforcer // by name, for logs and metrics
	Notifiers []Notifier
	// QueueSize bounds the events waiting for the engine (default 65536);
	// Submit drops and counts what does not fit.
	QueueSize int
	// ReconcileEvery re-asserts every active decision on the enforcers
	// (default 1m); expiries are checked every second.
	ReconcileEvery time.Duration
	// MaxTrackers bounds the subjects counted at once (default 1,000,000).
	MaxTrackers int
	Now         func() time.Time
	Logger      *slog.Logger
	Registerer  prometheus.Registerer
}

// tracker is one subject under one policy.
type tracker struct {
	hits        []time.Time // traffic times of recent counting hits, oldest first
	lastName    string      // the last hit's name and traffic time, to coalesce repeats
	lastAt      time.Time
	evidence    []decision.HitRef
	strikes     int
	lastStrike  time.Time
	lastNotify  time.Time
	activeUntil time.Time // end of the warn or block in force, if any
	activeID    int64
	// lastActivity starts the clean period that forgets strikes: the last
	// hit, or the end of the last decision.
	lastActivity time.Time
}

// strikesAt is the subject's strikes at now: none once the clean period
// of p's decay has passed since its last activity.
func (t *tracker) strikesAt(p *Policy, now time.Time) int {
	if t.strikes > 0 && now.Sub(t.lastActivity) >= time.Duration(p.Decay) {
		return 0
	}
	return t.strikes
}

type trackerKey struct {
	policy  string
	subject string // scope:value
}

// Engine turns hits into decisions.
type Engine struct {
	opts    Options
	store   *decision.Store
	db      *state.DB
	now     func() time.Time
	log     *slog.Logger
	metrics *metrics
	queue   chan *event.Event

	mu       sync.Mutex
	trackers map[trackerKey]*tracker
	policies map[string]*Policy
	// enforced are the warn and block decisions in force, for expiry.
	enforced map[int64]decision.Decision
	// trials are dry-run warns and blocks still running, so that their
	// end is announced as a real one's would be (nothing is lifted).
	trials map[int64]decision.Decision

	stop context.CancelFunc
	done chan struct{}
}

var strikesMigrations = []state.Migration{
	{Version: 1, Name: "strikes per policy and subject", SQL: `
CREATE TABLE alert_strikes (
	policy TEXT NOT NULL,
	subject TEXT NOT NULL,
	strikes INTEGER NOT NULL,
	last_strike INTEGER NOT NULL,   -- Unix milliseconds
	last_activity INTEGER NOT NULL,
	PRIMARY KEY (policy, subject)
);`},
}

// New opens the engine on the state database: the decision store, the
// strikes that survive a restart, and the decisions still in force.
func New(ctx context.Context, db *state.DB, opts Options) (*Engine, error) {
	store, err := decision.Open(ctx, db)
	if err != nil {
		return nil, err
	}
	if err := db.Migrate(ctx, "alerts", strikesMigrations); err != nil {
		return nil, err
	}
	if opts.QueueSize <= 0 {
		opts.QueueSize = 65536
	}
	if opts.ReconcileEvery <= 0 {
		opts.ReconcileEvery = time.Minute
	}
	if opts.MaxTrackers <= 0 {
		opts.MaxTrackers = 1_000_000
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	e := &Engine{
		opts: opts, store: store, db: db, log: opts.Logger,
		now:      func() time.Time { return opts.Now().UTC() },
		queue:    make(chan *event.Event, opts.QueueSize),
		trackers: map[trackerKey]*tracker{},
		policies: map[string]*Policy{},
		enforced: map[int64]decision.Decision{},
		trials:   map[int64]decision.Decision{},
	}
	for _, p := range opts.Policies {
		e.policies[p.Name] = p
	}
	e.metrics = newMetrics(e)
	e.metrics.precreate(opts.Enforcers)
	if opts.Registerer != nil {
		if err := e.metrics.register(opts.Registerer); err != nil {
			return nil, fmt.Errorf("alerts metrics: %w", err)
		}
	}
	if err := e.load(ctx); err != nil {
		return nil, err
	}
	return e, nil
}

// Store is the decision store the engine writes.
func (e *Engine) Store() *decision.Store { return e.store }

// load restores strikes and the decisions in force.
func (e *Engine) load(ctx context.Context) error {
	rows, err := e.db.QueryContext(ctx, `SELECT policy, subject, strikes, last_strike, last_activity FROM alert_strikes`)
	if err != nil {
		return fmt.Errorf("alerts: load strikes: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var k trackerKey
		var t tracker
		var last, activity int64
		if err := rows.Scan(&k.policy, &k.subject, &t.strikes, &last, &activity); err != nil {
			return fmt.Errorf("alerts: load strikes: %w", err)
		}
		if _, ok := e.policies[k.policy]; !ok {
			continue // a policy since removed from the config
		}
		t.lastStrike, t.lastActivity = time.UnixMilli(last).UTC(), time.UnixMilli(activity).UTC()
		e.trackers[k] = &t
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("alerts: load strikes: %w", err)
	}
	active, err := e.store.Active(ctx, e.now())
	if err != nil {
		return err
	}
	trials, err := e.store.Trials(ctx, e.now())
	if err != nil {
		return err
	}
	for _, d := range trials {
		e.trials[d.ID] = d
		if t, ok := e.trackers[trackerKey{d.Policy, d.Subject()}]; ok && d.Expires.After(t.activeUntil) {
			t.activeUntil, t.activeID = d.Expires, d.ID
		}
	}
	for _, d := range active {
		e.enforced[d.ID] = d
		if d.Origin == decision.OriginPolicy {
			if t, ok := e.trackers[trackerKey{d.Policy, d.Subject()}]; ok && d.Expires.After(t.activeUntil) {
				t.activeUntil, t.activeID = d.Expires, d.ID
			}
		}
	}
	return nil
}

// Submit hands an event to the engine without waiting; when the queue is
// full the event is dropped and counted.
func (e *Engine) Submit(ev *event.Event) {
	if len(ev.Hits) == 0 {
		return
	}
	select {
	case e.queue <- ev:
	default:
		e.metrics.dropped.Inc()
	}
}

// Start reconciles the enforcers with the decisions in force, then
// processes submitted events, expiries and periodic reconciles until Stop.
func (e *Engine) Start(ctx context.Context) error {
	if err := e.reconcile(ctx); err != nil {
		e.log.Error("alerts: first reconcile", "err", err)
	}
	ctx, e.stop = context.WithCancel(ctx)
	e.done = make(chan struct{})
	go e.run(ctx)
	return nil
}

// Stop ends the engine's loop after the events already queued.
func (e *Engine) Stop() {
	if e.stop == nil {
		return
	}
	e.stop()
	<-e.done
}

func (e *Engine) run(ctx context.Context) {
	defer close(e.done)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	lastReconcile := e.now()
	for {
		select {
		case <-ctx.Done():
			for {
				select {
				case ev := <-e.queue:
					e.observe(context.Background(), ev)
				default:
					return
				}
			}
		case ev := <-e.queue:
			e.observe(ctx, ev)
		case <-tick.C:
			now := e.now()
			e.expire(ctx, now)
			if now.Sub(lastReconcile) >= e.opts.ReconcileEvery {
				lastReconcile = now
				if err := e.reconcile(ctx); err != nil {
					e.log.Error("alerts: reconcile", "err", err)
				}
			}
		}
	}
}

func (e *Engine) observe(ctx context.Context, ev *event.Event) {
	if _, err := e.Observe(ctx, ev); err != nil {
		e.log.Error("alerts", "err", err)
	}
}

// Observe counts ev's hits under every policy and returns the decisions
// it led to. It is what the engine's loop runs for each submitted event;
// tests call it directly.
func (e *Engine) Observe(ctx context.Context, ev *event.Event) ([]decision.Decision, error) {
	now := e.now()
	var out []decision.Decision
	var errs []error
	for _, p := range e.opts.Policies {
		for i := range ev.Hits {
			h := &ev.Hits[i]
			if !p.counts(ev, h) {
				continue
			}
			d, ok, err := e.count(ctx, p, ev, h, now)
			if err != nil {
				errs = append(errs, err)
			}
			if ok {
				out = append(out, d)
			}
			break // one event is one hit for a policy, however many rules it matched
		}
	}
	return out, errors.Join(errs...)
}

func hitRef(ev *event.Event, h *event.Hit) decision.HitRef {
	return decision.HitRef{Time: ev.Time, Sensor: ev.Sensor, Kind: ev.Kind.String(), Client: ev.Src, Server: ev.Dst,
		Name: ev.Name, Pack: h.Pack, Rule: h.Rule}
}

// count adds one hit against p's subject in ev and takes the next step
// of the ladder when the threshold is crossed.
func (e *Engine) count(ctx context.Context, p *Policy, ev *event.Event, h *event.Hit, now time.Time) (decision.Decision, bool, error) {
	scope, value := p.subjectOf(ev)
	if value == "" {
		e.metrics.hits.WithLabelValues("unaddressable").Inc()
		return decision.Decision{}, false, nil
	}
	if e.opts.Allowlist.Covers(scope, value) {
		e.metrics.hits.WithLabelValues("allowlisted").Inc()
		return decision.Decision{}, false, nil
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	key := trackerKey{p.Name, string(scope) + ":" + value}
	t := e.trackers[key]
	if t == nil {
		if len(e.trackers) >= e.opts.MaxTrackers {
			e.sweep(now)
			if len(e.trackers) >= e.opts.MaxTrackers {
				e.metrics.hits.WithLabelValues("untracked").Inc()
				return decision.Decision{}, false, nil
			}
		}
		t = &tracker{}
		e.trackers[key] = t
	}
	t.strikes = t.strikesAt(p, now) // after a clean period, the bottom of the ladder again
	if now.Before(t.activeUntil) {
		// Something is in force already; more hits are evidence of the
		// same offence, not a new one.
		t.lastActivity = laterOf(t.lastActivity, now)
		e.metrics.hits.WithLabelValues("absorbed").Inc()
		return decision.Decision{}, false, nil
	}
	t.lastActivity = laterOf(t.lastActivity, now)
	// Hits are counted in traffic time, so a replayed capture counts as
	// it happened; what is decided and when it expires is in wall time.
	at := ev.Time
	if at.IsZero() || at.After(now.Add(time.Minute)) {
		at = now
	}
	if p.coalesce > 0 && ev.Name == t.lastName && at.Sub(t.lastAt).Abs() < p.coalesce {
		e.metrics.hits.WithLabelValues("coalesced").Inc()
		return decision.Decision{}, false, nil
	}
	t.lastName, t.lastAt = ev.Name, at
	e.metrics.hits.WithLabelValues("counted").Inc()
	window := time.Duration(p.Window)
	keep := t.hits[:0]
	for _, h := range t.hits {
		if d := at.Sub(h); d < window && d > -window {
			keep = append(keep, h)
		}
	}
	t.hits = append(keep, at)
	if len(t.evidence) == decision.MaxHits {
		t.evidence = append(t.evidence[:0], t.evidence[1:]...)
	}
	t.evidence = append(t.evidence, hitRef(ev, h))
	if len(t.hits) < p.Threshold {
		return decision.Decision{}, false, nil
	}

	strike := t.strikes + 1
	action, dur := p.step(strike)
	if action == decision.ActionNotify && now.Sub(t.lastNotify) < window {
		// The same notice again within the window: deduplicated.
		t.hits = t.hits[:0]
		e.metrics.hits.WithLabelValues("deduplicated").Inc()
		return decision.Decision{}, false, nil
	}
	d := decision.Decision{
		Action: action, Scope: scope, Value: value, Category: h.Category, Severity: severityOf(h.Severity),
		Origin: decision.OriginPolicy, Policy: p.Name, Actor: "system", Strike: strike, DryRun: p.dryRun,
		Hits: append([]decision.HitRef(nil), t.evidence...), Created: now, Expires: now.Add(dur),
		Reason: fmt.Sprintf("%d %s hits within %s (strike %d) under policy %s", len(t.hits), categoryWord(p, h),
			window, strike, p.Name),
	}
	d, err := e.store.Add(ctx, d)
	if err != nil {
		return d, false, fmt.Errorf("alerts: policy %s on %s: %w", p.Name, key.subject, err)
	}
	t.strikes, t.lastStrike = strike, now
	t.hits, t.evidence = t.hits[:0], t.evidence[:0]
	if action == decision.ActionNotify {
		t.lastNotify = now
	} else {
		t.activeUntil, t.activeID = d.Expires, d.ID
		t.lastActivity = d.Expires // the clean period starts when it ends
	}
	if err := e.saveStrikes(ctx, key, t); err != nil {
		e.log.Error("alerts: strikes not saved; they restart from zero after a restart", "subject", key.subject, "err", err)
	}
	e.publish(ctx, d, now)
	return d, true, nil
}

func categoryWord(p *Policy, h *event.Hit) string {
	if len(p.Categories) == 1 {
		return p.Categories[0]
	}
	if h.Category != "" {
		return h.Category
	}
	return "rule"
}

func laterOf(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// severityOf maps a hit severity (info..critical) to a decision's 1..4.
func severityOf(s event.Severity) int {
	return min(max(int(s), 1), 4)
}

func (e *Engine) saveStrikes(ctx context.Context, k trackerKey, t *tracker) error {
	_, err := e.db.ExecContext(ctx, `INSERT INTO alert_strikes (policy, subject, strikes, last_strike, last_activity) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (policy, subject) DO UPDATE SET strikes = excluded.strikes, last_strike = excluded.last_strike, last_activity = excluded.last_activity`,
		k.policy, k.subject, t.strikes, t.lastStrike.UnixMilli(), t.lastActivity.UnixMilli())
	return err
}

// sweep forgets trackers with nothing to remember: no recent hits, no
// strikes, nothing in force. Called with mu held.
func (e *Engine) sweep(now time.Time) {
	for k, t := range e.trackers {
		p := e.policies[k.policy]
		// Traffic time may lag wall time (a replay); the wall-clock
		// lastActivity says when the subject was last seen.
		idle := len(t.hits) == 0 || now.Sub(t.lastActivity) >= time.Duration(p.Window)
		if idle && !now.Before(t.activeUntil) && t.strikesAt(p, now) == 0 {
			delete(e.trackers, k)
		}
	}
}

// publish hands a new decision to the outputs. Dry runs are announced
// (as dry runs) but never enforced. Called with mu held.
func (e *Engine) publish(ctx context.Context, d decision.Decision, now time.Time) {
	e.metrics.decisions.WithLabelValues(string(d.Action), string(d.Origin), fmt.Sprint(d.DryRun)).Inc()
	if d.DryRun && d.Action != decision.ActionNotify && d.Revoked.IsZero() && now.Before(d.Expires) {
		e.trials[d.ID] = d
	}
	if d.Enforced(now) {
		e.enforced[d.ID] = d
		for name, f := range e.opts.Enforcers {
			if err := f.Apply(ctx, []decision.Decision{d}, now); err != nil {
				e.metrics.outputErrors.WithLabelValues(name).Inc()
				e.log.Error("alerts: enforce", "output", name, "decision", d.ID, "err", err)
			}
		}
	}
	for _, n := range e.opts.Notifiers {
		n.Notify(d)
	}
}

// expire announces decisions whose time is up. The enforcers' own
// timeouts have already lifted them; Remove makes sure.
func (e *Engine) expire(ctx context.Context, now time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	var ended []decision.Decision
	for id, d := range e.enforced {
		if !now.Before(d.Expires) {
			ended = append(ended, d)
			delete(e.enforced, id)
		}
	}
	if len(ended) > 0 {
		e.removeAll(ctx, ended)
	}
	for id, d := range e.trials {
		if !now.Before(d.Expires) {
			ended = append(ended, d)
			delete(e.trials, id)
		}
	}
	for _, d := range ended {
		for _, n := range e.opts.Notifiers {
			n.Notify(d)
		}
	}
}

func (e *Engine) removeAll(ctx context.Context, ds []decision.Decision) {
	for name, f := range e.opts.Enforcers {
		if err := f.Remove(ctx, ds); err != nil {
			e.metrics.outputErrors.WithLabelValues(name).Inc()
			e.log.Error("alerts: lift", "output", name, "decisions", len(ds), "err", err)
		}
	}
}

// reconcile makes every enforcer hold exactly the decisions in force.
func (e *Engine) reconcile(ctx context.Context) error {
	now := e.now()
	active, err := e.store.Active(ctx, now)
	if err != nil {
		return err
	}
	var errs []error
	for name, f := range e.opts.Enforcers {
		if err := f.Reconcile(ctx, active, now); err != nil {
			e.metrics.outputErrors.WithLabelValues(name).Inc()
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
		}
	}
	return errors.Join(errs...)
}

// ErrAllowlisted refuses a manual decision on an allowlisted subject.
var ErrAllowlisted = errors.New("the allowlist covers it; remove it from alerts.allowlist first")

// Decide records and enforces a decision made by a person. Its Origin is
// set to manual; Actor and Reason are required.
func (e *Engine) Decide(ctx context.Context, d decision.Decision) (decision.Decision, error) {
	now := e.now()
	d.Origin, d.Policy = decision.OriginManual, ""
	if d.Created.IsZero() {
		d.Created = now
	}
	if d.Severity == 0 {
		d.Severity = 3
	}
	if err := d.Validate(); err != nil {
		return d, err
	}
	if e.opts.Allowlist.Covers(d.Scope, d.Value) {
		return d, fmt.Errorf("%s: %w", d.Subject(), ErrAllowlisted)
	}
	d, err := e.store.Add(ctx, d)
	if err != nil {
		return d, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.publish(ctx, d, now)
	return d, nil
}

// Revoke lifts decision id now, for a reason, and lets its subject's hits
// count again.
func (e *Engine) Revoke(ctx context.Context, id int64, actor, reason string) (decision.Decision, error) {
	now := e.now()
	d, err := e.store.Revoke(ctx, id, actor, reason, now)
	if err != nil {
		return d, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.enforced, id)
	delete(e.trials, id)
	if t, ok := e.trackers[trackerKey{d.Policy, d.Subject()}]; ok && t.activeID == id {
		t.activeUntil, t.activeID = time.Time{}, 0
		t.lastActivity = now
	}
	if d.Action != decision.ActionNotify && !d.DryRun {
		e.removeAll(ctx, []decision.Decision{d})
	}
	e.metrics.revoked.Inc()
	for _, n := range e.opts.Notifiers {
		n.Notify(d)
	}
	return d, nil
}

// Standing is one subject's state under one policy, for the console.
type Standing struct {
	Policy       string    `json:"policy"`
	Strikes      int       `json:"strikes"`
	NextAction   string    `json:"next_action"`
	RecentHits   int       `json:"recent_hits"`
	Threshold    int       `json:"threshold"`
	ActiveUntil  time.Time `json:"active_until,omitzero"`
	LastStrike   time.Time `json:"last_strike,omitzero"`
	StrikesReset time.Time `json:"strikes_reset,omitzero"` // when strikes decay if nothing else happens
}

// Standings returns a subject's strikes under every policy that has seen it.
func (e *Engine) Standings(scope decision.Scope, value string) ([]Standing, error) {
	v, err := decision.NormalizeValue(scope, value)
	if err != nil {
		return nil, err
	}
	now := e.now()
	subject := string(scope) + ":" + v
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []Standing
	for _, p := range e.opts.Policies {
		t, ok := e.trackers[trackerKey{p.Name, subject}]
		if !ok {
			continue
		}
		strikes := t.strikesAt(p, now)
		next, _ := p.step(strikes + 1)
		recent := len(t.hits)
		if now.Sub(t.lastActivity) >= time.Duration(p.Window) {
			recent = 0
		}
		s := Standing{Policy: p.Name, Strikes: strikes, NextAction: string(next), RecentHits: recent, Threshold: p.Threshold,
			LastStrike: t.lastStrike}
		if now.Before(t.activeUntil) {
			s.ActiveUntil = t.activeUntil
		}
		if strikes > 0 {
			s.StrikesReset = t.lastActivity.Add(time.Duration(p.Decay))
		}
		out = append(out, s)
	}
	return out, nil
}

// Policies returns the configured policies.
func (e *Engine) Policies() []*Policy { return e.opts.Policies }

// List returns recorded decisions, newest first.
func (e *Engine) List(ctx context.Context, f decision.Filter) ([]decision.Decision, error) {
	if f.Live && f.Now.IsZero() {
		f.Now = e.now()
	}
	return e.store.List(ctx, f)
}

// Get returns one recorded decision.
func (e *Engine) Get(ctx context.Context, id int64) (decision.Decision, error) {
	return e.store.Get(ctx, id)
}
