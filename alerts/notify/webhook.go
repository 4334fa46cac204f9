package notify

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/campusguard/campusguard/alerts/decision"
	"github.com/campusguard/campusguard/internal/webhooksig"
)

// Webhook request headers. The scheme is the moderation webhook's: the
// signature is the hex HMAC-SHA256, keyed with the target's secret, of the
// timestamp, a dot and the raw body.
//
//	X-Campusguard-Timestamp: 1795694400
//	X-Campusguard-Signature: sha256=<hex HMAC-SHA256(secret, timestamp + "." + body)>
//	X-Campusguard-Delivery:  decision-42-firing   (the same on every retry)
//
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

// dedupeSize bounds the (decision, status) pairs a webhook remembers.
const dedupeSize = 8192

type dedupeKey struct {
	id     int64
	status Status
}

// Webhook posts decisions to one URL, one at a time and in order, so a
// receiver sees a decision before its end.
type Webhook struct {
	cfg    WebhookConfig
	opts   Options
	secret []byte
	where  string // the URL without path or query, for logs: those may hold a token
	client *http.Client
	m      *outputMetrics
	log    *slog.Logger
	q      *outbox
	ctx    context.Context // canceled when Close gives up
	stop   context.CancelFunc
	done   chan struct{}

	mu    sync.Mutex // guards seen and ring, and orders check-then-push
	seen  map[dedupeKey]bool
	ring  []dedupeKey // insertion order, to forget the oldest
	ringI int
}

