package hitlog

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// seedStart is the start of the seeded data: three hours of hits.
var seedStart = time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)

// seedRows builds n rows spread over three hours with a fixed pattern, so
// that every expected count can be computed from them in Go.
func seedRows(n int) []Row {
	kinds := []string{"dns", "tls", "http", "quic", "post"}
	cats := []string{"phishing", "malware", "fraud", "gambling"}
	rows := make([]Row, n)
	for i := range rows {
		rows[i] = Row{
			Time:     seedStart.Add(time.Duration(i) * 3 * time.Hour / time.Duration(n)).Add(time.Duration(i%1000) * time.Millisecond),
			Sensor:   fmt.Sprintf("gw-%d", i%2),
			Kind:     kinds[i%len(kinds)],
			Client:   fmt.Sprintf("c-%02d", i%7),
			Server:   "10.0.0.1",
			Port:     443,
			Name:     fmt.Sprintf("host%d.evil.test", i%11),
			Pack:     fmt.Sprintf("pack%d", i%3),
			Rule:     fmt.Sprintf("pack%d.txt:%d", i%3, i%5),
			Category: cats[i%len(cats)],
			Severity: uint8(i % 5),
			Action:   []string{"block", "monitor"}[i%2],
			Match:    "evil.test",
			Field:    "name",
		}
	}
	return rows
}

// seed writes rows in batches of 500 and returns them.
func seed(t *testing.T, s Store, n int) []Row {
	t.Helper()
	rows := seedRows(n)
	for i := 0; i < n; i += 500 {
		insert(t, s, &Batch{ID: uint64(i+1) | 1<<63, Rows: rows[i:min(i+500, n)]}) // ids use all 64 bits
	}
	return rows
}

func field(r Row, d Dim) string {
	switch d {
	case DimKind:
		return r.Kind
	case DimCategory:
		return r.Category
	case DimPack:
		return r.Pack
	case DimRule:
		return r.Rule
	case DimSensor:
		return r.Sensor
	case DimAction:
		return r.Action
	case DimName:
		return r.Name
	case DimClient:
		return r.Client
	}
	panic(d)
}

func TestQueries(t *testing.T) {
	forEachStore(t, func(t *testing.T, s Store) {
		ctx := context.Background()
		migrated(t, s)
		rows := seed(t, s, 3000)
		q := NewQueries(s, false)
		all := Range{seedStart, seedStart.Add(3 * time.Hour)}

		t.Run("total", func(t *testing.T) {
			n, err := q.Total(ctx, all, Filter{})
			if err != nil || n != 3000 {
				t.Errorf("Total = %d, %v; want 3000", n, err)
			}
			n, err = q.Total(ctx, all, Filter{Category: "fraud", MinSeverity: 3})
			want := 0
			for _, r := range rows {
				if r.Category == "fraud" && r.Severity >= 3 {
					want++
				}
			}
			if err != nil || n != uint64(want) {
				t.Errorf("Total(fraud, severity ≥ 3) = %d, %v; want %d", n, err, want)
			}
		})

		t.Run("over time", func(t *testing.T) {
			for _, step := range []time.Duration{10 * time.Minute, time.Hour} {
				got, err := q.HitsOverTime(ctx, all, DimCategory, step, Filter{Kind: "dns"})
				if err != nil {
					t.Fatal(err)
				}
				wantMap := map[Point]uint64{}
				for _, r := range rows {
					if r.Kind == "dns" {
						// Rollups bucket by the second, as toDateTime does.
						wantMap[Point{T: r.Time.Truncate(time.Second).Truncate(step), Key: r.Category}]++
					}
				}
				var want []Point
				for p, n := range wantMap {
					p.Hits = n
					want = append(want, p)
				}
				sort.Slice(want, func(i, j int) bool {
					if !want[i].T.Equal(want[j].T) {
						return want[i].T.Before(want[j].T)
					}
					return want[i].Key < want[j].Key
				})
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("step %v (-want +got):\n%s", step, diff)
				}
			}
			if _, err := q.HitsOverTime(ctx, all, DimName, time.Hour, Filter{}); err == nil {
				t.Error("over time by name: no error")
			}
			if _, err := q.HitsOverTime(ctx, all, DimKind, 90*time.Second, Filter{}); err == nil {
				t.Error("90 s step: no error")
			}
		})

		t.Run("top", func(t *testing.T) {
			// A range over a day reads the hour rollup, a short one the minute rollup.
			for _, r := range []Range{all, {seedStart.Add(-24 * time.Hour), seedStart.Add(24 * time.Hour)}} {
				for _, d := range []Dim{DimKind, DimCategory, DimPack, DimRule, DimSensor, DimAction, DimName, DimClient} {
					got, err := q.Top(ctx, d, r, 3, Filter{})
					if err != nil {
						t.Fatal(err)
					}
					counts := map[string]uint64{}
					for _, row := range rows {
						counts[field(row, d)]++
					}
					var want []Count
					for k, n := range counts {
						want = append(want, Count{k, n})
					}
					sort.Slice(want, func(i, j int) bool {
						if want[i].Hits != want[j].Hits {
							return want[i].Hits > want[j].Hits
						}
						return want[i].Key < want[j].Key
					})
					if diff := cmp.Diff(want[:min(3, len(want))], got); diff != "" {
						t.Errorf("top %s over %v (-want +got):\n%s", d, r.To.Sub(r.From), diff)
					}
				}
			}
			if _, err := q.Top(ctx, DimClient, all, 3, Filter{Pack: "pack1"}); err == nil || !strings.Contains(err.Error(), "not available") {
				t.Errorf("top clients filtered by pack = %v, want not available", err)
			}
		})

		t.Run("search pages", func(t *testing.T) {
			f := Filter{Kind: "tls", Name: "HOST3.", Client: "c-02"}
			var want []Row
			for _, r := range rows {
				if r.Kind == "tls" && strings.Contains(r.Name, "host3.") && r.Client == "c-02" {
					want = append(want, r)
				}
			}
			sort.SliceStable(want, func(i, j int) bool { return want[i].Time.After(want[j].Time) })
			if !FeaturesOf(s.Version()).DateTime64 {
				for i := range want {
					want[i].Time = want[i].Time.Truncate(time.Second) // a DateTime column
				}
			}
			var got []Row
			page := Page{Limit: 2}
			for pages := 0; ; pages++ {
				res, err := q.Search(ctx, all, f, page)
				if err != nil {
					t.Fatal(err)
				}
				for _, h := range res.Hits {
					got = append(got, h.Row)
				}
				if res.Next == "" {
					break
				}
				if pages > len(want) {
					t.Fatal("paging does not end")
				}
				page.Cursor = res.Next
			}
			if len(want) == 0 {
				t.Fatal("the filter matches no seeded row; the test proves nothing")
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("search (-want +got):\n%s", diff)
			}
			if _, err := q.Search(ctx, all, f, Page{Limit: 5, Cursor: "x.y"}); err == nil {
				t.Error("bad cursor: no error")
			}
			// Quotes and backslashes in a filter are data, not SQL.
			res, err := q.Search(ctx, all, Filter{Name: `x' OR 1=1 --\`}, Page{Limit: 5})
			if err != nil || len(res.Hits) != 0 {
				t.Errorf("injection attempt: %d hits, %v", len(res.Hits), err)
			}
		})
	})
}
