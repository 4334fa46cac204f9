package matcher

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/campusguard/campusguard/internal/event"
)

func TestMatchText(t *testing.T) {
	set := newTestSet(t, map[string]string{
		"fraud.yaml": `name: fraud
category: fraud
applies_to: [post]
action: {post: hold}
keywords: [刷单, 校园贷, bet, qq群, "free money", 单]
files: [{path: k.txt, format: keywords}, {path: r.txt, format: regex}]
`,
		"k.txt": "# comment\n\ufeff兼职日结\r\n學生貸款\n",
		"r.txt": "加\\s*微信\\s*[a-z0-9_]{5,}\n",
	})
	tests := []struct {
		name, text string
		want       []string // rule match start-end
	}{
		{"plain", "快来刷单", []string{"fraud.yaml:5 刷单 6-12", "fraud.yaml:5 单 9-12"}},
		{"zero width inside", "刷\u200b单", []string{"fraud.yaml:5 刷\u200b单 0-9", "fraud.yaml:5 单 6-9"}},
		{"space and digits", "２０２２刷 单", []string{"fraud.yaml:5 刷 单 12-19", "fraud.yaml:5 单 16-19"}},
		{"punctuation", "刷*单!", []string{"fraud.yaml:5 刷*单 0-7", "fraud.yaml:5 单 4-7"}},
		{"traditional", "學生貸款秒批", []string{"k.txt:3 學生貸款 0-12"}},
		{"traditional keyword, simplified text", "学生贷款", []string{"k.txt:3 学生贷款 0-12"}},
		{"ascii word", "place a BET now", []string{"fraud.yaml:5 BET 8-11"}},
		{"ascii inside a word", "alphabet betting", nil},
		{"ascii spaced out", "b e t!", []string{"fraud.yaml:5 b e t 0-5"}},
		{"phrase across spaces", "get FREE   money", []string{"fraud.yaml:5 FREE   money 4-16"}},
		{"mixed keyword", "加qq群123", []string{"fraud.yaml:5 qq群 3-8"}},
		{"regex", "请加 微信 abc_123", []string{"r.txt:1 加 微信 abc_123 3-21"}},
		{"file keyword with BOM line", "兼职日结", []string{"k.txt:2 兼职日结 0-12"}},
		{"nothing", "今天天气不错", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hits := set.MatchText(event.KindPost, event.FieldText, tt.text, nil)
			var got []string
			for _, h := range hits {
				if tt.text[h.Start:h.End] != h.Match {
					t.Errorf("hit %+v: match %q is not text[start:end] %q", h, h.Match, tt.text[h.Start:h.End])
				}
				got = append(got, fmt.Sprintf("%s %s %d-%d", h.Rule, h.Match, h.Start, h.End))
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("MatchText(%q)\n got  %q\n want %q", tt.text, got, tt.want)
			}
		})
	}
	if hits := set.MatchText(event.KindDNS, event.FieldName, "刷单", nil); len(hits) != 0 {
		t.Errorf("post-only pack hit a dns event: %+v", hits)
	}
}

func TestMaxHitsPerText(t *testing.T) {
	// 300 distinct keywords, each once: the default cap of 256 hits holds.
	var kws, text []string
	for i := range 300 {
		kw := fmt.Sprintf("kw%03d", i)
		kws = append(kws, kw)
		text = append(text, kw)
	}
	set := newTestSet(t, map[string]string{"p.yaml": "name: p\ncategory: spam\nkeywords: [" + strings.Join(kws, ", ") + "]\n"})
	hits := set.MatchText(event.KindPost, event.FieldText, strings.Join(text, " "), nil)
	if len(hits) != 256 {
		t.Errorf("got %d hits, want the default cap 256", len(hits))
	}
	for i, h := range hits {
		if h.Match != kws[i] {
			t.Fatalf("hit %d is %q, want %q: hits are in text order", i, h.Match, kws[i])
		}
	}
}

