package moderation

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestSignVerify(t *testing.T) {
	secret := []byte("forum-secret")
	body := []byte(`{"id":"42","forum":"bbs","item":7,"decision":"reject","reason":"scam","moderator":"alice","ts":"2026-11-26T12:00:00Z"}`)
	const ts = 1795694400
	// printf '%s' "$ts.$body" | openssl dgst -sha256 -hmac forum-secret
	const want = "sha256=0881d020007085e5d83daff8482589948252a0952884dfa9daa5a8d4e7ea8037"
	if got := Sign(secret, ts, body); got != want {
		t.Fatalf("Sign = %s, want %s", got, want)
	}
	if !Verify(secret, want, ts, body) || !Verify(secret, " "+want+" ", ts, body) {
		t.Error("Verify refuses a good signature")
	}
	bad := map[string]func() bool{
		"other body":        func() bool { return Verify(secret, want, ts, append([]byte(nil), append(body, ' ')...)) },
		"other timestamp":   func() bool { return Verify(secret, want, ts+1, body) },
		"other secret":      func() bool { return Verify([]byte("forum-secreT"), want, ts, body) },
		"no prefix":         func() bool { return Verify(secret, strings.TrimPrefix(want, "sha256="), ts, body) },
		"sha1 prefix":       func() bool { return Verify(secret, "sha1="+strings.TrimPrefix(want, "sha256="), ts, body) },
		"truncated":         func() bool { return Verify(secret, want[:len(want)-2], ts, body) },
		"not hex":           func() bool { return Verify(secret, want[:len(want)-2]+"zz", ts, body) },
		"empty":             func() bool { return Verify(secret, "", ts, body) },
		"signature of body": func() bool { return Verify(secret, Sign(secret, 0, body), ts, body) },
	}
	for name, check := range bad {
		if check() {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestVerifyRequest(t *testing.T) {
	secret := []byte("s")
	body := []byte(`{}`)
	now := time.Unix(1795694400, 0)
	req := func(ts int64, sig string) *http.Request {
		r := httptest.NewRequest(http.MethodPost, "/hook", nil)
		r.Header.Set(HeaderTimestamp, strconv.FormatInt(ts, 10))
		r.Header.Set(HeaderSignature, sig)
		return r
	}
	if err := VerifyRequest(secret, req(now.Unix()-30, Sign(secret, now.Unix()-30, body)), body, now, 5*time.Minute); err != nil {
		t.Errorf("good request: %v", err)
	}
	old := now.Unix() - 600
	if err := VerifyRequest(secret, req(old, Sign(secret, old, body)), body, now, 5*time.Minute); err == nil || !strings.Contains(err.Error(), "from now") {
		t.Errorf("replayed request: %v", err)
	}
	if err := VerifyRequest(secret, req(now.Unix(), Sign(secret, now.Unix(), []byte(`{"x":1}`))), body, now, 5*time.Minute); err == nil {
		t.Error("forged body accepted")
	}
	r := httptest.NewRequest(http.MethodPost, "/hook", nil)
	if err := VerifyRequest(secret, r, body, now, time.Minute); err == nil {
		t.Error("no headers accepted")
	}
}

// hookServer is a forum's webhook endpoint that checks every request's
// signature and answers with the codes it is given, then 200.
type hookServer struct {
	*httptest.Server
	t      *testing.T
	secret []byte

	mu        sync.Mutex
	codes     []int
	attempts  int
	delivered []WebhookPayload
	ids       []string
	done      chan struct{}
}

func newHookServer(t *testing.T, secret string, codes ...int) *hookServer {
	h := &hookServer{t: t, secret: []byte(secret), codes: codes, done: make(chan struct{}, 100)}
	h.Server = httptest.NewServer(http.HandlerFunc(h.serve))
	t.Cleanup(h.Close)
	return h
}

func (h *hookServer) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	if err := VerifyRequest(h.secret, r, body, time.Now(), 5*time.Minute); err != nil {
		h.t.Errorf("webhook request: %v", err)
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" {
		h.t.Errorf("webhook request %s %s", r.Method, r.Header.Get("Content-Type"))
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.attempts++
	h.ids = append(h.ids, r.Header.Get(HeaderDelivery))
	if len(h.codes) > 0 {
		code := h.codes[0]
		h.codes = h.codes[1:]
		w.WriteHeader(code)
		h.done <- struct{}{}
		return
	}
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.DisallowUnknownFields()
	var p WebhookPayload
	if err := dec.Decode(&p); err != nil {
		h.t.Errorf("webhook body %s: %v", body, err)
	}
	h.delivered = append(h.delivered, p)
	h.done <- struct{}{}
}

func (h *hookServer) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.attempts
}

func (h *hookServer) wait(t *testing.T, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		select {
		case <-h.done:
		case <-time.After(10 * time.Second):
			t.Fatalf("webhook: %d of %d requests", i, n)
		}
	}
}

func webhookFixture(t *testing.T, url string) *fixture {
	f := newFixture(t, func(o *Options) {
		o.WebhookURL = url
		o.WebhookSecret = "forum-secret"
		o.Now = time.Now // the signature's timestamp is checked against the clock
	})
	f.s.hook.backoff = 5 * time.Millisecond
	if err := f.s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	return f
}

func webhookCount(f *fixture, result string) float64 {
	return testutil.ToFloat64(f.s.metrics.webhook.WithLabelValues(result))
}

// The forum fails twice, then takes the delivery: three signed attempts
// of the same delivery, counted as two retries and one success.
func TestWebhookRetries(t *testing.T) {
	hook := newHookServer(t, "forum-secret", 500, 503)
	f := webhookFixture(t, hook.URL)
	ctx := context.Background()
	id := queued(t, f, "42")
	start := time.Now()
	it, err := f.s.Decide(ctx, id, 1, "alice", DecideReject, "scam")
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("the decision waited for the webhook: %s", d)
	}
	hook.wait(t, 3)
	waitFor(t, func() bool { return webhookCount(f, "ok") == 1 })
	hook.mu.Lock()
	defer hook.mu.Unlock()
	if hook.attempts != 3 || len(hook.delivered) != 1 {
		t.Fatalf("%d attempts, %d delivered", hook.attempts, len(hook.delivered))
	}
	p := hook.delivered[0]
	if p.ID != "42" || p.Forum != "bbs" || p.Item != id || p.Decision != "reject" || p.Reason != "scam" || p.Moderator != "alice" ||
		p.State != StateRejected || p.Version != it.Version || !p.Time.Equal(it.Updated) {
		t.Errorf("payload %+v", p)
	}
	want := strconv.FormatInt(id, 10) + "-2"
	for _, got := range hook.ids {
		if got != want {
			t.Errorf("delivery ids %v, want %s on every attempt", hook.ids, want)
			break
		}
	}
	if webhookCount(f, "retry") != 2 || webhookCount(f, "ok") != 1 || webhookCount(f, "failed") != 0 {
		t.Errorf("deliveries: retry %v ok %v failed %v", webhookCount(f, "retry"), webhookCount(f, "ok"), webhookCount(f, "failed"))
	}
}

