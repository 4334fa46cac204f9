package moderation

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/campusguard/campusguard/internal/state"
)

// committer is the single writer of the moderation tables: group commit in
// the style of LevelDB's writer queue. Every write (an ingest request, a
// claim, a decision) is a job; jobs queue up, the job at the head leads:
// it runs itself and the jobs queued behind it (up to maxBatchWeight) in
// one transaction, each inside its own savepoint, commits once, wakes the
// others and hands the lead to the next job in line. Under load a commit
// carries several requests; alone, a request commits at once (no timer,
// which would only add latency for clients that wait for their answer).
//
// Writes are serialized here instead of in SQLite, so concurrent requests
// never meet SQLite's busy handler (which sleeps in steps of milliseconds)
// and one commit serves many requests. A job's own error (a conflict, a bad
// version) rolls back its savepoint only; an error of the transaction
// fails every job in the batch.
//
// The writer keeps a connection of its own (prepared statements stay
// prepared, no pool churn). WAL checkpoints: SQLite checkpoints
// automatically on the commit that takes the WAL past 1000 pages, and that
// checkpoint (copying the WAL into the database, two fsyncs) stalls every
// request queued behind it: it was most of the p99 latency. So every
// checkpointEvery commits a PASSIVE checkpoint runs in the background on
// another connection, concurrently with the writer, and the automatic one
// finds little left to copy. The automatic one is kept because only a
// checkpoint between the writer's transactions lets the next one restart
// the WAL from its beginning; without it the WAL file grows without bound.
type committer struct {
	db  *state.DB
	log *slog.Logger
	pin bool // use a dedicated connection (not with ":memory:": its one connection is the database)

	mu    sync.Mutex
	queue []*job

	// Only the leader touches these.
	conn    *sql.Conn
	commits int

	checkpointing atomic.Bool
	checkpoints   sync.WaitGroup

	// direct skips the queue: every write is its own transaction on a
	// pooled connection, and concurrent ones meet in SQLite's lock (BEGIN
	// IMMEDIATE and its busy handler). Only for the benchmark that
	// compares the two designs.
	direct bool
}

// job is one unit of work for the committer.
type job struct {
	ctx     context.Context // a job whose context ended before it ran is skipped
	weight  int             // how many rows it writes, about (posts in a request)
	run     func(tx *sql.Tx) error
	err     error
	wake    chan bool // true: lead the next batch; false: done
	release bool      // give the dedicated connection back after this batch
}

const (
	// maxBatchWeight bounds one transaction: enough to amortize a commit,
	// small enough that the last request in it does not wait long.
	maxBatchWeight = 512
	// checkpointEvery commits of a few pages each: the background
	// checkpoint copies a few hundred pages, the automatic one on the
	// commit path what came in meanwhile.
	checkpointEvery = 64
)

func newCommitter(db *state.DB, log *slog.Logger) *committer {
	return &committer{db: db, log: log, pin: db.Path() != ":memory:" && db.Stats().MaxOpenConnections != 1}
}

// do runs fn in a transaction shared with other writers and returns its
// error once the transaction has committed (or failed).
func (c *committer) do(ctx context.Context, weight int, fn func(tx *sql.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if c.direct {
		return c.db.Tx(context.Background(), fn)
	}
	return c.submit(&job{ctx: ctx, weight: max(weight, 1), run: fn})
}

// close gives back the dedicated connection (after the writes queued
// before it). A later write takes a new one.
func (c *committer) close() {
	_ = c.submit(&job{ctx: context.Background(), release: true, run: func(*sql.Tx) error { return nil }})
	c.checkpoints.Wait()
}

func (c *committer) submit(j *job) error {
	j.wake = make(chan bool, 1)
	c.mu.Lock()
	c.queue = append(c.queue, j)
	lead := len(c.queue) == 1
	c.mu.Unlock()
	if !lead {
		// Wait even if ctx ends: the leader may already be running j, and
		// the lead may be handed to j.
		if lead = <-j.wake; !lead {
			return j.err
		}
	}

	// j is at the head of the queue.
	c.mu.Lock()
	n, w := 0, 0
	for n < len(c.queue) && (n == 0 || w+c.queue[n].weight <= maxBatchWeight) {
		w += c.queue[n].weight
		n++
	}
	batch := make([]*job, n)
	copy(batch, c.queue)
	c.mu.Unlock()

	release, work := false, false
	for _, b := range batch {
		release = release || b.release
		work = work || !b.release
	}
	if work {
		c.commit(batch)
	}
	if release && c.conn != nil {
		c.conn.Close()
		c.conn = nil
	}

	c.mu.Lock()
	rest := copy(c.queue, c.queue[n:])
	clear(c.queue[rest:])
	c.queue = c.queue[:rest]
	var next *job
	if rest > 0 {
		next = c.queue[0]
	}
	c.mu.Unlock()
	if next != nil {
		next.wake <- true
	}
	for _, b := range batch[1:] {
		b.wake <- false
	}
	return j.err
}

// safeRun runs the job, turning a panic into its error: the leader runs
// other requests' jobs, and a panic must not leave them waiting forever.
func (j *job) safeRun(tx *sql.Tx) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("moderation: panic in a write: %v", p)
		}
	}()
	return j.run(tx)
}

