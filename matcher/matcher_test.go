package matcher

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/campusguard/campusguard/internal/event"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func writeTestFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// touch moves a file's mtime forward so a reload sees it as changed even
// within the file system's timestamp granularity.
func touch(t *testing.T, path string, n int) {
	t.Helper()
	at := time.Now().Add(time.Duration(n) * time.Minute)
	if err := os.Chtimes(path, at, at); err != nil {
		t.Fatal(err)
	}
}

func hitRules(hits []event.Hit) string {
	var r []string
	for _, h := range hits {
		r = append(r, h.Pack+" "+h.Rule)
	}
	return strings.Join(r, ", ")
}

func TestReload(t *testing.T) {
	dir := t.TempDir()
	pack := filepath.Join(dir, "p.yaml")
	list := filepath.Join(dir, "d.txt")
	writeTestFile(t, pack, "name: p\ncategory: phishing\nfiles: [{path: d.txt, format: domains}]\n")
	writeTestFile(t, list, "one.test\nbad domain\n")
	reg := prometheus.NewRegistry()
	m, rep, err := New(Options{Packs: []string{filepath.Join(dir, "*.yaml")}, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Loaded) != 1 || len(rep.Problems) != 1 || rep.Problems[0].Error() != `d.txt:2: "bad domain" is not a domain name (a URL or several words?)` {
		t.Fatalf("first load: %+v", rep)
	}
	if got := hitRules(m.Set().MatchDomain(event.KindDNS, "x.one.test", nil)); got != "p d.txt:1" {
		t.Fatalf("hit %q", got)
	}

	if m.LastReport() != rep || rep.At.IsZero() {
		t.Errorf("LastReport is not the first load's report")
	}

	// Nothing changed: the pack is reused as it is.
	rep = m.Reload()
	if len(rep.Reused) != 1 || len(rep.Loaded) != 0 {
		t.Fatalf("unchanged reload: %+v", rep)
	}
	if m.LastReport() != rep {
		t.Errorf("LastReport is not the latest reload's report")
	}

	// The list changed: rebuilt, and the old set keeps working for whoever holds it.
	old := m.Set()
	writeTestFile(t, list, "two.test\n")
	touch(t, list, 1)
	rep = m.Reload()
	if len(rep.Loaded) != 1 || rep.Err() != nil {
		t.Fatalf("changed reload: %+v", rep)
	}
	if got := hitRules(m.Set().MatchDomain(event.KindDNS, "two.test", nil)); got != "p d.txt:1" {
		t.Errorf("new rule: %q", got)
	}
	if got := hitRules(m.Set().MatchDomain(event.KindDNS, "one.test", nil)); got != "" {
		t.Errorf("removed rule still hits: %q", got)
	}
	if got := hitRules(old.MatchDomain(event.KindDNS, "one.test", nil)); got != "p d.txt:1" {
		t.Errorf("old set changed under its holder: %q", got)
	}

	// The pack breaks: the previous version stays in force.
	writeTestFile(t, pack, "name: p\ncategory: phishing\nfiles: [{path: d.txt, format: domains}]\nbogus: 1\n")
	touch(t, pack, 2)
	rep = m.Reload()
	if len(rep.Kept) != 1 || len(rep.Failed) != 1 || !strings.Contains(rep.Failed[0].Error(), `p.yaml:4: unknown key "bogus"`) {
		t.Fatalf("broken reload: %+v", rep)
	}
	if got := hitRules(m.Set().MatchDomain(event.KindDNS, "two.test", nil)); got != "p d.txt:1" {
		t.Errorf("kept pack lost its rules: %q", got)
	}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP campusguard_rules_packs Packs by state after the last reload: loaded (fresh or unchanged), stale (new version failed, previous kept), failed (not in force).
# TYPE campusguard_rules_packs gauge
campusguard_rules_packs{state="failed"} 0
campusguard_rules_packs{state="loaded"} 0
campusguard_rules_packs{state="stale"} 1
# HELP campusguard_rules_reloads_total Rule reloads by result: success (every pack loaded), partial (some pack failed and kept its previous version or was dropped), failure (no pack usable).
# TYPE campusguard_rules_reloads_total counter
campusguard_rules_reloads_total{result="failure"} 0
campusguard_rules_reloads_total{result="partial"} 1
campusguard_rules_reloads_total{result="success"} 3
# HELP campusguard_rules_loaded Rules in force by type.
# TYPE campusguard_rules_loaded gauge
campusguard_rules_loaded{type="detector"} 0
campusguard_rules_loaded{type="domain"} 1
campusguard_rules_loaded{type="keyword"} 0
campusguard_rules_loaded{type="regex"} 0
`), "campusguard_rules_packs", "campusguard_rules_reloads_total", "campusguard_rules_loaded"); err != nil {
		t.Error(err)
	}
	if problems, err := testutil.GatherAndLint(reg); err != nil || len(problems) > 0 {
		t.Errorf("metric lint: %v %v", problems, err)
	}

	// The pack is removed: its rules go.
	if err := os.Remove(pack); err != nil {
		t.Fatal(err)
	}
	m.Reload()
	if n := len(m.Set().Packs()); n != 0 {
		t.Errorf("%d packs after removal", n)
	}
}

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		want  string
	}{
		{"unknown key", map[string]string{"p.yaml": "name: p\ncategory: spam\nkeywords: [x]\nkeywrods: [y]\n"}, `builtin:p.yaml:4: unknown key "keywrods"`},
		{"bad name", map[string]string{"p.yaml": "name: P Q\ncategory: spam\nkeywords: [x]\n"}, `builtin:p.yaml:1: name "P Q": want lower-case`},
		{"bad severity", map[string]string{"p.yaml": "name: p\ncategory: spam\nseverity: extreme\nkeywords: [x]\n"}, `builtin:p.yaml:3: unknown severity "extreme"`},
		{"bad kind", map[string]string{"p.yaml": "name: p\ncategory: spam\napplies_to: [smtp]\nkeywords: [x]\n"}, `builtin:p.yaml:3: applies_to: unknown event kind "smtp"`},
		{"bad action", map[string]string{"p.yaml": "name: p\ncategory: spam\naction: {post: delete}\nkeywords: [x]\n"}, `builtin:p.yaml:3: action.post "delete": want one of allow, flag, hold, reject`},
		{"missing list", map[string]string{"p.yaml": "name: p\ncategory: spam\nfiles:\n  - {path: nope.txt, format: keywords}\n"}, "builtin:p.yaml:4: files: nope.txt: open nope.txt: file does not exist"},
		{"bad format", map[string]string{"p.yaml": "name: p\ncategory: spam\nfiles:\n  - {path: k.txt, format: csv}\n", "k.txt": "x\n"}, `builtin:p.yaml:4: files: k.txt: unknown list format "csv"`},
		{"bad category, block style", map[string]string{"p.yaml": "name: p\nkeywords:\n  - x\ncategory: Spam Ads\n"}, `builtin:p.yaml:4: category "Spam Ads"`},
		{"bad network action, block style", map[string]string{"p.yaml": "name: p\ncategory: spam\naction:\n  post: hold\n  network: drop\nkeywords: [x]\n"}, `builtin:p.yaml:5: action.network "drop"`},
		{"no name", map[string]string{"p.yaml": "category: spam\nkeywords: [x]\n"}, `builtin:p.yaml: name "": want`},
		{"list named like the pack", map[string]string{"a.yaml": "name: p\ncategory: spam\nfiles:\n  - {path: data.yaml, format: keywords}\n"}, "builtin:a.yaml:4: files: data.yaml: open data.yaml: file does not exist"},
		{"no rules", map[string]string{"p.yaml": "name: p\ncategory: spam\n"}, `pack "p" has no usable rules`},
		{"empty", map[string]string{"p.yaml": ""}, "empty pack"},
		{"duplicate names", map[string]string{"a.yaml": "name: p\ncategory: spam\nkeywords: [x]\n", "b.yaml": "name: p\ncategory: spam\nkeywords: [y]\n"}, `pack name "p" is already used by builtin:a.yaml`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, rep := newTestMatcher(t, tt.files)
			err := rep.Err()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

// TestLoadErrorsNameTheFile: every line of a pack's error names the pack
// as the operator gave it, also when it has several.
func TestLoadErrorsNameTheFile(t *testing.T) {
	pack := filepath.Join(t.TempDir(), "p.yaml")
	writeTestFile(t, pack, "name: p\ncategory: spam\nkeywords: [x]\nbogus: 1\nother: 2\n")
	_, rep, err := New(Options{Packs: []string{pack}})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Failed) != 1 {
		t.Fatalf("failed: %v", rep.Failed)
	}
	lines := strings.Split(rep.Failed[0].Error(), "\n")
	want := []string{pack + `:4: unknown key "bogus"`, pack + `:5: unknown key "other"`}
	if !slices.Equal(lines, want) {
		t.Errorf("error lines\n got  %q\n want %q", lines, want)
	}
}

// TestConcurrentMatchDuringReload runs matches while packs reload; run with
// -race it proves the swap needs no lock on the match path.
func TestConcurrentMatchDuringReload(t *testing.T) {
	dir := t.TempDir()
	list := filepath.Join(dir, "d.txt")
	writeTestFile(t, filepath.Join(dir, "p.yaml"), "name: p\ncategory: spam\nkeywords: [刷单]\nfiles: [{path: d.txt, format: domains}]\n")
	writeTestFile(t, list, "a.test\n")
	m, _, err := New(Options{Packs: []string{filepath.Join(dir, "p.yaml")}, TraditionalToSimplified: true})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var hits []event.Hit
			for {
				select {
				case <-stop:
					return
				default:
				}
				s := m.Set()
				hits = s.MatchDomain(event.KindDNS, "x.a.test", hits[:0])
				hits = s.MatchText(event.KindPost, event.FieldText, "快来刷单", hits)
				if len(hits) != 2 {
					t.Errorf("got %d hits during reload", len(hits))
					return
				}
			}
		}()
	}
	for i := 0; i < 20; i++ {
		touch(t, list, i+1)
		if rep := m.Reload(); rep.Err() != nil || len(rep.Loaded) != 1 {
			t.Fatalf("reload %d: %+v", i, rep)
		}
	}
	close(stop)
	wg.Wait()
}

func TestStartStopReloadsInBackground(t *testing.T) {
	dir := t.TempDir()
	list := filepath.Join(dir, "d.txt")
	writeTestFile(t, filepath.Join(dir, "p.yaml"), "name: p\ncategory: spam\nfiles: [{path: d.txt, format: domains}]\n")
	writeTestFile(t, list, "a.test\n")
	m, _, err := New(Options{Packs: []string{filepath.Join(dir, "p.yaml")}, Reload: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := m.Start(t.Context()); err == nil {
		t.Fatal("a second Start of a running matcher succeeded")
	}
	m.Stop()
	m.Stop() // idempotent
	// Reloads that ended with their context can be started again.
	ctx, cancel := context.WithCancel(t.Context())
	if err := m.Start(ctx); err != nil {
		t.Fatalf("Start after Stop: %v", err)
	}
	cancel()
	for deadline := time.Now().Add(5 * time.Second); m.Start(t.Context()) != nil; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("Start still fails 5 s after the context of the last Start ended")
		}
	}
	defer m.Stop()
	writeTestFile(t, list, "b.test\n")
	touch(t, list, 1)
	deadline := time.Now().Add(5 * time.Second)
	for len(m.Set().MatchDomain(event.KindDNS, "b.test", nil)) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("background reload did not pick up the change within 5s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
