package hitlog

// Benchmarks of the hit store's performance targets, on the Debian
// clickhouse-server 18.16 and on chDB 26.7:
//
//   - BenchmarkIngest1M: hits through the real Writer (Write of events →
//     batches → Insert) until Sync returns and the rows are counted, with
//     clickhouse-go's row-wise batch.Append as the peer of the columnar path.
//   - BenchmarkIngestStalled: the Writer's heap while the server is paused.
//   - BenchmarkInsert50k: one Insert of a 50k-row batch, without the Writer,
//     and what the rollups' views cost the store.
//   - BenchmarkBatchAppend50k: filling a batch, as Writer.Write does.
//   - BenchmarkDashboard10M: the console's queries on 10M seeded hits, and
//     prototypes of schema and query changes for the slow ones. Skipped
//     under -short.

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"os"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/campusguard/campusguard/internal/event"
	"github.com/campusguard/campusguard/internal/hitlog/chdb"
	"github.com/campusguard/campusguard/internal/hitlog/chtest"
)

// ingestHits is what one iteration of the ingest benchmarks writes.
const ingestHits = 1_000_000

// benchServerStore opens a fresh database on the package's shared server.
func benchServerStore(tb testing.TB) Store {
	tb.Helper()
	srv := chtest.SharedServer(tb)
	return benchOpen(tb, srv.URL(srv.NewDatabase(tb)), LatestVersion())
}

// benchOpen opens url and migrates it to schema version.
func benchOpen(tb testing.TB, url string, version int) Store {
	tb.Helper()
	s, err := Open(context.Background(), url)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	if _, err := migrateTo(context.Background(), s, version); err != nil {
		tb.Fatal(err)
	}
	return s
}

// serverCPU is the CPU time the clickhouse-server of srv has used so far,
// from /proc (10 ms resolution); 0 if it cannot be found.
func serverCPU(srv *chtest.Server) time.Duration {
	dirs, _ := os.ReadDir("/proc")
	for _, d := range dirs {
		pid, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		cmd, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if err != nil || !strings.Contains(string(cmd), "--config-file="+srv.Dir+"/") {
			continue
		}
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			return 0
		}
		// Fields after the ")" that ends the command: state is field 3,
		// utime and stime are 14 and 15, in clock ticks (USER_HZ, 100).
		f := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
		utime, _ := strconv.ParseInt(f[11], 10, 64)
		stime, _ := strconv.ParseInt(f[12], 10, 64)
		return time.Duration(utime+stime) * 10 * time.Millisecond
	}
	return 0
}

// benchEmbeddedStore is openEmbeddedStore for benchmarks: the process's one
// chDB store, with its database dropped and migrated again.
func benchEmbeddedStore(tb testing.TB) Store {
	tb.Helper()
	if os.Getenv(chdb.LibEnv) == "" {
		os.Setenv(chdb.LibEnv, chtest.LibPath(tb))
	}
	embedded.once.Do(func() {
		dir, err := os.MkdirTemp("", "hitlog-chdb-")
		if err != nil {
			embedded.err = err
			return
		}
		embedded.store, embedded.err = Open(context.Background(), "chdb://"+dir)
	})
	if embedded.err != nil {
		tb.Fatal(embedded.err)
	}
	s := embedded.store
	benchExec(tb, s, "DROP DATABASE IF EXISTS %s", s.Database())
	if _, err := Migrate(context.Background(), s); err != nil {
		tb.Fatal(err)
	}
	return s
}

func benchExec(tb testing.TB, s Store, format string, args ...any) {
	tb.Helper()
	if err := s.Exec(context.Background(), fmt.Sprintf(format, args...)); err != nil {
		tb.Fatal(err)
	}
}

func benchCount(tb testing.TB, s Store, format string, args ...any) uint64 {
	tb.Helper()
	var n uint64
	if err := queryOne(context.Background(), s, fmt.Sprintf(format, args...), &n); err != nil {
		tb.Fatal(err)
	}
	return n
}

// The fixture's cardinalities, shared by the Go events and the seeding SQL.
var (
	benchCategories = []string{"malware", "phishing", "fraud", "gambling", "adult", "proxy", "mining", "scam"}
	benchSensors    = []string{"gw-north", "gw-south", "gw-east", "gw-west"}
)

const (
	benchRules   = 5000 // in 30 packs; a pack has one of the 8 categories
	benchNames   = 200_000
	benchClients = 50_000
)

// logUniform draws from 0..n-1 with P(k) about 1/((k+1) ln n): Zipf's law
// with exponent 1, as hits per name, rule and client roughly follow.
func logUniform(u float64, n int) int {
	return min(n-1, int(math.Pow(float64(n), u))-1)
}

// benchEvents builds n events like a campus gateway's: names of 20–40 bytes
// drawn with a long tail, each name matching its own rule (so the rule fixes
// the pack, category, severity and action), a client behind one of four
// sensors, 1 hit (70%) or 2 (30%). The seed is fixed.
func benchEvents(n int) []*event.Event {
	rng := rand.New(rand.NewPCG(1, 2))
	kinds := []event.Kind{event.KindDNS, event.KindDNS, event.KindDNS, event.KindTLS, event.KindTLS, event.KindQUIC, event.KindHTTP, event.KindPost}
	hit := func(rule int, name string) event.Hit {
		pack := rule % 30
		cat := benchCategories[pack%8]
		dot := strings.IndexByte(name, '.')
		return event.Hit{
			Pack: fmt.Sprintf("pack-%s-%d", cat, pack), Rule: fmt.Sprintf("pack-%s-%d.txt:%d", cat, pack, rule/30*7+12),
			Category: cat, Severity: event.Severity(pack * 7 % 5), Action: []string{"monitor", "block", "block"}[pack%3],
			Field: "name", Match: name[dot+1:], Start: dot + 1, End: len(name),
		}
	}
	evs := make([]*event.Event, n)
	for i := range evs {
		ni := logUniform(rng.Float64(), benchNames)
		ci := logUniform(rng.Float64(), benchClients)
		name := benchName(ni)
		ev := &event.Event{
			Sensor: benchSensors[ci%4], Kind: kinds[rng.IntN(len(kinds))],
			Src: fmt.Sprintf("10.%d.%d.%d", ci>>16&255, ci>>8&255, ci&255), SrcPort: uint16(1024 + rng.IntN(60000)),
			Dst: fmt.Sprintf("203.0.%d.%d", ni>>8&255, ni&255), DstPort: 443, Name: name,
		}
		switch ev.Kind {
		case event.KindDNS:
			ev.DstPort, ev.QType = 53, "A"
		case event.KindHTTP:
			ev.DstPort, ev.URL = 80, "/index.php?id="+strconv.Itoa(rng.IntN(100_000))
		case event.KindPost:
			ev.Forum, ev.PostID, ev.Author = name, strconv.Itoa(rng.IntN(1_000_000)), ev.Src
		}
		ev.Hits = append(ev.Hits, hit(ni%benchRules, name))
		if rng.IntN(10) < 3 {
			ev.Hits = append(ev.Hits, hit((ni*7+13)%benchRules, name))
		}
		evs[i] = ev
	}
	return evs
}

