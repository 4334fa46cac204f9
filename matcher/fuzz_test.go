package matcher

import (
	"bytes"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"unicode/utf8"

	"github.com/campusguard/campusguard/internal/event"
)

// Native fuzz targets for everything in the package that reads untrusted
// input: the five list parsers, the folding keyword scanner, the pack YAML
// loader and the PII detectors. `go test -run Fuzz` replays the seeds below
// and testdata/fuzz/FuzzX/ (inputs that once failed, named for the bug);
// to fuzz one target:
//
//	go test -run='^$' -fuzz='^FuzzDomainsList$' -fuzztime=60s -fuzzminimizetime=5s ./matcher/
//
// The short minimize time matters: the list seeds hold 70 KB lines, and
// minimizing such an input for the default 60 s stalls the run.

// ---------------------------------------------------------------------------
// List parsers

// fzListSeeds are realistic and hostile list files shared by every list
// fuzzer; each parser gets its own on top.
func fzListSeeds() [][]byte {
	long := strings.Repeat("a", maxLineBytes+6<<10) // 70 KB, past maxLineBytes
	return [][]byte{
		nil,
		[]byte("\n"),
		[]byte("example.com\n"),
		[]byte("\xEF\xBB\xBFexample.com\r\nExample.ORG.\r\n"),
		[]byte("\xEF\xBB\xBF# comment only\n"),
		[]byte("a.test\rb.test\rc.test"),
		[]byte("a\x00b.test\n\x00\nnul\x00\n"),
		[]byte("\xff\xfe\xfd\n\xc3\x28.test\n\xe4\xb8.test\n"),
		[]byte(long + "\nexample.com\n" + long),
		[]byte(strings.Repeat("x", maxLineBytes) + "\n" + strings.Repeat("y", maxLineBytes+1) + "\nlast.test"),
		[]byte("中文.test\nxn--fiq228c.test\nxn--zz.test\n统一身份认证.test # idn\n"),
		[]byte("trailing.dot.\ntwo.dots..\n.leading\n*.wild.test\n*.*.x\n*.\n"),
		[]byte("1.2.3.4\n::1\n[::1]\n::ffff:1.2.3.4\n1.2.3\n"),
		[]byte("0.0.0.0 a b c\n::1 localhost\n127.0.0.1 localhost.localdomain local\n0.0.0.0\n"),
		[]byte("@@||x^$important\n||x^$third-party\n##.ad\n/regex/\n||a.b^\n|http://x\n[Adblock Plus 2.0]\n! c\n"),
		[]byte("(a{1000}){1000}\na*\n.*\n(?i)foo\n^$\nx{1001}\n[\n(加|\\+)\\s*(微信|vx)\n"),
		[]byte(strings.Repeat("a.", 130) + "test\n" + strings.Repeat("b", 64) + ".test\n"),
		[]byte("   \t  \n\t# x\n  spaced.test  \n"),
	}
}

// fzLines is the number of lines readList sees in data and each line's
// length without its newline.
func fzLines(data []byte) (int, []int) {
	parts := bytes.Split(data, []byte("\n"))
	lens := make([]int, len(parts))
	for i, p := range parts {
		lens[i] = len(p)
	}
	return len(parts), lens
}

// fzReadList runs readList on data and checks what every format promises:
// problems point at a real line of f.txt, entries come from real, short
// enough lines in order, and check is satisfied by every entry.
func fzReadList(t *testing.T, data []byte, format string, check func(t *testing.T, e listEntry, line int)) {
	t.Helper()
	nLines, lens := fzLines(data)
	prevLine := 0
	problems, err := readList(bytes.NewReader(data), "f.txt", format, func(e listEntry, line int) {
		if line < 1 || line > nLines {
			t.Fatalf("entry %+v on line %d, the file has %d lines", e, line, nLines)
		}
		if line < prevLine {
			t.Fatalf("entry %+v on line %d after an entry on line %d", e, line, prevLine)
		}
		prevLine = line
		if lens[line-1] > maxLineBytes {
			t.Fatalf("entry %+v from line %d, which is %d bytes (limit %d)", e, line, lens[line-1], maxLineBytes)
		}
		check(t, e, line)
	})
	if err != nil {
		t.Fatalf("readList from memory failed: %v", err)
	}
	prevProblem := 0
	for _, p := range problems {
		if p.File != "f.txt" {
			t.Errorf("problem %+v: file %q, want f.txt", p, p.File)
		}
		if p.Line < 1 || p.Line > nLines {
			t.Errorf("problem %+v: line %d, the file has %d lines", p, p.Line, nLines)
		}
		if p.Line < prevProblem {
			t.Errorf("problem %+v after one on line %d", p, prevProblem)
		}
		prevProblem = p.Line
		if p.Reason == "" {
			t.Errorf("problem %+v has no reason", p)
		}
	}
	for i, n := range lens {
		if n > maxLineBytes && !slices.ContainsFunc(problems, func(p LineError) bool { return p.Line == i+1 && !p.Warning }) {
			t.Errorf("line %d is %d bytes, over the limit, and was not reported", i+1, n)
		}
	}
}