// begin starts the writer's transaction, on its own connection when it
// has one.
func (c *committer) begin(ctx context.Context) (*sql.Tx, error) {
	if !c.pin {
		return c.db.BeginTx(ctx, nil)
	}
	if c.conn == nil {
		conn, err := c.db.Conn(ctx)
		if err != nil {
			return nil, err
		}
		c.conn = conn
	}
	tx, err := c.conn.BeginTx(ctx, nil)
	if err != nil {
		// Perhaps the connection broke: a fresh one next time.
		c.conn.Close()
		c.conn = nil
		return nil, err
	}
	return tx, nil
}

// commit runs a batch in one transaction. It uses a context of its own:
// one request going away must not roll back the others.
func (c *committer) commit(batch []*job) {
	ctx := context.Background()
	fail := func(err error) {
		for _, j := range batch {
			if j.err == nil {
				j.err = err
			}
		}
	}
	tx, err := c.begin(ctx)
	if err != nil {
		fail(fmt.Errorf("moderation: begin: %w", err))
		return
	}
	ran := false
	for _, j := range batch {
		if err := j.ctx.Err(); err != nil {
			j.err = err
			continue
		}
		if len(batch) == 1 {
			// No savepoint needed: a failing job rolls back the whole,
			// which is only itself.
			if j.err = j.safeRun(tx); j.err != nil {
				_ = tx.Rollback()
				return
			}
			ran = true
			continue
		}
		if _, err := tx.ExecContext(ctx, "SAVEPOINT job"); err != nil {
			_ = tx.Rollback()
			fail(fmt.Errorf("moderation: savepoint: %w", err))
			return
		}
		if j.err = j.safeRun(tx); j.err != nil {
			if _, err := tx.ExecContext(ctx, "ROLLBACK TO job"); err != nil {
				_ = tx.Rollback()
				fail(fmt.Errorf("moderation: rollback to savepoint: %w", err))
				return
			}
		} else {
			ran = true
		}
		if _, err := tx.ExecContext(ctx, "RELEASE job"); err != nil {
			_ = tx.Rollback()
			fail(fmt.Errorf("moderation: release savepoint: %w", err))
			return
		}
	}
	if !ran {
		_ = tx.Rollback()
		return
	}
	if err := tx.Commit(); err != nil {
		fail(fmt.Errorf("moderation: commit: %w", err))
		return
	}
	if c.commits++; c.pin && c.commits%checkpointEvery == 0 {
		c.checkpoint()
	}
}

// checkpoint starts a PASSIVE WAL checkpoint in the background unless one
// is running. It neither waits for nor blocks the writer.
func (c *committer) checkpoint() {
	if !c.checkpointing.CompareAndSwap(false, true) {
		return
	}
	c.checkpoints.Add(1)
	go func() {
		defer c.checkpoints.Done()
		defer c.checkpointing.Store(false)
		if _, err := c.db.ExecContext(context.Background(), "PRAGMA wal_checkpoint(PASSIVE)"); err != nil {
			c.log.Warn("moderation: WAL checkpoint", "err", err)
		}
	}()
}
