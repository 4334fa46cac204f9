package moderation

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestMetrics(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.ingest(t,
		Post{ID: "1", Forum: "bbs", Body: cleanBody},
		Post{ID: "2", Forum: "bbs", Body: cleanBody + "!"},
		Post{ID: "3", Forum: "bbs", Body: fraudBody},
		Post{ID: "4", Forum: "bbs", Body: "flagword"},
		Post{ID: "5", Forum: "bbs", Body: "rejectword"},
	)
	f.ingest(t, Post{ID: "1", Forum: "bbs", Body: cleanBody}, Post{ID: "3", Forum: "bbs", Body: fraudBody}) // retries
	f.clock.Add(90 * time.Second)
	f.ingest(t, Post{ID: "6", Forum: "bbs", Body: fraudBody})
	items, _, _ := f.s.List(ctx, ListFilter{})
	byPost := map[string]Item{}
	for _, it := range items {
		byPost[it.PostID] = it
	}
	mustOK := func(_ Item, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	mustOK(f.s.Claim(ctx, byPost["3"].ID, 1, "alice"))
	mustOK(f.s.Decide(ctx, byPost["4"].ID, 1, "alice", DecideApprove, ""))
	mustOK(f.s.Decide(ctx, byPost["5"].ID, 1, "alice", DecideReject, "malware link"))
	mustOK(f.s.Undo(ctx, byPost["5"].ID, "alice"))
	mustOK(f.s.Decide(ctx, byPost["6"].ID, 1, "bob", DecideEscalate, ""))
	f.clock.Add(30 * time.Second)

	want := `
# HELP campusguard_posts_ingested_total Posts recorded, new or edited, by the verdict the rules gave (retries of an unchanged post are not counted here).
# TYPE campusguard_posts_ingested_total counter
campusguard_posts_ingested_total{verdict="allow"} 2
campusguard_posts_ingested_total{verdict="flag"} 1
campusguard_posts_ingested_total{verdict="hold"} 2
campusguard_posts_ingested_total{verdict="reject"} 1
# HELP campusguard_posts_unchanged_total Posts sent again unchanged (retries), answered from the record without changing anything.
# TYPE campusguard_posts_unchanged_total counter
campusguard_posts_unchanged_total 2
# HELP campusguard_queue_decisions_total Moderator decisions (bulk items included) and undos.
# TYPE campusguard_queue_decisions_total counter
campusguard_queue_decisions_total{decision="approve"} 1
campusguard_queue_decisions_total{decision="escalate"} 1
campusguard_queue_decisions_total{decision="reject"} 1
campusguard_queue_decisions_total{decision="undo"} 1
# HELP campusguard_queue_items Moderation queue items by state (claimed: an open item with a claim that has not expired).
# TYPE campusguard_queue_items gauge
campusguard_queue_items{state="approved"} 1
campusguard_queue_items{state="claimed"} 1
campusguard_queue_items{state="escalated"} 1
campusguard_queue_items{state="pending"} 1
campusguard_queue_items{state="rejected"} 0
# HELP campusguard_queue_oldest_open_seconds Age of the oldest open (pending, claimed or escalated) item; 0 when none is open.
# TYPE campusguard_queue_oldest_open_seconds gauge
campusguard_queue_oldest_open_seconds 120
# HELP campusguard_moderation_webhook_deliveries_total Webhook delivery attempts: ok (delivered), retry (failed, will be retried), failed (given up, or dropped because the queue was full).
# TYPE campusguard_moderation_webhook_deliveries_total counter
campusguard_moderation_webhook_deliveries_total{result="failed"} 0
campusguard_moderation_webhook_deliveries_total{result="ok"} 0
campusguard_moderation_webhook_deliveries_total{result="retry"} 0
`
	names := []string{"campusguard_posts_ingested_total", "campusguard_posts_unchanged_total", "campusguard_queue_decisions_total",
		"campusguard_queue_items", "campusguard_queue_oldest_open_seconds", "campusguard_moderation_webhook_deliveries_total"}
	if err := testutil.GatherAndCompare(f.reg, strings.NewReader(want), names...); err != nil {
		t.Error(err)
	}
	problems, err := testutil.GatherAndLint(f.reg)
	if err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %v", problems, err)
	}

	// Nothing open: the age is 0.
	for _, it := range items {
		if cur, _ := f.s.Get(ctx, it.ID); cur.Open() {
			mustOK(f.s.Decide(ctx, cur.ID, cur.Version, "alice", DecideApprove, ""))
		}
	}
	if err := testutil.GatherAndCompare(f.reg, strings.NewReader(`
# HELP campusguard_queue_oldest_open_seconds Age of the oldest open (pending, claimed or escalated) item; 0 when none is open.
# TYPE campusguard_queue_oldest_open_seconds gauge
campusguard_queue_oldest_open_seconds 0
`), "campusguard_queue_oldest_open_seconds"); err != nil {
		t.Error(err)
	}
}

// Registering twice on one registry fails New instead of panicking.
func TestMetricsRegisterTwice(t *testing.T) {
	f := newFixture(t)
	if _, err := New(f.db, Options{Rules: builtinRules(t), Registerer: f.reg}); err == nil {
		t.Error("second Service on the same registry")
	}
	if _, err := New(f.db, Options{Rules: builtinRules(t), Registerer: prometheus.NewRegistry()}); err != nil {
		t.Error(err)
	}
}
