package matcher

import (
	"bytes"
	"strings"
	"testing"

	"github.com/cloudflare/ahocorasick"
)

// TestBenchFixtures checks, on small sizes, that the benchmark fixtures are
// what BENCHMARKS.md says they are and that each benchmark and its peer
// compute the same answers, so the comparisons are fair. It takes well
// under a second and is skipped with -short.
func TestBenchFixtures(t *testing.T) {
	if testing.Short() {
		t.Skip("benchmark fixtures")
	}
	t.Run("domains", func(t *testing.T) {
		d := genDomains(20_000, 4096)
		if d.avgLen < 35 || d.avgLen > 45 {
			t.Errorf("average query length %.1f bytes, want about 40", d.avgLen)
		}
		again := genDomains(20_000, 16)
		if again.rules[19_999] != d.rules[19_999] || again.misses[7] != d.misses[7] {
			t.Error("domain fixture is not deterministic")
		}
		idx := buildBenchIndex(t, d.rules, 0)
		naive := buildNaive(d.rules)
		var hits int
		for _, mix := range [][]string{d.misses, d.hits10, d.hits10MC} {
			for _, q := range mix {
				var buf [32]domainHit
				var nbuf [32]int32
				norm, _ := normalizeDomain(q)
				got, want := idx.lookup(norm, buf[:0]), naive.lookup(q, nbuf[:0])
				if len(got) != len(want) {
					t.Fatalf("%s: index found %d suffixes, naive map %d", q, len(got), len(want))
				}
				for i := range got {
					if got[i].at != want[i] {
						t.Fatalf("%s: index hit at %d, naive at %d", q, got[i].at, want[i])
					}
				}
			}
		}
		for _, q := range d.misses {
			var nbuf [32]int32
			if len(naive.lookup(q, nbuf[:0])) > 0 {
				t.Fatalf("miss %s is listed", q)
			}
		}
		for _, q := range d.hits10 {
			var nbuf [32]int32
			if len(naive.lookup(q, nbuf[:0])) > 0 {
				hits++
			}
		}
		if f := float64(hits) / float64(len(d.hits10)); f < 0.09 || f > 0.11 {
			t.Errorf("hit mix has %.3f hits, want 0.10", f)
		}
	})
	t.Run("keywords", func(t *testing.T) {
		kws := benchKeywords(500)
		zh := 0
		for _, k := range kws {
			if k[0] >= 0x80 {
				zh++
			}
		}
		if zh != 250 {
			t.Errorf("%d of 500 keywords are Chinese, want half", zh)
		}
		text, planted := benchText(256<<10, kws, benchPlantEvery)
		if planted < 80 || planted > 180 {
			t.Errorf("planted %d keywords in 256 KiB, want about 128", planted)
		}
		x, err := buildBenchKeywords(kws, false)
		if err != nil {
			t.Fatal(err)
		}
		sc := &scratch{}
		x.scan(text, sc, benchScanLimit)
		// Every id cloudflare finds as a whole word (or in Chinese text) is
		// found by the scanner, which also reports where.
		found := map[string]bool{}
		for _, m := range sc.matches {
			s, e := sc.span(m)
			found[text[s:e]] = true
		}
		ac := ahocorasick.NewStringMatcher(kws)
		for _, id := range ac.Match([]byte(text)) {
			k := kws[id]
			if !found[k] && (k[0] >= 0x80 || wholeWord(text, k)) {
				t.Errorf("keyword %q found by cloudflare/ahocorasick, not by the scanner", k)
			}
		}
		if len(sc.matches) < planted {
			t.Errorf("scanner found %d matches, %d were planted", len(sc.matches), planted)
		}
	})
	t.Run("posts", func(t *testing.T) {
		posts := loadBenchPosts(t)
		if len(posts) < 30 {
			t.Errorf("%d posts in testdata/bench/posts.txt, want at least 30", len(posts))
		}
		for _, p := range posts {
			if strings.Contains(p, "\n---") || len(p) < 40 {
				t.Errorf("bad post %q", p)
			}
		}
	})
}

// wholeWord reports whether the ASCII keyword k occurs in text with no
// letter or digit on either side.
func wholeWord(text, k string) bool {
	isAlnum := func(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' }
	tb := []byte(text)
	for off := 0; ; {
		i := bytes.Index(tb[off:], []byte(k))
		if i < 0 {
			return false
		}
		s, e := off+i, off+i+len(k)
		if (s == 0 || !isAlnum(tb[s-1])) && (e == len(tb) || !isAlnum(tb[e])) {
			return true
		}
		off = s + 1
	}
}
