// Package output prints events for people and programs: NDJSON (the event
// encoding every interface shares) or an aligned table with the matched
// spans highlighted. It is used by the CLI subcommands and knows nothing of
// where events come from.
package output

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"unicode/utf8"

	"github.com/campusguard/campusguard/internal/event"
)

// Formats accepted by --format.
const (
	FormatNDJSON = "ndjson"
	FormatTable  = "table"
)

// Writer prints events in one format.
type Writer interface {
	Write(ev *event.Event) error
	Flush() error
}

// New returns a Writer for format, or an error naming the accepted formats.
func New(w io.Writer, format string) (Writer, error) {
	switch format {
	case FormatNDJSON, "":
		return &ndjsonWriter{enc: event.NewEncoder(w)}, nil
	case FormatTable:
		tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "WHERE\tKIND\tPACK\tRULE\tCATEGORY\tSEVERITY\tACTION\tCONTEXT")
		return &tableWriter{tw: tw}, nil
	}
	return nil, fmt.Errorf("unknown format %q (want ndjson or table)", format)
}

type ndjsonWriter struct{ enc *event.Encoder }

func (n *ndjsonWriter) Write(ev *event.Event) error { return n.enc.Encode(ev) }
func (n *ndjsonWriter) Flush() error                { return nil }

type tableWriter struct{ tw *tabwriter.Writer }

func (t *tableWriter) Write(ev *event.Event) error {
	where := ev.PostID
	if ev.Frame > 0 {
		where = fmt.Sprintf("frame %d", ev.Frame)
	}
	if ev.Src != "" {
		where += " " + ev.Src
	}
	if len(ev.Hits) == 0 { // scan --events, match --all
		context := ev.Name
		if ev.URL != "" {
			context += " " + ev.URL
		}
		if ev.Kind == event.KindPost {
			context = head(ev.Text, 2*snippetRunes)
		}
		_, err := fmt.Fprintf(t.tw, "%s\t%s\t-\t-\t-\t-\t-\t%s\n", where, ev.Kind, strings.TrimSpace(context))
		return err
	}
	for i, h := range ev.Hits {
		_, err := fmt.Fprintf(t.tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n",
			where, ev.Kind, h.Pack, h.Rule, h.Category, h.Severity, h.Action, Snippet(fieldText(ev, h), ev.Hits, i, snippetRunes))
		if err != nil {
			return err
		}
	}
	return nil
}

func (t *tableWriter) Flush() error { return t.tw.Flush() }

func fieldText(ev *event.Event, h event.Hit) string {
	switch h.Field {
	case event.FieldName:
		return ev.Name
	case event.FieldURL:
		return ev.URL
	case event.FieldTitle:
		return ev.Title
	case event.FieldCNAME:
		for _, c := range ev.CNAMEs {
			if strings.Contains(c, h.Match) {
				return c
			}
		}
	}
	return ev.Text
}

// head returns the first n characters of text on one line.
func head(text string, n int) string {
	text = strings.Join(strings.Fields(text), " ")
	for i := range text {
		if n == 0 {
			return text[:i] + "…"
		}
		n--
	}
	return text
}

// Markers around a highlighted span: not 【】, which Chinese posts use
// themselves.
const (
	markOpen  = "⟦"
	markClose = "⟧"
)

// snippetRunes is how much context a table row shows on each side.
const snippetRunes = 12

// Snippet returns hits[i]'s span in text marked with ⟦⟧ and up to radius
// characters of context on each side, flattened to one line. Spans of
// detector hits (personal data) show their masked match, also when they
// fall in another hit's context.
func Snippet(text string, hits []event.Hit, i, radius int) string {
	h := hits[i]
	if h.Start < 0 || h.End > len(text) || h.Start > h.End {
		return h.Match
	}
	from := h.Start
	for n := 0; n < radius && from > 0; n++ {
		_, size := utf8.DecodeLastRuneInString(text[:from])
		from -= size
	}
	to := h.End
	for n := 0; n < radius && to < len(text); n++ {
		_, size := utf8.DecodeRuneInString(text[to:])
		to += size
	}
	var b strings.Builder
	if from > 0 {
		b.WriteString("…")
	}
	b.WriteString(masked(text, hits, h.Field, from, h.Start))
	b.WriteString(markOpen)
	b.WriteString(masked(text, hits, h.Field, h.Start, h.End))
	b.WriteString(markClose)
	b.WriteString(masked(text, hits, h.Field, h.End, to))
	if to < len(text) {
		b.WriteString("…")
	}
	return flatten.Replace(b.String())
}

// masked returns text[from:to] with every detector hit's span replaced by
// its masked match (a partly covered span is masked whole).
func masked(text string, hits []event.Hit, field string, from, to int) string {
	var b strings.Builder
	pos := from
	for _, h := range hits {
		if h.Field != field || !strings.HasPrefix(h.Rule, "detector:") || h.End <= pos || h.Start >= to {
			continue
		}
		if h.Start > pos {
			b.WriteString(text[pos:h.Start])
		}
		b.WriteString(h.Match)
		pos = min(h.End, to)
	}
	if pos < to {
		b.WriteString(text[pos:to])
	}
	return b.String()
}

var flatten = strings.NewReplacer("\t", " ", "\n", " ", "\r", " ")

// Highlight returns text with the spans of the hits on field wrapped in
// ⟦⟧ (one pair per merged span) and tabs and newlines flattened, for a
// whole-text view such as the console's.
func Highlight(text string, hits []event.Hit, field string) string {
	type span struct{ start, end int }
	var spans []span
	for _, h := range hits {
		if h.Field == field && h.Start >= 0 && h.End <= len(text) && h.Start < h.End {
			spans = append(spans, span{h.Start, h.End})
		}
	}
	sort.Slice(spans, func(i, j int) bool { return spans[i].start < spans[j].start })
	var b strings.Builder
	pos := 0
	for i := 0; i < len(spans); {
		s := spans[i]
		for i++; i < len(spans) && spans[i].start <= s.end; i++ {
			s.end = max(s.end, spans[i].end)
		}
		if s.start < pos {
			s.start = pos
		}
		b.WriteString(text[pos:s.start])
		b.WriteString(markOpen)
		b.WriteString(text[s.start:s.end])
		b.WriteString(markClose)
		pos = s.end
	}
	b.WriteString(text[pos:])
	return flatten.Replace(b.String())
}
