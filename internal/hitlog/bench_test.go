package hitlog

// Benchmarks of the hit store's performance targets, on the Debian
// clickhouse-server 18.16 and on chDB 26.7:
//
//   - BenchmarkIngest1M: hits through the real Writer (Write of events →
//     batches → Insert) until Sync returns and the rows are counted, with
//     clickhouse-go's row-wise batch.Append as the peer of the columnar path.
//   - BenchmarkIngestStalled: the Writer's heap while the server is paused.
//   - BenchmarkServerInsert50k: one INSERT of a 50k-row batch, columnar
//     against row-wise, without the Writer.
//   - BenchmarkDashboard10M: the console's queries on 10M seeded hits.

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
		// utime and stime are 14 and 15, in clock ticks of 10 ms.
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
			b.Fatalf("after %d iterations the hits table has %d rows, want %d", i+1, got, want)
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

// BenchmarkServerInsert50k is one Store.Insert of a 50k-row batch into the
// shared server: the columnar path against clickhouse-go's row-wise
// batch.Append, and the columnar path into a hits table without the
// rollups' materialized views (schema version 1), which shows what the four
// views cost the server. cpu-ns/row is this process, server-cpu-ns/row the
// server's.
func BenchmarkServerInsert50k(b *testing.B) {
	evs := benchEvents(1 << 14)
	var rows []Row
	for i := 0; len(rows) < 50_000; i++ {
		ev := evs[i%len(evs)]
		ev.Time = time.Now()
		for j := range ev.Hits {
			rows = append(rows, rowOf(ev, &ev.Hits[j]))
		}
	}
	rows = rows[:50_000]
	for _, c := range []struct {
		name    string
		version int
		rowwise bool
	}{{"columnar", LatestVersion(), false}, {"rowwise", LatestVersion(), true}, {"columnar-no-rollups", 1, false}} {
		b.Run(c.name, func(b *testing.B) {
			srv := chtest.SharedServer(b)
			var s Store = benchOpen(b, srv.URL(srv.NewDatabase(b)), c.version)
			if c.rowwise {
				s = rowwiseStore{s.(*serverStore)}
			}
			ctx := context.Background()
			cpu, srvCPU := cpuTime(), serverCPU(srv)
			b.ResetTimer()
			for i := range b.N {
				if err := s.Insert(ctx, &Batch{ID: uint64(i + 1), Rows: rows}); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			cpu, srvCPU = cpuTime()-cpu, serverCPU(srv)-srvCPU
			n := float64(b.N) * float64(len(rows))
			if got := benchCount(b, s, "SELECT count() FROM %s.hits", s.Database()); got != uint64(n) {
				b.Fatalf("%d rows stored, want %v", got, n)
			}
			b.ReportMetric(n/b.Elapsed().Seconds(), "rows/s")
			b.ReportMetric(float64(cpu.Nanoseconds())/n, "cpu-ns/row")
			b.ReportMetric(float64(srvCPU.Nanoseconds())/n, "server-cpu-ns/row")
		})
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
var dashTables = []string{"hits", "hits_1m", "hits_1h", "names_1h", "clients_1h"}

// seedDashboard fills s with the fixture and waits for its merges to end.
// Inserts go in blocks of 100k rows, which the views of 18.16 turn into
// rollup rows twice as fast as the default blocks of 1M; a server gets two
// INSERTs at once (one a core), chDB one with two insert threads.
func seedDashboard(b testing.TB, s Store) {
	start := time.Now()
	sql := func(lo, n int) string {
		return strings.NewReplacer("{db}", s.Database(), "{start}", strconv.Itoa(dashEnd-dashDays*86400),
			"{span}", strconv.Itoa(dashDays*86400), "{hits}", strconv.Itoa(dashHits),
			"{names}", strconv.Itoa(benchNames), "{clients}", strconv.Itoa(benchClients), "{rules}", strconv.Itoa(benchRules),
			"{lo}", strconv.Itoa(lo), "{n}", strconv.Itoa(n)).Replace(dashSeedSQL)
	}
	if _, ok := s.(*embeddedStore); ok {
		benchExec(b, s, "%s SETTINGS max_block_size = 100000, min_insert_block_size_rows = 100000, max_insert_threads = 2", sql(0, dashHits))
	} else {
		ctx := clickhouse.Context(context.Background(), clickhouse.WithSettings(clickhouse.Settings{
			"max_block_size": 100_000, "min_insert_block_size_rows": 100_000}))
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for i := range errs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = s.Exec(ctx, sql(i*dashHits/2, dashHits/2))
			}()
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				b.Fatalf("seed: %v", err)
			}
		}
	}
	seeded := time.Since(start)
	for deadline := time.Now().Add(5 * time.Minute); benchCount(b, s, "SELECT count() FROM system.merges WHERE database = %s", quote(s.Database())) > 0; {
		if time.Now().After(deadline) {
			b.Log("merges still running after 5 minutes; measuring anyway")
			break
		}
		time.Sleep(time.Second)
	}
	b.Logf("%s: seeded %d hits in %v, merges done %v later", s.Describe(), dashHits, seeded.Round(100*time.Millisecond),
		(time.Since(start) - seeded).Round(100*time.Millisecond))
	if n := benchCount(b, s, "SELECT count() FROM %s.hits", s.Database()); n != dashHits {
		b.Fatalf("seeded %d hits, want %d", n, dashHits)
	}
	for _, t := range dashTables {
		b.Logf("  %-10s %9d rows in %3d active parts", t, benchCount(b, s, "SELECT count() FROM %s.%s", s.Database(), t), tableParts(b, s, t))
	}
	var names, clients, rules uint64
	if err := queryOne(context.Background(), s, fmt.Sprintf("SELECT uniqExact(name), uniqExact(client), uniqExact(rule) FROM %s.hits", s.Database()),
		&names, &clients, &rules); err != nil {
		b.Fatal(err)
	}
	b.Logf("  distinct names %d, clients %d, rules %d", names, clients, rules)
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
	if got, want := must(q.Total(ctx, day, Filter{})), benchCount(b, s, "SELECT count() FROM %s.hits WHERE ts >= toDateTime(%d) AND ts < toDateTime(%d)",
		s.Database(), day.From.Unix(), day.To.Unix()); got != want {
		b.Fatalf("Total(24 h) = %d, the hits table has %d", got, want)
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
		{"HitsOverTime/30d-by-category-1h", "hits_1h", month, func() (int, error) {
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
			b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/op")
			b.ReportMetric(float64(tableParts(b, s, c.table)), "parts")
			b.ReportMetric(float64(rows), "rows")
		})
	}
	benchVariants(b, s, q, day, week, month)
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

// The prototypes: a slim hourly rollup without pack and rule for charts by
// kind, category, sensor or action; a daily names rollup; and grouping by a
// 64-bit hash of the string key, with any() for the string, which gives
// ClickHouse a fixed-width key.
func dashVariants(q *Queries, day, week, month Range) []dashVariant {
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
	catRollup := []string{
		`CREATE TABLE IF NOT EXISTS {db}.hits_cat_1h (t DateTime, sensor {lc}, kind {lc}, category {lc}, action {lc}, severity UInt8, hits UInt64)
			ENGINE = SummingMergeTree(hits) PARTITION BY toYYYYMM(t) ORDER BY (t, sensor, kind, category, action, severity)`,
		`INSERT INTO {db}.hits_cat_1h SELECT t, sensor, kind, category, action, severity, sum(hits) FROM {db}.hits_1h
			GROUP BY t, sensor, kind, category, action, severity`,
	}
	namesDaily := []string{
		`CREATE TABLE IF NOT EXISTS {db}.names_1d (t DateTime, kind {lc}, category {lc}, name String, hits UInt64)
			ENGINE = SummingMergeTree(hits) PARTITION BY toYYYYMM(t) ORDER BY (t, kind, category, name)`,
	}
	// In chunks of 6 days, which 18.16 aggregates within its memory limit.
	for d := 0; d < dashDays; d += 6 {
		from := dashEnd - (dashDays-d)*86400
		namesDaily = append(namesDaily, fmt.Sprintf(`INSERT INTO {db}.names_1d SELECT toStartOfDay(t) AS d, kind, category, name, sum(hits)
			FROM {db}.names_1h WHERE t >= toDateTime(%d) AND t < toDateTime(%d) GROUP BY d, kind, category, name`, from, from+6*86400))
	}
	const (
		overTime = "SELECT intDiv(toUInt32(t), 3600) * 3600 AS b, category, sum(hits) FROM {db}.%s WHERE t >= toDateTime({from}) AND t < toDateTime({to}) GROUP BY b, category ORDER BY b, category"
		overHash = "SELECT intDiv(toUInt32(t), 3600) * 3600 AS b, any(category) AS k, sum(hits) FROM {db}.%s WHERE t >= toDateTime({from}) AND t < toDateTime({to}) GROUP BY b, cityHash64(category) ORDER BY b, k"
		topKey   = "SELECT %[2]s, sum(hits) AS n FROM {db}.%[1]s WHERE t >= toDateTime({from}) AND t < toDateTime({to}) GROUP BY %[2]s ORDER BY n DESC, %[2]s LIMIT 10"
		topHash  = "SELECT any(%[2]s) AS k, sum(hits) AS n FROM {db}.%[1]s WHERE t >= toDateTime({from}) AND t < toDateTime({to}) GROUP BY cityHash64(%[2]s) ORDER BY n DESC, k LIMIT 10"
	)
	return []dashVariant{
		{"HitsOverTime/30d-by-category-1h/hash-key", nil, fmt.Sprintf(overHash, "hits_1h"), month, overMonth, points},
		{"HitsOverTime/30d-by-category-1h/slim-rollup", catRollup, fmt.Sprintf(overTime, "hits_cat_1h"), month, overMonth, points},
		{"HitsOverTime/30d-by-category-1h/slim-rollup-hash-key", catRollup, fmt.Sprintf(overHash, "hits_cat_1h"), month, overMonth, points},
		{"Top/name-7d/hash-key", nil, fmt.Sprintf(topHash, "names_1h", "name"), week, top(DimName, week), counts},
		{"Top/name-7d/daily", namesDaily, fmt.Sprintf(topKey, "names_1d", "name"), week, top(DimName, week), counts},
		{"Top/name-7d/daily-hash-key", namesDaily, fmt.Sprintf(topHash, "names_1d", "name"), week, top(DimName, week), counts},
		{"Top/client-7d/hash-key", nil, fmt.Sprintf(topHash, "clients_1h", "client"), week, top(DimClient, week), counts},
		{"Top/rule-7d/hash-key", nil, fmt.Sprintf(topHash, "hits_1h", "rule"), week, top(DimRule, week), counts},
	}
}

func benchVariants(b *testing.B, s Store, q *Queries, day, week, month Range) {
	ctx := context.Background()
	lc := newSchema(s.Database(), s.Version(), time.Time{}).lc()
	done := map[string]bool{}
	for _, v := range dashVariants(q, day, week, month) {
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
			b.ResetTimer()
			for range b.N {
				if _, err := run(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/op")
		})
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