// fzCheckDomain checks an emitted domain: normal form, and normalizing it
// again changes nothing.
func fzCheckDomain(t *testing.T, e listEntry, allowedFlags uint8) {
	t.Helper()
	if e.kind != entryDomain {
		t.Fatalf("entry %+v: kind %d, want a domain", e, e.kind)
	}
	if e.flags&^allowedFlags != 0 {
		t.Errorf("entry %+v: flags %b, only %b allowed in this format", e, e.flags, allowedFlags)
	}
	d := e.value
	if d == "" || len(d) > 253 {
		t.Errorf("domain %q: length %d, want 1..253", d, len(d))
	}
	for i := 0; i < len(d); i++ {
		if c := d[i]; c >= 0x80 || c >= 'A' && c <= 'Z' {
			t.Fatalf("domain %q is not lower-case ASCII", d)
		}
	}
	again, err := checkDomain(d)
	if err != nil {
		t.Fatalf("emitted domain %q fails checkDomain: %v", d, err)
	}
	if again != d {
		t.Fatalf("checkDomain(%q) = %q, want it unchanged", d, again)
	}
}

func FuzzDomainsList(f *testing.F) {
	for _, s := range fzListSeeds() {
		f.Add(s)
	}
	f.Add([]byte("login-verify.example\n*.portal-auth.invalid\nxn--ylq87a0bu1r.test   # 统一认证.test\nUPPER.Example.COM.\n"))
	f.Add([]byte("http://a.test/x\na b\na\tb\n_dmarc.x.test\n-a-.test\n" + strings.Repeat("l", 64) + ".test\n"))
	f.Add([]byte("ＥＸＡＭＰＬＥ．ｃｏｍ\nexample。com\nß.test\nfaß.de\n\u200bzw.test\n\U0001F600.test\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		fzReadList(t, data, FormatDomains, func(t *testing.T, e listEntry, _ int) {
			fzCheckDomain(t, e, domainSubdomainsOnly)
		})
	})
}

func FuzzHostsList(f *testing.F) {
	for _, s := range fzListSeeds() {
		f.Add(s)
	}
	f.Add([]byte("127.0.0.1 localhost\n::1 localhost ip6-localhost\n0.0.0.0 dropper.malware.test\n0.0.0.0 c2.botnet.test update-check.botnet.test\n127.0.0.1 cryptominer-pool.test # coin miner pool\n"))
	f.Add([]byte("0.0.0.0 a..b ok.test\n999.1.1.1 x.test\nfe80::1%eth0 x.test\n0.0.0.0\tTAB.test\n0.0.0.0 LOCALHOST 1.2.3.4\n"))
	f.Add([]byte("::ffff:1.2.3.4 mapped.test\n0.0.0.0 中文.test xn--fiq228c.test\n0.0.0.0 #only-comment\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		fzReadList(t, data, FormatHosts, func(t *testing.T, e listEntry, _ int) {
			fzCheckDomain(t, e, 0)
			if hostsSkip[e.value] {
				t.Errorf("hosts entry %q should have been skipped", e.value)
			}
		})
	})
}

func FuzzAdblockList(f *testing.F) {
	for _, s := range fzListSeeds() {
		f.Add(s)
	}
	f.Add([]byte("[Adblock Plus 2.0]\n! Title: x\n||netid-verify.test^\n||library-renewal.test^$important\n@@||safe.edu-payment.example^\nexample.test##.phishing-banner\n"))
	f.Add([]byte("||a.test^$important,third-party\n||a.test^$\n$important\n@@\n||\n^\n||*.x^\n||x.test|\n@@@@||x^\nexample.test#@#.x\n$$script\n"))
	f.Add([]byte("||中文.test^\n||UPPER.test^\n||trailing.dot.^\n||1.2.3.4^\n|x.test\nplain.test\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		fzReadList(t, data, FormatAdblock, func(t *testing.T, e listEntry, _ int) {
			fzCheckDomain(t, e, domainException)
		})
	})
}

