package matcher

// Deterministic synthetic fixtures shared by the bench_*_test.go benchmarks
// (BENCHMARKS.md explains what each benchmark proves). Everything here is
// generated from fixed seeds, so two runs and two machines see the same data;
// the big fixtures are built only inside Benchmark functions.

import (
	"bytes"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"unicode/utf8"

	"golang.org/x/text/encoding/simplifiedchinese"
)

// benchRand returns a generator with a fixed seed per fixture.
func benchRand(stream uint64) *rand.Rand {
	return rand.New(rand.NewPCG(0x63616d70757367, stream)) // "campusg"
}

// heapAfterGC returns the live heap after two full collections (the second
// one sweeps what the first found dead, so HeapAlloc is the retained heap).
func heapAfterGC() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// mallocs returns the number of heap allocations so far; benchmarks use it
// to report fractional allocations per operation, which -benchmem rounds
// down to an integer.
func mallocs() uint64 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.Mallocs
}

const mb = 1 << 20

// --- domains ---------------------------------------------------------------

// benchWords are words that show up in real hostnames.
var benchWords = strings.Fields(`
	account admin ads alpha analytics api app apple apps asia assets auth
	bank bao bbs best bet beta bid big bit blog blue book box buy cai
	campus cash casino cdn center chat cheap china city class click cloud club
	code coin college com connect core credit cube daily data deal dev digital
	direct dns doc down download drive easy edge edu email exam express fast
	file film finance fire first fly food forum free fun game games get global
	go gold good green group guide hao happy health help home host hot hub
	info inside job jobs key king lab land learn life line link live loan
	login lucky mail mall map market media meta mobile money my net new news
	office one online open pay photo pic pin play plus point portal post pro
	proxy push quick quiz rank red reset safe sale school search secure server
	service share shop show sign site smart soft sport star static store study
	sun super support sync tech test think time tool top tour trade travel
	trust tv union update upload user verify video vip vote wallet watch web
	wei win wiki work world xin xue yun zone`)

// pinyinSyllables build Chinese-style labels (xiaoyuan, zhaopin, ...).
var pinyinSyllables = strings.Fields(`
	a ai an ang bai ban bang bao bei ben bi bian biao bo bu cai can cao ce chang
	chao che chen cheng chi chu chuan chun ci cong da dai dan dang dao de deng di
	dian diao ding dong du duan dui duo fa fan fang fei fen feng fu gai gan gang
	gao ge gong gou gu gua guan guang gui guo hai han hang hao he hei hong hou hu
	hua huai huan huang hui huo ji jia jian jiang jiao jie jin jing jiu ju juan
	kai kan kang ke kong kou ku kuai la lai lan lang lao le lei li lian liang liao
	lin ling liu long lu luo ma mai man mao mei men mi mian miao min ming mo mu na
	nan nei neng ni nian niu nong pai pan pao pei peng pi pian pin ping po pu qi
	qian qiang qiao qin qing qiu qu quan que ran rao ren ri rong rou ru ruan rui
	san sao se sen sha shan shang shao she shen sheng shi shou shu shuang shui
	shun si song su suan sui sun tai tan tang tao te teng ti tian tiao tie ting
	tong tou tu tuan tui wa wai wan wang wei wen wo wu xi xia xian xiang xiao xie
	xin xing xiong xiu xu xuan xue xun ya yan yang yao ye yi yin ying yong you yu
	yuan yue yun za zai zan zao ze zeng zha zhai zhan zhang zhao zhe zhen zheng
	zhi zhong zhou zhu zhuan zhuang zhui zi zong zou zu zui zuo`)

// benchTLDs with weights (in percent).
var benchTLDs = []struct {
	tld string
	w   int
}{
	{"com", 34}, {"net", 9}, {"cn", 10}, {"com.cn", 8}, {"edu.cn", 5}, {"org", 5},
	{"test", 7}, {"top", 5}, {"xyz", 5}, {"info", 4}, {"io", 3}, {"cc", 3}, {"net.cn", 2},
}

// hostPrefixes are the subdomain labels queries carry above a site.
var hostPrefixes = strings.Fields(`
	www m api cdn img static mail login auth sso assets img3 s1 s3 edge
	download update m2 wap passport account secure gw push stat log track
	pic video v ws mobile app h5 activity static-content edge-cache`)

