package bouncer

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/campusguard/campusguard/alerts/decision"
	"github.com/campusguard/campusguard/internal/state"
)

var t0 = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

type fixture struct {
	t       *testing.T
	db      *state.DB
	store   *decision.Store
	h       *Handler
	now     time.Time
	secrets map[string]string
}

func newFixture(t *testing.T) *fixture {
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
	f := &fixture{t: t, db: db, store: s, now: t0.Add(time.Minute), secrets: map[string]string{}}
	for name, scope := range map[string]state.Scope{"fw1": state.ScopeBouncer, "fw2": state.ScopeBouncer, "pa": state.ScopeFeeds} {
		f.secrets[name], _, err = db.AddToken(context.Background(), name, scope)
		if err != nil {
			t.Fatal(err)
		}
	}
	f.h, err = New(Options{Store: s, Now: func() time.Time { return f.now },
		CheckToken: func(ctx context.Context, secret string) (string, error) {
			tok, err := db.CheckToken(ctx, secret, state.ScopeBouncer)
			return tok.Name, err
		}})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *fixture) add(action decision.Action, scope decision.Scope, value string, d time.Duration) decision.Decision {
	f.t.Helper()
	dec, err := f.store.Add(context.Background(), decision.Decision{Action: action, Scope: scope, Value: value, Severity: 3,
		Origin: decision.OriginPolicy, Policy: "phishing-clients", Actor: "system", Reason: "5 hits", Created: f.now, Expires: f.now.Add(d)})
	if err != nil {
		f.t.Fatal(err)
	}
	return dec
}

// pull returns the status and the raw body.
func (f *fixture) pull(bouncer, query string, header ...string) (int, string) {
	f.t.Helper()
	r := httptest.NewRequest(http.MethodGet, "/api/v1/decisions/stream"+query, nil)
	if bouncer != "" {
		r.Header.Set("X-Api-Key", f.secrets[bouncer])
	}
	for i := 0; i+1 < len(header); i += 2 {
		r.Header.Set(header[i], header[i+1])
	}
	w := httptest.NewRecorder()
	f.h.ServeHTTP(w, r)
	return w.Code, w.Body.String()
}

func (f *fixture) stream(bouncer, query string) Stream {
	f.t.Helper()
	code, body := f.pull(bouncer, query)
	if code != 200 {
		f.t.Fatalf("pull %s: %d %s", query, code, body)
	}
	var s Stream
	dec := json.NewDecoder(strings.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		f.t.Fatal(err)
	}
	return s
}

func values(ds []Decision) string {
	var v []string
	for _, d := range ds {
		v = append(v, d.Value)
	}
	return strings.Join(v, ",")
}

func TestStream(t *testing.T) {
	f := newFixture(t)
	a := f.add(decision.ActionBlock, decision.ScopeIP, "10.0.0.1", 4*time.Hour)
	f.add(decision.ActionBlock, decision.ScopeRange, "10.9.0.0/16", time.Minute)

	code, body := f.pull("fw1", "?startup=true")
	if code != 200 {
		t.Fatalf("startup: %d %s", code, body)
	}
	// CrowdSec's field names and types, exactly.
	var raw struct {
		New []map[string]any `json:"new"`
	}
	if err := json.Unmarshal([]byte(body), &raw); err != nil || len(raw.New) != 2 {
		t.Fatalf("startup body %s: %v", body, err)
	}
	first := raw.New[0]
	for key, want := range map[string]any{"id": float64(a.ID), "origin": "campusguard", "type": "ban", "scope": "Ip",
		"value": "10.0.0.1", "duration": "4h0m0s", "scenario": "campusguard/phishing-clients", "simulated": false,
		"until": t0.Add(time.Minute + 4*time.Hour).Format(time.RFC3339)} {
		if first[key] != want {
			t.Errorf("new[0].%s = %#v, want %#v", key, first[key], want)
		}
	}
	if raw.New[1]["scope"] != "Range" {
		t.Errorf("a range decision has scope %v", raw.New[1]["scope"])
	}
	// Nothing new: null and null, as CrowdSec answers.
	if _, body := f.pull("fw1", ""); strings.TrimSpace(body) != `{"new":null,"deleted":null}` {
		t.Fatalf("quiet pull: %s", body)
	}
	// The range expires, a new block comes, a warning arrives as captcha.
	f.now = f.now.Add(2 * time.Minute)
	f.add(decision.ActionBlock, decision.ScopeIP, "2001:db8::7", time.Hour)
	f.add(decision.ActionWarn, decision.ScopeDomain, "login-verify.example", time.Hour)
	s := f.stream("fw1", "")
	if values(s.New) != "2001:db8::7,login-verify.example" || values(s.Deleted) != "10.9.0.0/16" || s.New[1].Type != "captcha" {
		t.Fatalf("second pull: new %s deleted %s", values(s.New), values(s.Deleted))
	}
	if s.New[0].Duration != "1h0m0s" {
		t.Errorf("duration %q", s.New[0].Duration)
	}
	// A revocation is a deletion; a second bouncer has its own cursor and
	// filters by scope as CrowdSec's firewall bouncer does.
	if _, err := f.store.Revoke(context.Background(), a.ID, "alice", "help desk", f.now); err != nil {
		t.Fatal(err)
	}
	if s := f.stream("fw1", ""); values(s.Deleted) != "10.0.0.1" || s.New != nil {
		t.Fatalf("after the revoke: new %s deleted %s", values(s.New), values(s.Deleted))
	}
	if s := f.stream("fw2", "?startup=true&scopes=ip,range"); values(s.New) != "2001:db8::7" {
		t.Fatalf("fw2 ip and range only: %s", values(s.New))
	}
	if s := f.stream("fw2", "?startup=true&scopes=Domain&origins=campusguard"); values(s.New) != "login-verify.example" {
		t.Fatalf("fw2 domains: %s", values(s.New))
	}
}

