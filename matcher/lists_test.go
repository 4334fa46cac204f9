package matcher

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
)

var update = flag.Bool("update", false, "rewrite golden files")

// TestListGolden parses every testdata/lists/FORMAT.txt and compares the
// entries and problems with FORMAT.golden (go test -run TestListGolden -update).
func TestListGolden(t *testing.T) {
	for _, format := range formats {
		t.Run(format, func(t *testing.T) {
			in := filepath.Join("testdata", "lists", format+".txt")
			f, err := os.Open(in)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			var b strings.Builder
			problems, err := readList(f, format+".txt", format, func(e listEntry, line int) {
				fmt.Fprintf(&b, "%d: kind=%d value=%q flags=%d\n", line, e.kind, e.value, e.flags)
			})
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range problems {
				fmt.Fprintf(&b, "%s (warning=%v)\n", p.Error(), p.Warning)
			}
			golden := filepath.Join("testdata", "lists", format+".golden")
			if *update {
				if err := os.WriteFile(golden, []byte(b.String()), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if b.String() != string(want) {
				t.Errorf("%s differs from %s:\n got:\n%s\nwant:\n%s", in, golden, b.String(), want)
			}
		})
	}
}

func TestUnknownFormat(t *testing.T) {
	_, err := readList(strings.NewReader("x"), "f", "csv", func(listEntry, int) {})
	if err == nil || !strings.Contains(err.Error(), `unknown list format "csv"`) {
		t.Errorf("got %v", err)
	}
}

func TestLongLineIsReportedAndSkipped(t *testing.T) {
	in := "a.test\n" + strings.Repeat("x", maxLineBytes+10) + "\nb.test\n"
	var got []string
	problems, err := readList(strings.NewReader(in), "f", FormatDomains, func(e listEntry, line int) {
		got = append(got, fmt.Sprintf("%d:%s", line, e.value))
	})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != "[1:a.test 3:b.test]" || len(problems) != 1 || problems[0].Line != 2 {
		t.Errorf("entries %v problems %v", got, problems)
	}
}

// TestDomainHintCountsRules: the domain index is sized from the lines that
// can hold a rule, so blank and comment lines cost nothing: a list of 1 MiB
// of blank lines and one rule used to size an index for a million rules.
func TestDomainHintCountsRules(t *testing.T) {
	list := "\n\n# a comment\n! adblock comment\n   \n\ta.test\r\n0.0.0.0 b.test c.test\n||d.test^\n" +
		strings.Repeat("\n", 1<<20) + strings.Repeat(" \r\n", 1000) + "e.test"
	fsys := fstest.MapFS{
		"r/p.yaml": {Data: []byte("name: p\ncategory: spam\nfiles:\n  - {path: l.txt, format: domains}\n  - {path: k.txt, format: keywords}\n")},
		"r/l.txt":  {Data: []byte(list)},
		"r/k.txt":  {Data: []byte("a\nb\nc\n")},
	}
	refs := []packListRef{{Path: "l.txt", Format: FormatHosts}, {Path: "k.txt", Format: FormatKeywords}}
	if n := countDomainLines(fsys, "r", refs); n != 4 {
		t.Errorf("counted %d lines that can hold a domain rule, want 4", n)
	}
	fold, err := getFoldTable(false)
	if err != nil {
		t.Fatal(err)
	}
	p, err := loadPack(fsys, "r/p.yaml", loadOptions{fold: fold})
	if err != nil {
		t.Fatal(err)
	}
	if slots := len(p.domains.slots); slots > 64 {
		t.Errorf("index of %d rules has %d slots", p.info.Domains, slots)
	}
}