// TestRepeatsDoNotHideHits: the hit cap must not be used up by one keyword
// said over and over, nor by keywords of packs that do not apply to the
// event, so that the hit after them still shows.
func TestRepeatsDoNotHideHits(t *testing.T) {
	set := newTestSet(t, map[string]string{
		"dns.yaml":  "name: dns-only\ncategory: spam\napplies_to: [dns]\nkeywords: [the]\n",
		"post.yaml": "name: posts\ncategory: fraud\napplies_to: [post]\nkeywords: [scam, 免费]\n",
	})
	count := func(hits []event.Hit) map[string]int {
		n := map[string]int{}
		for _, h := range hits {
			n[h.Match]++
		}
		return n
	}
	for _, tt := range []struct {
		name, text string
		want       map[string]int
	}{
		{"another kind's keyword", strings.Repeat("the ", 300) + "scam", map[string]int{"scam": 1}},
		{"one keyword repeated", strings.Repeat("免费 ", 300) + "scam", map[string]int{"免费": maxKeywordOccurrences, "scam": 1}},
	} {
		got := count(set.MatchText(event.KindPost, event.FieldText, tt.text, nil))
		if fmt.Sprint(got) != fmt.Sprint(tt.want) {
			t.Errorf("%s: hits %v, want %v", tt.name, got, tt.want)
		}
	}
	// The dns pack still sees its keyword, capped the same way.
	if got := count(set.MatchText(event.KindDNS, event.FieldName, strings.Repeat("the.", 20)+"test", nil)); got["the"] != maxKeywordOccurrences || len(got) != 1 {
		t.Errorf("dns: hits %v, want %d of \"the\"", got, maxKeywordOccurrences)
	}
	// A scratch reused for another text starts its counts again (5 and 5
	// would pass the cap of 8 without the reset).
	for range 3 {
		if got := count(set.MatchText(event.KindPost, event.FieldText, strings.Repeat("scam ", 5), nil)); got["scam"] != 5 {
			t.Errorf("reused scratch: hits %v, want 5 of \"scam\"", got)
		}
	}
}

// naiveMatches is the reference matcher: fold the text rune by rune into the
// same folded characters and compare every keyword at every position.
type occurrence struct {
	kw         string
	start, end int
}

func naiveMatches(text string, keywords []string, fold *foldTable) []occurrence {
	type ch struct {
		r          rune
		start, end int
		gap        bool
		cont, more bool
	}
	var chars []ch
	gap := false
	for i, r := range text {
		size := utf8.RuneLen(r)
		if r == utf8.RuneError {
			_, size = utf8.DecodeRuneInString(text[i:])
		}
		kind, out := foldRune(r, fold.t2s, nil)
		switch kind {
		case foldSep:
			gap = true
		case foldKeep:
			for j, o := range out {
				chars = append(chars, ch{o, i, i + size, gap, j > 0, j < len(out)-1})
				gap = false
			}
		}
	}
	var out []occurrence
	for _, kw := range keywords {
		k, _ := FoldString(kw, fold.t2s != nil)
		kr := []rune(k)
		for i := 0; i+len(kr) <= len(chars); i++ {
			ok := true
			for j := range kr {
				if chars[i+j].r != kr[j] {
					ok = false
					break
				}
			}
			if !ok || chars[i].cont || chars[i+len(kr)-1].more {
				continue
			}
			if isASCIIAlnum(kr[0]) && i > 0 && !chars[i].gap && isASCIIAlnum(chars[i-1].r) {
				continue
			}
			if end := i + len(kr); isASCIIAlnum(kr[len(kr)-1]) && end < len(chars) && !chars[end].gap && isASCIIAlnum(chars[end].r) {
				continue
			}
			out = append(out, occurrence{kw, chars[i].start, chars[i+len(kr)-1].end})
		}
	}
	sortOccurrences(out)
	return out
}

func sortOccurrences(o []occurrence) {
	sort.Slice(o, func(i, j int) bool {
		if o[i].start != o[j].start {
			return o[i].start < o[j].start
		}
		if o[i].end != o[j].end {
			return o[i].end < o[j].end
		}
		return o[i].kw < o[j].kw
	})
}

