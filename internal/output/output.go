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
		fmt.Fprintln(tw, "WHERE\tKIND\tPACK\tRULE\tCATEGORY\tSEVERITY\tACTION\tMATCH")
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
	for _, h := range ev.Hits {
		_, err := fmt.Fprintf(t.tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n",
			where, ev.Kind, h.Pack, h.Rule, h.Category, h.Severity, h.Action, Highlight(fieldText(ev, h.Field), ev.Hits, h.Field))
		if err != nil {
			return err
		}
	}
	return nil
}

func (t *tableWriter) Flush() error { return t.tw.Flush() }

func fieldText(ev *event.Event, field string) string {
	switch field {
	case event.FieldName:
		return ev.Name
	case event.FieldURL:
		return ev.URL
	case event.FieldTitle:
		return ev.Title
	}
	return ev.Text
}

// Highlight returns text with the spans of the hits on field wrapped in
// 【】 (one pair per merged span) and tabs and newlines flattened, so a table
// row shows where each match is even when the match itself is masked.
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
		b.WriteString("【")
		b.WriteString(text[s.start:s.end])
		b.WriteString("】")
		pos = s.end
	}
	b.WriteString(text[pos:])
	return strings.NewReplacer("\t", " ", "\n", " ", "\r", " ").Replace(b.String())
}
