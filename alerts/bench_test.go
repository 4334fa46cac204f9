package alerts

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/campusguard/campusguard/internal/event"
	"github.com/campusguard/campusguard/internal/state"
)

// BenchmarkDecisions: how many decisions a second the engine records (a
// SQLite transaction with its audit entry each, on disk) when every hit
// crosses a threshold of 1; and how many hits a second it counts when
// none does.
func BenchmarkDecisions(b *testing.B) {
	for _, c := range []struct {
		name      string
		threshold int
	}{{"every-hit-decides", 1}, {"counting-only", 100_000}} {
		b.Run(c.name, func(b *testing.B) {
			db, err := state.Open(context.Background(), filepath.Join(b.TempDir(), "state.db"))
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			ps, err := ParsePolicies([]map[string]any{{"name": "p", "threshold": c.threshold, "window": "1h",
				"ladder": []any{map[string]any{"action": "block", "duration": "1h"}}, "dry_run": false}}, false)
			if err != nil {
				b.Fatal(err)
			}
			e, err := New(context.Background(), db, Options{Policies: ps})
			if err != nil {
				b.Fatal(err)
			}
			evs := make([]*event.Event, 4096)
			for i := range evs {
				evs[i] = &event.Event{Time: time.Now(), Kind: event.KindDNS, Name: "x.phish.test",
					Src:  fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255),
					Hits: []event.Hit{{Pack: "p", Rule: "r", Category: "phishing", Severity: event.SeverityHigh, Action: "block"}}}
			}
			made := 0
			b.ResetTimer()
			for i := range b.N {
				ev := evs[i%len(evs)]
				if c.threshold == 1 {
					// A fresh client each time, so every hit decides.
					ev.Src = fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255)
				}
				ev.Time = time.Now()
				ds, err := e.Observe(context.Background(), ev)
				if err != nil {
					b.Fatal(err)
				}
				made += len(ds)
			}
			b.StopTimer()
			b.ReportMetric(float64(made)/b.Elapsed().Seconds(), "decisions/s")
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "hits/s")
			if c.threshold == 1 && made != b.N {
				b.Fatalf("%d decisions from %d hits", made, b.N)
			}
		})
	}
}
