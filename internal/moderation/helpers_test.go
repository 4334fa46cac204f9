package moderation

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/campusguard/campusguard/internal/event"
	"github.com/campusguard/campusguard/internal/state"
	"github.com/campusguard/campusguard/internal/testclock"
	"github.com/campusguard/campusguard/matcher"
	"github.com/campusguard/campusguard/rules"
)

var (
	builtinOnce sync.Once
	builtinM    *matcher.Matcher
	builtinErr  error
)

// testPacks add the verdicts the example packs do not give (they all
// hold): "flagword" is a low spam flag, "rejectword" a critical reject.
var testPacks = map[string]string{
	"test-flag.yaml":   "name: test-flag\ncategory: spam\nseverity: low\napplies_to: [post]\naction: {post: flag}\nkeywords: [flagword]\n",
	"test-reject.yaml": "name: test-reject\ncategory: malware\nseverity: critical\napplies_to: [post]\naction: {post: reject}\nkeywords: [rejectword]\n",
}

// builtinRules is the example packs shipped with the binary plus
// testPacks, loaded once.
func builtinRules(t testing.TB) func() *matcher.Set {
	t.Helper()
	builtinOnce.Do(func() {
		dir, err := os.MkdirTemp("", "moderation-packs-")
		if err != nil {
			builtinErr = err
			return
		}
		defer os.RemoveAll(dir)
		packs := []string{"builtin"}
		for name, text := range testPacks {
			if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
				builtinErr = err
				return
			}
			packs = append(packs, filepath.Join(dir, name))
		}
		m, rep, err := matcher.New(matcher.Options{Packs: packs, Builtin: rules.FS, TraditionalToSimplified: true})
		if err == nil {
			err = rep.Err()
		}
		builtinM, builtinErr = m, err
	})
	if builtinErr != nil {
		t.Fatal(builtinErr)
	}
	return builtinM.Set
}

// clock is the shared settable test clock.
type clock = testclock.Clock

func newClock() *clock { return testclock.New(time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)) }

// sink collects the events a Service emits.
type sink struct {
	mu     sync.Mutex
	events []event.Event
}

func (s *sink) put(ev *event.Event) {
	s.mu.Lock()
	s.events = append(s.events, *ev)
	s.mu.Unlock()
}

func (s *sink) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.events)
}

type fixture struct {
	s     *Service
	db    *state.DB
	clock *clock
	sink  *sink
	reg   *prometheus.Registry
}

// newFixture opens a file-backed state database in t.TempDir() and a
// Service on it with the builtin rules, a test clock, a sink and a registry.
func newFixture(t testing.TB, edit ...func(*Options)) *fixture {
	t.Helper()
	db, err := state.Open(context.Background(), filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	f := &fixture{db: db, clock: newClock(), sink: &sink{}, reg: prometheus.NewRegistry()}
	opts := Options{Rules: builtinRules(t), Sink: f.sink.put, Sensor: "test", Now: f.clock.Now, Registerer: f.reg}
	for _, e := range edit {
		e(&opts)
	}
	f.s, err = New(db, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.s.Stop)
	return f
}

// auditCount is the number of audit entries, checked to form a valid chain.
func (f *fixture) auditCount(t testing.TB) int {
	t.Helper()
	n, err := f.db.VerifyAudit(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func (f *fixture) count(t testing.TB, query string, args ...any) int {
	t.Helper()
	var n int
	if err := f.db.QueryRowContext(context.Background(), query, args...).Scan(&n); err != nil && err != sql.ErrNoRows {
		t.Fatal(err)
	}
	return n
}

func (f *fixture) ingest(t testing.TB, posts ...Post) []Result {
	t.Helper()
	res, err := f.s.Ingest(context.Background(), posts, "token:forum")
	if err != nil {
		t.Fatal(err)
	}
	return res
}
