package hitlog

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestPartitionEnd(t *testing.T) {
	for _, c := range []struct {
		p      string
		digits int
		want   string
	}{
		{"20261126", 8, "2026-11-27"},
		{"20261231", 8, "2027-01-01"},
		{"'202612'", 6, "2027-01-01"},
		{"202602", 6, "2026-03-01"},
	} {
		end, ok := partitionEnd(c.p, c.digits)
		if !ok || end.Format(time.DateOnly) != c.want {
			t.Errorf("partitionEnd(%s) = %v, %v; want %s", c.p, end, ok, c.want)
		}
	}
	for _, p := range []string{"", "2026", "tuple()", "2026112x"} {
		if _, ok := partitionEnd(p, 8); ok {
			t.Errorf("partitionEnd(%q) accepted", p)
		}
	}
}

// retentionSeed stores one batch 100 days old, one 10 days old and one now.
func retentionSeed(t *testing.T, s Store, now time.Time) {
	t.Helper()
	for i, age := range []time.Duration{100 * 24 * time.Hour, 10 * 24 * time.Hour, 0} {
		b := sampleBatch()
		b.ID = uint64(i + 1)
		for j := range b.Rows {
			b.Rows[j].Time = now.Add(-age)
		}
		insert(t, s, b)
	}
}

func TestRetention(t *testing.T) {
	now := time.Now().UTC()
	r := Retention{Hits: 30 * 24 * time.Hour, Clients: 30 * 24 * time.Hour, Rollups: 60 * 24 * time.Hour}
	forEachStore(t, func(t *testing.T, s Store) {
		ctx := context.Background()
		check := func(how string) {
			t.Helper()
			for table, want := range map[string]uint64{"hits": 6, "hits_1m": 6, "hits_1h": 6, "hits_cat_1h": 6, "clients_1h": 6, "names_1h": 6} {
				col := "hits"
				if table == "hits" {
					col = "1"
				}
				if n := count(t, s, "SELECT sum(%s) FROM %s.%s", col, s.Database(), table); n != want {
					t.Errorf("%s: %s holds %d hits, want %d (the 100-day-old batch gone)", how, table, n, want)
				}
			}
		}

		t.Run("drop partitions", func(t *testing.T) {
			migrated(t, s)
			retentionSeed(t, s, now)
			dropped, err := dropOldPartitions(ctx, s, r, now)
			if err != nil {
				t.Fatal(err)
			}
			if len(dropped) != len(retentionTables) {
				t.Errorf("dropped %v, want one old partition per table", dropped)
			}
			check("after dropping partitions")
			if again, err := dropOldPartitions(ctx, s, r, now); err != nil || len(again) != 0 {
				t.Errorf("second run dropped %v, %v", again, err)
			}
		})

		t.Run("apply", func(t *testing.T) {
			migrated(t, s)
			retentionSeed(t, s, now)
			if err := ApplyRetention(ctx, s, r, now); err != nil {
				t.Fatal(err)
			}
			ttl := FeaturesOf(s.Version()).TTL
			if ttl {
				// TTLs act when parts merge; make them merge now.
				for _, table := range retentionTables {
					exec(t, s, "OPTIMIZE TABLE %s.%s FINAL", s.Database(), table.name)
				}
				var create string
				if err := queryOne(ctx, s, fmt.Sprintf("SELECT create_table_query FROM system.tables WHERE database = %s AND name = 'hits'", quote(s.Database())), &create); err != nil {
					t.Fatal(err)
				}
				if !strings.Contains(create, "toIntervalDay(30)") {
					t.Errorf("hits has no 30-day TTL: %s", create)
				}
			}
			check(map[bool]string{true: "after TTL", false: "after ApplyRetention dropped partitions"}[ttl])
			// Keeping everything removes the TTLs again.
			if err := ApplyRetention(ctx, s, Retention{}, now); err != nil {
				t.Fatal(err)
			}
			if ttl {
				var create string
				if err := queryOne(ctx, s, fmt.Sprintf("SELECT create_table_query FROM system.tables WHERE database = %s AND name = 'hits'", quote(s.Database())), &create); err != nil {
					t.Fatal(err)
				}
				if strings.Contains(create, " TTL ") {
					t.Errorf("retention 0 left a TTL: %s", create)
				}
			}
		})
	})
}