// NewWebhook validates cfg, fills in defaults and starts the delivery
// worker.
func NewWebhook(cfg WebhookConfig, opts Options) (*Webhook, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	opts = opts.withDefaults()
	m, err := newOutputMetrics(opts.Registerer, cfg.Name)
	if err != nil {
		return nil, fmt.Errorf("webhook %q: %w", cfg.Name, err)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if cfg.CACertFile != "" {
		pool, err := loadCAs(cfg.CACertFile)
		if err != nil {
			return nil, fmt.Errorf("webhook %q: ca_cert_file: %w", cfg.Name, err)
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	ctx, stop := context.WithCancel(context.Background())
	w := &Webhook{
		cfg:    cfg,
		opts:   opts,
		secret: []byte(cfg.Secret),
		where:  redactURL(cfg.URL),
		client: &http.Client{
			Transport: tr,
			Timeout:   cfg.Timeout,
			// A redirect could send a signed decision elsewhere.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		m:    m,
		log:  opts.Logger.With("output", cfg.Name),
		q:    newOutbox(cfg.QueueSize, m),
		ctx:  ctx,
		stop: stop,
		done: make(chan struct{}),
		seen: make(map[dedupeKey]bool),
	}
	go w.run()
	return w, nil
}

// Notify queues d unless the filter refuses it or it was already announced
// with the same status (by ID). It never blocks.
func (w *Webhook) Notify(d decision.Decision) {
	if !w.cfg.Filter.pass(&d) {
		w.m.filtered.Inc()
		return
	}
	it := newItem(d, w.opts.Now())
	key := dedupeKey{d.ID, it.status}
	w.mu.Lock()
	defer w.mu.Unlock()
	if d.ID != 0 && w.seen[key] {
		w.m.duplicate.Inc()
		return
	}
	if w.q.push(it) && d.ID != 0 {
		w.remember(key)
	}
}

// remember adds key to the bounded dedupe set. Called with mu held.
func (w *Webhook) remember(key dedupeKey) {
	if len(w.ring) < dedupeSize {
		w.ring = append(w.ring, key)
	} else {
		delete(w.seen, w.ring[w.ringI])
		w.ring[w.ringI] = key
		w.ringI = (w.ringI + 1) % dedupeSize
	}
	w.seen[key] = true
}

// forget lets a failed delivery be announced again.
func (w *Webhook) forget(key dedupeKey) {
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.seen, key) // its ring slot is recycled in turn
}

// Close stops taking decisions and delivers the queue, retries included,
// until ctx ends.
func (w *Webhook) Close(ctx context.Context) error {
	err := w.q.closeAndWait(ctx, w.done, w.stop, fmt.Sprintf("webhook %q", w.cfg.Name))
	w.client.CloseIdleConnections()
	return err
}

func (w *Webhook) run() {
	defer close(w.done)
	for it := range w.q.ch {
		w.m.queue.Dec()
		if w.ctx.Err() != nil {
			w.q.abandon()
			continue
		}
		w.deliver(&it)
	}
}

// deliver tries it up to MaxAttempts times, not past MaxAge after it was
// queued, waiting InitialBackoff, twice that, … (±20%, at most MaxBackoff)
// or what Retry-After asks in between.
func (w *Webhook) deliver(it *item) {
	body, err := json.Marshal(newPayload(it, w.cfg.Name, w.opts.ExternalURL))
	if err != nil { // cannot happen with these field types
		w.m.failed.Inc()
		w.log.Error("notify: webhook: encoding the payload", "decision", it.d.ID, "err", err)
		return
	}
	id := "decision-" + strconv.FormatInt(it.d.ID, 10) + "-" + string(it.status)
	key := dedupeKey{it.d.ID, it.status}
	backoff := w.cfg.InitialBackoff
	for attempt := 1; ; attempt++ {
		retryAfter, retry, err := w.post(body, id)
		if err == nil {
			w.m.ok.Inc()
			return
		}
		giveUp := func(why string) {
			// Forget first: whoever sees the failure counted may announce
			// the decision again at once (TestWebhookDoesNotRetryOtherAnswers
			// raced here).
			w.forget(key)
			w.m.failed.Inc()
			w.log.Error("notify: webhook: delivery failed", "delivery", id, "attempts", attempt, "why", why, "err", err)
		}
		if w.ctx.Err() != nil {
			w.q.abandon()
			w.forget(key)
			w.log.Error("notify: webhook: closing; delivery abandoned", "delivery", id, "attempts", attempt, "err", err)
			return
		}
		if !retry {
			giveUp("not retried")
			return
		}
		if attempt >= w.cfg.MaxAttempts {
			giveUp("out of attempts")
			return
		}
		wait := retryAfter
		if wait <= 0 {
			wait = backoff + time.Duration((rand.Float64()*0.4-0.2)*float64(backoff))
		}
		if time.Since(it.queued)+wait > w.cfg.MaxAge {
			giveUp(fmt.Sprintf("the next attempt, in %s, would pass max_age %s", wait.Round(time.Millisecond), w.cfg.MaxAge))
			return
		}
		w.m.retries.Inc()
		w.log.Warn("notify: webhook: delivery failed, retrying", "delivery", id, "attempt", attempt, "in", wait, "err", err)
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-w.ctx.Done():
			t.Stop()
			w.q.abandon()
			w.forget(key)
			w.log.Error("notify: webhook: closing; delivery abandoned", "delivery", id, "attempts", attempt, "err", err)
			return
		}
		backoff = min(2*backoff, w.cfg.MaxBackoff)
	}
}

// post makes one attempt. retry says whether another may succeed;
// retryAfter is what the answer asked to wait, if anything.
func (w *Webhook) post(body []byte, id string) (retryAfter time.Duration, retry bool, err error) {
	req, err := http.NewRequestWithContext(w.ctx, http.MethodPost, w.cfg.URL, bytes.NewReader(body))
	if err != nil {
		return 0, false, fmt.Errorf("webhook %s: %w", w.where, err)
	}
	ts := w.opts.Now().Unix()
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "campusguard/"+w.opts.Version)
	req.Header.Set(HeaderTimestamp, strconv.FormatInt(ts, 10))
	req.Header.Set(HeaderSignature, Sign(w.secret, ts, body))
	req.Header.Set(HeaderDelivery, id)
	resp, err := w.client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			ue.URL = w.where
		}
		return 0, true, err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	switch c := resp.StatusCode; {
	case c >= 200 && c < 300:
		return 0, false, nil
	case c == http.StatusRequestTimeout || c == http.StatusTooManyRequests || c >= 500:
		return parseRetryAfter(resp.Header.Get("Retry-After"), time.Now()), true,
			fmt.Errorf("webhook %s answered %s", w.where, resp.Status)
	default:
		return 0, false, fmt.Errorf("webhook %s answered %s", w.where, resp.Status)
	}
}

// parseRetryAfter reads a Retry-After value: seconds, or an HTTP date. It
// returns 0 for none or nonsense.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if s, err := strconv.ParseInt(v, 10, 64); err == nil {
		if s <= 0 || s > 24*3600 {
			return 0
		}
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// redactURL keeps the scheme and host of a webhook URL: chat webhooks
// carry their token in the path or the query.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(bad url)"
	}
	r := u.Scheme + "://" + u.Host
	if u.Path != "" && u.Path != "/" || u.RawQuery != "" {
		r += "/…"
	}
	return r
}

// loadCAs reads a PEM bundle of CA certificates.
func loadCAs(file string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s: no PEM certificates", file)
	}
	return pool, nil
}
