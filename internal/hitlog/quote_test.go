package hitlog

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"
)

var nastyStrings = []string{
	"", "'", `\`, `\'`, `'\`, "a'b", `x' OR 1=1 --`, "line\nbreak", "tab\tand\rcr", "nul\x00byte",
	"刷单", "emoji 🎣", `\N`, "'; DROP TABLE hits; --", "\\\\'", "{name:String}", "?",
}

// What quote renders, both stores read back as the same string.
func TestQuoteRoundTrip(t *testing.T) {
	forEachStore(t, func(t *testing.T, s Store) {
		for _, want := range nastyStrings {
			var got string
			if err := queryOne(context.Background(), s, "SELECT "+quote(want), &got); err != nil {
				t.Errorf("SELECT %s: %v", quote(want), err)
				continue
			}
			if got != want {
				t.Errorf("SELECT %s = %q, want %q", quote(want), got, want)
			}
		}
	})
}

// unquote reads a ClickHouse string literal the way the server does for
// the escapes quote writes; ok is false if the literal ends early or has
// text after its closing quote.
func unquote(lit string) (string, bool) {
	if len(lit) < 2 || lit[0] != '\'' {
		return "", false
	}
	var b strings.Builder
	for i := 1; i < len(lit); i++ {
		switch c := lit[i]; c {
		case '\'':
			return b.String(), i == len(lit)-1
		case '\\':
			i++
			if i >= len(lit) {
				return "", false
			}
			switch e := lit[i]; e {
			case 'n':
				b.WriteByte('\n')
			case 'r':
				b.WriteByte('\r')
			case 't':
				b.WriteByte('\t')
			case '0':
				b.WriteByte(0)
			default:
				b.WriteByte(e)
			}
		default:
			b.WriteByte(c)
		}
	}
	return "", false
}

func FuzzQuote(f *testing.F) {
	for _, s := range nastyStrings {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := unquote(quote(s))
		if !ok || got != s {
			t.Fatalf("quote(%q) = %s reads back as %q (complete: %v)", s, quote(s), got, ok)
		}
	})
}

// FuzzServerOptions: whatever the URL, parsing never panics, and an
// accepted one has a host with a port and a database name safe in SQL.
func FuzzServerOptions(f *testing.F) {
	for _, s := range []string{
		"clickhouse://u:p@h:9000/db", "clickhouse://h", "clickhouse://u@[::1]:9440/db?secure=true&skip_verify=true",
		"clickhouse://h/db?dial_timeout=-1s", "clickhouse://h/db;drop", "clickhouse://h/%27x", "clickhouse://:p@h/db?ca=/nonexistent",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		u, err := url.Parse(raw)
		if err != nil || u.Scheme != "clickhouse" {
			return
		}
		c, err := serverOptions(u)
		if err != nil {
			return
		}
		if !validIdent(c.database) || c.addr == "" || !utf8.ValidString(c.database) {
			t.Fatalf("accepted %q as database %q at %q", raw, c.database, c.addr)
		}
		if c.dialTimeout <= 0 {
			t.Fatalf("accepted dial timeout %v", c.dialTimeout)
		}
	})
}