func FuzzKeywordsList(f *testing.F) {
	for _, s := range fzListSeeds() {
		f.Add(s)
	}
	f.Add([]byte("# Fraud phrases\n刷单返利\n日结兼职\n  学生贷款秒批  \nonline casino\n#not a keyword\n##\n"))
	f.Add([]byte("刷\u200b单\n學校貸款\nﬁnance\n①②③\n\u3000全角空格\u3000\n\r\n\t\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		fzReadList(t, data, FormatKeywords, func(t *testing.T, e listEntry, _ int) {
			if e.kind != entryKeyword {
				t.Fatalf("entry %+v: kind %d, want a keyword", e, e.kind)
			}
			switch {
			case e.value == "":
				t.Errorf("empty keyword")
			case strings.ContainsRune(e.value, '\n'):
				t.Errorf("keyword %q contains a newline", e.value)
			case strings.TrimSpace(e.value) != e.value:
				t.Errorf("keyword %q has surrounding space", e.value)
			case strings.HasPrefix(e.value, "#"):
				t.Errorf("keyword %q is a comment", e.value)
			}
		})
	})
}

// fzEmptyProbe are texts on which no accepted regex may report an empty
// match: a pattern that matches nothing but a position hits every text.
var fzEmptyProbe = []string{"a", "ab cd", "中文", "1", "a\nb", " "}

func FuzzRegexList(f *testing.F) {
	for _, s := range fzListSeeds() {
		f.Add(s)
	}
	f.Add([]byte("# RE2\n(加|\\+)\\s*(微信|vx|v信|wx)\\s*[:：]?\\s*[a-z][a-z0-9_-]{5,19}\n(qq群|扣扣群)\\s*[:：]?\\s*\\d{6,11}\n"))
	f.Add([]byte("(a{1000}){1000}\n((a{100}){100}){100}\na{1000}\n[a-z]{1000}\n.{1000}\n(?:(?:a*)*)*\n(a|b|c|d){500}\n"))
	f.Add([]byte("a*\n^\n$\n(?m)^$\n\\B\n(?:)\n|\na|\n(?i)\nx?\n\\Az*\n"))
	f.Add([]byte("(?P<n>a)\\1\n(?<=a)b\n\\p{Han}+\n\\pN{3}\n[[:alpha:]]+\n\\Q...\\E\n\\x{10FFFF}\n\\C\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		fzReadList(t, data, FormatRegex, func(t *testing.T, e listEntry, line int) {
			if e.kind != entryRegex {
				t.Fatalf("entry %+v: kind %d, want a regex", e, e.kind)
			}
			if err := checkRegex(e.value); err != nil {
				t.Fatalf("emitted regex %q fails checkRegex: %v", e.value, err)
			}
			re, err := (&regexBudget{}).compile(e.value)
			if err != nil {
				t.Fatalf("regex %q passes checkRegex but does not compile: %v", e.value, err)
			}
			for _, s := range fzEmptyProbe {
				if loc := re.FindStringIndex(s); loc != nil && loc[0] == loc[1] {
					t.Fatalf("regex %q (line %d) was accepted but matches empty text at %d in %q", e.value, line, loc[0], s)
				}
			}
		})
	})
}

// ---------------------------------------------------------------------------
// Folding and the keyword scanner

// fzFolded is one folded character as the reference fold sees it.
type fzFolded struct {
	r                      rune
	start, end             int
	gap, cont, more, alnum bool
}

// fzFoldRef folds text with foldRune directly, not through the table.
func fzFoldRef(text string, t2s map[rune]rune) []fzFolded {
	var out []fzFolded
	gap := false
	var buf []rune
	for i := 0; i < len(text); {
		r, size := utf8.DecodeRuneInString(text[i:])
		var kind int
		kind, buf = foldRune(r, t2s, buf[:0])
		switch kind {
		case foldSep:
			gap = true
		case foldKeep:
			for j, fr := range buf {
				out = append(out, fzFolded{r: fr, start: i, end: i + size, gap: gap && j == 0,
					cont: j > 0, more: j < len(buf)-1, alnum: isASCIIAlnum(fr)})
			}
			gap = false
		}
		i += size
	}
	return out
}

// fzFoldRunes folds a keyword to its characters with foldRune.
func fzFoldRunes(s string, t2s map[rune]rune) []rune {
	var out []rune
	for _, r := range s {
		if kind, o := foldRune(r, t2s, nil); kind == foldKeep {
			out = append(out, o...)
		}
	}
	return out
}