const alnum = "abcdefghijklmnopqrstuvwxyz0123456789"

func randString(r *rand.Rand, set string, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = set[r.IntN(len(set))]
	}
	return string(b)
}

func pick[T any](r *rand.Rand, s []T) T { return s[r.IntN(len(s))] }

// siteLabel is the registrable label: words, pinyin, brand+digits or a
// DGA-looking random string, as in real block lists.
func siteLabel(r *rand.Rand) string {
	switch n := r.IntN(100); {
	case n < 20:
		return pick(r, benchWords) + pick(r, benchWords)
	case n < 35:
		return pick(r, benchWords) + "-" + pick(r, benchWords)
	case n < 55:
		var b strings.Builder
		for k := 2 + r.IntN(3); k > 0; k-- {
			b.WriteString(pick(r, pinyinSyllables))
		}
		return b.String()
	case n < 65:
		return pick(r, benchWords) + randString(r, "0123456789", 2+r.IntN(3))
	case n < 75:
		return pick(r, benchWords) + "-" + pick(r, benchWords) + "-" + pick(r, benchWords)
	default:
		return randString(r, alnum, 7+r.IntN(8))
	}
}

func pickTLD(r *rand.Rand) string {
	n := r.IntN(100)
	for _, t := range benchTLDs {
		if n < t.w {
			return t.tld
		}
		n -= t.w
	}
	return "com"
}

func prefixLabel(r *rand.Rand) string {
	switch n := r.IntN(10); {
	case n < 4:
		return pick(r, hostPrefixes)
	case n < 6:
		return pick(r, hostPrefixes) + "-" + pick(r, benchWords) // static-news, edge-pay
	case n < 8:
		return pick(r, benchWords) + randString(r, "0123456789", 1+r.IntN(3)) // img12, cdn3
	default:
		return randString(r, alnum, 8+r.IntN(12)) // CDN shard and hash labels
	}
}

// benchDomains holds the 1M-rule fixture and its queries.
type benchDomains struct {
	rules    []string // normalized, distinct
	misses   []string // no suffix is listed
	hits10   []string // 10% hit (a listed name or a subdomain of one)
	hits10MC []string // hits10 in DNS 0x20 mixed case
	hitsAll  []string // every one a hit, for the cost of a hit alone
	avgLen   float64
	avgDots  float64 // labels per query name minus one
}

// benchQueries is the number of query names per mix (a power of two).
const benchQueries = 1 << 16

// genDomains generates n distinct rule domains and q queries per mix.
func genDomains(n, q int) *benchDomains {
	r := benchRand(1)
	d := &benchDomains{rules: make([]string, 0, n)}
	listed := make(map[string]struct{}, n)
	for len(d.rules) < n {
		name := siteLabel(r) + "." + pickTLD(r)
		if r.IntN(100) < 30 {
			name = prefixLabel(r) + "." + name // rules on a host below a site
		}
		if _, dup := listed[name]; dup {
			continue
		}
		listed[name] = struct{}{}
		d.rules = append(d.rules, name)
	}
	isListed := func(name string) bool {
		for at := 0; ; {
			if _, ok := listed[name[at:]]; ok {
				return true
			}
			dot := strings.IndexByte(name[at:], '.')
			if dot < 0 {
				return false
			}
			at += dot + 1
		}
	}
	// Queries are typically ~40 bytes: labels are added on top of a site
	// until the name reaches a target length of 26–42 bytes (about 40 on average, 4–5 labels).
	grow := func(name string, atLeastOne bool) string {
		target := 26 + r.IntN(17)
		for atLeastOne || len(name) < target {
			name = prefixLabel(r) + "." + name
			atLeastOne = false
		}
		return name
	}
	miss := func() string {
		for {
			name := grow(siteLabel(r)+"."+pickTLD(r), false)
			if !isListed(name) {
				return name
			}
		}
	}
	total, dots := 0, 0
	for i := 0; i < q; i++ {
		m := miss()
		d.misses = append(d.misses, m)
		q := m
		if i%10 == 0 {
			q = grow(pick(r, d.rules), r.IntN(10) < 8)
		}
		d.hits10 = append(d.hits10, q)
		total += len(q)
		dots += strings.Count(q, ".")
	}
	if q > 0 {
		d.avgLen = float64(total) / float64(q)
		d.avgDots = float64(dots) / float64(q)
	}
	for _, q := range d.hits10 {
		b := []byte(q)
		for i, c := range b {
			if c >= 'a' && c <= 'z' && r.IntN(2) == 0 {
				b[i] = c - 'a' + 'A'
			}
		}
		d.hits10MC = append(d.hits10MC, string(b))
	}
	// Shuffle so hits are not periodic.
	r.Shuffle(len(d.hits10), func(i, j int) {
		d.hits10[i], d.hits10[j] = d.hits10[j], d.hits10[i]
		d.hits10MC[i], d.hits10MC[j] = d.hits10MC[j], d.hits10MC[i]
	})
	// A generator of their own, so the other mixes stay what they were.
	ra := benchRand(6)
	for range q {
		name, target := pick(ra, d.rules), 26+ra.IntN(17)
		for first := ra.IntN(10) < 8; first || len(name) < target; first = false {
			name = prefixLabel(ra) + "." + name
		}
		d.hitsAll = append(d.hitsAll, name)
	}
	d.misses, d.hits10, d.hits10MC = contiguous(d.misses), contiguous(d.hits10), contiguous(d.hits10MC)
	d.hitsAll = contiguous(d.hitsAll)
	return d
}

