package web

import (
	"net/url"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/campusguard/campusguard/internal/event"
	"github.com/campusguard/campusguard/internal/hitlog"
)

func TestParseHitsQuery(t *testing.T) {
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.Local)
	for _, c := range []struct {
		q      string
		errs   []string // fields with errors
		filter hitlog.Filter
		from   time.Time
	}{
		{q: "", from: now.Add(-24 * time.Hour)},
		{q: "search=1&range=1h&kind=dns&severity=high&client=%20c-01%20", filter: hitlog.Filter{Kind: "dns", MinSeverity: 3, Client: "c-01"}, from: now.Add(-time.Hour)},
		{q: "range=custom&from=2026-11-01T08:00&to=2026-11-02T09:30", from: time.Date(2026, 11, 1, 8, 0, 0, 0, time.Local)},
		{q: "range=custom&from=2026-11-02T08:00&to=2026-11-01T09:30", errs: []string{"to"}, from: now.Add(-24 * time.Hour)},
		{q: "range=custom&from=yesterday", errs: []string{"from", "to"}, from: now.Add(-24 * time.Hour)},
		{q: "range=1y", errs: []string{"range"}, from: now.Add(-24 * time.Hour)},
		{q: "kind=smtp&severity=meh&cursor=a.b.c", errs: []string{"kind", "severity", "cursor"}, from: now.Add(-24 * time.Hour)},
		{q: "name=" + strings.Repeat("x", 257), errs: []string{"name"}, from: now.Add(-24 * time.Hour)},
		{q: "pack=a%00b&rule=%E2%80%8Bok", errs: []string{"pack"}, filter: hitlog.Filter{Rule: "\u200bok"}, from: now.Add(-24 * time.Hour)},
		{q: "cursor=1700000000000.12.3", from: now.Add(-24 * time.Hour)},
	} {
		v, _ := url.ParseQuery(c.q)
		h := parseHitsQuery(v, now)
		var got []string
		for _, e := range h.Errs {
			got = append(got, e.Field)
		}
		if strings.Join(got, ",") != strings.Join(c.errs, ",") {
			t.Errorf("%q: errors in %v, want %v", c.q, got, c.errs)
		}
		if h.Filter != c.filter {
			t.Errorf("%q: filter %+v, want %+v", c.q, h.Filter, c.filter)
		}
		if !h.From.Equal(c.from) {
			t.Errorf("%q: from %v, want %v", c.q, h.From, c.from)
		}
		if !h.From.Before(h.To) {
			t.Errorf("%q: range %v – %v", c.q, h.From, h.To)
		}
	}
}

// The search form is the console's widest parser of untrusted input: any
// query string must give a usable range, bounded filters, a cursor of the
// store's shape or none, and never a panic.
func FuzzParseHitsQuery(f *testing.F) {
	for _, s := range []string{"", "search=1&range=24h", "range=custom&from=2026-11-01T08:00&to=2026-11-02T09:30",
		"kind=dns&severity=critical&client=c-01&name=%27", "cursor=1.2.3&cursor=4.5.6", "range=custom&from=9999-12-31T23:59&to=0001-01-01T00:00",
		"%zz", "name=%ff%fe", "offset=-1&state=all"} {
		f.Add(s)
	}
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, raw string) {
		v, _ := url.ParseQuery(raw)
		h := parseHitsQuery(v, now)
		if !h.From.Before(h.To) {
			t.Fatalf("range %v – %v", h.From, h.To)
		}
		fl := h.Filter
		for _, s := range []string{fl.Kind, fl.Category, fl.Pack, fl.Rule, fl.Sensor, fl.Action, fl.Client, fl.Name} {
			if len(s) > maxFilterBytes || !utf8.ValidString(s) || strings.ContainsAny(s, "\x00\r\n") {
				t.Fatalf("filter value %q passed", s)
			}
		}
		if fl.Kind != "" {
			if _, err := event.ParseKind(fl.Kind); err != nil {
				t.Fatalf("kind %q passed", fl.Kind)
			}
		}
		if fl.MinSeverity > uint8(event.SeverityCritical) {
			t.Fatalf("severity %d", fl.MinSeverity)
		}
		if h.Cursor != "" && !validCursor(h.Cursor) {
			t.Fatalf("cursor %q passed", h.Cursor)
		}
		// The queue filter reads the same kind of input.
		lf, _, ok := parseQueueFilter(v)
		if ok && (lf.Offset < 0 || len(lf.Forum) > maxFilterBytes || len(lf.Category) > maxFilterBytes) {
			t.Fatalf("queue filter %+v", lf)
		}
	})
}