// benchName is name number i: "login-1234.casino-royal.top", 20–40 bytes.
func benchName(i int) string {
	return fmt.Sprintf("%s-%d.%s.%s", []string{"cdn", "login", "static", "api", "www", "mail", "track", "img"}[i%8], i,
		[]string{"evil-example", "badsite", "phish-kit", "casino-royal", "miner-pool"}[i/8%5],
		[]string{"com", "net", "cn", "top", "xyz"}[i/40%5])
}

// writeHits writes events from evs, round robin from *next, until exactly n
// hits are written; one (a single hit) fills the last gap.
func writeHits(w *Writer, evs []*event.Event, one *event.Event, next *int, n int) {
	for n > 0 {
		ev := evs[*next%len(evs)]
		*next++
		if len(ev.Hits) > n {
			ev = one
		}
		ev.Time = time.Now()
		w.Write(ev)
		n -= len(ev.Hits)
	}
}

// paceHits is writeHits at rate hits/s, in steps of about a millisecond.
func paceHits(w *Writer, evs []*event.Event, one *event.Event, next *int, n, rate int) {
	start := time.Now()
	for done := 0; done < n; {
		due := min(n, int(time.Since(start).Seconds()*float64(rate)))
		if due > done {
			writeHits(w, evs, one, next, due-done)
			done = due
		}
		time.Sleep(time.Millisecond)
	}
}

// syncWithin is Writer.Sync bounded by d, so that a store that refuses
// every insert fails the benchmark instead of hanging it.
func syncWithin(w *Writer, d time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	return w.Sync(ctx)
}

// benchLogger shows the Writer's warnings (failed inserts, replays).
func benchLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// heapSampler records the peak HeapInuse (heap objects plus the unused
// part of their spans) every 5 ms, without stopping the world.
type heapSampler struct {
	peak atomic.Uint64
	stop chan struct{}
	done sync.WaitGroup
}

func heapInuse() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}, {Name: "/memory/classes/heap/unused:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64() + s[1].Value.Uint64()
}

func startHeapSampler() *heapSampler {
	h := &heapSampler{stop: make(chan struct{})}
	h.done.Add(1)
	go func() {
		defer h.done.Done()
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			if v := heapInuse(); v > h.peak.Load() {
				h.peak.Store(v)
			}
			select {
			case <-h.stop:
				return
			case <-tick.C:
			}
		}
	}()
	return h
}

// Stop returns the peak in MB.
func (h *heapSampler) Stop() float64 {
	close(h.stop)
	h.done.Wait()
	return float64(h.peak.Load()) / (1 << 20)
}

// cpuTime is the process's user and system CPU time: with the embedded
// engine that includes ClickHouse, with a server only the client side.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// metricValue reads a counter or gauge of reg.
func metricValue(tb testing.TB, reg *prometheus.Registry, name string, labels ...string) float64 {
	tb.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		tb.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metrics:
		for _, m := range mf.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				for _, lp := range m.GetLabel() {
					if lp.GetName() == labels[i] && lp.GetValue() != labels[i+1] {
						continue metrics
					}
				}
			}
			sum += m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	return sum
}

// rowwiseStore is the peer of serverStore.Insert: the same INSERT through
// clickhouse-go's batch.Append, one reflective call per row, as its
// examples write it.
type rowwiseStore struct{ *serverStore }

func (s rowwiseStore) Insert(ctx context.Context, b *Batch) error {
	batch, err := s.conn.PrepareBatch(ctx, s.insert)
	if err != nil {
		return err
	}
	defer batch.Abort()
	for i := range b.Rows {
		r := &b.Rows[i]
		if err := batch.Append(r.Time, r.Sensor, r.Kind, r.Client, r.Server, r.Port, r.Name, r.URL, r.Pack, r.Rule,
			r.Category, r.Severity, r.Action, r.Field, r.Match, r.MatchStart, r.MatchEnd, b.ID, b.seq(i)); err != nil {
			return err
		}
	}
	return batch.Send()
}

// BenchmarkIngest1M writes 1M hits an iteration through a Writer with the
// default options and waits for Sync and the count of the hits table (and,
// untimed, of the minute rollup). hits/s is end to end. "burst" writes as
// fast as Write takes the hits, so the Writer spools what its inserter
// cannot take (spooled-% of the rows go through the disk spool and are
// replayed); "at200k" writes at the target's 200k hits/s, so a Writer that
// keeps up spools nothing and Sync waits only for the last batches
// (tail-ms). cpu-ns/hit is this process's CPU (with chDB, the engine's too).
func BenchmarkIngest1M(b *testing.B) {
	evs := benchEvents(1 << 14)
	for _, rate := range []struct {
		name string
		rate int
	}{{"burst", 0}, {"at200k", 200_000}} {
		b.Run("server/"+rate.name, func(b *testing.B) { benchIngest(b, benchServerStore(b), evs, rate.rate) })
		b.Run("server-rowwise/"+rate.name, func(b *testing.B) {
			benchIngest(b, rowwiseStore{benchServerStore(b).(*serverStore)}, evs, rate.rate)
		})
		b.Run("chdb/"+rate.name, func(b *testing.B) { benchIngest(b, benchEmbeddedStore(b), evs, rate.rate) })
	}
}

