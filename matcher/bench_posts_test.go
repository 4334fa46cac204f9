package matcher

import (
	"os"
	"sync"
	"testing"

	"github.com/campusguard/campusguard/internal/benchclock"
	"github.com/campusguard/campusguard/internal/event"
	"github.com/campusguard/campusguard/rules"
)

// Target 3 (BENCHMARKS.md): matching real forum posts end to end —
// (*Set).MatchText with the built-in example packs plus 10k synthetic
// keywords — at ≥ 100 MB/s. One MatchText call per post, so the per-call
// overhead (pool, fold, regexes, detectors, hit construction) counts.

type postsFixture struct {
	set    *Set
	posts  []string // cycled to ~4 MB
	bytes  int
	unique int
}

var (
	postsOnce sync.Once
	postsFix  *postsFixture
)

func benchPostsFixture(b *testing.B) *postsFixture {
	postsOnce.Do(func() {
		dir, err := os.MkdirTemp("", "campusguard-bench-")
		if err != nil {
			b.Fatal(err)
		}
		defer os.RemoveAll(dir)
		pack := writeKeywordPack(b, dir, "bench-keywords", benchKeywords(10_000))
		m, rep, err := New(Options{
			Packs:                   []string{"builtin", pack},
			Builtin:                 rules.FS,
			TraditionalToSimplified: true,
		})
		if err != nil {
			b.Fatal(err)
		}
		if err := rep.Err(); err != nil {
			b.Fatal(err)
		}
		posts := loadBenchPosts(b)
		fx := &postsFixture{set: m.Set(), unique: len(posts)}
		for fx.bytes < benchTextBytes {
			for _, p := range posts {
				fx.posts = append(fx.posts, p)
				fx.bytes += len(p)
			}
		}
		postsFix = fx
	})
	return postsFix
}

// BenchmarkMatchPosts: one op = every post of the ~4 MB corpus, one
// MatchText call each; ns/post and allocs/post are per call. The "set" case
// is the target; the others split its cost into the stages matchText runs
// (same posts, same Set), to show where the time goes.
func BenchmarkMatchPosts(b *testing.B) {
	fx := benchPostsFixture(b)
	b.Run("set", func(b *testing.B) {
		hits := make([]event.Hit, 0, 256)
		nhits := 0
		benchPosts(b, fx, func(p string) {
			hits = fx.set.MatchText(event.KindPost, event.FieldText, p, hits[:0])
			nhits += len(hits)
		})
		b.ReportMetric(float64(nhits)/float64(b.N*len(fx.posts)), "hits/post")
	})
	b.Run("keywords-only", func(b *testing.B) {
		sc := &scratch{}
		benchPosts(b, fx, func(p string) {
			fx.set.keywords.scan(p, sc, fx.set.maxHits)
		})
	})
	b.Run("regexes-only", func(b *testing.B) {
		benchPosts(b, fx, func(p string) {
			for _, pk := range fx.set.packs {
				if pk.kinds&(1<<event.KindPost) == 0 {
					continue
				}
				for _, r := range pk.regexes { // as matchText runs them
					if r.pre.mayMatch(p) {
						benchSink += len(r.re.FindStringIndex(p))
					}
				}
			}
		})
	})
	b.Run("detectors-only", func(b *testing.B) {
		hits := make([]event.Hit, 0, 256)
		var runs [2]digitRun
		benchPosts(b, fx, func(p string) {
			for _, pk := range fx.set.packs {
				if len(pk.detectors) > 0 && pk.kinds&(1<<event.KindPost) != 0 {
					hits = pk.detect(p, event.FieldText, hits[:0], fx.set.maxHits, &runs)
				}
			}
		})
	})
}

func benchPosts(b *testing.B, fx *postsFixture, match func(post string)) {
	b.SetBytes(int64(fx.bytes))
	b.ReportAllocs()
	m0 := mallocs()
	b.ResetTimer()
	c := benchclock.Start()
	for i := 0; i < b.N; i++ {
		for _, p := range fx.posts {
			match(p)
		}
	}
	c.Stop(b, int64(fx.bytes))
	b.StopTimer()
	calls := float64(b.N) * float64(len(fx.posts))
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/calls, "ns/post")
	b.ReportMetric(float64(mallocs()-m0)/calls, "allocs/post")
}
