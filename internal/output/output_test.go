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
		{"快来刷单", []event.Hit{hit(6, 12, "text")}, "快来【刷单】"},
		{"abcdef", []event.Hit{hit(3, 5, "text"), hit(0, 2, "text")}, "【ab】c【de】f"},
		{"abcdef", []event.Hit{hit(0, 3, "text"), hit(2, 5, "text")}, "【abcde】f"},
		{"abc", []event.Hit{hit(0, 9, "text"), hit(1, 2, "title")}, "abc"},
		{"a\tb\nc", []event.Hit{hit(2, 3, "text")}, "a 【b】 c"},
	}
	for _, tt := range tests {
		if got := Highlight(tt.text, tt.hits, "text"); got != tt.want {
			t.Errorf("Highlight(%q) = %q, want %q", tt.text, got, tt.want)
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
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "WHERE") || !strings.Contains(lines[1], "【刷单】") || !strings.Contains(lines[1], "k.txt:1") {
		t.Errorf("table:\n%s", buf.String())
	}
	if _, err := New(&buf, "xml"); err == nil {
		t.Error("unknown format accepted")
	}
}