// benchIngest writes ingestHits hits an iteration at rate hits/s (0: as
// fast as possible).
func benchIngest(b *testing.B, s Store, evs []*event.Event, rate int) {
	var srv *chtest.Server
	if _, embedded := s.(*embeddedStore); !embedded {
		srv = chtest.SharedServer(b)
	}
	reg := prometheus.NewRegistry()
	w, err := NewWriter(s, WriterOptions{SpoolDir: b.TempDir(), Registerer: reg, Logger: benchLogger()})
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close(context.Background())
	one := *evs[0]
	one.Hits = one.Hits[:1]
	next := 0

	runtime.GC()
	base := float64(heapInuse()) / (1 << 20)
	heap := startHeapSampler()
	cpu := cpuTime()
	var srvCPU time.Duration
	if srv != nil {
		srvCPU = serverCPU(srv)
	}
	var tail time.Duration
	b.ResetTimer()
	start := time.Now()
	for i := range b.N {
		if rate == 0 {
			writeHits(w, evs, &one, &next, ingestHits)
		} else {
			paceHits(w, evs, &one, &next, ingestHits, rate)
		}
		synced := time.Now()
		if err := syncWithin(w, 5*time.Minute); err != nil {
			b.Fatal(err)
		}
		tail += time.Since(synced)
		want := uint64(i+1) * ingestHits
		if got := benchCount(b, s, "SELECT count() FROM %s.hits", s.Database()); got != want {
			b.Fatalf("after %d iterations the hits table has %d rows, want %d (dropped %v, spooled %v, replayed %v, deduplicated %v, overflow batches %v)",
				i+1, got, want, metricValue(b, reg, "campusguard_hitlog_dropped_rows_total"), metricValue(b, reg, "campusguard_hitlog_spooled_rows_total"),
				metricValue(b, reg, "campusguard_hitlog_replayed_rows_total"), metricValue(b, reg, "campusguard_hitlog_deduplicated_rows_total"),
				metricValue(b, reg, "campusguard_hitlog_queue_overflow_batches_total"))
		}
	}
	elapsed := time.Since(start)
	b.StopTimer()
	cpu = cpuTime() - cpu
	if srv != nil {
		srvCPU = serverCPU(srv) - srvCPU
	}
	peak := heap.Stop()
	total := float64(b.N) * ingestHits
	if got := benchCount(b, s, "SELECT sum(hits) FROM %s.hits_1m", s.Database()); got != uint64(total) {
		b.Fatalf("the minute rollup counts %d hits, want %v", got, total)
	}
	if d := metricValue(b, reg, "campusguard_hitlog_dropped_rows_total"); d != 0 {
		b.Fatalf("the writer dropped %v rows", d)
	}
	b.ReportMetric(total/elapsed.Seconds(), "hits/s")
	b.ReportMetric(float64(tail.Milliseconds())/float64(b.N), "tail-ms")
	b.ReportMetric(peak, "peak-heap-MB")
	b.ReportMetric(peak-base, "writer-heap-MB")
	b.ReportMetric(float64(cpu.Nanoseconds())/total, "cpu-ns/hit")
	if srv != nil {
		b.ReportMetric(float64(srvCPU.Nanoseconds())/total, "server-cpu-ns/hit")
	}
	b.ReportMetric(100*metricValue(b, reg, "campusguard_hitlog_spooled_rows_total")/total, "spooled-%")
}

// BenchmarkIngestStalled writes at 200k hits/s through a Writer with the
// default options into a server of its own, which it pauses (SIGSTOP) for
// 10 s after 3 s and resumes for 3 s more; then Sync drains the spool. The
// heap must stay bounded while the spool takes the backlog: peak-heap-MB is
// HeapInuse at its highest, writer-heap-MB that less the heap before the
// first Write, spool-peak-MB the spool on disk at its highest, drain-s the
// time from the last Write to Sync's return.
func BenchmarkIngestStalled(b *testing.B) {
	const rate, before, stall, after = 200_000, 3 * time.Second, 10 * time.Second, 3 * time.Second
	evs := benchEvents(1 << 14)
	srv := chtest.StartServer(b)
	s := benchOpen(b, srv.URL("campusguard"), LatestVersion())
	one := *evs[0]
	one.Hits = one.Hits[:1]
	next, produced := 0, 0
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		reg := prometheus.NewRegistry()
		w, err := NewWriter(s, WriterOptions{SpoolDir: b.TempDir(), Registerer: reg, Logger: benchLogger()})
		if err != nil {
			b.Fatal(err)
		}
		runtime.GC()
		base := float64(heapInuse()) / (1 << 20)
		heap := startHeapSampler()
		var spoolPeak atomic.Int64
		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Add(2)
		go func() {
			defer wg.Done()
			tick := time.NewTicker(50 * time.Millisecond)
			defer tick.Stop()
			for {
				if _, n, _ := w.Stats(); n > spoolPeak.Load() {
					spoolPeak.Store(n)
				}
				select {
				case <-stop:
					return
				case <-tick.C:
				}
			}
		}()
		start := time.Now()
		b.StartTimer()
		go func() {
			defer wg.Done()
			// paceHits, until stop.
			for done := 0; ; {
				select {
				case <-stop:
					produced += done
					return
				default:
				}
				if due := int(time.Since(start).Seconds() * rate); due > done {
					writeHits(w, evs, &one, &next, due-done)
					done = due
				}
				time.Sleep(time.Millisecond)
			}
		}()
		time.Sleep(before)
		srv.Pause(b)
		time.Sleep(stall)
		srv.Resume(b)
		time.Sleep(after)
		stopped := time.Now()
		close(stop)
		wg.Wait()
		if err := syncWithin(w, 10*time.Minute); err != nil {
			b.Fatal(err)
		}
		drain := time.Since(stopped)
		b.StopTimer()
		peak := heap.Stop()
		if got := benchCount(b, s, "SELECT count() FROM %s.hits", s.Database()); got != uint64(produced) {
			b.Fatalf("the hits table has %d rows, want %d", got, produced)
		}
		if d := metricValue(b, reg, "campusguard_hitlog_dropped_rows_total"); d != 0 {
			b.Fatalf("the writer dropped %v rows", d)
		}
		b.ReportMetric(peak, "peak-heap-MB")
		b.ReportMetric(peak-base, "writer-heap-MB")
		b.ReportMetric(float64(spoolPeak.Load())/(1<<20), "spool-peak-MB")
		b.ReportMetric(drain.Seconds(), "drain-s")
		b.ReportMetric(100*metricValue(b, reg, "campusguard_hitlog_spooled_rows_total")/float64(produced), "spooled-%")
		if err := w.Close(context.Background()); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(produced)/float64(b.N), "hits/op")
}

