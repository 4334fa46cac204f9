package moderation

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/campusguard/campusguard/internal/event"
	"github.com/campusguard/campusguard/internal/state"
	"github.com/campusguard/campusguard/matcher"
	"github.com/campusguard/campusguard/rules"
)

// The ingest benchmark's data: ~10k rules (the example packs plus a
// generated pack of 10,000 keywords, half Chinese, half English) and
// distinct forum posts of 200–2,000 Chinese characters, of which about 10%
// carry a keyword of the generated pack (verdict flag: a queue item is
// written) and 2% one of the example fraud keywords (hold).
const (
	benchKeywords = 10_000
	benchTexts    = 2_000
	benchClients  = 8
)

type benchData struct {
	set   *matcher.Set
	texts [][]byte // each a JSON-encoded string: "…"
	hits  int      // texts that were planted with a keyword
}

var (
	benchOnce sync.Once
	benchFix  *benchData
	benchErr  error
)

// hanzi returns n distinct CJK characters, shuffled with r.
func hanzi(r *rand.Rand, n int) []rune {
	var all []rune
	for c := rune(0x4E00); c <= 0x9FA5; c++ {
		all = append(all, c)
	}
	r.Shuffle(len(all), func(i, j int) { all[i], all[j] = all[j], all[i] })
	return all[:n]
}

func loadBenchData(tb testing.TB) *benchData {
	benchOnce.Do(func() {
		r := rand.New(rand.NewPCG(1, 2))
		pool := hanzi(r, 6000)
		textPool, kwPool := pool[:3000], pool[3000:] // keywords appear only where planted
		var kws []string
		seen := map[string]bool{}
		for len(kws) < benchKeywords {
			var kw string
			if len(kws)%2 == 0 {
				k := make([]rune, 2+r.IntN(5))
				for i := range k {
					k[i] = kwPool[r.IntN(len(kwPool))]
				}
				kw = string(k)
			} else {
				b := make([]byte, 5+r.IntN(8))
				for i := range b {
					b[i] = "abcdefghijklmnopqrstuvwxyz"[r.IntN(26)]
				}
				kw = string(b)
			}
			if !seen[kw] {
				seen[kw] = true
				kws = append(kws, kw)
			}
		}
		dir, err := os.MkdirTemp("", "moderation-bench-")
		if err != nil {
			benchErr = err
			return
		}
		defer os.RemoveAll(dir)
		list := filepath.Join(dir, "bench-keywords.txt")
		if err := os.WriteFile(list, []byte(strings.Join(kws, "\n")+"\n"), 0o644); err != nil {
			benchErr = err
			return
		}
		pack := filepath.Join(dir, "bench.yaml")
		if err := os.WriteFile(pack, []byte("name: bench-keywords\ncategory: spam\nseverity: low\napplies_to: [post]\n"+
			"action: {post: flag}\nfiles:\n  - {path: bench-keywords.txt, format: keywords}\n"), 0o644); err != nil {
			benchErr = err
			return
		}
		m, rep, err := matcher.New(matcher.Options{Packs: []string{"builtin", pack}, Builtin: rules.FS, TraditionalToSimplified: true})
		if err == nil {
			err = rep.Err()
		}
		if err != nil {
			benchErr = err
			return
		}
		fx := &benchData{set: m.Set()}
		zipf := rand.NewZipf(r, 1.1, 4, uint64(len(textPool)-1))
		punct := []string{"，", "。", "！", "？", "、"}
		fraud := []string{"刷单", "校园贷", "兼职日结", "代考"}
		for i := 0; i < benchTexts; i++ {
			n := 200 + r.IntN(1801)
			var b strings.Builder
			plantAt := -1
			if i%10 == 0 || i%50 == 1 {
				plantAt = r.IntN(n)
				fx.hits++
			}
			for j := 0; j < n; j++ {
				if j == plantAt {
					if i%10 == 0 {
						b.WriteString(kws[r.IntN(len(kws))])
					} else {
						b.WriteString(fraud[r.IntN(len(fraud))])
					}
				}
				b.WriteRune(textPool[zipf.Uint64()])
				if r.IntN(12) == 0 {
					b.WriteString(punct[r.IntN(len(punct))])
				}
			}
			enc, _ := json.Marshal(b.String())
			fx.texts = append(fx.texts, enc)
		}
		benchFix = fx
	})
	if benchErr != nil {
		tb.Fatal(benchErr)
	}
	return benchFix
}

