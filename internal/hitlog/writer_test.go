package hitlog

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/campusguard/campusguard/internal/event"
	"github.com/campusguard/campusguard/internal/hitlog/chtest"
	"github.com/campusguard/campusguard/internal/hitlog/spool"
)

// testEvent has hits hits; i makes it distinct.
func testEvent(i, hits int) *event.Event {
	ev := &event.Event{Time: time.Now().UTC(), Sensor: "gw-1", Kind: event.KindTLS, Src: "c-" + strconv.Itoa(i%50),
		Dst: "10.0.0.1", DstPort: 443, Name: fmt.Sprintf("h%d.evil.test", i%100), URL: "/" + strconv.Itoa(i)}
	for j := 0; j < hits; j++ {
		ev.Hits = append(ev.Hits, event.Hit{Pack: "p", Rule: fmt.Sprintf("p.txt:%d", j), Category: "phishing",
			Severity: event.SeverityHigh, Action: "block", Match: "evil.test", Field: "name", Start: 3, End: 12})
	}
	return ev
}

func newTestWriter(t *testing.T, s Store, o WriterOptions) (*Writer, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	o.Registerer = reg
	if o.SpoolDir == "" {
		o.SpoolDir = t.TempDir()
	}
	w, err := NewWriter(s, o)
	if err != nil {
		t.Fatal(err)
	}
	return w, reg
}

func gather(t *testing.T, reg *prometheus.Registry, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metrics:
		for _, m := range mf.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				found := false
				for _, lp := range m.GetLabel() {
					if lp.GetName() == labels[i] && lp.GetValue() == labels[i+1] {
						found = true
					}
				}
				if !found {
					continue metrics
				}
			}
			switch {
			case m.Counter != nil:
				return m.Counter.GetValue()
			case m.Gauge != nil:
				return m.Gauge.GetValue()
			}
		}
	}
	return 0
}

func hitsIn(t *testing.T, s Store) (rows, rollup uint64) {
	t.Helper()
	return count(t, s, "SELECT count() FROM %s.hits", s.Database()), count(t, s, "SELECT sum(hits) FROM %s.hits_1m", s.Database())
}

// TestWriterOverflowSpools: when the dispatcher is stuck (here: the test
// holds the lock it needs, as a slow spool write would) and a burst fills
// the channel's slack, Write spools the next batch itself instead of
// dropping it, and every row still arrives.
func TestWriterOverflowSpools(t *testing.T) {
	forEachStore(t, func(t *testing.T, s Store) {
		migrated(t, s)
		w, reg := newTestWriter(t, s, WriterOptions{BatchRows: 100, QueueRows: 200, BatchInterval: time.Hour})
		w.modeMu.Lock()
		released := make(chan struct{})
		time.AfterFunc(300*time.Millisecond, func() { w.modeMu.Unlock(); close(released) })
		for i := range 1000 {
			w.Write(testEvent(i, 1))
		}
		<-released
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := w.Sync(ctx); err != nil {
			t.Fatal(err)
		}
		if rows, rollup := hitsIn(t, s); rows != 1000 || rollup != 1000 {
			t.Errorf("store holds %d rows, rollup %d; want 1000", rows, rollup)
		}
		if got := gather(t, reg, "campusguard_hitlog_dedup_lookups_total"); got != 0 {
			t.Errorf("dedup_lookups_total = %v; batches never sent need no lookup", got)
		}
		if got := gather(t, reg, "campusguard_hitlog_queue_overflow_batches_total"); got < 1 {
			t.Errorf("queue_overflow_batches_total = %v; the burst never overflowed, so this test proves nothing", got)
		}
		if got := droppedRows(t, reg); got != 0 {
			t.Errorf("dropped_rows_total = %v, want 0", got)
		}
	})
}

