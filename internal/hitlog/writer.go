package hitlog

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/campusguard/campusguard/internal/event"
	"github.com/campusguard/campusguard/internal/hitlog/spool"
)

// WriterOptions tune a Writer; zero values take the defaults.
type WriterOptions struct {
	BatchRows     int           // rows per INSERT (50 000)
	BatchInterval time.Duration // a batch is sent at least this often (5 s)
	QueueRows     int           // rows waiting in memory before new ones go to the spool (4 batches)
	InsertTimeout time.Duration // one INSERT (30 s)
	// Parallel is how many direct INSERTs may run at once (default: what
	// the store takes, 2 for a server, 1 for chDB). Replays from the
	// spool always go one at a time.
	Parallel int
	RetryMin time.Duration // first wait after a failure (1 s), doubling to RetryMax (30 s)
	RetryMax time.Duration

	SpoolDir          string // required
	SpoolMaxBytes     int64  // 1 GiB
	SpoolSegmentBytes int64  // a sixteenth of SpoolMaxBytes, within 1–64 MiB
	SpoolPolicy       spool.DropPolicy

	Registerer prometheus.Registerer // may be nil
	Logger     *slog.Logger          // may be nil
}

func (o *WriterOptions) defaults() {
	if o.BatchRows <= 0 {
		o.BatchRows = 50_000
	}
	if o.BatchInterval <= 0 {
		o.BatchInterval = 5 * time.Second
	}
	if o.QueueRows <= 0 {
		o.QueueRows = 4 * o.BatchRows
	}
	if o.InsertTimeout <= 0 {
		o.InsertTimeout = 30 * time.Second
	}
	if o.RetryMin <= 0 {
		o.RetryMin = time.Second
	}
	if o.RetryMax < o.RetryMin {
		o.RetryMax = max(30*time.Second, o.RetryMin)
	}
	if o.SpoolMaxBytes <= 0 {
		o.SpoolMaxBytes = 1 << 30
	}
	if o.SpoolSegmentBytes <= 0 {
		// Several segments fit under the cap, so drop_oldest frees room
		// a segment at a time instead of all at once.
		o.SpoolSegmentBytes = min(max(o.SpoolMaxBytes/16, 1<<20), 64<<20)
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
}

// Writer moves hits into a Store. Write never blocks: rows collect into
// batches, sealed by size or age; one goroutine inserts them. While the
// store fails, or inserts fall behind, batches go to a disk spool instead
// and are replayed in order once the store answers; a replayed batch
// inserts only the rows the store does not already have (by batch id and
// row number), so a retry after an insert that did land counts nothing
// twice.
type Writer struct {
	store Store
	opts  WriterOptions
	sp    *spool.Spool
	m     *writerMetrics
	log   *slog.Logger

	mu       sync.Mutex
	cur      *Batch
	lastRows int // rows of the last sealed batch, to size the next
	closed   bool

	queued  int           // batches that may wait in memory (QueueRows)
	sealed  chan *Batch   // to the dispatcher
	handoff chan *Batch   // dispatcher to inserter: at most one waiting
	spooled chan struct{} // wakes an idle inserter when a batch went to the spool
	stop    chan struct{}
	done    sync.WaitGroup

	// modeMu orders the dispatcher's choice (insert or spool) against the
	// inserter's switch back to direct inserts once the spool is empty.
	modeMu   sync.Mutex
	spooling bool

	direct *inserts // the direct (not replayed) INSERTs in flight

	// replayTried is the id of the spooled batch the inserter last tried
	// to replay (inserter goroutine only).
	replayTried uint64

	idle     sync.Cond // signalled when the inserter finishes work
	idleMu   sync.Mutex
	inFlight int // batches sealed but not yet inserted or spooled
}

// NewWriter starts a writer on store; pending batches in the spool from an
// earlier run are replayed first.
func NewWriter(store Store, opts WriterOptions) (*Writer, error) {
	opts.defaults()
	if opts.SpoolDir == "" {
		return nil, errors.New("hit log writer: a spool directory is required")
	}
	sp, err := spool.Open(spool.Options{Dir: opts.SpoolDir, MaxBytes: opts.SpoolMaxBytes, SegmentBytes: opts.SpoolSegmentBytes, Policy: opts.SpoolPolicy,
		Logf: func(format string, args ...any) {
			opts.Logger.Warn(fmt.Sprintf(format, args...), "component", "hitlog spool")
		}})
	if err != nil {
		return nil, fmt.Errorf("hit log spool: %w", err)
	}
	w := &Writer{
		store: store,
		opts:  opts,
		sp:    sp,
		log:   opts.Logger,
		// Batches past QueueRows go to the spool; the channel has room for
		// as many again, so a burst between two looks of the dispatcher
		// does not drop rows.
		queued:  max(2, opts.QueueRows/opts.BatchRows),
		sealed:  make(chan *Batch, 2*max(2, opts.QueueRows/opts.BatchRows)),
		handoff: make(chan *Batch, 1),
		spooled: make(chan struct{}, 1),
		stop:    make(chan struct{}),
	}
	w.idle.L = &w.idleMu
	if w.opts.Parallel <= 0 {
		w.opts.Parallel = 1
		if p, ok := store.(interface{ ParallelInserts() int }); ok {
			w.opts.Parallel = p.ParallelInserts()
		}
	}
	w.direct = newInserts(w.opts.Parallel)
	w.m = newWriterMetrics(opts.Registerer, w)
	if n, _ := sp.Len(); n > 0 {
		w.spooling = true
		w.log.Info("hit log: replaying spooled batches", "batches", n, "store", store.Describe())
	}
	w.done.Add(2)
	go w.dispatch()
	go w.insertLoop()
	return w, nil
}

// Write queues one row per hit of ev. Events without hits are ignored.
func (w *Writer) Write(ev *event.Event) {
	if len(ev.Hits) == 0 {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		w.m.dropped.WithLabelValues("closed").Add(float64(len(ev.Hits)))
		return
	}
	if w.cur == nil {
		// Sized like the last batch: a busy sensor's batches fill up, so
		// growing them by doubling (a quarter of the writer's CPU at 50k
		// rows) is wasted; a quiet one's stay small.
		w.cur = newBatch(min(max(w.lastRows, 4096), w.opts.BatchRows))
	}
	w.cur.AppendEvent(ev)
	if len(w.cur.Rows) >= w.opts.BatchRows {
		w.sealLocked()
	}
}

func newBatch(capacity int) *Batch {
	var id [8]byte
	_, _ = rand.Read(id[:])
	return &Batch{ID: binary.LittleEndian.Uint64(id[:]), Created: time.Now(), Rows: make([]Row, 0, capacity)}
}

// sealLocked hands the current batch on. When even the channel's slack
// is full (the dispatcher is stuck writing the spool while a burst keeps
// coming), the batch goes to the spool here: Write then waits for the disk,
// the one time it waits, rather than lose the rows. Callers in front of
// Write (serve's event queue, the DNS plugin's) absorb that wait with
// their own bounded, counted queues.
func (w *Writer) sealLocked() {
	b := w.cur
	w.cur = nil
	if b == nil || len(b.Rows) == 0 {
		return
	}
	w.lastRows = len(b.Rows)
	w.idleMu.Lock()
	w.inFlight++
	w.idleMu.Unlock()
	select {
	case w.sealed <- b:
		w.m.queueRows.Add(float64(len(b.Rows)))
	default:
		w.m.overflow.Inc()
		w.modeMu.Lock()
		w.spooling = true
		w.spoolBatch(b)
		w.modeMu.Unlock()
	}
}

// dispatch sends sealed batches to the inserter, or to the spool while
// the store is down, the spool is being drained, or the inserter is busy.
func (w *Writer) dispatch() {
	defer w.done.Done()
	tick := time.NewTicker(w.opts.BatchInterval)
	defer tick.Stop()
	for {
		select {
		case b, ok := <-w.sealed:
			if !ok {
				return
			}
			w.m.queueRows.Sub(float64(len(b.Rows)))
			w.route(b)
		case <-tick.C:
			w.mu.Lock()
			if w.cur != nil && time.Since(w.cur.Created) >= w.opts.BatchInterval {
				w.sealLocked()
			}
			w.mu.Unlock()
		}
	}
}

func (w *Writer) route(b *Batch) {
	for {
		w.modeMu.Lock()
		// Spool once the store is down or the spool is draining (so that
		// batches stay in order), or once the inserter has fallen half a
		// queue behind (so that memory stays bounded and Write never drops).
		if w.spooling || len(w.sealed) >= w.queued {
			w.spooling = true
			w.spoolBatch(b)
			w.modeMu.Unlock()
			return
		}
		select {
		case w.handoff <- b:
			w.modeMu.Unlock()
			return
		case <-w.stop:
			// Closing: the inserter is gone, so disk it is.
			w.spoolBatch(b)
			w.modeMu.Unlock()
			return
		default:
		}
		w.modeMu.Unlock()
		time.Sleep(2 * time.Millisecond)
	}
}

// spoolBatch writes b to disk; callers hold modeMu.
func (w *Writer) spoolBatch(b *Batch) {
	defer w.finished()
	if err := w.sp.Append(EncodeRecord(b)); err != nil {
		reason := "spool_error"
		if errors.Is(err, spool.ErrFull) {
			reason = "spool_full"
		}
		w.m.dropped.WithLabelValues(reason).Add(float64(len(b.Rows)))
		w.log.Error("hit log: spool refused a batch; its rows are lost", "rows", len(b.Rows), "err", err)
		return
	}
	w.m.spooledRows.Add(float64(len(b.Rows)))
	select {
	case w.spooled <- struct{}{}:
	default:
	}
}

func (w *Writer) finished() {
	w.idleMu.Lock()
	w.inFlight--
	w.idle.Broadcast()
	w.idleMu.Unlock()
}

// insertLoop is the only goroutine that talks to the store.
func (w *Writer) insertLoop() {
	defer w.done.Done()
	backoff := time.Duration(0)
	replayFailures := 0
	for {
		if backoff > 0 {
			w.m.up.Set(0)
			select {
			case <-w.stop:
				return
			case b := <-w.handoff:
				// Handed over before the failure: to disk, in order.
				w.modeMu.Lock()
				w.spoolBatch(b)
				w.modeMu.Unlock()
				continue
			case <-time.After(backoff):
			}
			ctx, cancel := context.WithTimeout(context.Background(), w.opts.InsertTimeout)
			err := w.store.Ping(ctx)
			cancel()
			if err != nil {
				backoff = min(2*backoff, w.opts.RetryMax)
				continue
			}
			w.log.Info("hit log: store is back; replaying the spool", "store", w.store.Describe())
			backoff = 0
		}
		w.m.up.Set(1)
		if n, _ := w.sp.Len(); n > 0 {
			w.direct.wait() // one batch at a time while replaying, in order
			if err := w.replayOne(); err != nil {
				// The store answers pings but refuses this batch: back off
				// further each time rather than retry at full speed.
				replayFailures++
				backoff = min(w.opts.RetryMin<<min(replayFailures, 10), w.opts.RetryMax)
				w.log.Warn("hit log: replay failed; will retry", "err", err, "retry_in", backoff)
				continue
			}
			replayFailures = 0
			continue
		}
		w.modeMu.Lock()
		if n, _ := w.sp.Len(); n == 0 && w.spooling {
			w.spooling = false
		}
		w.modeMu.Unlock()
		select {
		case <-w.direct.failed:
			// A direct insert failed since the last look: back off first.
			w.direct.wait()
			backoff = w.opts.RetryMin
			continue
		default:
		}
		select {
		case <-w.stop:
			w.direct.wait()
			return
		case b := <-w.handoff:
			// Up to Parallel direct inserts run at once, so the store
			// works on one batch while the next is encoded and sent.
			w.direct.start(func() {
				if err := w.insert(b, false); err != nil {
					w.log.Warn("hit log: insert failed; spooling until the store answers", "rows", len(b.Rows), "err", err)
					w.modeMu.Lock()
					w.spooling = true
					w.spoolBatch(b)
					w.modeMu.Unlock()
					w.direct.fail()
					return
				}
				w.finished()
			})
		case <-w.direct.failed:
			// Let the other inserts end (or fail into the spool) before
			// backing off, so the spool is replayed after them.
			w.direct.wait()
			backoff = w.opts.RetryMin
		case <-w.spooled:
			// Replay only once the direct inserts in flight are done.
			w.direct.wait()
		case <-time.After(w.opts.BatchInterval):
			w.m.lag.Set(0)
		}
	}
}

// inserts runs direct inserts in parallel, at most cap(slots) at once.
type inserts struct {
	slots  chan struct{}
	wg     sync.WaitGroup
	failed chan struct{} // a direct insert failed; the loop backs off
}

func newInserts(n int) *inserts {
	return &inserts{slots: make(chan struct{}, max(n, 1)), failed: make(chan struct{}, 1)}
}

// start runs f once a slot is free.
func (in *inserts) start(f func()) {
	in.slots <- struct{}{}
	in.wg.Add(1)
	go func() {
		defer func() { <-in.slots; in.wg.Done() }()
		f()
	}()
}

func (in *inserts) fail() {
	select {
	case in.failed <- struct{}{}:
	default:
	}
}

func (in *inserts) wait() { in.wg.Wait() }

// replayOne inserts the oldest spooled batch and acknowledges it.
func (w *Writer) replayOne() error {
	rec, pos, err := w.sp.Next()
	if errors.Is(err, io.EOF) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read spool: %w", err)
	}
	b, err := DecodeRecord(rec)
	if err != nil {
		// The spool's checksum passed, so this is a bug or a foreign file:
		// skip it rather than replay it forever.
		w.m.corrupt.Inc()
		w.log.Error("hit log: undecodable spool record skipped", "pos", pos.String(), "err", err)
		return w.sp.Ack(pos)
	}
	// A batch that was never sent goes in without the dedup lookup,
	// unless this replay already tried it once.
	dedup := b.Attempted || b.ID == w.replayTried
	w.replayTried = b.ID
	if err := w.insert(b, dedup); err != nil {
		return err
	}
	w.m.replayedRows.Add(float64(len(b.Rows)))
	return w.sp.Ack(pos)
}