// fzExpected lists the folded spans [i, j) where kw must be reported: every
// occurrence that neither cuts one original character's expansion nor
// continues an ASCII word.
func fzExpected(text []fzFolded, kw []rune) [][2]int {
	var want [][2]int
	n, l := len(text), len(kw)
	for i := 0; i+l <= n; i++ {
		ok := true
		for j := range kw {
			if text[i+j].r != kw[j] {
				ok = false
				break
			}
		}
		switch {
		case !ok, text[i].cont, text[i+l-1].more:
			continue
		case isASCIIAlnum(kw[0]) && i > 0 && !text[i].gap && text[i-1].alnum:
			continue
		case isASCIIAlnum(kw[l-1]) && i+l < n && !text[i+l].gap && text[i+l].alnum:
			continue
		}
		want = append(want, [2]int{i, i + l})
	}
	return want
}

// fzCheckEntry compares the table entry of r with foldRune's answer.
func fzCheckEntry(t *testing.T, tbl *foldTable, r rune) {
	t.Helper()
	kind, want := foldRune(r, tbl.t2s, nil)
	e := tbl.entry(r)
	var got []rune
	gotKind := int(e >> foldKindShift)
	switch gotKind {
	case foldKeep:
		p := rune(e & foldPayload)
		if p == 0 {
			p = r
		}
		got = []rune{p}
	case foldExpand:
		p := e & foldPayload
		got = tbl.expansions[p>>5 : p>>5+p&31]
		gotKind = foldKeep
		if len(want) > maxExpansion {
			want = want[:maxExpansion]
		}
	}
	if gotKind != kind || string(got) != string(want) {
		t.Fatalf("rune %U: table says kind %d %q, foldRune says kind %d %q", r, gotKind, string(got), kind, string(want))
	}
}

// fzRuneStarts are the offsets at which decoding text rune by rune stops,
// including len(text).
func fzRuneStarts(text string) map[int]bool {
	m := map[int]bool{len(text): true}
	for i := range text {
		m[i] = true
	}
	return m
}

func FuzzFold(f *testing.F) {
	seeds := [][2]string{
		{"刷 单", "刷单"},
		{"刷*单", "刷单"},
		{"刷\u200b单", "刷单"},
		{"刷🔥单 and 刷\u3000单", "刷单"},
		{"２０２２刷 单", "刷单"},
		{"２０２２刷 单", "2022"},
		{"ＯＮＬＩＮＥ ＣＡＳＩＮＯ", "online casino"},
		{"ﬁnance ﬁ ﬀ ﬃx", "fi"},
		{"ﬁnance", "finance"},
		{"ﬁnance", "f"},
		{"①②③ ⑴ ㏂", "123"},
		{"한국어 대출", "한국"},
		{"ᄒ\u1161\u11ab", "한"},
		{"e\u0301cole Z̷͓a̸l̶g̵o", "ecole"},
		{"Z̷͓a̸l̶g̵o", "zalgo"},
		{"刷😀单 刷👍🏽单", "刷单"},
		{"學校貸款 学校贷款", "学校贷款"},
		{"学校贷款", "學校貸款"},
		{"\xff刷\xfe单\xe4\xb8", "刷单"},
		{"\xe4\xb8\xad", "中"},
		{"alphabet bet BET b-e-t", "bet"},
		{"abet 1bet bet1 _bet_", "bet"},
		{"ΣΑΣ σας ς", "σας"},
		{"İstanbul ı", "istanbul"},
		{"straße STRASSE", "straße"},
		{"", "x"},
		{"xxxx", ""},
		{"aaaaaaaa", "aaaa"},
		{strings.Repeat("刷单", 100), "刷单刷单"},
		{"k\u212a K", "kk"},
		{"\U0001D400\U0001D401 𝐀𝐁", "ab"},
		{"\U00030000\U000E0001\U000F0000", "\U00030000"},
		{"a\U000E0020b", "ab"},
		{"FREE money freemoney fr ee money FreeMoneyNow", "freemoney"},
		{"Supercalifragilistic expialidocious supercalifragilisticexpialidocious", "supercalifragilisticexpialidocious"},
		{"abcdefgh abcdefghi abcdefg", "abcdefgh"},
		{"xabcdefgh", "abcdefgh"},
		{"qq号 qqq号 QQ 号", "qq号"},
		{"刷\xed\xa0\x80单 \xe0\x80\xaf刷单 \xef\xbf\xbd", "刷单"},
	}
	for _, s := range seeds {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, text, keyword string) {
		tbl, err := getFoldTable(true)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range []string{text, keyword} {
			once, _ := FoldString(s, true)
			twice, _ := FoldString(once, true)
			if once != twice {
				t.Errorf("FoldString not idempotent: %q -> %q -> %q", s, once, twice)
			}
			for _, r := range s {
				fzCheckEntry(t, tbl, r)
			}
		}

		b := newKeywordBuilder(tbl)
		if err := b.add(keyword, 0); err != nil {
			return
		}
		x := b.build()
		sc := &scratch{}
		if !x.scan(text, sc, 1<<30) {
			t.Fatalf("scan stopped at the limit")
		}
		wantFold, _ := FoldString(keyword, true)
		starts := fzRuneStarts(text)
		var got [][2]int
		for _, m := range sc.matches {
			if m.kw != 0 {
				t.Fatalf("match of keyword %d, only one was added", m.kw)
			}
			start, end := sc.span(m)
			if start < 0 || end > len(text) || start >= end {
				t.Fatalf("keyword %q: span [%d,%d) in a %d-byte text", keyword, start, end, len(text))
			}
			if !starts[start] || !starts[end] {
				t.Fatalf("keyword %q: span [%d,%d) of %q is not on rune boundaries", keyword, start, end, text)
			}
			if gotFold, _ := FoldString(text[start:end], true); gotFold != wantFold {
				t.Fatalf("keyword %q (folds to %q) reported at [%d,%d) = %q, which folds to %q", keyword, wantFold, start, end, text[start:end], gotFold)
			}
			got = append(got, [2]int{int(m.start), int(m.end)})
		}

		// Completeness: the index finds what a direct search of the
		// reference fold finds.
		ref := fzFoldRef(text, tbl.t2s)
		if len(ref) != sc.folded() {
			t.Fatalf("text %q folds to %d characters, the reference fold has %d", text, sc.folded(), len(ref))
		}
		kw := fzFoldRunes(keyword, tbl.t2s)
		want := fzExpected(ref, kw)
		if !slices.Equal(got, want) {
			t.Fatalf("keyword %q in %q: scanner found %v, reference %v", keyword, text, got, want)
		}
	})
}