func TestWriterBatches(t *testing.T) {
	forEachStore(t, func(t *testing.T, s Store) {
		migrated(t, s)
		w, reg := newTestWriter(t, s, WriterOptions{BatchRows: 1000, BatchInterval: time.Hour})
		want := 0
		for i := 0; i < 6000; i++ {
			w.Write(testEvent(i, 1+i%2)) // an event with two hits is two rows
			want += 1 + i%2
		}
		w.Write(&event.Event{Kind: event.KindDNS}) // no hits: nothing
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := w.Sync(ctx); err != nil {
			t.Fatal(err)
		}
		if rows, rollup := hitsIn(t, s); rows != uint64(want) || rollup != uint64(want) {
			t.Errorf("store holds %d rows, rollup %d; want %d", rows, rollup, want)
		}
		if got := droppedRows(t, reg); got != 0 {
			t.Errorf("dropped_rows_total = %v, want 0", got)
		}
		if got := gather(t, reg, "campusguard_hitlog_rows_written_total"); got != float64(want) {
			t.Errorf("rows_written_total = %v, want %d", got, want)
		}
		// 9000 rows in batches sealed at 1000 or 1001 rows.
		if got := gather(t, reg, "campusguard_hitlog_batches_written_total"); got != 9 && got != 8 {
			t.Errorf("batches_written_total = %v, want 8 or 9", got)
		}
		if err := w.Close(ctx); err != nil {
			t.Fatal(err)
		}
		w.Write(testEvent(1, 1))
		if got := gather(t, reg, "campusguard_hitlog_dropped_rows_total", "reason", "closed"); got != 1 {
			t.Errorf("write after close: dropped{closed} = %v, want 1", got)
		}
	})
}

