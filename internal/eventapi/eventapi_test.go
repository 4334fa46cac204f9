package eventapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/campusguard/campusguard/internal/event"
)

const goodLine = `{"ts":"2026-11-26T12:00:00Z","kind":"dns","src":"10.1.2.3","name":"login-verify.example","hits":[{"pack":"phishing-example","rule":"phishing.txt:4","category":"phishing","severity":"high","action":"block","match":"login-verify.example","start":0,"end":20}]}`
const noHitLine = `{"ts":"2026-11-26T12:00:01Z","kind":"tls","name":"www.example.com"}`

type sink struct {
	mu     sync.Mutex
	events []event.Event
}

func (s *sink) put(ev *event.Event) {
	s.mu.Lock()
	s.events = append(s.events, *ev)
	s.mu.Unlock()
}

func newServer(t *testing.T, lim Limits) (*httptest.Server, *sink) {
	t.Helper()
	var got sink
	h := Handler(Options{
		Auth: func(r *http.Request) (string, error) {
			if r.Header.Get("Authorization") != "Bearer cg_good" {
				return "", errors.New("invalid, revoked or out-of-scope API token")
			}
			return "token:resolver-1", nil
		},
		Sink:   got.put,
		Limits: lim,
	})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv, &got
}

func post(t *testing.T, url, token, ctype, body string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

func TestEvents(t *testing.T) {
	srv, got := newServer(t, DefaultLimits())
	code, out := post(t, srv.URL, "cg_good", "application/x-ndjson", goodLine+"\n\n"+noHitLine+"\n")
	if code != 200 || out["received"] != 2.0 || out["with_hits"] != 1.0 {
		t.Fatalf("good batch: %d %v", code, out)
	}
	if len(got.events) != 1 || got.events[0].Name != "login-verify.example" || got.events[0].Sensor != "token:resolver-1" || got.events[0].Hits[0].Severity != event.SeverityHigh {
		t.Errorf("sink got %+v", got.events)
	}
}

func TestEventsRefused(t *testing.T) {
	lim := DefaultLimits()
	lim.MaxRequestBytes = 4096
	lim.MaxEvents = 3
	srv, got := newServer(t, lim)
	long := strings.Replace(goodLine, `"name":"login-verify.example"`, `"name":"`+strings.Repeat("a", 3000)+`"`, 1)
	for _, c := range []struct {
		name, token, ctype, body string
		code                     int
		want                     string
	}{
		{"no token", "", "", goodLine, 401, "invalid, revoked"},
		{"bad token", "cg_bad", "", goodLine, 401, "invalid, revoked"},
		{"content type", "cg_good", "text/plain", goodLine, 415, "want application/x-ndjson"},
		{"not JSON", "cg_good", "", "hello\n", 400, "line 1"},
		{"post kind", "cg_good", "", `{"ts":"2026-11-26T12:00:00Z","kind":"post","text":"x"}`, 400, `kind "post"`},
		{"unknown kind", "cg_good", "", `{"ts":"2026-11-26T12:00:00Z","kind":"smtp"}`, 400, "unknown event kind"},
		{"no time", "cg_good", "", `{"kind":"dns","name":"a.test"}`, 400, `missing "ts"`},
		{"bad severity", "cg_good", "", strings.Replace(goodLine, `"high"`, `"urgent"`, 1), 400, "unknown severity"},
		{"hit without rule", "cg_good", "", strings.Replace(goodLine, `"rule":"phishing.txt:4",`, "", 1), 400, "pack and rule are required"},
		{"bad span", "cg_good", "", strings.Replace(goodLine, `"start":0`, `"start":30`, 1), 400, "span 30–20"},
		{"field too long", "cg_good", "", long, 400, "name: 3000 bytes"},
		{"too many", "cg_good", "", strings.Repeat(noHitLine+"\n", 4), 400, "more than 3 events"},
		{"too large", "cg_good", "", strings.Repeat(" ", 5000) + noHitLine, 413, "too large"},
		{"second line bad", "cg_good", "", goodLine + "\n{\"kind\":\"dns\"}\n", 400, "line 2"},
	} {
		code, out := post(t, srv.URL, c.token, c.ctype, c.body)
		if code != c.code || !strings.Contains(out["error"].(string), c.want) {
			t.Errorf("%s: %d %v; want %d and %q", c.name, code, out, c.code, c.want)
		}
	}
	if len(got.events) != 0 {
		t.Errorf("refused requests reached the sink: %d events", len(got.events))
	}
	resp, _ := http.Get(srv.URL)
	if resp.StatusCode != 405 {
		t.Errorf("GET: %d", resp.StatusCode)
	}
	resp.Body.Close()
}

func FuzzDecode(f *testing.F) {
	f.Add([]byte(goodLine + "\n" + noHitLine))
	f.Add([]byte(`{"ts":"2026-11-26T12:00:00Z","kind":"dns","hits":[{"pack":"p","rule":"r","start":-1,"end":2}]}`))
	f.Add([]byte("{}\n\n\n{"))
	f.Add([]byte(`{"ts":"0001-01-01T00:00:00Z","kind":"http","url":"\xff"}`))
	lim := DefaultLimits()
	lim.MaxEvents = 50
	f.Fuzz(func(t *testing.T, p []byte) {
		evs, err := Decode(bytes.NewReader(p), lim)
		if err != nil {
			return
		}
		if len(evs) > lim.MaxEvents {
			t.Fatalf("%d events accepted", len(evs))
		}
		for _, ev := range evs {
			if err := check(&ev, lim); err != nil || !ev.Kind.IsNetwork() {
				t.Fatalf("accepted a bad event: %v", err)
			}
		}
	})
}