// TestKeywordIndexMatchesNaive compares the filter-and-verify scanner with
// the naive reference on random Chinese/ASCII text and keywords drawn from a
// small alphabet, so keywords overlap, nest and repeat a lot.
func TestKeywordIndexMatchesNaive(t *testing.T) {
	fold, err := getFoldTable(true)
	if err != nil {
		t.Fatal(err)
	}
	// The second alphabet is mostly ASCII letters, so the text has words
	// longer than the eight bytes foldWord classifies at once, and words
	// that are and are not prefixes of keywords.
	alphabets := [][]string{
		{"刷", "单", "贷", "貸", "款", "a", "b", "A", "1", " ", "*", "\u200b", "ﬁ", "ｂ", "。", "é"},
		{"a", "b", "B", "c", "1", "a", "b", "c", "ab", "ABC", " ", "-", "刷", "ｂ", "ﬁ"},
	}
	rng := rand.New(rand.NewPCG(1, 2))
	var alphabet []string
	randString := func(min, max int) string {
		var b strings.Builder
		for n := min + rng.IntN(max-min+1); n > 0; n-- {
			b.WriteString(alphabet[rng.IntN(len(alphabet))])
		}
		return b.String()
	}
	for round := 0; round < 4000; round++ {
		alphabet = alphabets[round%2]
		var keywords []string
		b := newKeywordBuilder(fold)
		for k := 0; k < 1+rng.IntN(12); k++ {
			kw := randString(1, 6)
			if b.add(kw, int32(len(keywords))) == nil {
				keywords = append(keywords, kw)
			}
		}
		x := b.build()
		lo, hi := 0, 80+round%2*120
		if round%40 < 2 {
			// Longer than the scan's buffer (scanChunk characters): keywords
			// cross its flushes, in both alphabets.
			lo, hi = scanChunk, 3*scanChunk
		}
		text := randString(lo, hi)
		sc := &scratch{}
		x.scan(text, sc, 1<<20)
		var got []occurrence
		for _, m := range sc.matches {
			start, end := sc.span(m)
			for _, ref := range x.kwRefs[m.kw] {
				got = append(got, occurrence{keywords[ref], start, end})
			}
		}
		sortOccurrences(got)
		want := naiveMatches(text, keywords, fold)
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("round %d: text %q keywords %q\n got  %v\n want %v", round, text, keywords, got, want)
		}
	}
}

func TestKeywordErrors(t *testing.T) {
	m, rep := newTestMatcher(t, map[string]string{
		"p.yaml": "name: p\ncategory: spam\nkeywords: [ok, \"***\", \"" + strings.Repeat("长", 70) + "\"]\n",
	})
	if got := len(m.Set().Packs()[0].Problems); got != 2 {
		t.Fatalf("want 2 problems, got %v", m.Set().Packs()[0].Problems)
	}
	var reasons []string
	for _, p := range rep.Problems {
		reasons = append(reasons, p.Error())
	}
	want := []string{
		`builtin:p.yaml:3: keyword "***" has no letters or digits`,
		`builtin:p.yaml:3: keyword "` + strings.Repeat("长", 70) + `" is 70 characters after folding, the limit is 64`,
	}
	if fmt.Sprint(reasons) != fmt.Sprint(want) {
		t.Errorf("problems\n got  %q\n want %q", reasons, want)
	}
	// A reload reuses the unchanged pack; it must not count or report twice.
	for i := 0; i < 2; i++ {
		rep = m.Reload()
	}
	if p := m.Set().Packs()[0]; len(rep.Reused) != 1 || len(rep.Problems) != 2 || p.Keywords != 1 || len(p.Problems) != 2 {
		t.Errorf("after reloads: report %+v, pack %+v", rep, p)
	}
}

func TestMatchLinksInPosts(t *testing.T) {
	excepted, ok := normalizeIDN("shop.test.中文")
	if !ok {
		t.Fatal("normalizeIDN")
	}
	set := newTestSet(t, map[string]string{
		"p.yaml":    "name: p\ncategory: phishing\napplies_to: [post, dns]\naction: {post: hold}\ndomains: [evil.test, 统一认证.test]\n",
		"shop.yaml": "name: shop\ncategory: fraud\naction: {post: hold}\nfiles: [{path: shop.txt, format: adblock}]\n",
		"shop.txt":  "||shop.test^\n@@||" + excepted + "^\n",
	})
	tests := []struct{ text, want string }{
		{"login at https://evil.test/sso now", "[evil.test 17-26]"},
		{"HTTP://Sub.EVIL.test:443/x", "[EVIL.test 11-20]"},
		{"see www.evil.test，谢谢", "[evil.test 8-17]"},
		{"mail http://me@evil.test/", "[evil.test 15-24]"},
		{"去 https://统一认证.test/ 登录", "[统一认证.test 12-29]"},
		{"notevil.test and https://notevil.test", "[]"},
		{"evil.test without a scheme is not a link", "[]"},
		{"://evil.test", "[]"},
		// An empty host does not end the search for links.
		{"x:// https://evil.test", "[evil.test 13-22]"},
		{"http://@ https://evil.test", "[evil.test 17-26]"},
		// Dots that end a sentence, and the full stops browsers read as dots.
		{"https://evil.test...", "[evil.test 8-17]"},
		{"see www.evil.test..", "[evil.test 8-17]"},
		{"请访问 https://evil.test。", "[evil.test 18-27]"},
		{"https://evil。test/", "[evil。test 8-19]"},
		{"https://evil．test/", "[evil．test 8-19]"},
		// Chinese text straight after a link: its ASCII start is looked up too.
		{"点击https://evil.test领取奖励", "[evil.test 14-23]"},
		{"点击https://evil.test。领取奖励", "[evil.test 14-23]"},
		{"点击https://notevil.test领取", "[]"},
		// A link right after another one and a 。 is a link of its own.
		{"官网https://good.test。https://evil.test", "[evil.test 34-43]"},
		{"https://good.test。领取https://evil.test", "[evil.test 34-43]"},
		{"ok.test.https://evil.test", "[evil.test 16-25]"},
		// An IDN host, then 。 and text: the host up to the 。 is looked up.
		{"去 https://统一认证.test。领取", "[统一认证.test 12-29]"},
		// A pack reports a host once, on the first reading it knows: the
		// whole host, then up to a 。, then its ASCII start.
		{"https://evil.test。evil.test", "[evil.test。evil.test 8-29]"},
		{"https://a.shop.test/", "[shop.test 10-19]"},
		{"https://shop.test.中文/x", "[]"}, // the whole host is an exception; its ASCII start is not asked
	}
	for _, tt := range tests {
		ev := event.Event{Kind: event.KindPost, Text: tt.text}
		set.MatchEvent(&ev)
		got := []string{}
		for _, h := range ev.Hits {
			if tt.text[h.Start:h.End] != h.Match || h.Field != event.FieldText || h.Action != "hold" {
				t.Errorf("%q: bad hit %+v", tt.text, h)
			}
			got = append(got, fmt.Sprintf("%s %d-%d", h.Match, h.Start, h.End))
		}
		if fmt.Sprint(got) != tt.want {
			t.Errorf("%q: got %v, want %s", tt.text, got, tt.want)
		}
	}
}