// contiguous copies names into one buffer in order, so that every mix reads
// its names sequentially, as a server reads them from its packet buffers;
// otherwise the shuffled mixes would pay cache misses on the names
// themselves, which the index is not responsible for.
func contiguous(names []string) []string {
	var b strings.Builder
	for _, n := range names {
		b.WriteString(n)
	}
	all, out := b.String(), make([]string, len(names))
	for i, n := range names {
		out[i], all = all[:len(n)], all[len(n):]
	}
	return out
}

// --- keywords and text -----------------------------------------------------

// commonHanzi returns n common simplified characters: GB2312 level 1 holds
// the 3755 most frequent ones; a fixed shuffle picks n and orders them, and
// that order is the frequency rank the text generator uses.
func commonHanzi(n int) []rune {
	var gb []byte
	for hi := 0xB0; hi <= 0xD7; hi++ {
		for lo := 0xA1; lo <= 0xFE; lo++ {
			if hi == 0xD7 && lo > 0xF9 {
				break
			}
			gb = append(gb, byte(hi), byte(lo))
		}
	}
	u, err := simplifiedchinese.GBK.NewDecoder().Bytes(gb)
	if err != nil {
		panic(err)
	}
	pool := []rune(string(u))
	r := benchRand(2)
	r.Shuffle(len(pool), func(i, j int) { pool[i], pool[j] = pool[j], pool[i] })
	return pool[:n]
}

// pseudoWord makes a pronounceable ASCII word of n letters.
func pseudoWord(r *rand.Rand, n int) string {
	const cons, vows = "bcdfghjklmnprstvwxyz", "aeiou"
	b := make([]byte, n)
	for i := range b {
		if i%2 == 0 {
			b[i] = cons[r.IntN(len(cons))]
		} else {
			b[i] = vows[r.IntN(len(vows))]
		}
	}
	return string(b)
}

var commonEnglish = strings.Fields(`the of and to a in is it you that he was for on are with as i his
	they be at one have this from or had by not word but what some we can out other were all there when
	up use your how said an each she which do their time if will way about many then them write would
	like so these her long make thing see him two has look more day could go come did number sound no
	most people my over know water than call first who may down side been now find student class exam
	campus dorm library book sell buy free price room course anyone please thanks today week`)

// benchKeywords is the keyword fixture: about half Chinese (2–6 characters
// from the common pool) and half ASCII (4–12 letter pseudo-words).
func benchKeywords(n int) []string {
	pool := commonHanzi(3000)
	r := benchRand(3)
	seen := map[string]bool{}
	var out []string
	for len(out) < n {
		var kw string
		if len(out)%2 == 0 {
			k := make([]rune, 2+r.IntN(5))
			for i := range k {
				k[i] = pool[r.IntN(len(pool))]
			}
			kw = string(k)
		} else {
			kw = pseudoWord(r, 4+r.IntN(9))
		}
		if !seen[kw] {
			seen[kw] = true
			out = append(out, kw)
		}
	}
	return out
}

