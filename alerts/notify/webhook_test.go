package notify

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/campusguard/campusguard/alerts/decision"
)

const secret = "0123456789abcdef-soc"

// fastHook is a webhook config with test-sized waits.
func fastHook(url string) WebhookConfig {
	return WebhookConfig{
		Name: "soc", URL: url, Secret: secret,
		Timeout: 2 * time.Second, MaxAttempts: 5, MaxAge: 10 * time.Second,
		InitialBackoff: 10 * time.Millisecond, MaxBackoff: 40 * time.Millisecond,
	}
}

func newHook(t *testing.T, cfg WebhookConfig, reg prometheus.Registerer) *Webhook {
	t.Helper()
	w, err := NewWebhook(cfg, Options{Registerer: reg, Logger: quiet(), Now: fixedNow, Version: "1.2.3", ExternalURL: "https://guard.example.edu/"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = w.Close(context.Background()) })
	return w
}

func closeWithin(t *testing.T, n Notifier, d time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	if err := n.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

func keys(m map[string]any) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

func TestWebhookPayload(t *testing.T) {
	srv := newHookServer(t, nil)
	w := newHook(t, fastHook(srv.URL+"/hook"), nil)
	w.Notify(block(42))
	closeWithin(t, w, 5*time.Second)

	reqs := srv.requests()
	if len(reqs) != 1 {
		t.Fatalf("%d requests, want 1", len(reqs))
	}
	r := reqs[0]
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	if ua := r.header.Get("User-Agent"); ua != "campusguard/1.2.3" {
		t.Errorf("User-Agent %q", ua)
	}
	if id := r.header.Get(HeaderDelivery); id != "decision-42-firing" {
		t.Errorf("%s %q", HeaderDelivery, id)
	}

	// The signature, as a receiver checks it.
	ts, err := strconv.ParseInt(r.header.Get(HeaderTimestamp), 10, 64)
	if err != nil || ts != testNow.Unix() {
		t.Fatalf("%s %q, want %d", HeaderTimestamp, r.header.Get(HeaderTimestamp), testNow.Unix())
	}
	sig := r.header.Get(HeaderSignature)
	if !regexp.MustCompile(`^sha256=[0-9a-f]{64}$`).MatchString(sig) {
		t.Fatalf("%s %q", HeaderSignature, sig)
	}
	if !Verify([]byte(secret), sig, ts, r.body) {
		t.Error("the signature does not verify with the target's secret")
	}
	if Verify([]byte("another-secret-0123456789"), sig, ts, r.body) {
		t.Error("the signature verifies with another secret")
	}
	req := httptest.NewRequest(http.MethodPost, "/hook", nil)
	req.Header = r.header
	if err := VerifyRequest([]byte(secret), req, r.body, testNow.Add(time.Minute), 5*time.Minute); err != nil {
		t.Errorf("VerifyRequest: %v", err)
	}
	if err := VerifyRequest([]byte(secret), req, r.body, testNow.Add(time.Hour), 5*time.Minute); err == nil {
		t.Error("VerifyRequest accepts a request an hour old")
	}

	// The shape, field by field, as generic JSON.
	var p map[string]any
	if err := json.Unmarshal(r.body, &p); err != nil {
		t.Fatal(err)
	}
	wantKeys := []string{"alerts", "commonAnnotations", "commonLabels", "externalURL", "groupKey", "groupLabels", "receiver", "status", "truncatedAlerts", "version"}
	if got := keys(p); !slices.Equal(got, wantKeys) {
		t.Errorf("payload keys %v, want %v", got, wantKeys)
	}
	str := func(m map[string]any, k string) string {
		t.Helper()
		s, ok := m[k].(string)
		if !ok {
			t.Errorf("%s: %T %v, want a string", k, m[k], m[k])
		}
		return s
	}
	for k, want := range map[string]string{
		"version":     "4",
		"status":      "firing",
		"receiver":    "soc",
		"externalURL": "https://guard.example.edu",
		"groupKey":    `{}:{policy="phishing-clients", scope="ip", value="10.1.2.3"}`,
	} {
		if got := str(p, k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	if n, ok := p["truncatedAlerts"].(float64); !ok || n != 0 {
		t.Errorf("truncatedAlerts = %v, want 0", p["truncatedAlerts"])
	}
	wantLabels := map[string]any{
		"alertname": "CampusguardDecision", "action": "block", "scope": "ip", "value": "10.1.2.3",
		"category": "phishing", "severity": "high", "policy": "phishing-clients", "origin": "policy", "dry_run": "false",
	}
	if !mapsEqual(p["commonLabels"], wantLabels) {
		t.Errorf("commonLabels = %v, want %v", p["commonLabels"], wantLabels)
	}
	if !mapsEqual(p["groupLabels"], map[string]any{"policy": "phishing-clients", "scope": "ip", "value": "10.1.2.3"}) {
		t.Errorf("groupLabels = %v", p["groupLabels"])
	}
	wantAnn := map[string]any{
		"summary":     "block ip 10.1.2.3 for 1h0m0s (phishing, strike 2)",
		"description": "12 lookups of phishing domains in 10m",
		"decision_id": "42", "strike": "2", "hits": "3", "actor": "system",
		"expires": "2026-11-26T13:00:00Z",
	}
	if !mapsEqual(p["commonAnnotations"], wantAnn) {
		t.Errorf("commonAnnotations = %v, want %v", p["commonAnnotations"], wantAnn)
	}
	alerts, ok := p["alerts"].([]any)
	if !ok || len(alerts) != 1 {
		t.Fatalf("alerts = %v, want one", p["alerts"])
	}
	a := alerts[0].(map[string]any)
	if got, want := keys(a), []string{"annotations", "endsAt", "fingerprint", "generatorURL", "labels", "startsAt", "status"}; !slices.Equal(got, want) {
		t.Errorf("alert keys %v, want %v", got, want)
	}
	for k, want := range map[string]string{
		"status":       "firing",
		"startsAt":     "2026-11-26T12:00:00Z",
		"endsAt":       "0001-01-01T00:00:00Z", // as Alertmanager sends a firing alert
		"generatorURL": "https://guard.example.edu/decisions/42",
		"fingerprint":  "612e4846a6556078",
	} {
		if got := str(a, k); got != want {
			t.Errorf("alerts[0].%s = %q, want %q", k, got, want)
		}
	}
	if !mapsEqual(a["labels"], wantLabels) || !mapsEqual(a["annotations"], wantAnn) {
		t.Errorf("alerts[0] labels %v annotations %v: want the common ones", a["labels"], a["annotations"])
	}

	// And it decodes into Payload.
	var typed Payload
	if err := json.Unmarshal(r.body, &typed); err != nil || typed.Alerts[0].Fingerprint != Fingerprint(typed.Alerts[0].Labels) {
		t.Errorf("Payload decode: %v, %+v", err, typed)
	}
}

func mapsEqual(got any, want map[string]any) bool {
	m, ok := got.(map[string]any)
	if !ok || len(m) != len(want) {
		return false
	}
	for k, v := range want {
		if m[k] != v {
			return false
		}
	}
	return true
}

// TestFingerprint checks the fingerprint against values computed by
// prometheus/common's model.LabelSet.Fingerprint (what Alertmanager shows).
func TestFingerprint(t *testing.T) {
	base := Labels(new(block(42)))
	for _, tc := range []struct {
		labels KV
		want   string
	}{
		{base, "612e4846a6556078"},
		{KV{"alertname": "CampusguardDecision", "action": "block", "scope": "ip", "value": "10.1.2.4", "category": "phishing",
			"severity": "high", "policy": "phishing-clients", "origin": "policy", "dry_run": "false"}, "61244846a64d0bf3"},
		{KV{}, "cbf29ce484222325"},
		{KV{"a": "刷单|\\=\n"}, "ccc6b19685161276"},
	} {
		for range 3 { // stable from call to call (map order varies)
			if got := Fingerprint(tc.labels); got != tc.want {
				t.Errorf("Fingerprint(%s) = %s, want %s", tc.labels, got, tc.want)
			}
		}
	}
	// Any label change gives another fingerprint; the id and the reason
	// (not labels) do not.
	d := block(42)
	seen := map[string]string{Fingerprint(Labels(&d)): "base"}
	for name, change := range map[string]func(*decision.Decision){
		"action":   func(d *decision.Decision) { d.Action = decision.ActionWarn },
		"value":    func(d *decision.Decision) { d.Value = "10.1.2.30" },
		"category": func(d *decision.Decision) { d.Category = "malware" },
		"severity": func(d *decision.Decision) { d.Severity = 4 },
		"policy":   func(d *decision.Decision) { d.Policy = "other" },
		"dry_run":  func(d *decision.Decision) { d.DryRun = true },
		"scope":    func(d *decision.Decision) { d.Scope, d.Value = decision.ScopeRange, "10.1.2.3/32" },
	} {
		d := block(42)
		change(&d)
		fp := Fingerprint(Labels(&d))
		if other, dup := seen[fp]; dup {
			t.Errorf("changing %s gives the fingerprint of %s", name, other)
		}
		seen[fp] = name
	}
	d2 := block(43)
	d2.Reason = "another reason"
	if Fingerprint(Labels(&d2)) != "612e4846a6556078" {
		t.Error("the fingerprint depends on more than the labels")
	}
}

func TestSignVerify(t *testing.T) {
	// The moderation webhook's test vector: the two schemes are one.
	body := []byte(`{"id":"42","forum":"bbs","item":7,"decision":"reject","reason":"scam","moderator":"alice","ts":"2026-11-26T12:00:00Z"}`)
	const ts = 1795694400
	const want = "sha256=0881d020007085e5d83daff8482589948252a0952884dfa9daa5a8d4e7ea8037"
	secret := []byte("forum-secret")
	if got := Sign(secret, ts, body); got != want {
		t.Fatalf("Sign = %s, want %s", got, want)
	}
	if !Verify(secret, want, ts, body) || !Verify(secret, " "+want+"\t", ts, body) {
		t.Error("Verify refuses a good signature")
	}
	for name, ok := range map[string]bool{
		"other body":      Verify(secret, want, ts, append(body[:len(body):len(body)], ' ')),
		"other timestamp": Verify(secret, want, ts+1, body),
		"other secret":    Verify([]byte("forum-secreT"), want, ts, body),
		"no prefix":       Verify(secret, strings.TrimPrefix(want, "sha256="), ts, body),
		"sha1 prefix":     Verify(secret, "sha1="+strings.TrimPrefix(want, "sha256="), ts, body),
		"truncated":       Verify(secret, want[:len(want)-2], ts, body),
		"not hex":         Verify(secret, want[:len(want)-2]+"zz", ts, body),
		"empty":           Verify(secret, "", ts, body),
	} {
		if ok {
			t.Errorf("%s: accepted", name)
		}
	}
	r := httptest.NewRequest(http.MethodPost, "/", nil)
	if err := VerifyRequest(secret, r, body, time.Unix(ts, 0), time.Minute); err == nil {
		t.Error("VerifyRequest accepts a request without headers")
	}
	r.Header.Set(HeaderTimestamp, strconv.Itoa(ts))
	r.Header.Set(HeaderSignature, want)
	if err := VerifyRequest(secret, r, body, time.Unix(ts+30, 0), time.Minute); err != nil {
		t.Errorf("VerifyRequest: %v", err)
	}
	if err := VerifyRequest(secret, r, body, time.Unix(ts-120, 0), time.Minute); err == nil {
		t.Error("VerifyRequest accepts a timestamp two minutes in the future")
	}
}

func TestWebhookRetriesOn503(t *testing.T) {
	srv := newHookServer(t, func(n int, w http.ResponseWriter) {
		if n <= 2 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	w := newHook(t, fastHook(srv.URL), nil)
	w.Notify(block(7))
	closeWithin(t, w, 5*time.Second)
	reqs := srv.requests()
	if len(reqs) != 3 {
		t.Fatalf("%d requests, want 3 (503, 503, 204)", len(reqs))
	}
	for i, r := range reqs {
		if id := r.header.Get(HeaderDelivery); id != "decision-7-firing" {
			t.Errorf("request %d: delivery %q", i, id)
		}
		if string(r.body) != string(reqs[0].body) {
			t.Errorf("request %d: another body", i)
		}
		if i > 0 && r.at.Sub(reqs[i-1].at) < 7*time.Millisecond {
			t.Errorf("request %d came %s after the one before; want a backoff (10ms ±20%%, then 20ms)", i, r.at.Sub(reqs[i-1].at))
		}
	}
	if ok, failed, retries := testutil.ToFloat64(w.m.ok), testutil.ToFloat64(w.m.failed), testutil.ToFloat64(w.m.retries); ok != 1 || failed != 0 || retries != 2 {
		t.Errorf("ok %v failed %v retries %v, want 1 0 2", ok, failed, retries)
	}
}

func TestWebhookHonoursRetryAfter(t *testing.T) {
	srv := newHookServer(t, func(n int, w http.ResponseWriter) {
		if n == 1 {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	w := newHook(t, fastHook(srv.URL), nil)
	w.Notify(block(7))
	closeWithin(t, w, 5*time.Second)
	reqs := srv.requests()
	if len(reqs) != 2 {
		t.Fatalf("%d requests, want 2", len(reqs))
	}
	if gap := reqs[1].at.Sub(reqs[0].at); gap < 950*time.Millisecond {
		t.Errorf("retried after %s; Retry-After asked for 1s (backoff alone is 10ms)", gap)
	}
}

func TestRetryAfterParse(t *testing.T) {
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	for v, want := range map[string]time.Duration{
		"":                              0,
		"3":                             3 * time.Second,
		" 120 ":                         2 * time.Minute,
		"0":                             0,
		"-5":                            0,
		"soon":                          0,
		"Thu, 26 Nov 2026 12:00:30 GMT": 30 * time.Second,
		"Thu, 26 Nov 2026 11:00:00 GMT": 0,
		"99999999":                      0,
	} {
		if got := parseRetryAfter(v, now); got != want {
			t.Errorf("parseRetryAfter(%q) = %s, want %s", v, got, want)
		}
	}
}

func TestWebhookDoesNotRetryOtherAnswers(t *testing.T) {
	for _, code := range []int{http.StatusBadRequest, http.StatusUnauthorized, http.StatusNotFound, http.StatusFound} {
		t.Run(strconv.Itoa(code), func(t *testing.T) {
			srv := newHookServer(t, func(n int, w http.ResponseWriter) {
				if code == http.StatusFound {
					w.Header().Set("Location", "https://elsewhere.example/")
				}
				w.WriteHeader(code)
			})
			w := newHook(t, fastHook(srv.URL), nil)
			w.Notify(block(7))
			within(t, 5*time.Second, "a failed delivery", func() bool { return testutil.ToFloat64(w.m.failed) == 1 })
			if n := srv.count(); n != 1 {
				t.Errorf("%d requests, want 1", n)
			}
			// A delivery that failed is forgotten: the decision can be
			// announced again.
			w.Notify(block(7))
			closeWithin(t, w, 5*time.Second)
			if n := srv.count(); n != 2 {
				t.Errorf("%d requests after a second Notify, want 2", n)
			}
			if r := testutil.ToFloat64(w.m.retries); r != 0 {
				t.Errorf("%v retries, want 0", r)
			}
		})
	}
}

func TestWebhookGivesUp(t *testing.T) {
	t.Run("attempts", func(t *testing.T) {
		srv := newHookServer(t, func(n int, w http.ResponseWriter) { w.WriteHeader(http.StatusBadGateway) })
		cfg := fastHook(srv.URL)
		cfg.MaxAttempts = 3
		w := newHook(t, cfg, nil)
		w.Notify(block(7))
		closeWithin(t, w, 5*time.Second)
		if n := srv.count(); n != 3 {
			t.Errorf("%d requests, want 3", n)
		}
		if f := testutil.ToFloat64(w.m.failed); f != 1 {
			t.Errorf("failed %v, want 1", f)
		}
	})
	t.Run("max age", func(t *testing.T) {
		srv := newHookServer(t, func(n int, w http.ResponseWriter) {
			w.Header().Set("Retry-After", "5")
			w.WriteHeader(http.StatusServiceUnavailable)
		})
		cfg := fastHook(srv.URL)
		cfg.MaxAge = 2 * time.Second
		w := newHook(t, cfg, nil)
		start := time.Now()
		w.Notify(block(7))
		closeWithin(t, w, 5*time.Second)
		if n := srv.count(); n != 1 {
			t.Errorf("%d requests, want 1: waiting 5s would pass max_age 2s", n)
		}
		if took := time.Since(start); took > time.Second {
			t.Errorf("gave up after %s; want at once", took)
		}
		if f := testutil.ToFloat64(w.m.failed); f != 1 {
			t.Errorf("failed %v, want 1", f)
		}
	})
	t.Run("unreachable", func(t *testing.T) {
		srv := httptest.NewServer(http.NotFoundHandler())
		url := srv.URL
		srv.Close() // nothing listens there now
		cfg := fastHook(url)
		cfg.MaxAttempts = 2
		w := newHook(t, cfg, nil)
		w.Notify(block(7))
		closeWithin(t, w, 5*time.Second)
		if f, r := testutil.ToFloat64(w.m.failed), testutil.ToFloat64(w.m.retries); f != 1 || r != 1 {
			t.Errorf("failed %v retries %v, want 1 and 1", f, r)
		}
	})
}

func TestWebhookQueueFullDrops(t *testing.T) {
	release := make(chan struct{})
	srv := newHookServer(t, func(n int, w http.ResponseWriter) {
		if n == 1 {
			<-release
		}
		w.WriteHeader(http.StatusOK)
	})
	defer func() {
		select {
		case <-release:
		default:
			close(release)
		}
	}()
	reg := prometheus.NewPedanticRegistry()
	cfg := fastHook(srv.URL)
	cfg.QueueSize = 2
	w := newHook(t, cfg, reg)
	w.Notify(block(1))
	within(t, 5*time.Second, "the first request in flight", func() bool { return srv.count() == 1 })
	start := time.Now()
	for id := int64(2); id <= 10; id++ {
		w.Notify(block(id)) // 2 and 3 fit; 4 to 10 do not
	}
	if took := time.Since(start); took > 100*time.Millisecond {
		t.Errorf("Notify blocked for %s with the receiver stuck", took)
	}
	if d := testutil.ToFloat64(w.m.dropped); d != 7 {
		t.Errorf("dropped %v, want 7", d)
	}
	if q := testutil.ToFloat64(w.m.queue); q != 2 {
		t.Errorf("queue length %v, want 2", q)
	}
	close(release)
	closeWithin(t, w, 5*time.Second)
	if n := srv.count(); n != 3 {
		t.Errorf("%d requests, want 3", n)
	}
	want := `
# HELP campusguard_notify_dropped_total Announcements dropped because the output's queue was full (or the output closed).
# TYPE campusguard_notify_dropped_total counter
campusguard_notify_dropped_total{output="soc"} 7
# HELP campusguard_notify_queue_length Announcements waiting in the output's queue.
# TYPE campusguard_notify_queue_length gauge
campusguard_notify_queue_length{output="soc"} 0
# HELP campusguard_notify_sent_total Announcements finished, by output and result: ok (delivered), failed (given up: refused, out of attempts or time, or abandoned at shutdown).
# TYPE campusguard_notify_sent_total counter
campusguard_notify_sent_total{output="soc",result="failed"} 0
campusguard_notify_sent_total{output="soc",result="ok"} 3
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want),
		"campusguard_notify_dropped_total", "campusguard_notify_queue_length", "campusguard_notify_sent_total"); err != nil {
		t.Error(err)
	}
	// After Close, Notify drops and counts.
	w.Notify(block(11))
	if d := testutil.ToFloat64(w.m.dropped); d != 8 {
		t.Errorf("dropped %v after Close, want 8", d)
	}
}

func TestWebhookDedupe(t *testing.T) {
	srv := newHookServer(t, nil)
	w := newHook(t, fastHook(srv.URL), nil)
	d := block(42)
	w.Notify(d)
	w.Notify(d) // again, firing: not sent
	r := d
	r.Revoked, r.RevokedBy, r.RevokeReason = created.Add(2*time.Minute), "alice", "false positive: the lab's scanner"
	w.Notify(r)
	w.Notify(r) // again, resolved: not sent
	w.Notify(d) // the firing one once more: still not sent
	other := block(43)
	w.Notify(other) // another decision on the same subject is sent
	closeWithin(t, w, 5*time.Second)

	var got []string
	for _, r := range srv.requests() {
		got = append(got, r.header.Get(HeaderDelivery))
	}
	want := []string{"decision-42-firing", "decision-42-resolved", "decision-43-firing"}
	if !slices.Equal(got, want) {
		t.Errorf("deliveries %v, want %v", got, want)
	}
	if dup := testutil.ToFloat64(w.m.duplicate); dup != 3 {
		t.Errorf("duplicates %v, want 3", dup)
	}
}

func TestWebhookResolved(t *testing.T) {
	srv := newHookServer(t, nil)
	w := newHook(t, fastHook(srv.URL), nil)

	revoked := block(1)
	revoked.Revoked, revoked.RevokedBy, revoked.RevokeReason = created.Add(2*time.Minute), "alice", "lab scanner | known"
	expired := block(2)
	expired.Expires = created.Add(time.Minute) // before testNow
	notice := block(3)
	notice.Action, notice.Expires = decision.ActionNotify, notice.Created // a one-off notice never expires
	manual := block(4)
	manual.Origin, manual.Policy, manual.Actor, manual.Category = decision.OriginManual, "", "bob", ""
	for _, d := range []decision.Decision{revoked, expired, notice, manual} {
		w.Notify(d)
	}
	closeWithin(t, w, 5*time.Second)

	reqs := srv.requests()
	if len(reqs) != 4 {
		t.Fatalf("%d requests, want 4", len(reqs))
	}
	var p [4]Payload
	for i, r := range reqs {
		if err := json.Unmarshal(r.body, &p[i]); err != nil {
			t.Fatal(err)
		}
	}
	type want struct {
		status, summary string
		endsAt          time.Time
	}
	for i, w := range []want{
		{"resolved", "block ip 10.1.2.3 revoked by alice (phishing, strike 2)", revoked.Revoked},
		{"resolved", "block ip 10.1.2.3 expired (phishing, strike 2)", expired.Expires},
		{"firing", "notify ip 10.1.2.3 (phishing, strike 2)", time.Time{}},
		{"firing", "block ip 10.1.2.3 for 1h0m0s (strike 2)", time.Time{}},
	} {
		a := p[i].Alerts[0]
		if string(p[i].Status) != w.status || string(a.Status) != w.status {
			t.Errorf("decision %d: status %s/%s, want %s", i+1, p[i].Status, a.Status, w.status)
		}
		if !a.EndsAt.Equal(w.endsAt) {
			t.Errorf("decision %d: endsAt %s, want %s", i+1, a.EndsAt, w.endsAt)
		}
		if a.Annotations["summary"] != w.summary {
			t.Errorf("decision %d: summary %q, want %q", i+1, a.Annotations["summary"], w.summary)
		}
	}
	if a := p[0].Alerts[0].Annotations; a["revoked_by"] != "alice" || a["revoke_reason"] != "lab scanner | known" {
		t.Errorf("revoked annotations %v", a)
	}
	// A resolved alert keeps the firing one's labels: receivers match them
	// by fingerprint.
	if p[0].Alerts[0].Fingerprint != "612e4846a6556078" {
		t.Errorf("resolved fingerprint %s, want the firing one's", p[0].Alerts[0].Fingerprint)
	}
	if _, ok := p[2].Alerts[0].Annotations["expires"]; ok {
		t.Error("a notice has an expires annotation")
	}
	l := p[3].CommonLabels
	if _, ok := l["policy"]; ok || l["origin"] != "manual" || l["category"] != "" {
		t.Errorf("manual labels %v: want no policy and no category label", l)
	}
	if p[3].GroupKey != `{}:{scope="ip", value="10.1.2.3"}` {
		t.Errorf("manual groupKey %s", p[3].GroupKey)
	}
}

func TestWebhookFilter(t *testing.T) {
	srv := newHookServer(t, nil)
	cfg := fastHook(srv.URL)
	cfg.MinAction = decision.ActionWarn
	cfg.Categories = []string{"Phishing", "malware"}
	w := newHook(t, cfg, nil)
	notice := block(1)
	notice.Action = decision.ActionNotify
	fraud := block(2)
	fraud.Category = "fraud"
	warn := block(3)
	warn.Action = decision.ActionWarn
	malware := block(4)
	malware.Category = "malware"
	for _, d := range []decision.Decision{notice, fraud, warn, malware} {
		w.Notify(d)
	}
	closeWithin(t, w, 5*time.Second)
	var got []string
	for _, r := range srv.requests() {
		got = append(got, r.header.Get(HeaderDelivery))
	}
	if want := []string{"decision-3-firing", "decision-4-firing"}; !slices.Equal(got, want) {
		t.Errorf("deliveries %v, want %v", got, want)
	}
	if f := testutil.ToFloat64(w.m.filtered); f != 2 {
		t.Errorf("filtered %v, want 2", f)
	}
}

func TestWebhookCloseAbandons(t *testing.T) {
	stuck := make(chan struct{})
	defer close(stuck)
	srv := newHookServer(t, func(n int, w http.ResponseWriter) { <-stuck })
	w := newHook(t, fastHook(srv.URL), nil)
	for id := int64(1); id <= 3; id++ {
		w.Notify(block(id))
	}
	within(t, 5*time.Second, "a request in flight", func() bool { return srv.count() == 1 })
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := w.Close(ctx)
	if err == nil || !strings.Contains(err.Error(), "3 announcements abandoned") {
		t.Errorf("Close = %v, want 3 abandoned", err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("Close took %s with a 100ms context", took)
	}
	if f := testutil.ToFloat64(w.m.failed); f != 3 {
		t.Errorf("failed %v, want 3", f)
	}
	if err := w.Close(context.Background()); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// TestWebhookLogsNoToken: chat webhooks carry a token in the URL; it must
// not reach the logs.
func TestWebhookLogsNoToken(t *testing.T) {
	srv := newHookServer(t, func(n int, w http.ResponseWriter) { w.WriteHeader(http.StatusForbidden) })
	down := httptest.NewServer(http.NotFoundHandler())
	down.Close()
	var logs syncBuffer
	for _, base := range []string{srv.URL, down.URL} {
		cfg := fastHook(base + "/robot/send?access_token=TOKEN123")
		cfg.MaxAttempts = 2
		w, err := NewWebhook(cfg, Options{Logger: slog.New(slog.NewTextHandler(&logs, nil)), Now: fixedNow})
		if err != nil {
			t.Fatal(err)
		}
		w.Notify(block(1))
		closeWithin(t, w, 5*time.Second)
	}
	out := logs.String()
	if !strings.Contains(out, "delivery failed") || !strings.Contains(out, "/…") {
		t.Fatalf("no failure logged: %s", out)
	}
	if strings.Contains(out, "TOKEN123") || strings.Contains(out, "robot") {
		t.Errorf("the URL's path or token is in the logs:\n%s", out)
	}
	bad := WebhookConfig{Name: "x", URL: "ftp://h/robot?access_token=TOKEN123", Secret: secret}
	if err := bad.Validate(); err == nil || strings.Contains(err.Error(), "TOKEN123") {
		t.Errorf("Validate = %v", err)
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