// BenchmarkBatchAppend50k fills a batch of 50k rows with AppendEvent, as
// Writer.Write does, from the 4096-row start newBatch gives it (the rows
// slice then grows by append, copying and zeroing as it goes) and, as a
// prototype, from a slice made with room for the whole batch.
func BenchmarkBatchAppend50k(b *testing.B) {
	evs := benchEvents(1 << 14)
	for _, c := range []struct {
		name     string
		capacity int
	}{{"grow-from-4096", 4096}, {"preallocated", 50_000 + 16}} { // room for the last event's extra hits
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			next := 0
			for range b.N {
				batch := &Batch{Rows: make([]Row, 0, c.capacity)}
				for len(batch.Rows) < 50_000 {
					batch.AppendEvent(evs[next%len(evs)])
					next++
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/50_000, "ns/hit")
		})
	}
}

// BenchmarkInsert50k is one Store.Insert of a 50k-row batch of live hits
// (all in the same minute), without the Writer. On the server: the columnar
// path against clickhouse-go's row-wise batch.Append (rowwise); on both
// stores: the hits table alone, without the rollups' views (no-rollups,
// schema version 1), which shows what the four views cost; on chDB a
// prototype that feeds hits_1h from hits_1m instead of from hits
// (cascade-1h), so the hour view aggregates minute rows. (18.16 does not
// run a view on inserts that another view makes, so it cannot cascade.) cpu-ns/row is this process (with chDB,
// the engine too), server-cpu-ns/row the server's.
func BenchmarkInsert50k(b *testing.B) {
	evs := benchEvents(1 << 14)
	var rows []Row
	now := time.Now()
	for i := 0; len(rows) < 50_000; i++ {
		ev := evs[i%len(evs)]
		ev.Time = now.Add(time.Duration(i) * time.Microsecond)
		for j := range ev.Hits {
			rows = append(rows, rowOf(ev, &ev.Hits[j]))
		}
	}
	rows = rows[:50_000]
	// hits_1h from hits_1m: the same rows, from a sixth to a thousandth as
	// many input rows, depending on how many hits share a minute.
	cascade := func(tb testing.TB, s Store) {
		lc := strings.Join([]string{"sensor", "kind", "category", "pack", "rule", "action", "severity"}, ", ")
		benchExec(tb, s, "DROP TABLE %s.hits_1h_mv", s.Database())
		benchExec(tb, s, "CREATE MATERIALIZED VIEW %[1]s.hits_1h_mv TO %[1]s.hits_1h AS SELECT toStartOfHour(t) AS t, %[2]s, sum(hits) AS hits FROM %[1]s.hits_1m GROUP BY t, %[2]s",
			s.Database(), lc)
	}
	for _, c := range []struct {
		name    string
		chdb    bool
		version int
		rowwise bool
		setup   func(testing.TB, Store)
	}{
		{"server/columnar", false, LatestVersion(), false, nil},
		{"server/rowwise", false, LatestVersion(), true, nil},
		{"server/no-rollups", false, 1, false, nil},
		{"chdb/rowbinary", true, LatestVersion(), false, nil},
		{"chdb/no-rollups", true, 1, false, nil},
		{"chdb/cascade-1h", true, LatestVersion(), false, cascade},
	} {
		b.Run(c.name, func(b *testing.B) {
			var s Store
			var srv *chtest.Server
			if c.chdb {
				s = benchEmbeddedStore(b)
				benchExec(b, s, "DROP DATABASE %s", s.Database())
				if _, err := migrateTo(context.Background(), s, c.version); err != nil {
					b.Fatal(err)
				}
			} else {
				srv = chtest.SharedServer(b)
				s = benchOpen(b, srv.URL(srv.NewDatabase(b)), c.version)
			}
			if c.setup != nil {
				c.setup(b, s)
			}
			if c.rowwise {
				s = rowwiseStore{s.(*serverStore)}
			}
			ctx := context.Background()
			var srvCPU time.Duration
			if srv != nil {
				srvCPU = serverCPU(srv)
			}
			cpu := cpuTime()
			b.ResetTimer()
			for i := range b.N {
				if err := s.Insert(ctx, &Batch{ID: uint64(i + 1), Rows: rows}); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			cpu = cpuTime() - cpu
			n := float64(b.N) * float64(len(rows))
			if got := benchCount(b, s, "SELECT count() FROM %s.hits", s.Database()); got != uint64(n) {
				b.Fatalf("%d rows stored, want %v", got, n)
			}
			if c.version == LatestVersion() {
				if got := benchCount(b, s, "SELECT sum(hits) FROM %s.hits_1h", s.Database()); got != uint64(n) {
					b.Fatalf("the hour rollup counts %d hits, want %v", got, n)
				}
			}
			b.ReportMetric(n/b.Elapsed().Seconds(), "rows/s")
			b.ReportMetric(float64(cpu.Nanoseconds())/n, "cpu-ns/row")
			if srv != nil {
				b.ReportMetric(float64((serverCPU(srv)-srvCPU).Nanoseconds())/n, "server-cpu-ns/row")
			}
		})
	}
}

// TestInsertBinarySafe guards the ingest benchmarks' premise that a batch of
// any size and content inserts: chDB once cut RowBinary inline in the query
// at the first "\n\n", which row 2570's seq (0x0a0a) and a post with a
// blank line both hold. (A store test; it sits here beside the benchmark
// that found it.)
func TestInsertBinarySafe(t *testing.T) {
	forEachStore(t, func(t *testing.T, s Store) {
		migrated(t, s)
		r := Row{Time: seedStart, Sensor: "gw-1", Kind: "post", Name: "forum", URL: "a\n\nb", Match: "\n\n\n"}
		b := &Batch{ID: 0x0a0a0a0a0a0a0a0a, Rows: []Row{r, r, r}, Seqs: []uint32{0x0a0a, 0x0a0a0a0a, 2570}}
		insert(t, s, b)
		if n := count(t, s, "SELECT count() FROM %s.hits WHERE url = 'a\\n\\nb' AND batch = %d", s.Database(), b.ID); n != 3 {
			t.Errorf("stored %d of 3 rows", n)
		}
	})
}

// The dashboard fixture: 10M hits over the 30 days before dashEnd, one
// every 0.26 s, generated by the store itself (INSERT … SELECT from
// numbers()) so that the materialized views fill the rollups as they do in
// production. Names, clients and rules are drawn log-uniformly (Zipf, s = 1)
// from 200k names, 50k clients and 5000 rules; a name matches its own rule,
// which fixes the pack (30), category (8), severity and action; a client sits
// behind one of 4 sensors; kinds are dns 3/8, tls 2/8, quic, http, post.
// The SQL runs on 18.16 and 26.7 alike.
const (
	dashHits = 10_000_000
	dashEnd  = 1766188800 // 2025-12-20 00:00 UTC
	dashDays = 30
)

const dashSeedSQL = `INSERT INTO {db}.hits (ts, sensor, kind, client, server, port, name, url, pack, rule, category,
	severity, action, field, match, match_start, match_end, batch, seq)
SELECT
	toDateTime({start} + intDiv(number * {span}, {hits})) AS ts,
	['gw-north', 'gw-south', 'gw-east', 'gw-west'][client_idx % 4 + 1] AS sensor,
	['dns', 'dns', 'dns', 'tls', 'tls', 'quic', 'http', 'post'][h % 8 + 1] AS kind,
	concat('10.', toString(intDiv(client_idx, 65536) % 256), '.', toString(intDiv(client_idx, 256) % 256), '.', toString(client_idx % 256)) AS client,
	concat('203.0.', toString(intDiv(name_idx, 256) % 256), '.', toString(name_idx % 256)) AS server,
	[53, 53, 53, 443, 443, 443, 80, 443][h % 8 + 1] AS port,
	name,
	if(h % 8 = 6, concat('/index.php?id=', toString(intDiv(h, 8) % 100000)), '') AS url,
	concat('pack-', cat, '-', toString(pack_idx)) AS pack,
	concat('pack-', cat, '-', toString(pack_idx), '.txt:', toString(intDiv(rule_idx, 30) * 7 + 12)) AS rule,
	cat AS category,
	toUInt8(pack_idx * 7 % 5) AS severity,
	['monitor', 'block', 'block'][pack_idx % 3 + 1] AS action,
	'name' AS field,
	substring(name, position(name, '.') + 1) AS match,
	toUInt32(position(name, '.')) AS match_start,
	toUInt32(length(name)) AS match_end,
	intDiv(number, 50000) + 1 AS batch,
	toUInt32(number % 50000) AS seq
FROM (
	SELECT number, h, name_idx, client_idx, rule_idx, pack_idx,
		['malware', 'phishing', 'fraud', 'gambling', 'adult', 'proxy', 'mining', 'scam'][pack_idx % 8 + 1] AS cat,
		concat(['cdn', 'login', 'static', 'api', 'www', 'mail', 'track', 'img'][name_idx % 8 + 1], '-', toString(name_idx), '.',
			['evil-example', 'badsite', 'phish-kit', 'casino-royal', 'miner-pool'][intDiv(name_idx, 8) % 5 + 1], '.',
			['com', 'net', 'cn', 'top', 'xyz'][intDiv(name_idx, 40) % 5 + 1]) AS name
	FROM (
		SELECT number,
			cityHash64(number) AS h,
			toUInt32(exp(log({names}) * (intHash64(number) % 1000000007) / 1000000007)) - 1 AS name_idx,
			toUInt32(exp(log({clients}) * (sipHash64(number) % 1000000007) / 1000000007)) - 1 AS client_idx,
			name_idx % {rules} AS rule_idx,
			rule_idx % 30 AS pack_idx
		FROM numbers({lo}, {n})
	)
)`

// dashTables are the tables the dashboard reads.
var dashTables = []string{"hits", "hits_1m", "hits_1h", "hits_cat_1h", "names_1h", "clients_1h"}

// seedDashboard fills s with the fixture and waits for its merges to end.
// Inserts go in blocks of 100k rows, which the views turn into rollup rows
// twice as fast as the default blocks of 1M; a server gets two INSERTs at
// once (one a core), chDB one that runs its four views in parallel.
func seedDashboard(tb testing.TB, s Store) {
	start := time.Now()
	sql := func(lo, n int) string {
		return strings.NewReplacer("{db}", s.Database(), "{start}", strconv.Itoa(dashEnd-dashDays*86400),
			"{span}", strconv.Itoa(dashDays*86400), "{hits}", strconv.Itoa(dashHits),
			"{names}", strconv.Itoa(benchNames), "{clients}", strconv.Itoa(benchClients), "{rules}", strconv.Itoa(benchRules),
			"{lo}", strconv.Itoa(lo), "{n}", strconv.Itoa(n)).Replace(dashSeedSQL)
	}
	if _, ok := s.(*embeddedStore); ok {
		benchExec(tb, s, "%s SETTINGS max_block_size = 100000, min_insert_block_size_rows = 100000, parallel_view_processing = 1", sql(0, dashHits))
	} else {
		// Chunks of 1M hits, two at a time: an INSERT … SELECT sends
		// nothing back until it ends, and the store's read timeout is 2 min.
		ctx := clickhouse.Context(context.Background(), clickhouse.WithSettings(clickhouse.Settings{
			"max_block_size": 100_000, "min_insert_block_size_rows": 100_000}))
		const chunk = 1_000_000
		los := make(chan int, dashHits/chunk)
		for lo := 0; lo < dashHits; lo += chunk {
			los <- lo
		}
		close(los)
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for i := range errs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for lo := range los {
					if errs[i] = s.Exec(ctx, sql(lo, chunk)); errs[i] != nil {
						return
					}
				}
			}()
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				tb.Fatalf("seed: %v", err)
			}
		}
	}
	seeded := time.Since(start)
	for deadline := time.Now().Add(5 * time.Minute); benchCount(tb, s, "SELECT count() FROM system.merges WHERE database = %s", quote(s.Database())) > 0; {
		if time.Now().After(deadline) {
			tb.Log("merges still running after 5 minutes; measuring anyway")
			break
		}
		time.Sleep(time.Second)
	}
	tb.Logf("%s: seeded %d hits in %v, merges done %v later", s.Describe(), dashHits, seeded.Round(100*time.Millisecond),
		(time.Since(start) - seeded).Round(100*time.Millisecond))
	if n := benchCount(tb, s, "SELECT count() FROM %s.hits", s.Database()); n != dashHits {
		tb.Fatalf("seeded %d hits, want %d", n, dashHits)
	}
	for _, t := range dashTables {
		tb.Logf("  %-10s %9d rows in %3d active parts", t, benchCount(tb, s, "SELECT count() FROM %s.%s", s.Database(), t), tableParts(tb, s, t))
	}
	var names, clients, rules uint64
	if err := queryOne(context.Background(), s, fmt.Sprintf("SELECT uniqExact(name), uniqExact(client), uniqExact(rule) FROM %s.hits", s.Database()),
		&names, &clients, &rules); err != nil {
		tb.Fatal(err)
	}
	tb.Logf("  distinct names %d, clients %d, rules %d", names, clients, rules)
}

