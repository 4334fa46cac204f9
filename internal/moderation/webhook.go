package moderation

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"

	"github.com/campusguard/campusguard/internal/webhooksig"
)

// WebhookPayload is the JSON body POSTed to Options.WebhookURL when a
// moderator decides (approve, reject, escalate) or undoes a decision.
//
// The request carries two headers:
//
//	X-Campusguard-Timestamp: 1795694400                 (Unix seconds when it was sent)
//	X-Campusguard-Signature: sha256=<hex HMAC-SHA256(secret, timestamp + "." + body)>
//
// A forum checks the signature over the raw body bytes, as received, with
// Verify (or VerifyRequest), and should refuse timestamps more than a few
// minutes from its clock, so a captured request cannot be replayed later.
// X-Campusguard-Delivery names the decision (item and version) and stays
// the same across retries: a forum that sees it twice may ignore the
// second. Deliveries are retried (5 attempts, exponential backoff) on
// network errors, 408, 429 and 5xx; any other answer but 2xx, including a
// redirect, fails the delivery at once.
type WebhookPayload struct {
	ID        string    `json:"id"` // the post's id in its forum
	Forum     string    `json:"forum"`
	Item      int64     `json:"item"`
	Decision  string    `json:"decision"` // approve, reject, escalate or undo
	Reason    string    `json:"reason"`
	Moderator string    `json:"moderator"`
	Time      time.Time `json:"ts"`
	State     State     `json:"state"`   // the item's state after the decision: what the forum should show
	Version   int       `json:"version"` // the item's version after it; later deliveries have higher ones
}

// The signature scheme and headers, shared by every campusguard webhook
// (internal/webhooksig).
const (
	HeaderTimestamp = webhooksig.HeaderTimestamp
	HeaderSignature = webhooksig.HeaderSignature
	HeaderDelivery  = webhooksig.HeaderDelivery
)

var (
	Sign          = webhooksig.Sign
	Verify        = webhooksig.Verify
	VerifyRequest = webhooksig.VerifyRequest
)

// webhook delivers payloads from a bounded queue, one at a time and in
// order, so a forum sees a decision before its undo.
type webhook struct {
	url      string
	secret   []byte
	queue    chan delivery
	client   *http.Client
	metrics  *metrics
	log      *slog.Logger
	now      func() time.Time
	attempts int
	backoff  time.Duration // before the first retry; doubles each time
	drain    time.Duration // Stop's last chance for queued deliveries
}

type delivery struct {
	id   string
	body []byte
}

func newWebhook(url string, secret []byte, size int, m *metrics, log *slog.Logger, now func() time.Time) *webhook {
	return &webhook{
		url:    url,
		secret: secret,
		queue:  make(chan delivery, size),
		client: &http.Client{
			Timeout: 10 * time.Second,
			// A redirect could send a signed decision elsewhere.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		metrics:  m,
		log:      log,
		now:      now,
		attempts: 5,
		backoff:  time.Second,
		drain:    5 * time.Second,
	}
}

// enqueue never blocks: a full queue drops the delivery.
func (w *webhook) enqueue(p WebhookPayload) {
	body, err := json.Marshal(p)
	if err != nil { // cannot happen with these field types
		w.log.Error("webhook: encode", "err", err)
		return
	}
	d := delivery{id: strconv.FormatInt(p.Item, 10) + "-" + strconv.Itoa(p.Version), body: body}
	select {
	case w.queue <- d:
	default:
		w.metrics.webhook.WithLabelValues("failed").Inc()
		w.log.Error("webhook: queue full, decision not delivered", "item", p.Item, "decision", p.Decision, "queue", cap(w.queue))
	}
}

func (w *webhook) run(ctx context.Context) {
	for {
		select {
		case d := <-w.queue:
			w.deliver(ctx, d)
		case <-ctx.Done():
			w.drainQueue()
			return
		}
	}
}

// deliver tries d up to w.attempts times, waiting backoff, 2×backoff, …
// (±20%) in between.
func (w *webhook) deliver(ctx context.Context, d delivery) {
	wait := w.backoff
	for attempt := 1; ; attempt++ {
		retry, err := w.post(ctx, d)
		if err == nil {
			w.metrics.webhook.WithLabelValues("ok").Inc()
			return
		}
		if !retry || attempt >= w.attempts || ctx.Err() != nil {
			w.metrics.webhook.WithLabelValues("failed").Inc()
			w.log.Error("webhook: delivery failed", "delivery", d.id, "attempts", attempt, "err", err)
			return
		}
		w.metrics.webhook.WithLabelValues("retry").Inc()
		jittered := wait + time.Duration((rand.Float64()*0.4-0.2)*float64(wait))
		w.log.Warn("webhook: delivery failed, retrying", "delivery", d.id, "attempt", attempt, "in", jittered, "err", err)
		t := time.NewTimer(jittered)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			w.metrics.webhook.WithLabelValues("failed").Inc()
			w.log.Error("webhook: stopping; delivery abandoned", "delivery", d.id, "attempts", attempt, "err", err)
			return
		}
		wait *= 2
	}
}

// drainQueue gives each queued delivery one attempt, within w.drain.
func (w *webhook) drainQueue() {
	ctx, cancel := context.WithTimeout(context.Background(), w.drain)
	defer cancel()
	for {
		select {
		case d := <-w.queue:
			if ctx.Err() == nil {
				if _, err := w.post(ctx, d); err == nil {
					w.metrics.webhook.WithLabelValues("ok").Inc()
					continue
				}
			}
			w.metrics.webhook.WithLabelValues("failed").Inc()
			w.log.Error("webhook: stopping; delivery abandoned", "delivery", d.id)
		default:
			return
		}
	}
}

// post makes one attempt; retry says whether another may succeed.
func (w *webhook) post(ctx context.Context, d delivery) (retry bool, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.url, bytes.NewReader(d.body))
	if err != nil {
		return false, err
	}
	ts := w.now().Unix()
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "campusguard-moderation")
	req.Header.Set(HeaderTimestamp, strconv.FormatInt(ts, 10))
	req.Header.Set(HeaderSignature, Sign(w.secret, ts, d.body))
	req.Header.Set(HeaderDelivery, d.id)
	resp, err := w.client.Do(req)
	if err != nil {
		return true, err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	switch c := resp.StatusCode; {
	case c >= 200 && c < 300:
		return false, nil
	case c == http.StatusRequestTimeout || c == http.StatusTooManyRequests || c >= 500:
		return true, fmt.Errorf("webhook answered %s", resp.Status)
	default:
		return false, fmt.Errorf("webhook answered %s", resp.Status)
	}
}
