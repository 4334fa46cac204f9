package dnsplugin

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/campusguard/campusguard/internal/event"
)

// ForwarderConfig configures a Forwarder.
type ForwarderConfig struct {
	URL     string        // receives POSTs of NDJSON events
	Token   string        // sent as "Authorization: Bearer TOKEN" when set
	Batch   int           // events per POST at most (default 500)
	Flush   time.Duration // a partial batch waits at most this long (default 1s)
	Queue   int           // events waiting at most; more are dropped and counted (default 10000)
	Retries int           // attempts after the first for one batch (default 5; backoff 250ms doubling to 30s)
	Timeout time.Duration // per request (default 10s)
	Client  *http.Client  // default: a client with Timeout
}

// Forwarder sends events to a campusguard server in batches: bounded (Add
// never waits; a full queue drops the event and counts it), retried with
// exponential backoff on network errors and 5xx/429 answers, and given up
// after Retries (counted). It is what the standalone cmd/coredns uses to feed
// a central campusguard; campusguard serve uses SetSink instead.
type Forwarder struct {
	cfg   ForwarderConfig
	ch    chan *event.Event
	stop  chan struct{}
	done  chan struct{}
	once  sync.Once
	sleep func(context.Context, time.Duration) bool
}

// NewForwarder returns a Forwarder; Start begins sending.
func NewForwarder(cfg ForwarderConfig) *Forwarder {
	if cfg.Batch <= 0 {
		cfg.Batch = defaultBatch
	}
	if cfg.Flush <= 0 {
		cfg.Flush = defaultFlush
	}
	if cfg.Queue <= 0 {
		cfg.Queue = defaultReportQ
	}
	if cfg.Retries < 0 {
		cfg.Retries = 0
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = defaultReportWait
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{Timeout: cfg.Timeout}
	}
	return &Forwarder{cfg: cfg, ch: make(chan *event.Event, cfg.Queue), sleep: sleepCtx}
}

// Add queues an event without waiting; it reports false if the queue was full.
func (f *Forwarder) Add(ev *event.Event) bool {
	select {
	case f.ch <- ev:
		return true
	default:
		reportEvents.WithLabelValues("dropped").Inc()
		return false
	}
}

// Start begins the sending goroutine.
func (f *Forwarder) Start() {
	f.stop, f.done = make(chan struct{}), make(chan struct{})
	go f.run()
}

// Stop sends what is queued (one attempt per batch) and ends.
func (f *Forwarder) Stop() {
	if f.stop == nil {
		return
	}
	f.once.Do(func() { close(f.stop) })
	<-f.done
}

func (f *Forwarder) run() {
	defer close(f.done)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { <-f.stop; cancel() }()
	batch := make([]*event.Event, 0, f.cfg.Batch)
	timer := time.NewTimer(f.cfg.Flush)
	defer timer.Stop()
	for {
		select {
		case ev := <-f.ch:
			batch = append(batch, ev)
			if len(batch) < f.cfg.Batch {
				continue
			}
		case <-timer.C:
		case <-f.stop:
			// drain: one attempt per batch, the server may be gone
			for {
				select {
				case ev := <-f.ch:
					batch = append(batch, ev)
					if len(batch) == f.cfg.Batch {
						f.send(context.Background(), batch, 0)
						batch = batch[:0]
					}
					continue
				default:
				}
				break
			}
			if len(batch) > 0 {
				f.send(context.Background(), batch, 0)
			}
			return
		}
		if len(batch) > 0 {
			f.send(ctx, batch, f.cfg.Retries)
			batch = batch[:0]
		}
		timer.Reset(f.cfg.Flush)
	}
}

// send POSTs one batch, retrying up to retries times.
func (f *Forwarder) send(ctx context.Context, batch []*event.Event, retries int) {
	var body bytes.Buffer
	enc := event.NewEncoder(&body)
	n := 0
	for _, ev := range batch {
		if enc.Encode(ev) == nil {
			n++
		}
	}
	backoff := 250 * time.Millisecond
	for attempt := 0; ; attempt++ {
		err := f.post(ctx, body.Bytes())
		if err == nil {
			reportEvents.WithLabelValues("sent").Add(float64(n))
			return
		}
		if attempt >= retries || !retryable(err) {
			log.Warningf("report: gave up on %d events after %d attempts: %v", n, attempt+1, err)
			reportEvents.WithLabelValues("failed").Add(float64(n))
			return
		}
		reportRetries.Inc()
		if !f.sleep(ctx, backoff) {
			reportEvents.WithLabelValues("failed").Add(float64(n))
			return
		}
		backoff = min(backoff*2, 30*time.Second)
	}
}

type statusError struct{ code int }

func (e statusError) Error() string { return fmt.Sprintf("HTTP status %d", e.code) }

func retryable(err error) bool {
	if se, ok := err.(statusError); ok {
		return se.code >= 500 || se.code == http.StatusTooManyRequests || se.code == http.StatusRequestTimeout
	}
	return true
}

func (f *Forwarder) post(ctx context.Context, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, f.cfg.URL, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-ndjson")
	if f.cfg.Token != "" {
		req.Header.Set("Authorization", "Bearer "+f.cfg.Token)
	}
	resp, err := f.cfg.Client.Do(req)
	if err != nil {
		return err
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return statusError{resp.StatusCode}
	}
	return nil
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
