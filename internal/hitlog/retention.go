package hitlog

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Retention says how long each kind of data is kept; 0 keeps it forever.
type Retention struct {
	Hits    time.Duration // raw hits and the minute rollup (privacy.retention)
	Clients time.Duration // clients_1h holds client pseudonyms, so it follows Hits
	Rollups time.Duration // hourly counts by rule and by name
}

// retentionTables pairs each table with its time column and partition
// granularity (8 digits: YYYYMMDD, 6: YYYYMM).
var retentionTables = []struct {
	name, col string
	digits    int
	keep      func(Retention) time.Duration
}{
	{"hits", "ts", 8, func(r Retention) time.Duration { return r.Hits }},
	{"hits_1m", "t", 8, func(r Retention) time.Duration { return r.Hits }},
	{"clients_1h", "t", 8, func(r Retention) time.Duration { return r.Clients }},
	{"hits_1h", "t", 6, func(r Retention) time.Duration { return r.Rollups }},
	{"hits_cat_1h", "t", 6, func(r Retention) time.Duration { return r.Rollups }},
	{"names_1h", "t", 6, func(r Retention) time.Duration { return r.Rollups }},
}

// ApplyRetention enforces r: with a TTL on each table where the server has
// TTL (19.6+), else by dropping the partitions that lie wholly before the
// cutoff. Servers without TTL need it run on a schedule (serve does, hourly).
func ApplyRetention(ctx context.Context, s Store, r Retention, now time.Time) error {
	if FeaturesOf(s.Version()).TTL {
		return setTTLs(ctx, s, r)
	}
	_, err := dropOldPartitions(ctx, s, r, now)
	return err
}

// setTTLs sets each table's TTL, touching only tables whose TTL differs:
// changing a TTL rewrites the table's parts.
func setTTLs(ctx context.Context, s Store, r Retention) error {
	for _, t := range retentionTables {
		var create string
		q := fmt.Sprintf("SELECT create_table_query FROM system.tables WHERE database = %s AND name = %s", quote(s.Database()), quote(t.name))
		if err := queryOne(ctx, s, q, &create); err != nil {
			return fmt.Errorf("retention: read %s: %w", t.name, err)
		}
		days := int64(t.keep(r) / (24 * time.Hour))
		has := strings.Contains(create, " TTL ")
		var stmt string
		switch {
		case days == 0 && has:
			stmt = fmt.Sprintf("ALTER TABLE %s.%s REMOVE TTL", s.Database(), t.name)
		case days > 0 && !strings.Contains(create, fmt.Sprintf("toIntervalDay(%d)", days)):
			stmt = fmt.Sprintf("ALTER TABLE %s.%s MODIFY TTL toDateTime(%s) + toIntervalDay(%d)", s.Database(), t.name, t.col, days)
		default:
			continue
		}
		if err := s.Exec(ctx, stmt); err != nil {
			return fmt.Errorf("retention: %s: %w", stmt, err)
		}
	}
	return nil
}

// dropOldPartitions drops every partition that ends at or before now minus
// the table's retention, and returns what it dropped ("table:partition").
func dropOldPartitions(ctx context.Context, s Store, r Retention, now time.Time) ([]string, error) {
	var dropped []string
	for _, t := range retentionTables {
		keep := t.keep(r)
		if keep <= 0 {
			continue
		}
		cutoff := now.Add(-keep)
		q := fmt.Sprintf("SELECT DISTINCT partition FROM system.parts WHERE database = %s AND table = %s AND active", quote(s.Database()), quote(t.name))
		var parts []string
		rows, err := s.Query(ctx, q)
		if err != nil {
			return dropped, fmt.Errorf("retention: list partitions of %s: %w", t.name, err)
		}
		for rows.Next() {
			var p string
			if err := rows.Scan(&p); err != nil {
				rows.Close()
				return dropped, err
			}
			parts = append(parts, p)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return dropped, err
		}
		for _, p := range parts {
			end, ok := partitionEnd(p, t.digits)
			if !ok || end.After(cutoff) {
				continue
			}
			if err := s.Exec(ctx, fmt.Sprintf("ALTER TABLE %s.%s DROP PARTITION %s", s.Database(), t.name, p)); err != nil {
				return dropped, fmt.Errorf("retention: drop %s partition %s: %w", t.name, p, err)
			}
			dropped = append(dropped, t.name+":"+p)
		}
	}
	return dropped, nil
}

// partitionEnd is the first instant after a YYYYMMDD or YYYYMM partition.
func partitionEnd(p string, digits int) (time.Time, bool) {
	p = strings.Trim(p, "'")
	if len(p) != digits {
		return time.Time{}, false
	}
	n, err := strconv.Atoi(p)
	if err != nil {
		return time.Time{}, false
	}
	if digits == 8 {
		return time.Date(n/10000, time.Month(n/100%100), n%100+1, 0, 0, 0, 0, time.UTC), true
	}
	return time.Date(n/100, time.Month(n%100)+1, 1, 0, 0, 0, 0, time.UTC), true
}

// RetentionLoop applies r now and then every interval until ctx ends,
// reporting errors to logf.
func RetentionLoop(ctx context.Context, s Store, r Retention, interval time.Duration, logf func(error)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if err := ApplyRetention(ctx, s, r, time.Now()); err != nil && ctx.Err() == nil {
			logf(err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
