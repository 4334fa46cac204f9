package feeds

import (
	"bytes"
	"context"
	"database/sql"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/campusguard/campusguard/alerts/decision"
	"github.com/campusguard/campusguard/internal/state"
	"github.com/campusguard/campusguard/internal/testclock"
	"github.com/campusguard/campusguard/internal/testhttp"
)

var t0 = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

// clock is the shared settable test clock.
type clock = testclock.Clock

func openStore(t testing.TB) (*decision.Store, *state.DB) {
	t.Helper()
	db, err := state.Open(context.Background(), ":memory:")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	s, err := decision.Open(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	return s, db
}

// dec is a policy decision created a minute before t0 lasting an hour.
func dec(action decision.Action, scope decision.Scope, value string, severity int) decision.Decision {
	return decision.Decision{Action: action, Scope: scope, Value: value, Category: "phishing", Severity: severity,
		Origin: decision.OriginPolicy, Policy: "phish", Actor: "system", Reason: "test",
		Created: t0.Add(-time.Minute), Expires: t0.Add(time.Hour)}
}

func add(t testing.TB, s *decision.Store, ds ...decision.Decision) []decision.Decision {
	t.Helper()
	out := make([]decision.Decision, len(ds))
	for i, d := range ds {
		var err error
		if out[i], err = s.Add(context.Background(), d); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// bulkInsert writes decisions straight into the decisions table, 500 rows
// a statement in one transaction: Store.Add audits each decision in a
// transaction of its own, about 0.2 ms a decision (ten times that under
// the race detector), too slow for 100 000 of them in a test. The values
// must be normalized already.
func bulkInsert(t testing.TB, db *state.DB, ds []decision.Decision) {
	t.Helper()
	ctx := context.Background()
	const batch = 500
	err := db.Tx(ctx, func(tx *sql.Tx) error {
		for len(ds) > 0 {
			n := min(batch, len(ds))
			q := `INSERT INTO decisions (action, scope, value, category, severity, origin, policy, actor,
				reason, strike, dry_run, hits, created, expires) VALUES ` +
				strings.Repeat("(?, ?, ?, ?, ?, ?, ?, ?, ?, 1, 0, 'null', ?, ?), ", n-1) + "(?, ?, ?, ?, ?, ?, ?, ?, ?, 1, 0, 'null', ?, ?)"
			args := make([]any, 0, 11*n)
			for _, d := range ds[:n] {
				args = append(args, d.Action, d.Scope, d.Value, d.Category, d.Severity, d.Origin, d.Policy, d.Actor,
					d.Reason, d.Created.UnixMilli(), d.Expires.UnixMilli())
			}
			if _, err := tx.ExecContext(ctx, q, args...); err != nil {
				return err
			}
			ds = ds[n:]
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

type fixture struct {
	store *decision.Store
	db    *state.DB
	clock *clock
	reg   *prometheus.Registry
	logs  *syncBuffer
	h     *Handler
	srv   *httptest.Server
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// newFixture serves the feeds of a fresh store, anonymously unless cfg or
// auth say otherwise.
func newFixture(t *testing.T, cfg Config, auth func(*http.Request) (string, error)) *fixture {
	t.Helper()
	s, db := openStore(t)
	f := &fixture{store: s, db: db, clock: testclock.New(t0), reg: prometheus.NewRegistry(), logs: &syncBuffer{}}
	if auth == nil && !cfg.AllowAnonymous {
		cfg.AllowAnonymous = true
	}
	var err error
	f.h, err = New(Options{Store: s, Config: cfg, Auth: auth, Now: f.clock.Now, Registerer: f.reg,
		Logger: slog.New(slog.NewTextHandler(f.logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	f.srv = httptest.NewServer(f.h)
	t.Cleanup(f.srv.Close)
	return f
}

type response = testhttp.Response

// do sends a request to the fixture's server; header is name, value pairs.
func (f *fixture) do(t *testing.T, method, path string, header ...string) response {
	t.Helper()
	return testhttp.Do(t, f.srv.Client(), method, f.srv.URL+path, header...)
}

func (f *fixture) get(t *testing.T, path string, header ...string) response {
	t.Helper()
	return f.do(t, http.MethodGet, path, header...)
}

// body fetches a feed and fails the test unless it is a 200.
func (f *fixture) body(t *testing.T, path string) string {
	t.Helper()
	r := f.get(t, path)
	if r.Code != http.StatusOK {
		t.Fatalf("GET %s: %d %s", path, r.Code, r.Body)
	}
	return r.Body
}

func newServer(t *testing.T, h http.Handler) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}