func TestHighlight(t *testing.T) {
	text := "前文【兼职】刷单 & <b>x</b>"
	i := strings.Index(text, "刷单")
	for _, c := range []struct {
		name string
		hits []event.Hit
		want string // marked runs in [brackets]
	}{
		{"none", nil, text},
		{"one", []event.Hit{{Field: "text", Start: i, End: i + len("刷单"), Rule: "r1"}}, "前文【兼职】[刷单] & <b>x</b>"},
		{"other field", []event.Hit{{Field: "title", Start: 0, End: 3}}, text},
		{"mid-rune offsets widen", []event.Hit{{Field: "text", Start: i + 1, End: i + 4}}, "前文【兼职】[刷单] & <b>x</b>"},
		{"overlap merges", []event.Hit{{Field: "text", Start: 0, End: 6, Rule: "a"}, {Field: "text", Start: 3, End: 9, Rule: "b"}}, "[前文【]兼职】刷单 & <b>x</b>"},
		{"out of range dropped", []event.Hit{{Field: "text", Start: -1, End: 3}, {Field: "text", Start: 5, End: 500}, {Field: "text", Start: 6, End: 6}}, text},
		{"at the end", []event.Hit{{Field: "text", Start: len(text) - 4, End: len(text)}}, "前文【兼职】刷单 & <b>x[</b>]"},
	} {
		var b strings.Builder
		for _, s := range highlight(text, c.hits, "text") {
			if s.Mark {
				b.WriteString("[" + s.Text + "]")
			} else {
				b.WriteString(s.Text)
			}
			if !utf8.ValidString(s.Text) {
				t.Errorf("%s: segment %q cuts a character", c.name, s.Text)
			}
		}
		if b.String() != c.want {
			t.Errorf("%s: %q, want %q", c.name, b.String(), c.want)
		}
	}
	segs := highlight(text, []event.Hit{{Field: "text", Start: 0, End: 6, Rule: "a"}, {Field: "text", Start: 3, End: 9, Rule: "b"}, {Field: "text", Start: 0, End: 3, Rule: "a"}}, "text")
	if segs[0].Rules != "a, b" {
		t.Errorf("merged rules %q", segs[0].Rules)
	}
}

func TestCharts(t *testing.T) {
	from := time.Date(2026, 11, 26, 0, 0, 0, 0, time.Local)
	pts := []hitlog.Point{
		{T: from, Key: "phishing", Hits: 3}, {T: from, Key: "fraud", Hits: 1},
		{T: from.Add(20 * time.Minute), Key: "phishing", Hits: 7},
		{T: from.Add(-time.Hour), Key: "phishing", Hits: 100},  // before the range: ignored
		{T: from.Add(24 * time.Hour), Key: "fraud", Hits: 100}, // after it
	}
	for i := 0; i < 9; i++ {
		pts = append(pts, hitlog.Point{T: from.Add(time.Hour), Key: "k" + string(rune('a'+i)), Hits: 1})
	}
	label := func(k string) string {
		if k == otherKey {
			return "Other"
		}
		return "<" + k + ">"
	}
	ch := stackedBars("c1", pts, from, 10*time.Minute, 144, label, `Title "quoted" <x>`, "Desc & more")
	svg := string(ch.SVG)
	for _, want := range []string{`role="img"`, `aria-labelledby="c1-title c1-desc"`, `<title id="c1-title">Title &#34;quoted&#34; &lt;x&gt;</title>`,
		"Desc &amp; more", "&lt;phishing&gt; 3", ">00:00<", ">03:00<", ">21:00<"} {
		if !strings.Contains(svg, want) {
			t.Errorf("chart lacks %q", want)
		}
	}
	if strings.Contains(svg, "<phishing>") || strings.Contains(svg, "style=") {
		t.Error("unescaped label or inline style in the chart")
	}
	if len(ch.Legend) != maxSeries+1 || ch.Legend[maxSeries].Label != "Other" || ch.Legend[maxSeries].Total != 5 {
		t.Errorf("legend %+v", ch.Legend)
	}
	if ch.Legend[0].Key != "phishing" || ch.Legend[0].Total != 10 || ch.Legend[0].Peak != 7 || !ch.Legend[0].PeakAt.Equal(from.Add(20*time.Minute)) {
		t.Errorf("first series %+v", ch.Legend[0])
	}
	if ch.Total != 20 {
		t.Errorf("total %d", ch.Total)
	}
	if e := stackedBars("c2", nil, from, 10*time.Minute, 144, label, "t", "d"); !e.Empty {
		t.Error("empty chart not empty")
	}
	for _, c := range []struct{ max, top, tick uint64 }{{0, 4, 1}, {1, 2, 1}, {3, 4, 1}, {7, 8, 2}, {10, 15, 5}, {98, 100, 50}, {1234, 1500, 500}} {
		if top, tick := niceScale(c.max); top != c.top || tick != c.tick {
			t.Errorf("niceScale(%d) = %d, %d; want %d, %d", c.max, top, tick, c.top, c.tick)
		}
	}
}