// insert writes b; dedup first asks the store which of b's rows it holds.
func (w *Writer) insert(b *Batch, dedup bool) error {
	ctx, cancel := context.WithTimeout(context.Background(), w.opts.InsertTimeout)
	defer cancel()
	if dedup {
		w.m.dedupLookups.Inc()
		missing, err := missingRows(ctx, w.store, b)
		if err != nil {
			w.m.errors.Inc()
			return fmt.Errorf("dedup lookup: %w", err)
		}
		w.m.dedupRows.Add(float64(len(b.Rows) - len(missing.Rows)))
		if len(missing.Rows) == 0 {
			return nil
		}
		b = missing
	}
	start := time.Now()
	b.Attempted = true
	if err := w.store.Insert(ctx, b); err != nil {
		w.m.errors.Inc()
		return err
	}
	w.m.insertSeconds.Observe(time.Since(start).Seconds())
	w.m.rows.Add(float64(len(b.Rows)))
	w.m.batches.Inc()
	w.m.lag.Set(time.Since(b.Created).Seconds())
	return nil
}

// missingRows returns the rows of b the store does not hold, keeping their
// original row numbers.
func missingRows(ctx context.Context, s Store, b *Batch) (*Batch, error) {
	lo, hi := b.timeRange()
	q := fmt.Sprintf("SELECT seq FROM %s.hits WHERE ts >= toDateTime(%d) AND ts < toDateTime(%d) AND batch = %d",
		s.Database(), lo.Unix(), hi.Unix()+1, b.ID)
	rows, err := s.Query(ctx, q)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	have := make(map[uint32]bool)
	for rows.Next() {
		var seq uint32
		if err := rows.Scan(&seq); err != nil {
			return nil, err
		}
		have[seq] = true
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(have) == 0 {
		return b, nil
	}
	out := &Batch{ID: b.ID, Created: b.Created}
	for i, r := range b.Rows {
		if !have[b.seq(i)] {
			out.Rows = append(out.Rows, r)
			out.Seqs = append(out.Seqs, b.seq(i))
		}
	}
	return out, nil
}

// Flush sends everything written so far and waits until it is in the store
// or, while the store is down, in the spool.
func (w *Writer) Flush(ctx context.Context) error {
	w.mu.Lock()
	w.sealLocked()
	w.mu.Unlock()
	return w.waitIdle(ctx, false)
}

// Sync is Flush that also waits for the spool to drain into the store.
func (w *Writer) Sync(ctx context.Context) error {
	if err := w.Flush(ctx); err != nil {
		return err
	}
	return w.waitIdle(ctx, true)
}

func (w *Writer) waitIdle(ctx context.Context, spoolToo bool) error {
	stop := context.AfterFunc(ctx, func() {
		w.idleMu.Lock()
		w.idle.Broadcast()
		w.idleMu.Unlock()
	})
	defer stop()
	poll := time.NewTicker(50 * time.Millisecond)
	defer poll.Stop()
	for {
		w.idleMu.Lock()
		busy := w.inFlight > 0
		w.idleMu.Unlock()
		n, _ := w.sp.Len()
		if !busy && (!spoolToo || n == 0) {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("hit log: %d batches spooled, %v in memory: %w", n, busy, err)
		}
		select {
		case <-ctx.Done():
		case <-poll.C:
		}
	}
}

// Close flushes what it can within ctx, spools the rest and stops. Rows in
// the spool are replayed by the next Writer on the same directory.
func (w *Writer) Close(ctx context.Context) error {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return nil
	}
	w.sealLocked()
	w.closed = true
	w.mu.Unlock()
	err := w.waitIdle(ctx, false)
	close(w.stop)
	close(w.sealed)
	w.done.Wait()
	// Whatever the inserter had not taken goes to disk.
	for {
		select {
		case b := <-w.handoff:
			w.modeMu.Lock()
			w.spoolBatch(b)
			w.modeMu.Unlock()
			continue
		default:
		}
		break
	}
	if cerr := w.sp.Close(); cerr != nil && err == nil {
		err = cerr
	}
	return err
}

// Stats is a snapshot for logs and tests.
func (w *Writer) Stats() (spooledRecords, spoolBytes int64, sp spool.Stats) {
	n, b := w.sp.Len()
	return n, b, w.sp.Stats()
}
