package dnsplugin

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/campusguard/campusguard/internal/event"
)

// TestForwarderBatchesAndRetries: events arrive as NDJSON in batches of at
// most Batch, a 503 is retried, the token is sent.
func TestForwarderBatchesAndRetries(t *testing.T) {
	var mu sync.Mutex
	var batches [][]string
	fails := 2
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if r.Header.Get("Authorization") != "Bearer tok" || r.Header.Get("Content-Type") != "application/x-ndjson" || r.Method != http.MethodPost {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		if fails > 0 {
			fails--
			http.Error(w, "try later", http.StatusServiceUnavailable)
			return
		}
		var names []string
		dec := event.NewDecoder(r.Body)
		for {
			var ev event.Event
			if err := dec.Decode(&ev); err == io.EOF {
				break
			} else if err != nil {
				t.Errorf("decode: %v", err)
				break
			}
			names = append(names, ev.Name)
		}
		batches = append(batches, names)
	}))
	defer srv.Close()
	retriesBefore := testutil.ToFloat64(reportRetries)
	sentBefore := testutil.ToFloat64(reportEvents.WithLabelValues("sent"))
	f := NewForwarder(ForwarderConfig{URL: srv.URL, Token: "tok", Batch: 3, Flush: 20 * time.Millisecond, Retries: 5})
	f.sleep = func(context.Context, time.Duration) bool { return true }
	f.Start()
	for i := range 7 {
		f.Add(&event.Event{Kind: event.KindDNS, Name: string(rune('a'+i)) + ".example", Time: time.Now()})
	}
	deadline := time.Now().Add(3 * time.Second)
	for {
		mu.Lock()
		n := 0
		for _, b := range batches {
			n += len(b)
		}
		mu.Unlock()
		if n == 7 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("got %d of 7 events: %v", n, batches)
		}
		time.Sleep(5 * time.Millisecond)
	}
	f.Stop()
	var all []string
	for _, b := range batches {
		if len(b) > 3 {
			t.Errorf("batch of %d > 3", len(b))
		}
		all = append(all, b...)
	}
	if strings.Join(all, ",") != "a.example,b.example,c.example,d.example,e.example,f.example,g.example" {
		t.Errorf("events = %v", all)
	}
	if got := testutil.ToFloat64(reportRetries) - retriesBefore; got < 2 {
		t.Errorf("retries = %v, want 2", got)
	}
	if got := testutil.ToFloat64(reportEvents.WithLabelValues("sent")) - sentBefore; got < 7 {
		t.Errorf("sent = %v, want 7", got)
	}
}

// TestForwarderGivesUp: a 4xx is not retried; a dead server is retried
// Retries times; both count the events as failed and the forwarder goes on.
func TestForwarderGivesUp(t *testing.T) {
	calls := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls++
		http.Error(w, "no", http.StatusForbidden)
	}))
	failedBefore := testutil.ToFloat64(reportEvents.WithLabelValues("failed"))
	f := NewForwarder(ForwarderConfig{URL: srv.URL, Retries: 3})
	f.sleep = func(context.Context, time.Duration) bool { return true }
	f.send(context.Background(), []*event.Event{{Kind: event.KindDNS, Name: "x.example"}}, 3)
	if calls != 1 {
		t.Errorf("403 was sent %d times", calls)
	}
	srv.Close()
	f.send(context.Background(), []*event.Event{{Kind: event.KindDNS, Name: "y.example"}}, 3)
	if got := testutil.ToFloat64(reportEvents.WithLabelValues("failed")) - failedBefore; got != 2 {
		t.Errorf("failed = %v, want 2", got)
	}
}

// TestForwarderBounded: Add never waits; a full queue drops and counts.
func TestForwarderBounded(t *testing.T) {
	before := testutil.ToFloat64(reportEvents.WithLabelValues("dropped"))
	f := NewForwarder(ForwarderConfig{URL: "http://127.0.0.1:1/", Queue: 2})
	ev := &event.Event{Kind: event.KindDNS, Name: "x.example"}
	if !f.Add(ev) || !f.Add(ev) || f.Add(ev) {
		t.Error("a queue of 2 took 3 or refused 1 or 2")
	}
	if got := testutil.ToFloat64(reportEvents.WithLabelValues("dropped")) - before; got != 1 {
		t.Errorf("dropped = %v, want 1", got)
	}
}