// benchText makes size bytes of mixed Chinese and English text: Chinese
// sentences drawn Zipf-like from the same character pool with ，。！,
// English sentences from a Zipf-weighted vocabulary, and a keyword from kws
// planted about once per plantEvery bytes (exponential gaps).
func benchText(size int, kws []string, plantEvery float64) (string, int) {
	pool := commonHanzi(3000)
	r := benchRand(4)
	vocab := append([]string(nil), commonEnglish...)
	for len(vocab) < 4000 {
		vocab = append(vocab, pseudoWord(r, 2+r.IntN(9)))
	}
	zh := rand.NewZipf(r, 1.05, 8, uint64(len(pool)-1))
	en := rand.NewZipf(r, 1.05, 4, uint64(len(vocab)-1))
	var zhKW, enKW []string
	for _, k := range kws {
		if k[0] < utf8.RuneSelf {
			enKW = append(enKW, k)
		} else {
			zhKW = append(zhKW, k)
		}
	}
	var b bytes.Buffer
	b.Grow(size + 256)
	nextPlant := r.ExpFloat64() * plantEvery
	planted := 0
	plantDue := func() bool {
		if float64(b.Len()) < nextPlant {
			return false
		}
		nextPlant = float64(b.Len()) + r.ExpFloat64()*plantEvery
		planted++
		return true
	}
	for b.Len() < size {
		if r.IntN(100) < 55 {
			n := 8 + r.IntN(33)
			clause := 0
			for i := 0; i < n; i++ {
				if len(zhKW) > 0 && plantDue() {
					b.WriteString(pick(r, zhKW))
				}
				b.WriteRune(pool[zh.Uint64()])
				if clause++; clause > 6 && r.IntN(8) == 0 && i < n-1 {
					b.WriteString("，")
					clause = 0
				}
			}
			switch r.IntN(6) {
			case 0:
				b.WriteString("！")
			case 1:
				b.WriteString("？")
			default:
				b.WriteString("。")
			}
		} else {
			n := 4 + r.IntN(13)
			for i := 0; i < n; i++ {
				w := vocab[en.Uint64()]
				if len(enKW) > 0 && plantDue() {
					w = pick(r, enKW)
				}
				if i == 0 {
					w = strings.ToUpper(w[:1]) + w[1:]
				}
				b.WriteString(w)
				if i < n-1 {
					b.WriteByte(' ')
				}
			}
			b.WriteString(". ")
		}
		if r.IntN(12) == 0 {
			b.WriteByte('\n')
		}
	}
	return b.String(), planted
}

// --- posts -------------------------------------------------------------------

// loadBenchPosts reads testdata/bench/posts.txt: posts separated by "---".
func loadBenchPosts(tb testing.TB) []string {
	data, err := os.ReadFile(filepath.Join("testdata", "bench", "posts.txt"))
	if err != nil {
		tb.Fatal(err)
	}
	var posts []string
	for i, p := range strings.Split(string(data), "\n---\n") {
		if i == 0 {
			continue // the header comment
		}
		if p = strings.TrimSpace(p); p != "" {
			posts = append(posts, p)
		}
	}
	return posts
}

// writeKeywordPack writes a keywords pack (NAME.yaml + NAME-keywords.txt)
// into dir and returns the pack path.
func writeKeywordPack(tb testing.TB, dir, name string, kws []string) string {
	var b strings.Builder
	b.WriteString("# synthetic benchmark keywords\n")
	for _, k := range kws {
		b.WriteString(k)
		b.WriteByte('\n')
	}
	list := name + "-keywords.txt"
	writeFile(tb, filepath.Join(dir, list), b.String())
	pack := filepath.Join(dir, name+".yaml")
	writeFile(tb, pack, "name: "+name+"\ncategory: spam\nseverity: low\napplies_to: [post, dns]\n"+
		"action: {post: flag, network: log}\nfiles:\n  - {path: "+list+", format: keywords}\n")
	return pack
}

func writeFile(tb testing.TB, path, data string) {
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		tb.Fatal(err)
	}
}
