package stream

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
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

// block is a policy block created a minute before t0 lasting d from t0.
func block(scope decision.Scope, value string, d time.Duration) decision.Decision {
	return decision.Decision{Action: decision.ActionBlock, Scope: scope, Value: value, Category: "phishing", Severity: 3,
		Origin: decision.OriginPolicy, Policy: "phish", Actor: "system", Reason: "test",
		Created: t0.Add(-time.Minute), Expires: t0.Add(d)}
}

type fixture struct {
	store  *decision.Store
	db     *state.DB
	clock  *clock
	reg    *prometheus.Registry
	h      *Handler
	srv    *httptest.Server
	tokens map[string]string // name → secret, all of scope bouncer
}

func newFixture(t *testing.T, cfg Config, bouncers ...string) *fixture {
	t.Helper()
	ctx := context.Background()
	db, err := state.Open(ctx, ":memory:")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	s, err := decision.Open(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{store: s, db: db, clock: testclock.New(t0), reg: prometheus.NewRegistry(), tokens: map[string]string{}}
	for _, b := range bouncers {
		secret, _, err := db.AddToken(ctx, b, state.ScopeBouncer)
		if err != nil {
			t.Fatal(err)
		}
		f.tokens[b] = secret
	}
	f.h, err = New(Options{Store: s, Config: cfg, Auth: TokenAuth(db), Now: f.clock.Now, Registerer: f.reg})
	if err != nil {
		t.Fatal(err)
	}
	f.srv = httptest.NewServer(f.h)
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fixture) add(t *testing.T, ds ...decision.Decision) []decision.Decision {
	t.Helper()
	out := make([]decision.Decision, len(ds))
	for i, d := range ds {
		var err error
		if out[i], err = f.store.Add(context.Background(), d); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

func (f *fixture) revoke(t *testing.T, id int64) {
	t.Helper()
	if _, err := f.store.Revoke(context.Background(), id, "alice", "test", f.clock.Now()); err != nil {
		t.Fatal(err)
	}
}

type response = testhttp.Response

// do sends a request to the fixture's server; header is name, value pairs.
func (f *fixture) do(t *testing.T, method, target string, header ...string) response {
	t.Helper()
	return testhttp.Do(t, f.srv.Client(), method, f.srv.URL+target, header...)
}

// raw pulls as bouncer with the query q and returns the body of a 200.
func (f *fixture) raw(t *testing.T, bouncer, q string) string {
	t.Helper()
	r := f.do(t, http.MethodGet, Path+q, "X-Api-Key", f.tokens[bouncer])
	if r.Code != http.StatusOK {
		t.Fatalf("pull %s%s as %s: %d %s", Path, q, bouncer, r.Code, r.Body)
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	return r.Body
}

func (f *fixture) pull(t *testing.T, bouncer, q string) Response {
	t.Helper()
	var resp Response
	if err := json.Unmarshal([]byte(f.raw(t, bouncer, q)), &resp); err != nil {
		t.Fatal(err)
	}
	return resp
}

// values lists the values of ds, "type:value" where the type is not ban.
func values(ds []Decision) []string {
	var out []string
	for _, d := range ds {
		v := d.Value
		if d.Type != BanType {
			v = d.Type + ":" + v
		}
		out = append(out, v)
	}
	return out
}