func TestStreamRefuses(t *testing.T) {
	f := newFixture(t)
	for _, c := range []struct {
		name, bouncer, query string
		header               []string
		code                 int
	}{
		{"no token", "", "", nil, 401},
		{"feeds token", "pa", "", nil, 403},
		{"bearer", "", "", []string{"Authorization", "Bearer " + f.secrets["fw1"]}, 200},
		{"bad startup", "fw1", "?startup=maybe", nil, 400},
		{"bad scope", "fw1", "?scopes=ip,user", nil, 400},
		{"bad escape", "fw1", "?scopes=%zz", nil, 400},
		{"unknown parameter", "fw1", "?scenarios_containing=ssh", nil, 200},
	} {
		code, body := f.pull(c.bouncer, c.query, c.header...)
		if code != c.code {
			t.Errorf("%s: %d %s, want %d", c.name, code, body, c.code)
		}
	}
	r := httptest.NewRequest(http.MethodDelete, "/api/v1/decisions/stream", nil)
	w := httptest.NewRecorder()
	f.h.ServeHTTP(w, r)
	if w.Code != 405 {
		t.Errorf("DELETE: %d", w.Code)
	}
}

func FuzzParseQuery(f *testing.F) {
	for _, s := range []string{"startup=true", "startup=1&scopes=ip,range", "scopes=%2C%2CIP", "origins=manual&origins=",
		"scopes=%zz", "startup", "&&&", "scopes=ip%00", "scope=DOMAIN&startup=F"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := ParseQuery(raw)
		if err != nil {
			return
		}
		for s := range q.Scopes {
			if s != "ip" && s != "range" && s != "domain" {
				t.Fatalf("%q gave scope %q", raw, s)
			}
		}
		for o := range q.Origins {
			if o != "campusguard" && o != "manual" {
				t.Fatalf("%q gave origin %q", raw, o)
			}
		}
	})
}

// TestStreamLarge: a bouncer starting up against 100k decisions gets them
// all in one answer, and the next pull is empty.
func TestStreamLarge(t *testing.T) {
	f := newFixture(t)
	const n = 100_000
	err := f.db.Tx(context.Background(), func(tx *sql.Tx) error {
		stmt, err := tx.Prepare(`INSERT INTO decisions (action, scope, value, category, severity, origin, policy, actor,
			reason, strike, dry_run, hits, created, expires) VALUES ('block', 'ip', ?, 'phishing', 3, 'policy', 'p', 'system', 'bulk', 1, 0, '[]', ?, ?)`)
		if err != nil {
			return err
		}
		defer stmt.Close()
		for i := range n {
			if _, err := stmt.Exec(fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255), f.now.UnixMilli(), f.now.Add(time.Hour).UnixMilli()); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	s := f.stream("fw1", "?startup=true")
	if len(s.New) != n || s.Deleted != nil {
		t.Fatalf("startup: %d new, %d deleted; want %d new", len(s.New), len(s.Deleted), n)
	}
	t.Logf("startup pull of %d decisions: %v", n, time.Since(start).Round(time.Millisecond))
	if s := f.stream("fw1", ""); s.New != nil || s.Deleted != nil {
		t.Fatalf("the pull after: %d new, %d deleted", len(s.New), len(s.Deleted))
	}
}
