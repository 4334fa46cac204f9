package web

import (
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/campusguard/campusguard/internal/event"
)

// segment is a run of text, marked when a rule matched it. Templates
// escape Text; nothing here produces HTML.
type segment struct {
	Text  string
	Mark  bool
	Rules string // the rules that matched this run, for its title
}

// highlight splits text at the spans of hits in field (UTF-8 byte offsets
// into text, as the matcher reports them). Spans out of range are dropped;
// spans that cut a character are widened to whole characters; overlapping
// spans are merged.
func highlight(text string, hits []event.Hit, field string) []segment {
	type span struct {
		start, end int
		rules      []string
	}
	var spans []span
	for _, h := range hits {
		if h.Field != field {
			continue
		}
		s, e := h.Start, h.End
		if s < 0 || e > len(text) || s >= e {
			continue
		}
		for s > 0 && !utf8.RuneStart(text[s]) {
			s--
		}
		for e < len(text) && !utf8.RuneStart(text[e]) {
			e++
		}
		spans = append(spans, span{s, e, []string{h.Rule}})
	}
	if len(spans) == 0 {
		if text == "" {
			return nil
		}
		return []segment{{Text: text}}
	}
	sort.Slice(spans, func(i, j int) bool { return spans[i].start < spans[j].start })
	merged := spans[:1]
	for _, sp := range spans[1:] {
		last := &merged[len(merged)-1]
		if sp.start < last.end {
			last.end = max(last.end, sp.end)
			last.rules = append(last.rules, sp.rules...)
			continue
		}
		merged = append(merged, sp)
	}
	var out []segment
	pos := 0
	for _, sp := range merged {
		if sp.start > pos {
			out = append(out, segment{Text: text[pos:sp.start]})
		}
		out = append(out, segment{Text: text[sp.start:sp.end], Mark: true, Rules: strings.Join(dedup(sp.rules), ", ")})
		pos = sp.end
	}
	if pos < len(text) {
		out = append(out, segment{Text: text[pos:]})
	}
	return out
}

func dedup(s []string) []string {
	seen := map[string]bool{}
	out := s[:0:0]
	for _, x := range s {
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	return out
}