// ---------------------------------------------------------------------------
// Pack files

// fzPackFS is the file system a fuzzed pack p.yaml lives in: a small keyword
// and domain list, plus the example packs' lists so the shipped packs load.
func fzPackFS(tb testing.TB) fstest.MapFS {
	fsys := fstest.MapFS{
		"lists/k.txt": {Data: []byte("# keywords\n刷单\n校园贷\nonline casino\nbet\nexample\n")},
		"lists/d.txt": {Data: []byte("# domains\nbad.test\n*.wild.test\nexample.com\n")},
	}
	lists, err := filepath.Glob("../rules/lists/*.txt")
	if err != nil {
		tb.Fatal(err)
	}
	for _, l := range lists {
		data, err := os.ReadFile(l)
		if err != nil {
			tb.Fatal(err)
		}
		fsys[path.Join("lists", filepath.Base(l))] = &fstest.MapFile{Data: data}
	}
	return fsys
}

var (
	fzTextInputs = []string{
		"",
		"hello world, online casino and sports betting",
		"刷 单返利，加微信 abcdef123，學校貸款秒批",
		"身份证 11010519491231002X 电话 138 1234 5678",
		"alphabet bet",
		"\xff\xfe刷\xe4\xb8单",
		"https://login-verify.example/path?q=1",
		strings.Repeat("a", MaxRegexInput-1) + "中文 online casino", // regexes see only the first 64 KiB
	}
	fzDomainInputs = []string{
		"login-verify.example",
		"A.B.Example.COM.",
		"sub.bad.test",
		"bad.test.",
		"x.wild.test",
		"中.test",
		"xn--fiq.test",
		"中中中.test", // punycode as long as the name: xn--fiqaa.test
		"Ａ．中.test", // a.xn--fiq.test, same length again
		"ＢＡＤ．ｔｅｓｔ", // bad.test
		"",
		".",
		"..",
	}
)