// Decisions and undos are delivered in order, with the raw body keys the
// contract names.
func TestWebhookUndoAndOrder(t *testing.T) {
	var mu sync.Mutex
	var bodies []map[string]any
	done := make(chan struct{}, 10)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		ts, _ := strconv.ParseInt(r.Header.Get(HeaderTimestamp), 10, 64)
		if !Verify([]byte("forum-secret"), r.Header.Get(HeaderSignature), ts, body) {
			t.Error("bad signature")
		}
		var m map[string]any
		json.Unmarshal(body, &m)
		mu.Lock()
		bodies = append(bodies, m)
		mu.Unlock()
		done <- struct{}{}
	}))
	defer srv.Close()
	f := webhookFixture(t, srv.URL)
	ctx := context.Background()
	id := queued(t, f, "7")
	if _, err := f.s.Decide(ctx, id, 1, "alice", DecideEscalate, "unsure"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.s.Decide(ctx, id, 2, "bob", DecideApprove, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := f.s.Undo(ctx, id, "bob"); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("webhook not delivered")
		}
	}
	mu.Lock()
	defer mu.Unlock()
	var got []string
	for _, b := range bodies {
		for _, k := range []string{"id", "forum", "item", "decision", "reason", "moderator", "ts"} {
			if _, ok := b[k]; !ok {
				t.Errorf("payload lacks %q: %v", k, b)
			}
		}
		got = append(got, b["decision"].(string)+"/"+b["state"].(string)+"/"+b["moderator"].(string))
	}
	if strings.Join(got, " ") != "escalate/escalated/alice approve/approved/bob undo/escalated/bob" {
		t.Errorf("deliveries: %v", got)
	}
}

