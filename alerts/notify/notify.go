// Package notify announces decisions to people and systems: signed
// webhooks with an Alertmanager-compatible body (version 4) for chat
// bridges, ticketing and SOAR tools, and syslog (RFC 5424) carrying CEF for
// the campus SIEM. A new decision is announced as firing; a revoked or
// expired one as resolved.
//
// Announcing never blocks the caller: each output has a bounded queue and a
// worker; what does not fit is dropped and counted. Outputs retry what can
// succeed later and give up within bounds.
//
// It knows the decision record and nothing else: not how decisions are made
// (the engine, policies), stored or enforced (firewalls, feeds), and not
// where its configuration comes from (the YAML config fills Config).
package notify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/campusguard/campusguard/alerts/decision"
)

// Notifier announces decisions. Notify must not block; it takes a copy of
// what it needs. A decision whose Revoked is set, or a warn or block whose
// Expires has passed, announces its end. Close stops taking decisions and
// delivers what is queued until ctx is done; it then abandons the rest and
// says how many.
type Notifier interface {
	Notify(d decision.Decision)
	Close(ctx context.Context) error
}

var (
	_ Notifier = (*Webhook)(nil)
	_ Notifier = (*Syslog)(nil)
	_ Notifier = (*Multi)(nil)
)

// Options are what outputs share.
type Options struct {
	// Registerer, if set, gets the metrics. Outputs built with the same
	// Registerer share one set of metric vectors.
	Registerer prometheus.Registerer
	Logger     *slog.Logger     // default slog.Default()
	Now        func() time.Time // the clock that decides firing or resolved and stamps messages; default time.Now
	// Version is the software version in the CEF header and the webhook
	// User-Agent (default "dev").
	Version string
	// ExternalURL is the console's base URL, e.g. https://guard.example.edu;
	// webhooks link each decision at ExternalURL/decisions/{id}.
	ExternalURL string
}

func (o Options) withDefaults() Options {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Version == "" {
		o.Version = "dev"
	}
	return o
}

// New builds every output in cfg, which it validates first. The Multi it
// returns announces to all of them.
func New(cfg Config, opts Options) (*Multi, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	var ns []Notifier
	fail := func(err error) (*Multi, error) {
		_ = NewMulti(ns...).Close(context.Background())
		return nil, err
	}
	for _, c := range cfg.Webhooks {
		w, err := NewWebhook(c, opts)
		if err != nil {
			return fail(err)
		}
		ns = append(ns, w)
	}
	for _, c := range cfg.Syslog {
		s, err := NewSyslog(c, opts)
		if err != nil {
			return fail(err)
		}
		ns = append(ns, s)
	}
	return NewMulti(ns...), nil
}

// Multi announces each decision to several outputs.
type Multi struct {
	ns []Notifier
}

// NewMulti fans out to ns.
func NewMulti(ns ...Notifier) *Multi { return &Multi{ns: ns} }

// Notify hands d to every output.
func (m *Multi) Notify(d decision.Decision) {
	for _, n := range m.ns {
		n.Notify(d)
	}
}

// Close closes every output at once, all within ctx, and joins their
// errors.
func (m *Multi) Close(ctx context.Context) error {
	errs := make([]error, len(m.ns))
	var wg sync.WaitGroup
	for i, n := range m.ns {
		wg.Go(func() { errs[i] = n.Close(ctx) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// Status is what an announcement says about a decision.
type Status string

const (
	StatusFiring   Status = "firing"   // new: in force, or a one-off notice
	StatusResolved Status = "resolved" // revoked, or expired
)

// statusOf says whether d is announced as firing or resolved at now, and
// for a resolved one when it ended and why ("revoked" or "expired"). A
// notify is a one-off message: it never expires, though it can be revoked.
func statusOf(d *decision.Decision, now time.Time) (s Status, ended time.Time, why string) {
	switch {
	case !d.Revoked.IsZero():
		return StatusResolved, d.Revoked, "revoked"
	case d.Action != decision.ActionNotify && !d.Expires.IsZero() && !now.Before(d.Expires):
		return StatusResolved, d.Expires, "expired"
	}
	return StatusFiring, time.Time{}, ""
}

// severityName names a decision severity (1 to 4).
func severityName(s int) string {
	switch {
	case s <= 1:
		return "low"
	case s == 2:
		return "medium"
	case s == 3:
		return "high"
	}
	return "critical"
}

// item is one queued announcement: the decision without its hits (the
// caller's slice is not kept), the status decided at Notify time.
type item struct {
	d      decision.Decision
	hits   int
	status Status
	ended  time.Time
	why    string
	at     time.Time // when Notify was called (Options.Now)
	queued time.Time // wall clock, for ages and backoff
}

func newItem(d decision.Decision, now time.Time) item {
	it := item{d: d, hits: len(d.Hits), at: now, queued: time.Now()}
	it.d.Hits = nil
	it.status, it.ended, it.why = statusOf(&d, now)
	return it
}

// outbox is an output's bounded queue. push never blocks; close ends the
// worker's range loop once the queue is empty.
type outbox struct {
	mu     sync.Mutex
	ch     chan item
	closed bool
	m      *outputMetrics
	// abandoned counts items given up because Close's context ended.
	abandoned atomic.Int64
}

func newOutbox(size int, m *outputMetrics) *outbox {
	return &outbox{ch: make(chan item, size), m: m}
}

// push queues it, or drops and counts it when the queue is full or
// closed. Called with the output's own lock held, if it has one.
func (o *outbox) push(it item) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		o.m.dropped.Inc()
		return false
	}
	select {
	case o.ch <- it:
		o.m.queue.Inc()
		return true
	default:
		o.m.dropped.Inc()
		return false
	}
}

func (o *outbox) close() {
	o.mu.Lock()
	defer o.mu.Unlock()
	if !o.closed {
		o.closed = true
		close(o.ch)
	}
}

// closeAndWait closes o and waits for the worker (done) until ctx ends;
// then it cancels the worker (stop) and waits for it to count what is left
// as abandoned.
func (o *outbox) closeAndWait(ctx context.Context, done <-chan struct{}, stop context.CancelFunc, what string) error {
	o.close()
	select {
	case <-done:
		stop()
		return nil
	case <-ctx.Done():
		stop()
		<-done
		return fmt.Errorf("%s: closing: %d announcements abandoned: %w", what, o.abandoned.Load(), ctx.Err())
	}
}

// abandon counts an item given up because the output is stopping.
func (o *outbox) abandon() {
	o.abandoned.Add(1)
	o.m.failed.Inc()
}
