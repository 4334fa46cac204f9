package stream

import (
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/campusguard/campusguard/alerts/decision"
	"github.com/campusguard/campusguard/internal/state"
)

// bulkInsert writes n block decisions on distinct IPv4 addresses straight
// into the decisions table in one transaction (Store.Add audits each in a
// transaction of its own: too slow for a benchmark's setup).
func bulkInsert(b *testing.B, db *state.DB, n int) {
	ctx := context.Background()
	const batch = 500
	err := db.Tx(ctx, func(tx *sql.Tx) error {
		for done := 0; done < n; {
			k := min(batch, n-done)
			q := `INSERT INTO decisions (action, scope, value, category, severity, origin, policy, actor,
				reason, strike, dry_run, hits, created, expires) VALUES ` +
				strings.Repeat("('block', 'ip', ?, 'phishing', 3, 'policy', 'phish', 'system', 'bench', 1, 0, 'null', ?, ?), ", k-1) +
				"('block', 'ip', ?, 'phishing', 3, 'policy', 'phish', 'system', 'bench', 1, 0, 'null', ?, ?)"
			args := make([]any, 0, 3*k)
			for i := done; i < done+k; i++ {
				args = append(args, fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255), t0.Add(-time.Minute).UnixMilli(), t0.Add(4*time.Hour).UnixMilli())
			}
			if _, err := tx.ExecContext(ctx, q, args...); err != nil {
				return err
			}
			done += k
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
}

// BenchmarkStreamStartup100k is one bouncer's startup pull of 100 000
// block decisions: the store read, deduplication and the JSON.
func BenchmarkStreamStartup100k(b *testing.B) {
	ctx := context.Background()
	db, err := state.Open(ctx, ":memory:")
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	s, err := decision.Open(ctx, db)
	if err != nil {
		b.Fatal(err)
	}
	bulkInsert(b, db, 100_000)
	h, err := New(Options{Store: s, Auth: func(*http.Request) (string, error) { return "fw-1", nil }, Now: func() time.Time { return t0 }})
	if err != nil {
		b.Fatal(err)
	}
	req := httptest.NewRequest(http.MethodGet, Path+"?startup=true", nil)
	var size int
	for b.Loop() {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			b.Fatal(w.Code, w.Body.String())
		}
		size = w.Body.Len()
	}
	b.ReportMetric(float64(size), "body-bytes")
}