// A 4xx other than 408 and 429 is not retried; a forum that is always down
// gets 5 attempts.
func TestWebhookGivesUp(t *testing.T) {
	t.Run("client error", func(t *testing.T) {
		hook := newHookServer(t, "forum-secret", 400)
		f := webhookFixture(t, hook.URL)
		f.s.Decide(context.Background(), queued(t, f, "1"), 1, "alice", DecideApprove, "")
		hook.wait(t, 1)
		waitFor(t, func() bool { return webhookCount(f, "failed") == 1 })
		if webhookCount(f, "retry") != 0 || hook.count() != 1 {
			t.Errorf("%v retries, %d attempts", webhookCount(f, "retry"), hook.count())
		}
	})
	t.Run("always down", func(t *testing.T) {
		hook := newHookServer(t, "forum-secret", 500, 502, 503, 504, 500, 500)
		f := webhookFixture(t, hook.URL)
		f.s.Decide(context.Background(), queued(t, f, "1"), 1, "alice", DecideApprove, "")
		hook.wait(t, 5)
		waitFor(t, func() bool { return webhookCount(f, "failed") == 1 })
		if webhookCount(f, "retry") != 4 || hook.count() != 5 {
			t.Errorf("%v retries, %d attempts", webhookCount(f, "retry"), hook.count())
		}
	})
	t.Run("redirect", func(t *testing.T) {
		hook := newHookServer(t, "forum-secret", 307)
		f := webhookFixture(t, hook.URL)
		f.s.Decide(context.Background(), queued(t, f, "1"), 1, "alice", DecideApprove, "")
		hook.wait(t, 1)
		waitFor(t, func() bool { return webhookCount(f, "failed") == 1 })
	})
}

// A forum that does not answer never holds up decisions: the queue fills,
// the overflow is dropped and counted, and Stop returns.
func TestWebhookNeverBlocks(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	f := newFixture(t, func(o *Options) {
		o.WebhookURL = srv.URL
		o.WebhookSecret = "k"
		o.WebhookQueue = 2
	})
	f.s.hook.drain = 100 * time.Millisecond
	if err := f.s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	for i := 0; i < 10; i++ {
		if _, err := f.s.Decide(context.Background(), queued(t, f, strconv.Itoa(i)), 1, "alice", DecideApprove, ""); err != nil {
			t.Fatal(err)
		}
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("10 decisions took %s", d)
	}
	// One in flight, two queued, at least seven dropped.
	if n := webhookCount(f, "failed"); n < 7 {
		t.Errorf("%v dropped, want at least 7", n)
	}
	stopped := make(chan struct{})
	go func() { f.s.Stop(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(5 * time.Second):
		t.Fatal("Stop hangs on an unresponsive forum")
	}
	if n := webhookCount(f, "failed"); n != 10 {
		t.Errorf("%v failed after Stop, want all 10", n)
	}
}

func TestWebhookOptions(t *testing.T) {
	db := newFixture(t).db
	for _, o := range []Options{
		{Rules: builtinRules(t), WebhookURL: "https://forum.example/hook"},
		{Rules: builtinRules(t), WebhookURL: "ftp://forum.example/hook", WebhookSecret: "k"},
		{Rules: builtinRules(t), WebhookURL: "/hook", WebhookSecret: "k"},
		{},
	} {
		if _, err := New(db, o); err == nil {
			t.Errorf("New accepted %+v", o)
		}
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 10s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
