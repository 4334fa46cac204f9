package output

import (
	"bytes"
	"strings"
	"testing"

	"github.com/campusguard/campusguard/internal/event"
)

func TestHighlight(t *testing.T) {
	hit := func(start, end int, field string) event.Hit { return event.Hit{Start: start, End: end, Field: field} }
	tests := []struct {
		text string
		hits []event.Hit
		want string
	}{
		{"快来刷单", []event.Hit{hit(6, 12, "text")}, "快来⟦刷单⟧"},
		{"abcdef", []event.Hit{hit(3, 5, "text"), hit(0, 2, "text")}, "⟦ab⟧c⟦de⟧f"},
		{"abcdef", []event.Hit{hit(0, 3, "text"), hit(2, 5, "text")}, "⟦abcde⟧f"},
		{"abc", []event.Hit{hit(0, 9, "text"), hit(1, 2, "title")}, "abc"},
		{"a\tb\nc", []event.Hit{hit(2, 3, "text")}, "a ⟦b⟧ c"},
	}
	for _, tt := range tests {
		if got := Highlight(tt.text, tt.hits, "text"); got != tt.want {
			t.Errorf("Highlight(%q) = %q, want %q", tt.text, got, tt.want)
		}
	}
}

func TestSnippetMasksPersonalData(t *testing.T) {
	text := "身份证 11010519491231002X 电话 138 1234 5678 快来刷单"
	hits := []event.Hit{
		{Rule: "detector:cn_id_card", Match: "110***********002X", Field: "text", Start: 10, End: 28},
		{Rule: "detector:cn_mobile", Match: "138****5678", Field: "text", Start: 36, End: 49},
		{Rule: "k.txt:1", Match: "刷单", Field: "text", Start: 56, End: 62},
	}
	tests := []struct {
		i      int
		radius int
		want   string
	}{
		{0, 4, "身份证 ⟦110***********002X⟧ 电话 …"},
		{1, 40, "身份证 110***********002X 电话 ⟦138****5678⟧ 快来刷单"},
		{2, 3, "… 快来⟦刷单⟧"},
	}
	for _, tt := range tests {
		if got := Snippet(text, hits, tt.i, tt.radius); got != tt.want {
			t.Errorf("Snippet(hit %d, %d) = %q, want %q", tt.i, tt.radius, got, tt.want)
		}
	}
}

func TestWriters(t *testing.T) {
	ev := &event.Event{Kind: event.KindPost, PostID: "3", Text: "刷单", Hits: []event.Hit{{Pack: "p", Rule: "k.txt:1", Category: "fraud", Severity: event.SeverityHigh, Action: "hold", Field: "text", Start: 0, End: 6}}}
	var buf bytes.Buffer
	w, err := New(&buf, FormatTable)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(ev); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "WHERE") || !strings.Contains(lines[1], "⟦刷单⟧") || !strings.Contains(lines[1], "k.txt:1") {
		t.Errorf("table:\n%s", buf.String())
	}
	if _, err := New(&buf, "xml"); err == nil {
		t.Error("unknown format accepted")
	}
}