// fzCheckHits checks the hits on input: spans inside the input, on rune
// boundaries of valid text, at least one byte long, and the match is the
// spanned text (modulo case), unless the hit covers the whole input (a
// domain match whose offsets cannot map back) or masks a detected number.
func fzCheckHits(t *testing.T, what, input string, hits []event.Hit) {
	t.Helper()
	for _, h := range hits {
		if h.Start < 0 || h.End > len(input) || h.Start > h.End {
			t.Errorf("%s %q: hit %+v does not slice the input", what, input, h)
			continue
		}
		if h.Start == h.End {
			t.Errorf("%s %q: empty hit %+v", what, input, h)
			continue
		}
		if h.Pack == "" || h.Rule == "" || h.Action == "" {
			t.Errorf("%s %q: hit %+v lacks a pack, rule or action", what, input, h)
		}
		span := input[h.Start:h.End]
		if utf8.ValidString(input) && !utf8.ValidString(span) {
			t.Errorf("%s %q: hit %+v cuts a character: span %q", what, input, h, span)
		}
		whole := h.Start == 0 && h.End == len(input)
		if !whole && !strings.HasPrefix(h.Rule, "detector:") && !strings.EqualFold(h.Match, span) {
			t.Errorf("%s %q: hit %+v reports match %q for span %q", what, input, h, h.Match, span)
		}
	}
}