// FuzzLinkHosts: link extraction reads untrusted post text; it must end,
// and every host it returns must be a slice of the text where it says.
func FuzzLinkHosts(f *testing.F) {
	for _, s := range []string{"https://evil.test/x", "www.", "http://@/", "a://b://c", "www.中文.test。", "\xff://\xfe", "http://u@h@evil.test", "x:// https://a.b", "http://@ www.a.b..", "https://。。", "www.。a"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		steps := 0
		for i := 0; i < len(text); steps++ {
			host, at, next := nextLinkHost(text, i)
			if at < 0 {
				break
			}
			if at < i || at+len(host) > len(text) || text[at:at+len(host)] != host || host == "" || next <= i ||
				trimHostDots(host) != host {
				t.Fatalf("from %d: host %q at %d next %d in %q", i, host, at, next, text)
			}
			// Every reading of the host is a non-empty prefix of it,
			// without trailing dots, and none repeats.
			var out [3]string
			names := linkHostNames(host, &out)
			for k, n := range names {
				if n == "" || !strings.HasPrefix(host, n) || trimHostDots(n) != n || slices.Contains(names[:k], n) {
					t.Fatalf("host %q: readings %q", host, names)
				}
			}
			i = next
			if steps > len(text) {
				t.Fatalf("no progress in %q", text)
			}
		}
	})
}

// TestWordKey checks the word key scanASCII computes eight bytes at a time
// against wordKey, through what it decides: a keyword that is exactly a
// word is found, for every length around the block size, at the end of
// the text, before a separator and after other text, and a keyword the
// word is only a prefix of is not.
func TestWordKey(t *testing.T) {
	fold, err := getFoldTable(false)
	if err != nil {
		t.Fatal(err)
	}
	const letters = "aBc1XyZ09qRsTuVwxyzABCdefGHIjklMNOpQ"
	for n := 1; n <= len(letters); n++ {
		word := letters[:n]
		b := newKeywordBuilder(fold)
		if err := b.add(word, 0); err != nil {
			t.Fatal(err)
		}
		if err := b.add(strings.ToLower(word)+"zz", 1); err != nil {
			t.Fatal(err)
		}
		x := b.build()
		if got := wordKey([]byte(strings.ToLower(word))); n >= 2 && pairBits(x.words, x.wordShift, got) == 0 {
			t.Fatalf("wordKey(%q) is not in the word filter", word)
		}
		for _, text := range []string{word, word + " tail", "刷" + word + "。", "x " + word + "."} {
			sc := &scratch{}
			x.scan(text, sc, 100)
			i := strings.Index(text, word)
			if len(sc.matches) != 1 || sc.matches[0].kw != 0 {
				t.Fatalf("keyword %q in %q: matches %+v, want keyword 0 once", word, text, sc.matches)
			}
			if start, end := sc.span(sc.matches[0]); start != i || end != i+n {
				t.Fatalf("keyword %q in %q: span [%d,%d), want [%d,%d)", word, text, start, end, i, i+n)
			}
		}
	}
}