// engineCPU returns a clock of the CPU time ClickHouse spends for s: the
// server process's, or with chDB this process's (the engine runs in it).
func engineCPU(tb testing.TB, s Store) func() time.Duration {
	if _, ok := s.(*embeddedStore); ok {
		return cpuTime
	}
	srv := chtest.SharedServer(tb)
	return func() time.Duration { return serverCPU(srv) }
}

func tableParts(tb testing.TB, s Store, table string) uint64 {
	return benchCount(tb, s, "SELECT count() FROM system.parts WHERE active AND database = %s AND table = %s", quote(s.Database()), quote(table))
}

// BenchmarkDashboard10M times the console's queries on the 10M-hit fixture,
// as they stand after the seeding's merges end (no OPTIMIZE): parts is the
// active part count of the table a query reads, rows the rows of that table
// inside the query's time range.
func BenchmarkDashboard10M(b *testing.B) {
	if testing.Short() {
		b.Skip("seeds 10M hits")
	}
	b.Run("server", func(b *testing.B) { benchDashboard(b, benchServerStore(b)) })
	b.Run("chdb", func(b *testing.B) { benchDashboard(b, benchEmbeddedStore(b)) })
}

func benchDashboard(b *testing.B, s Store) {
	seedDashboard(b, s)
	ctx := context.Background()
	q := NewQueries(s, false)
	end := time.Unix(dashEnd, 0).UTC()
	day := Range{end.Add(-24 * time.Hour), end}
	week := Range{end.Add(-7 * 24 * time.Hour), end}
	month := Range{end.Add(-dashDays * 24 * time.Hour), end}
	total, err := q.Total(ctx, day, Filter{})
	if err != nil {
		b.Fatal(err)
	}
	if want := benchCount(b, s, "SELECT count() FROM %s.hits WHERE ts >= toDateTime(%d) AND ts < toDateTime(%d)",
		s.Database(), day.From.Unix(), day.To.Unix()); total != want {
		b.Fatalf("Total(24 h) = %d, the hits table has %d", total, want)
	}
	top := func(d Dim, r Range) func() (int, error) {
		return func() (int, error) { c, err := q.Top(ctx, d, r, 10, Filter{}); return len(c), err }
	}
	for _, c := range []struct {
		name  string
		table string
		r     Range
		run   func() (int, error) // returns the rows of the answer
	}{
		{"HitsOverTime/24h-by-category-10m", "hits_1m", day, func() (int, error) {
			p, err := q.HitsOverTime(ctx, day, DimCategory, 10*time.Minute, Filter{})
			return len(p), err
		}},
		{"HitsOverTime/30d-by-category-1h", "hits_cat_1h", month, func() (int, error) {
			p, err := q.HitsOverTime(ctx, month, DimCategory, time.Hour, Filter{})
			return len(p), err
		}},
		{"Top/pack-24h", "hits_1m", day, top(DimPack, day)},
		{"Top/pack-7d", "hits_1h", week, top(DimPack, week)},
		{"Top/rule-24h", "hits_1m", day, top(DimRule, day)},
		{"Top/rule-7d", "hits_1h", week, top(DimRule, week)},
		{"Top/name-24h", "names_1h", day, top(DimName, day)},
		{"Top/name-7d", "names_1h", week, top(DimName, week)},
		{"Top/client-24h", "clients_1h", day, top(DimClient, day)},
		{"Top/client-7d", "clients_1h", week, top(DimClient, week)},
		{"Total/24h", "hits_1m", day, func() (int, error) { _, err := q.Total(ctx, day, Filter{}); return 1, err }},
		{"Search/24h-kind-first-page", "hits", day, func() (int, error) {
			res, err := q.Search(ctx, day, Filter{Kind: "tls"}, Page{Limit: 50})
			return len(res.Hits), err
		}},
	} {
		b.Run(c.name, func(b *testing.B) {
			col := "t"
			if c.table == "hits" {
				col = "ts"
			}
			rows := benchCount(b, s, "SELECT count() FROM %s.%s WHERE %s >= toDateTime(%d) AND %s < toDateTime(%d)",
				s.Database(), c.table, col, c.r.From.Unix(), col, c.r.To.Unix())
			clock := engineCPU(b, s)
			cpu := clock()
			b.ResetTimer()
			for range b.N {
				n, err := c.run()
				if err != nil {
					b.Fatal(err)
				}
				if n == 0 {
					b.Fatal("empty answer")
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/op")
			b.ReportMetric(float64((clock()-cpu).Microseconds())/1000/float64(b.N), "cpu-ms/op")
			b.ReportMetric(float64(tableParts(b, s, c.table)), "parts")
			b.ReportMetric(float64(rows), "rows")
		})
	}
	benchVariants(b, s, q, week, month)
}

// dashVariant is a prototype of a schema or query change for a dashboard
// query; the benchmark checks that it answers as the query it replaces.
type dashVariant struct {
	name  string
	setup []string // untimed, once; {db} and {lc} (the low-cardinality string type) are replaced
	query string   // {db}, {from} and {to} are replaced
	r     Range
	want  func() (any, error) // the current query's answer
	scan  func(Rows) (any, error)
}

// The prototypes and the designs replaced: the wide hourly rollup for
// charts (before hits_cat_1h); a daily names rollup; and grouping by a
// 64-bit hash of the string key, with any() for the string, which gives
// ClickHouse a fixed-width key (what Top does for names and clients on
// servers before 19.9 did before the two-pass query).
func dashVariants(q *Queries, week, month Range) []dashVariant {
	ctx := context.Background()
	points := func(rows Rows) (any, error) {
		var out []Point
		for rows.Next() {
			var p Point
			var sec int64
			if err := rows.Scan(&sec, &p.Key, &p.Hits); err != nil {
				return nil, err
			}
			p.T = time.Unix(sec, 0).UTC()
			out = append(out, p)
		}
		return out, rows.Err()
	}
	counts := func(rows Rows) (any, error) {
		var out []Count
		for rows.Next() {
			var c Count
			if err := rows.Scan(&c.Key, &c.Hits); err != nil {
				return nil, err
			}
			out = append(out, c)
		}
		return out, rows.Err()
	}
	overMonth := func() (any, error) { return q.HitsOverTime(ctx, month, DimCategory, time.Hour, Filter{}) }
	top := func(d Dim, r Range) func() (any, error) {
		return func() (any, error) { return q.Top(ctx, d, r, 10, Filter{}) }
	}
	namesDaily := []string{
		`CREATE TABLE IF NOT EXISTS {db}.names_1d (t DateTime, kind {lc}, category {lc}, name String, hits UInt64)
			ENGINE = SummingMergeTree(hits) PARTITION BY toYYYYMM(t) ORDER BY (t, kind, category, name)`,
	}
	// Only the names, for the unfiltered top list, which is the slow one:
	// its cost follows the distinct names in the range, not the rows.
	namesOnlyDaily := []string{
		`CREATE TABLE IF NOT EXISTS {db}.names_only_1d (t DateTime, name String, hits UInt64)
			ENGINE = SummingMergeTree(hits) PARTITION BY toYYYYMM(t) ORDER BY (t, name)`,
	}
	// In chunks of 6 days, which 18.16 aggregates within its memory limit.
	for d := 0; d < dashDays; d += 6 {
		from := dashEnd - (dashDays-d)*86400
		namesDaily = append(namesDaily, fmt.Sprintf(`INSERT INTO {db}.names_1d SELECT toStartOfDay(t) AS d, kind, category, name, sum(hits)
			FROM {db}.names_1h WHERE t >= toDateTime(%d) AND t < toDateTime(%d) GROUP BY d, kind, category, name`, from, from+6*86400))
		namesOnlyDaily = append(namesOnlyDaily, fmt.Sprintf(`INSERT INTO {db}.names_only_1d SELECT toStartOfDay(t) AS d, name, sum(hits)
			FROM {db}.names_1h WHERE t >= toDateTime(%d) AND t < toDateTime(%d) GROUP BY d, name`, from, from+6*86400))
	}
	const (
		overTime = "SELECT intDiv(toUInt32(t), 3600) * 3600 AS b, category, sum(hits) FROM {db}.%s WHERE t >= toDateTime({from}) AND t < toDateTime({to}) GROUP BY b, category ORDER BY b, category"
		overHash = "SELECT intDiv(toUInt32(t), 3600) * 3600 AS b, any(category) AS k, sum(hits) FROM {db}.%s WHERE t >= toDateTime({from}) AND t < toDateTime({to}) GROUP BY b, cityHash64(category) ORDER BY b, k"
		topKey   = "SELECT %[2]s, sum(hits) AS n FROM {db}.%[1]s WHERE t >= toDateTime({from}) AND t < toDateTime({to}) GROUP BY %[2]s ORDER BY n DESC, %[2]s LIMIT 10"
		topHash  = "SELECT any(%[2]s) AS k, sum(hits) AS n FROM {db}.%[1]s WHERE t >= toDateTime({from}) AND t < toDateTime({to}) GROUP BY cityHash64(%[2]s) ORDER BY n DESC, k LIMIT 10"
	)
	return []dashVariant{
		{"HitsOverTime/30d-by-category-1h/wide-rollup", nil, fmt.Sprintf(overTime, "hits_1h"), month, overMonth, points},
		{"HitsOverTime/30d-by-category-1h/wide-rollup-hash-key", nil, fmt.Sprintf(overHash, "hits_1h"), month, overMonth, points},
		{"HitsOverTime/30d-by-category-1h/slim-rollup-hash-key", nil, fmt.Sprintf(overHash, "hits_cat_1h"), month, overMonth, points},
		{"Top/name-7d/one-pass-hash-key", nil, fmt.Sprintf(topHash, "names_1h", "name"), week, top(DimName, week), counts},
		{"Top/name-7d/one-pass-string-key", nil, fmt.Sprintf(topKey, "names_1h", "name"), week, top(DimName, week), counts},
		{"Top/name-7d/daily", namesDaily, fmt.Sprintf(topKey, "names_1d", "name"), week, top(DimName, week), counts},
		{"Top/name-7d/daily-hash-key", namesDaily, fmt.Sprintf(topHash, "names_1d", "name"), week, top(DimName, week), counts},
		{"Top/name-7d/daily-names-only", namesOnlyDaily, fmt.Sprintf(topKey, "names_only_1d", "name"), week, top(DimName, week), counts},
		{"Top/name-7d/daily-names-only-hash-key", namesOnlyDaily, fmt.Sprintf(topHash, "names_only_1d", "name"), week, top(DimName, week), counts},
		{"Top/client-7d/hash-key", nil, fmt.Sprintf(topHash, "clients_1h", "client"), week, top(DimClient, week), counts},
		{"Top/rule-7d/hash-key", nil, fmt.Sprintf(topHash, "hits_1h", "rule"), week, top(DimRule, week), counts},
	}
}

func benchVariants(b *testing.B, s Store, q *Queries, week, month Range) {
	ctx := context.Background()
	lc := newSchema(s.Database(), s.Version(), time.Time{}).lc()
	done := map[string]bool{}
	for _, v := range dashVariants(q, week, month) {
		b.Run("variant/"+v.name, func(b *testing.B) {
			for _, stmt := range v.setup {
				if !done[stmt] {
					benchExec(b, s, "%s", strings.NewReplacer("{db}", s.Database(), "{lc}", lc).Replace(stmt))
					done[stmt] = true
				}
			}
			query := strings.NewReplacer("{db}", s.Database(), "{from}", strconv.FormatInt(v.r.From.Unix(), 10),
				"{to}", strconv.FormatInt(v.r.To.Unix(), 10)).Replace(v.query)
			run := func() (any, error) {
				rows, err := s.Query(ctx, query)
				if err != nil {
					return nil, fmt.Errorf("%w\nquery: %s", err, query)
				}
				defer rows.Close()
				return v.scan(rows)
			}
			want, err := v.want()
			if err != nil {
				b.Fatal(err)
			}
			got, err := run()
			if err != nil {
				b.Fatal(err)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				b.Fatalf("the variant answers differently (-current +variant):\n%s", diff)
			}
			clock := engineCPU(b, s)
			cpu := clock()
			b.ResetTimer()
			for range b.N {
				if _, err := run(); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/op")
			b.ReportMetric(float64((clock()-cpu).Microseconds())/1000/float64(b.N), "cpu-ms/op")
		})
	}
}

// BenchmarkIngestSustained offers hits at a steady rate for a while
// (CAMPUSGUARD_BENCH_SUSTAIN_SECONDS, default 20) and reports what the
// store took while they came: stored-hits/s counts the rows written by the
// end of the offer over its length, so a writer that keeps up reports
// about the offered rate less one batch interval's worth; spooled-% and
// tail-ms (the drain after the offer) show whether it fell behind. One
// iteration is the whole run.
func BenchmarkIngestSustained(b *testing.B) {
	seconds := 20
	if v := os.Getenv("CAMPUSGUARD_BENCH_SUSTAIN_SECONDS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			b.Fatalf("CAMPUSGUARD_BENCH_SUSTAIN_SECONDS=%q: want whole seconds", v)
		}
		seconds = n
	}
	evs := benchEvents(1 << 14)
	for _, c := range []struct {
		name     string
		chdb     bool
		rate     int
		parallel int
	}{
		{"server/200k", false, 200_000, 0},
		{"server/250k", false, 250_000, 0},
		{"server-serial/200k", false, 200_000, 1},
		{"chdb/200k", true, 200_000, 0},
	} {
		b.Run(c.name, func(b *testing.B) {
			var s Store
			if c.chdb {
				s = benchEmbeddedStore(b)
			} else {
				s = benchServerStore(b)
			}
			for range b.N {
				reg := prometheus.NewRegistry()
				w, err := NewWriter(s, WriterOptions{SpoolDir: b.TempDir(), Registerer: reg, Logger: benchLogger(), Parallel: c.parallel})
				if err != nil {
					b.Fatal(err)
				}
				before := benchCount(b, s, "SELECT count() FROM %s.hits", s.Database())
				one := *evs[0]
				one.Hits = one.Hits[:1]
				next, n := 0, c.rate*seconds
				start := time.Now()
				paceHits(w, evs, &one, &next, n, c.rate)
				offer := time.Since(start)
				stored := metricValue(b, reg, "campusguard_hitlog_rows_written_total")
				drained := time.Now()
				if err := syncWithin(w, 5*time.Minute); err != nil {
					b.Fatal(err)
				}
				tail := time.Since(drained)
				if got := benchCount(b, s, "SELECT count() FROM %s.hits", s.Database()) - before; got != uint64(n) {
					b.Fatalf("stored %d of %d hits", got, n)
				}
				b.ReportMetric(stored/offer.Seconds(), "stored-hits/s")
				b.ReportMetric(float64(n)/offer.Seconds(), "offered-hits/s")
				b.ReportMetric(100*metricValue(b, reg, "campusguard_hitlog_spooled_rows_total")/float64(n), "spooled-%")
				b.ReportMetric(float64(tail.Milliseconds()), "tail-ms")
				if err := w.Close(context.Background()); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
