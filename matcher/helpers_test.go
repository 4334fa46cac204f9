package matcher

import (
	"testing"
	"testing/fstest"
)

// newTestMatcher loads the packs in files (name → content; every *.yaml at
// the top is a pack) through the same path as built-in packs.
func newTestMatcher(t *testing.T, files map[string]string) (*Matcher, *ReloadReport) {
	t.Helper()
	fsys := fstest.MapFS{}
	for name, content := range files {
		fsys[name] = &fstest.MapFile{Data: []byte(content)}
	}
	m, rep, err := New(Options{Packs: []string{"builtin"}, Builtin: fsys, TraditionalToSimplified: true})
	if err != nil {
		t.Fatal(err)
	}
	return m, rep
}

func newTestSet(t *testing.T, files map[string]string) *Set {
	t.Helper()
	m, rep := newTestMatcher(t, files)
	if err := rep.Err(); err != nil {
		t.Fatalf("load packs: %v", err)
	}
	return m.Set()
}
