package notify

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestCEFEscape(t *testing.T) {
	for _, tc := range []struct{ in, header, value string }{
		{"plain", "plain", "plain"},
		{`a|b`, `a\|b`, `a|b`},
		{`a\b`, `a\\b`, `a\\b`},
		{`a=b`, `a=b`, `a\=b`},
		{"a\nb\rc", "a b c", `a\nb\rc`},
		{`\|=`, `\\\|=`, `\\|\=`},
		{`trailing\`, `trailing\\`, `trailing\\`},
		{"刷单|校园贷=诈骗", `刷单\|校园贷=诈骗`, `刷单|校园贷\=诈骗`},
		{"tab\tstays", "tab\tstays", "tab\tstays"},
		{"nul\x00 del\x7f nel\u0085 ls\u2028 ps\u2029", "nul  del  nel  ls  ps ", "nul  del  nel  ls  ps "},
		{"bad\xffbyte", "bad\uFFFDbyte", "bad\uFFFDbyte"},
		{"", "", ""},
	} {
		if got := cefHeader(tc.in); got != tc.header {
			t.Errorf("cefHeader(%q) = %q, want %q", tc.in, got, tc.header)
		}
		if got := cefValue(tc.in); got != tc.value {
			t.Errorf("cefValue(%q) = %q, want %q", tc.in, got, tc.value)
		}
	}
}

func TestCutEscaped(t *testing.T) {
	v := cefValue("a=刷\\b")          // a\=刷\\b
	for max, want := range []string{ // by max bytes
		"", "a", "a", `a\=`, `a\=`, `a\=`, `a\=刷`, `a\=刷`, `a\=刷\\`, `a\=刷\\b`, `a\=刷\\b`,
	} {
		if got := string(cutEscaped(nil, v, max)); got != want {
			t.Errorf("cutEscaped(%q, %d) = %q, want %q", v, max, got, want)
		}
	}
}

// FuzzCEFEscape checks that what the escapers write, a CEF parser reads
// back as the text (made one line of valid UTF-8 where it had to be), that
// a value cannot forge a key or a header field, and that cutting never
// leaves half an escape or half a character.
func FuzzCEFEscape(f *testing.F) {
	f.Add("刷单|校园贷 = 诈骗\n\\")
	f.Fuzz(func(t *testing.T, s string) {
		v := cefValue(s)
		if !utf8.ValidString(v) || strings.ContainsAny(v, "\n\r") {
			t.Fatalf("cefValue(%q) = %q: invalid UTF-8 or a raw newline", s, v)
		}
		want := cefClean(s, true)
		got, err := unescapeValue(v)
		if err != nil || got != want {
			t.Fatalf("unescape(cefValue(%q)) = %q, %v; want %q", s, got, err, want)
		}
		ext, err := parseExt("k=" + v + " act=block")
		if err != nil || len(ext) != 2 || ext["k"] != want || ext["act"] != "block" {
			t.Fatalf("parse %q: %v, %v", "k="+v+" act=block", ext, err)
		}

		h := cefHeader(s)
		if !utf8.ValidString(h) || strings.ContainsAny(h, "\n\r") {
			t.Fatalf("cefHeader(%q) = %q: invalid UTF-8 or a raw newline", s, h)
		}
		if got, err := unescapeHeader(h); err != nil || got != cefClean(s, false) {
			t.Fatalf("unescape(cefHeader(%q)) = %q, %v; want %q", s, got, err, cefClean(s, false))
		}
		header, _, err := parseCEF("CEF:0|v|p|" + h + "|sig|name|5|k=" + v)
		if err != nil || len(header) != 7 || header[3] != cefClean(s, false) {
			t.Fatalf("a header field %q splits the header: %q, %v", h, header, err)
		}

		for _, max := range []int{0, 1, len(v) / 3, len(v) / 2, len(v) - 1, len(v)} {
			if max < 0 {
				continue
			}
			c := string(cutEscaped(nil, v, max))
			if len(c) > max || !strings.HasPrefix(v, c) || !utf8.ValidString(c) {
				t.Fatalf("cutEscaped(%q, %d) = %q", v, max, c)
			}
			if u, err := unescapeValue(c); err != nil || !strings.HasPrefix(want, u) {
				t.Fatalf("cutEscaped(%q, %d) = %q: unescapes to %q, %v", v, max, c, u, err)
			}
		}

		// The whole message, with s everywhere free text goes.
		d := block(1)
		d.Reason, d.Category, d.Policy, d.Actor = s, s, s, s
		it := newItem(d, testNow)
		sl := &Syslog{cfg: SyslogConfig{AppName: "campusguard", MaxMessageBytes: 1 << 20}, opts: Options{Version: s}, facility: 16, hostname: "h", procid: "1"}
		m, err := parseSyslog(string(sl.format(&it)))
		if err != nil {
			t.Fatal(err)
		}
		if m.header[3] != cefClean(s, false) || m.ext["act"] != "block" || m.ext["externalId"] != "1" {
			t.Fatalf("header %q ext %v", m.header, m.ext)
		}
		if s != "" && (m.ext["reason"] != want || m.ext["cs1"] != want || m.ext["suser"] != want) {
			t.Fatalf("reason %q cs1 %q suser %q, want %q", m.ext["reason"], m.ext["cs1"], m.ext["suser"], want)
		}
	})
}