// BenchmarkIngestHTTP posts to POST /api/v1/posts through IngestHandler on
// a loopback listener (httptest.Server) from 8 concurrent keep-alive
// clients in the same process, into a state database file in b.TempDir().
// Every post has a new id. One op is one post; posts/s is over the whole
// run, the latencies (p50-ms, p99-ms, p99.9-ms) are per request: one post
// (single*) or 100 (ndjson-100). hit-fraction is the share of posts with
// hits (queued and sent to the sink); wal-MB the WAL file at the end.
//
//	single                     the target: this package alone (token compared in memory)
//	single-state-token         serve's bearer auth: the token looked up in the state database per request
//	single-state-token-cached  the same behind CacheAuth (10 s)
//	single-tx-per-request      the design not taken: a transaction per request, writers meeting in SQLite's lock
//	ndjson-100                 batches of 100 posts a request
func BenchmarkIngestHTTP(b *testing.B) {
	for _, c := range []struct {
		name   string
		batch  int
		direct bool
		auth   string
	}{
		{"single", 1, false, "static"},
		{"single-state-token", 1, false, "state"},
		{"single-state-token-cached", 1, false, "cached"},
		{"single-tx-per-request", 1, true, "static"},
		{"ndjson-100", 100, false, "static"},
	} {
		b.Run(c.name, func(b *testing.B) { benchIngestHTTP(b, c.batch, c.direct, c.auth) })
	}
}

// benchIngestHTTP: auth "static" compares the token in memory (the cost of
// this package alone), "state" checks it in the state database on every
// request as serve's bearer auth does, "cached" wraps that in CacheAuth.
func benchIngestHTTP(b *testing.B, batch int, direct bool, authMode string) {
	fx := loadBenchData(b)
	ctx := context.Background()
	db, err := state.Open(ctx, filepath.Join(b.TempDir(), "state.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	secret, _, err := db.AddToken(ctx, "forum", state.ScopeIngest)
	if err != nil {
		b.Fatal(err)
	}
	var events atomic.Int64
	s, err := New(db, Options{Rules: func() *matcher.Set { return fx.set }, Sink: func(*event.Event) { events.Add(1) }})
	if err != nil {
		b.Fatal(err)
	}
	s.writer.direct = direct
	auth := func(r *http.Request) (string, error) {
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok {
			return "", fmt.Errorf("no token")
		}
		if authMode == "static" {
			if subtle.ConstantTimeCompare([]byte(tok), []byte(secret)) != 1 {
				return "", state.ErrBadToken
			}
			return "token:forum", nil
		}
		t, err := db.CheckToken(r.Context(), tok, state.ScopeIngest)
		if err != nil {
			return "", err
		}
		return "token:" + t.Name, nil
	}
	if authMode == "cached" {
		auth = CacheAuth(auth, 10*time.Second)
	}
	srv := httptest.NewServer(s.IngestHandler(auth))
	defer srv.Close()
	tr := &http.Transport{MaxIdleConnsPerHost: benchClients, MaxConnsPerHost: benchClients}
	client := &http.Client{Transport: tr}
	defer tr.CloseIdleConnections()

	requests := (b.N + batch - 1) / batch
	var next atomic.Int64
	lat := make([][]time.Duration, benchClients)
	var wg sync.WaitGroup
	var failed atomic.Value
	b.ResetTimer()
	start := time.Now()
	for c := 0; c < benchClients; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var body bytes.Buffer
			for {
				i := int(next.Add(1)) - 1
				if i >= requests {
					return
				}
				body.Reset()
				for k := 0; k < batch; k++ {
					n := i*batch + k
					body.WriteString(`{"id":"`)
					body.WriteString(strconv.Itoa(n))
					body.WriteString(`","forum":"bbs","author":"u`)
					body.WriteString(strconv.Itoa(n % 997))
					body.WriteString(`","title":"帖子 `)
					body.WriteString(strconv.Itoa(n))
					body.WriteString(`","body":`)
					body.Write(fx.texts[n%len(fx.texts)])
					body.WriteString("}\n")
				}
				req, _ := http.NewRequest(http.MethodPost, srv.URL, bytes.NewReader(body.Bytes()))
				req.Header.Set("Authorization", "Bearer "+secret)
				req.Header.Set("Content-Type", "application/json")
				t0 := time.Now()
				resp, err := client.Do(req)
				if err != nil {
					failed.Store(err)
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				lat[c] = append(lat[c], time.Since(t0))
				if resp.StatusCode != 200 {
					failed.Store(fmt.Errorf("status %d", resp.StatusCode))
					return
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	if err, _ := failed.Load().(error); err != nil {
		b.Fatal(err)
	}
	all := slices.Concat(lat...)
	slices.Sort(all)
	pct := func(p float64) float64 {
		return float64(all[min(len(all)-1, int(p*float64(len(all))))].Microseconds()) / 1000
	}
	b.ReportMetric(float64(requests*batch)/elapsed.Seconds(), "posts/s")
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	b.ReportMetric(pct(0.999), "p99.9-ms")
	// The WAL must stay bounded (checkpoints keep up with the writer).
	if st, err := os.Stat(db.Path() + "-wal"); err == nil {
		b.ReportMetric(float64(st.Size())/(1<<20), "wal-MB")
	}
	b.ReportMetric(float64(events.Load())/float64(requests*batch), "hit-fraction")
}