func FuzzPackYAML(f *testing.F) {
	examples, err := filepath.Glob("../rules/*.yaml")
	if err != nil {
		f.Fatal(err)
	}
	for _, e := range examples {
		data, err := os.ReadFile(e)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	var huge strings.Builder
	huge.WriteString("name: huge\ncategory: spam\nkeywords:\n")
	for i := range 5000 {
		fmt.Fprintf(&huge, "  - kw%d\n", i)
	}
	huge.WriteString("domains: [")
	for i := range 2000 {
		fmt.Fprintf(&huge, "d%d.test, ", i)
	}
	huge.WriteString("]\n")
	seeds := []string{
		"name: k\ncategory: fraud\nfiles: [{path: lists/k.txt, format: keywords}, {path: lists/d.txt, format: domains}]\n",
		"name: t\ncategory: fraud\nkeywords: [刷单, bet, example]\ndomains: [bad.test, '*.wild.test', EXAMPLE.com.]\nregex: ['加微信\\s*\\w+', 'casino$', '(?i)LOGIN']\ndetectors: [cn_id_card, cn_mobile, bank_card]\n",
		"name: w\ncategory: x\napplies_to: [dns, post]\nregex: ['a*', '(a{1000}){1000}', '[', '']\n",
		"name: a\ncategory: b\nkeywords: &a [k, k, k, k, k, k, k, k, k]\nregex: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\ndomains: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\ndetectors: [*c, *c, *c, *c, *c, *c, *c, *c, *c]\n",
		"name: a\ncategory: b\nfiles: [&f {path: lists/k.txt, format: keywords}, *f, *f, *f]\n",
		"name: a\ncategory: b\nfiles: [{path: *x}]\n",
		"name: [1, 2]\ncategory: {a: b}\nkeywords: {x: y}\ndomains: 5\nregex: ~\n",
		"name: a\ncategory: b\nunknown: 1\nkeywords: [x]\n",
		"name: a\ncategory: b\n\tkeywords: [x]\n",
		"name: a\ncategory: b\nkeywords:\n\t- x\n",
		"name: a\ncategory: b\nkeywords: [x]\n---\nname: c\n",
		"name: a\ncategory: b\nkeywords: [x]\nname: dup\n",
		"name: A\ncategory: b\nkeywords: [x]\n",
		"name: a\ncategory: b\nseverity: catastrophic\nkeywords: [x]\n",
		"name: a\ncategory: b\naction: {post: nuke, network: block}\nkeywords: [x]\n",
		"name: a\ncategory: b\napplies_to: [dns, smtp]\nkeywords: [x]\n",
		"name: a\ncategory: b\nkeywords: ['', ' ', '#', '\\u200b', [nested], {k: v}, !!binary aGk=, 12, true, ~]\n",
		"name: a\ncategory: b\nfiles: [{path: /lists/k.txt, format: keywords}, {path: ../x.txt, format: domains}]\n",
		"name: a\ncategory: b\nfiles: [{path: p.yaml, format: regex}]\n",
		"name: a\ncategory: b\nfiles: [{path: lists/k.txt, format: nope}]\n",
		"name: a\ncategory: b\nfiles: [{format: keywords}]\n",
		"name: a\ncategory: b\nfiles: [{path: lists/k.txt, format: keywords, extra: 1}]\n",
		"name: a\ncategory: b\ndetectors: [cn_id_card, nope, '']\n",
		"",
		"---\n",
		"~\n",
		"[]\n",
		"!!str x\n",
		"\xEF\xBB\xBFname: bom\ncategory: b\nkeywords: [x]\n",
		"name: a\r\ncategory: b\r\nkeywords: [x]\r\n",
		"name: a\ncategory: b\nkeywords: [\xff\xfe]\n",
		"&a name: *a\n",
		"name: &n a\ncategory: *n\nkeywords: [*n]\n",
		huge.String(),
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	table, err := getFoldTable(true)
	if err != nil {
		f.Fatal(err)
	}
	base := fzPackFS(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		fsys := fstest.MapFS{"p.yaml": {Data: data}}
		for k, v := range base {
			fsys[k] = v
		}
		p, err := loadPack(fsys, "p.yaml", loadOptions{fold: table})
		if err != nil {
			if p != nil {
				t.Fatalf("loadPack returned a pack and an error: %v", err)
			}
			return
		}
		if p == nil {
			t.Fatal("loadPack returned neither a pack nor an error")
		}
		fzCheckPack(t, p)
		s := newSet([]*compiledPack{p}, table, 256)
		fzCheckPack(t, p) // newSet must not change the pack (Sets share packs)
		for _, text := range fzTextInputs {
			for _, kind := range []event.Kind{event.KindPost, event.KindHTTP} {
				hits := s.MatchText(kind, event.FieldText, text, nil)
				if len(hits) > 256 {
					t.Errorf("%d hits, the limit is 256", len(hits))
				}
				fzCheckHits(t, "text", text, hits)
			}
		}
		for _, name := range fzDomainInputs {
			fzCheckHits(t, "domain", name, s.MatchDomain(event.KindDNS, name, nil))
		}
	})
}

func fzCheckPack(t *testing.T, p *compiledPack) {
	t.Helper()
	if !packNameRE.MatchString(p.info.Name) {
		t.Fatalf("loaded pack has name %q", p.info.Name)
	}
	if len(p.keywords)+p.info.Domains+len(p.regexes)+len(p.detectors) == 0 {
		t.Fatalf("loaded pack %q has no rules", p.info.Name)
	}
	for _, pr := range p.info.Problems {
		if pr.File == "" || pr.Reason == "" || pr.Line < 0 {
			t.Errorf("problem %+v lacks a file, a reason or a line", pr)
		}
	}
}

// ---------------------------------------------------------------------------
// Detectors

// fzLuhn appends the Luhn check digit to a digit string.
func fzLuhn(d string) string {
	for c := byte('0'); c <= '9'; c++ {
		if isBankCard([]byte(d + string(c))) {
			return d + string(c)
		}
	}
	panic("no Luhn digit for " + d)
}

func fzIsSep(r rune) bool { return r == ' ' || r == '-' || r == 0x3000 || r == 0xFF0D }

var (
	fzDetectOnce sync.Once
	fzDetectPack *compiledPack
	fzDetectErr  error
)

// fzDetectorPack loads a pack with every detector, as a pack file would.
func fzDetectorPack(tb testing.TB) *compiledPack {
	fzDetectOnce.Do(func() {
		table, err := getFoldTable(false)
		if err != nil {
			fzDetectErr = err
			return
		}
		fsys := fstest.MapFS{"pii.yaml": {Data: []byte("name: pii\ncategory: pii\ndetectors: [cn_id_card, cn_mobile, bank_card]\n")}}
		fzDetectPack, fzDetectErr = loadPack(fsys, "pii.yaml", loadOptions{fold: table})
	})
	if fzDetectErr != nil {
		tb.Fatal(fzDetectErr)
	}
	if len(fzDetectPack.detectors) != 3 {
		tb.Fatalf("pack has %d detectors, want 3", len(fzDetectPack.detectors))
	}
	return fzDetectPack
}

func FuzzDetectors(f *testing.F) {
	card := fzLuhn("622202123456789012")
	card16 := fzLuhn("453201511283036")
	fw := strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' {
			return r - '0' + 0xFF10
		}
		return r
	}, card)
	seeds := []string{
		"11010519491231002X",
		"身份证号11010519491231002x。",
		"13812345678",
		"+8613812345678",
		card,
		card16,
		fw,
		"１３８１２３４５６７８",
		strings.Repeat("1234567890", 4),
		strings.Repeat("9", 32) + "X",
		strings.Repeat("9", 33),
		"-123-", " 1 ", "1--2", "1 -2", "1  2", "-", "X", "x1", "1x", "12345678901234567xX",
		"11010519491231002X 138",
		"\xff1\xfe2\xef\xbc\x91",
		"",
	}
	for _, s := range seeds {
		f.Add(s)
	}
	p := fzDetectorPack(f)
	f.Fuzz(func(t *testing.T, text string) {
		starts := fzRuneStarts(text)
		type span struct{ start, end int }
		seen := map[span]bool{}
		forEachNumber(text, func(r *digitRun) {
			if r.start < 0 || r.end > len(text) || r.start >= r.end {
				t.Fatalf("run [%d,%d) in a %d-byte text", r.start, r.end, len(text))
			}
			if !starts[r.start] || !starts[r.end] {
				t.Fatalf("run [%d,%d) of %q is not on rune boundaries", r.start, r.end, text)
			}
			seen[span{r.start, r.end}] = true
			// The span holds the run's digits, single separators between
			// them and at most a final X.
			var digits []byte
			for i, c := range text[r.start:r.end] {
				d, ok := digitValue(c)
				switch {
				case ok:
					digits = append(digits, d)
				case (c == 'x' || c == 'X') && r.start+i+1 == r.end:
					digits = append(digits, 'X')
				case fzIsSep(c):
				default:
					t.Fatalf("run [%d,%d) of %q contains %q", r.start, r.end, text, c)
				}
			}
			if len(digits) != r.n {
				t.Fatalf("run [%d,%d) of %q has n=%d, the span holds %d digits", r.start, r.end, text, r.n, len(digits))
			}
			if r.n <= maxDigitRun {
				for _, c := range r.digits[:r.n] {
					if !(c >= '0' && c <= '9' || c == 'X') {
						t.Fatalf("run [%d,%d) of %q: digit %q", r.start, r.end, text, c)
					}
				}
				if string(r.digits[:r.n]) != string(digits) {
					t.Fatalf("run [%d,%d) of %q: digits %q, the span holds %q", r.start, r.end, text, r.digits[:r.n], digits)
				}
			}
		})
		// Every unsplit sequence of digits is tested on its own.
		for i := 0; i < len(text); {
			c, size := utf8.DecodeRuneInString(text[i:])
			if _, ok := digitValue(c); !ok {
				i += size
				continue
			}
			j := i
			for j < len(text) {
				c, size := utf8.DecodeRuneInString(text[j:])
				if _, ok := digitValue(c); !ok {
					break
				}
				j += size
			}
			x := j < len(text) && (text[j] == 'x' || text[j] == 'X')
			switch {
			case x && utf8.RuneCountInString(text[i:j]) == 17:
				// 17 digits and X: an ID number, which must be
				// tested with its check digit.
				if !seen[span{i, j + 1}] {
					t.Errorf("ID-like %q at [%d,%d) of %q was not tested with its X", text[i:j+1], i, j+1, text)
				}
			case !seen[span{i, j}] && !(x && seen[span{i, j + 1}]):
				t.Errorf("digits %q at [%d,%d) of %q were not tested on their own", text[i:j], i, j, text)
			}
			i = j
		}
		// Every whole run, digits joined by single separators, is tested
		// too, with its X when it has 17 digits: "110105 19491231 002X".
		isDigit := func(r rune) bool { _, ok := digitValue(r); return ok }
		for i := 0; i < len(text); {
			if c, size := utf8.DecodeRuneInString(text[i:]); !isDigit(c) {
				i += size
				continue
			}
			end, n := i, 0
			for j := i; j < len(text); {
				c, size := utf8.DecodeRuneInString(text[j:])
				if isDigit(c) {
					n++
					j += size
					end = j
					continue
				}
				if next, _ := utf8.DecodeRuneInString(text[j+size:]); j == end && fzIsSep(c) && isDigit(next) {
					j += size
					continue
				}
				break
			}
			x := end < len(text) && (text[end] == 'x' || text[end] == 'X')
			switch {
			case x && n == 17:
				if !seen[span{i, end + 1}] {
					t.Errorf("ID-like run %q at [%d,%d) of %q was not tested with its X", text[i:end+1], i, end+1, text)
				}
			case !seen[span{i, end}] && !(x && seen[span{i, end + 1}]):
				t.Errorf("run %q at [%d,%d) of %q was not tested", text[i:end], i, end, text)
			}
			i = end
		}

		hits := p.detect(text, event.FieldText, nil, 256, new([2]digitRun))
		if len(hits) > 256 {
			t.Errorf("%d hits, the limit is 256", len(hits))
		}
		for _, h := range hits {
			if h.Start < 0 || h.End > len(text) || h.Start >= h.End {
				t.Fatalf("hit %+v does not slice the %d-byte text", h, len(text))
			}
			if !strings.HasPrefix(h.Rule, "detector:") {
				t.Errorf("hit %+v: rule %q", h, h.Rule)
			}
			if len(h.Match) > 7 && !strings.Contains(h.Match, "*") {
				t.Errorf("hit %+v: match %q is not masked", h, h.Match)
			}
		}
	})
}