func TestWriterSendsOldBatches(t *testing.T) {
	s := openEmbeddedStore(t)
	migrated(t, s)
	w, _ := newTestWriter(t, s, WriterOptions{BatchRows: 1000, BatchInterval: 50 * time.Millisecond})
	defer w.Close(context.Background())
	for i := 0; i < 3; i++ {
		w.Write(testEvent(i, 1))
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if rows, _ := hitsIn(t, s); rows == 3 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("three rows not written within 10 s of a 50 ms batch interval")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A batch whose INSERT landed but whose answer was lost is spooled and
// replayed; the replay must not count it twice, in hits or in rollups.
func TestWriterReplayDedup(t *testing.T) {
	forEachStore(t, func(t *testing.T, s Store) {
		migrated(t, s)
		dir := t.TempDir()
		sp, err := spool.Open(spool.Options{Dir: dir})
		if err != nil {
			t.Fatal(err)
		}
		whole := sampleBatch()   // 3 rows, landed
		partial := sampleBatch() // 3 rows, 2 landed
		partial.ID++
		lost := sampleBatch() // 3 rows, sent, none landed
		lost.ID += 2
		fresh := sampleBatch() // 3 rows, never sent (spooled while the inserter was behind)
		fresh.ID += 3
		insert(t, s, whole)
		insert(t, s, &Batch{ID: partial.ID, Rows: partial.Rows[1:], Seqs: []uint32{1, 2}})
		whole.Attempted, partial.Attempted, lost.Attempted = true, true, true
		for _, b := range []*Batch{whole, partial, lost, fresh} {
			if err := sp.Append(EncodeRecord(b)); err != nil {
				t.Fatal(err)
			}
		}
		sp.Close()

		w, reg := newTestWriter(t, s, WriterOptions{SpoolDir: dir})
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := w.Sync(ctx); err != nil {
			t.Fatal(err)
		}
		if rows, rollup := hitsIn(t, s); rows != 12 || rollup != 12 {
			t.Errorf("after replay: %d rows, rollup %d; want 12 each", rows, rollup)
		}
		if got := gather(t, reg, "campusguard_hitlog_deduplicated_rows_total"); got != 5 {
			t.Errorf("deduplicated_rows_total = %v, want 5", got)
		}
		if got := gather(t, reg, "campusguard_hitlog_dedup_lookups_total"); got != 3 {
			t.Errorf("dedup_lookups_total = %v, want 3 (the batches that had been sent)", got)
		}
		// Every (batch, seq) once.
		if n := count(t, s, "SELECT count() FROM (SELECT batch, seq FROM %s.hits GROUP BY batch, seq HAVING count() > 1)", s.Database()); n != 0 {
			t.Errorf("%d dedup keys stored twice", n)
		}
		if err := w.Close(ctx); err != nil {
			t.Fatal(err)
		}
	})
}

// The outage test of the issue: hits keep coming while ClickHouse is
// stopped (SIGSTOP), then killed, for 60 s (CAMPUSGUARD_TEST_OUTAGE_SECONDS),
// then restarted; every hit arrives exactly once.
func TestWriterOutage(t *testing.T) {
	if testing.Short() {
		t.Skip("a minute-long outage")
	}
	outage := 60 * time.Second
	if v := os.Getenv("CAMPUSGUARD_TEST_OUTAGE_SECONDS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			t.Fatalf("CAMPUSGUARD_TEST_OUTAGE_SECONDS=%q", v)
		}
		outage = time.Duration(n) * time.Second
	}
	srv := chtest.StartServer(t)
	ctx := context.Background()
	s, err := Open(ctx, srv.URL("campusguard"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := Migrate(ctx, s); err != nil {
		t.Fatal(err)
	}
	w, reg := newTestWriter(t, s, WriterOptions{BatchRows: 5000, BatchInterval: 200 * time.Millisecond,
		InsertTimeout: 3 * time.Second, RetryMin: 200 * time.Millisecond, RetryMax: 2 * time.Second})

	// The producer writes as fast as a busy sensor: 25k hits/s, in bursts.
	var produced atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			for j := 0; j < 250; j++ {
				w.Write(testEvent(i, 1))
				i++
				produced.Add(1)
			}
		}
	}()
	var peakHeap uint64
	sampleHeap := func() {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		peakHeap = max(peakHeap, ms.HeapInuse)
	}

	time.Sleep(3 * time.Second)
	srv.Pause(t)
	pausedFor := min(5*time.Second, outage/2)
	time.Sleep(pausedFor)
	srv.Kill(t)
	for end := time.Now().Add(outage - pausedFor); time.Now().Before(end); time.Sleep(time.Second) {
		sampleHeap()
	}
	if got := gather(t, reg, "campusguard_hitlog_store_up"); got != 0 {
		t.Errorf("store_up = %v during the outage, want 0", got)
	}
	if got := gather(t, reg, "campusguard_hitlog_spool_bytes"); got == 0 {
		t.Error("spool_bytes = 0 during the outage")
	}
	srv.Start(t)
	time.Sleep(3 * time.Second)
	close(stop)
	wg.Wait()

	syncCtx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	if err := w.Sync(syncCtx); err != nil {
		t.Fatal(err)
	}
	want := uint64(produced.Load())
	rows, rollup := hitsIn(t, s)
	t.Logf("produced %d hits over a %v outage; stored %d, rollup %d; spooled %v rows, replayed %v, deduplicated %v; peak heap %d MB",
		want, outage, rows, rollup, gather(t, reg, "campusguard_hitlog_spooled_rows_total"),
		gather(t, reg, "campusguard_hitlog_replayed_rows_total"), gather(t, reg, "campusguard_hitlog_deduplicated_rows_total"), peakHeap>>20)
	if rows != want || rollup != want {
		t.Errorf("stored %d rows (rollup %d), want exactly %d", rows, rollup, want)
	}
	if dropped := droppedRows(t, reg); dropped != 0 {
		t.Errorf("%v rows dropped", dropped)
	}
	// The queue is bounded: the outage goes to disk, not to memory.
	if peakHeap > 256<<20 {
		t.Errorf("heap in use peaked at %d MB during the outage", peakHeap>>20)
	}
	if err := w.Close(syncCtx); err != nil {
		t.Fatal(err)
	}
}

// downStore is a real server that has been killed: every call fails the
// way an outage fails.
func downStore(t *testing.T) (*chtest.Server, Store) {
	t.Helper()
	srv := chtest.StartServer(t)
	ctx := context.Background()
	s, err := Open(ctx, srv.URL("campusguard")+"?dial_timeout=1s")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if _, err := Migrate(ctx, s); err != nil {
		t.Fatal(err)
	}
	srv.Kill(t)
	return srv, s
}

func TestWriterSpoolFull(t *testing.T) {
	_, s := downStore(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for _, policy := range []spool.DropPolicy{spool.DropNewest, spool.DropOldest} {
		t.Run(policy.String(), func(t *testing.T) {
			dir := t.TempDir()
			w, reg := newTestWriter(t, s, WriterOptions{BatchRows: 1000, BatchInterval: 20 * time.Millisecond,
				RetryMin: 50 * time.Millisecond, RetryMax: 100 * time.Millisecond, InsertTimeout: time.Second,
				SpoolDir: dir, SpoolMaxBytes: 1 << 20, SpoolSegmentBytes: 128 << 10, SpoolPolicy: policy})
			for i := 0; i < 40_000; i++ {
				w.Write(testEvent(i, 1))
				if i%1000 == 999 {
					if err := w.Flush(ctx); err != nil {
						t.Fatal(err)
					}
				}
			}
			if err := w.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			_, bytes, st := w.Stats()
			if bytes > 1<<20 {
				t.Errorf("spool holds %d bytes, over its 1 MiB cap", bytes)
			}
			switch policy {
			case spool.DropNewest:
				if got := gather(t, reg, "campusguard_hitlog_dropped_rows_total", "reason", "spool_full"); got == 0 {
					t.Error("drop_newest: nothing counted as dropped")
				}
			case spool.DropOldest:
				if st.DroppedRecords == 0 || gather(t, reg, "campusguard_hitlog_spool_dropped_batches_total") == 0 {
					t.Error("drop_oldest: no batch counted as dropped")
				}
			}
			if err := w.Close(ctx); err != nil {
				t.Logf("close with the store down: %v", err)
			}
			// The newest batches survive drop_oldest; the first ones survive drop_newest.
			sp, err := spool.Open(spool.Options{Dir: dir, MaxBytes: 1 << 20})
			if err != nil {
				t.Fatal(err)
			}
			var first, last = -1, -1
			for {
				rec, pos, err := sp.Next()
				if err != nil {
					break
				}
				b, err := DecodeRecord(rec)
				if err != nil {
					t.Fatal(err)
				}
				if first < 0 {
					first, _ = strconv.Atoi(b.Rows[0].URL[1:])
				}
				last, _ = strconv.Atoi(b.Rows[len(b.Rows)-1].URL[1:])
				sp.Ack(pos)
			}
			sp.Close()
			switch {
			case first < 0:
				t.Fatal("spool empty after close")
			case policy == spool.DropNewest && (first != 0 || last == 39_999):
				t.Errorf("drop_newest kept hits %d–%d, want the first ones and not the last", first, last)
			case policy == spool.DropOldest && (first == 0 || last != 39_999):
				t.Errorf("drop_oldest kept hits %d–%d, want the last ones and not the first", first, last)
			}
		})
	}
}

// A corrupt spool segment is skipped with a metric; the rest is replayed.
func TestWriterCorruptSpool(t *testing.T) {
	srv, s := downStore(t)
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// One batch per segment: five segments of 1000 rows.
	opts := WriterOptions{BatchRows: 1000, BatchInterval: time.Hour, RetryMin: 50 * time.Millisecond, RetryMax: 200 * time.Millisecond,
		InsertTimeout: time.Second, SpoolDir: dir, SpoolSegmentBytes: 1024}
	w, _ := newTestWriter(t, s, opts)
	for i := 0; i < 5000; i++ {
		w.Write(testEvent(i, 1))
	}
	if err := w.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(ctx); err != nil {
		t.Logf("close with the store down: %v", err)
	}
	segs, _ := filepath.Glob(filepath.Join(dir, "*.seg"))
	if len(segs) != 5 {
		t.Fatalf("%d segments, want 5 (one per batch): %v", len(segs), segs)
	}
	sort.Strings(segs)
	f, err := os.OpenFile(segs[1], os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	st, _ := f.Stat()
	if _, err := f.WriteAt([]byte{0xff, 0x00, 0xff}, st.Size()/2); err != nil {
		t.Fatal(err)
	}
	f.Close()

	srv.Start(t)
	w, reg := newTestWriter(t, s, opts)
	if err := w.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if rows, rollup := hitsIn(t, s); rows != 4000 || rollup != 4000 {
		t.Errorf("after replay: %d rows, rollup %d; want the 4000 of the four good segments", rows, rollup)
	}
	if got := gather(t, reg, "campusguard_hitlog_spool_corrupt_records_total"); got != 1 {
		t.Errorf("spool_corrupt_records_total = %v, want 1", got)
	}
	w.Close(ctx)
}

// droppedRows sums campusguard_hitlog_dropped_rows_total over its reasons.
func droppedRows(t *testing.T, reg *prometheus.Registry) float64 {
	t.Helper()
	var sum float64
	for _, reason := range []string{"spool_full", "spool_error", "closed"} {
		sum += gather(t, reg, "campusguard_hitlog_dropped_rows_total", "reason", reason)
	}
	return sum
}
