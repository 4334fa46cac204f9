package hitlog

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Queries are every read the console, the dashboards and the alerts engine
// make of the hit store, in one place, so that each runs on both stores in
// the tests. Counts come from the rollup tables; only Search reads hits.
type Queries struct {
	s      Store
	db     string
	f      Features
	suffix string // "_all" to read a cluster's Distributed tables
}

// NewQueries reads from s. With cluster set, it reads the Distributed
// *_all tables of deploy/clickhouse/cluster.sql.
func NewQueries(s Store, cluster bool) *Queries {
	q := &Queries{s: s, db: s.Database(), f: FeaturesOf(s.Version())}
	if cluster {
		q.suffix = "_all"
	}
	return q
}

func (q *Queries) table(name string) string { return q.db + "." + name + q.suffix }

// Range is a half-open time range [From, To).
type Range struct{ From, To time.Time }

func (r Range) check() error {
	if r.From.IsZero() || r.To.IsZero() || !r.From.Before(r.To) {
		return fmt.Errorf("time range %v – %v: want from before to", r.From, r.To)
	}
	return nil
}

// Dim is a column hits are counted by.
type Dim string

// The dimensions of the rollups.
const (
	DimKind     Dim = "kind"
	DimCategory Dim = "category"
	DimPack     Dim = "pack"
	DimRule     Dim = "rule"
	DimSensor   Dim = "sensor"
	DimAction   Dim = "action"
	DimName     Dim = "name"
	DimClient   Dim = "client"
)

// Filter narrows counts and searches; empty fields match everything.
type Filter struct {
	Kind, Category, Pack, Rule, Sensor, Action string
	Client                                     string // exact pseudonym or address
	Name                                       string // substring, case-insensitive (Search only)
	MinSeverity                                uint8
}

// rollupDims says which filter fields each rollup table can answer.
var rollupDims = map[string][]string{
	"hits_1m":     {"kind", "category", "pack", "rule", "sensor", "action", "severity"},
	"hits_1h":     {"kind", "category", "pack", "rule", "sensor", "action", "severity"},
	"hits_cat_1h": {"kind", "category", "sensor", "action", "severity"},
	"names_1h":    {"kind", "category"},
	"clients_1h":  {"category"},
}

// where renders the filter for table; it fails when the table lacks a
// column the filter names, rather than silently ignoring it.
func (f Filter) where(table string, has []string) ([]string, error) {
	ok := func(col string) bool {
		if has == nil {
			return true
		}
		for _, c := range has {
			if c == col {
				return true
			}
		}
		return false
	}
	var conds []string
	for _, c := range []struct{ col, val string }{
		{"kind", f.Kind}, {"category", f.Category}, {"pack", f.Pack}, {"rule", f.Rule},
		{"sensor", f.Sensor}, {"action", f.Action}, {"client", f.Client},
	} {
		if c.val == "" {
			continue
		}
		if !ok(c.col) {
			return nil, fmt.Errorf("filter by %s is not available on %s", c.col, table)
		}
		conds = append(conds, c.col+" = "+quote(c.val))
	}
	if f.MinSeverity > 0 {
		if !ok("severity") {
			return nil, fmt.Errorf("filter by severity is not available on %s", table)
		}
		conds = append(conds, fmt.Sprintf("severity >= %d", f.MinSeverity))
	}
	if f.Name != "" {
		if has != nil {
			return nil, fmt.Errorf("filter by name substring is only available in a search")
		}
		conds = append(conds, fmt.Sprintf("position(lower(name), lower(%s)) > 0", quote(f.Name)))
	}
	return conds, nil
}

// timeCond selects [from, to) on a rollup's bucket column t, widened to
// whole buckets of the given size.
func timeCond(col string, r Range, bucket time.Duration) string {
	from := r.From.Truncate(bucket).Unix()
	to := r.To.Add(bucket - 1).Truncate(bucket).Unix()
	return fmt.Sprintf("%s >= toDateTime(%d) AND %s < toDateTime(%d)", col, from, col, to)
}

// Point is one bucket of a time series.
type Point struct {
	T    time.Time
	Key  string
	Hits uint64
}

// HitsOverTime counts hits per step, split by dim (kind, category, pack,
// rule, sensor or action). Steps under an hour read the minute rollup and
// must be whole minutes; longer steps read the hour rollup and must be
// whole hours.
func (q *Queries) HitsOverTime(ctx context.Context, r Range, by Dim, step time.Duration, f Filter) ([]Point, error) {
	if err := r.check(); err != nil {
		return nil, err
	}
	table, bucket := "hits_1m", time.Minute
	if step >= time.Hour {
		table, bucket = "hits_1h", time.Hour
		// The slim rollup when neither the split nor the filter needs
		// pack or rule.
		if _, err := f.where("hits_cat_1h", rollupDims["hits_cat_1h"]); err == nil && hasDim("hits_cat_1h", by) {
			table = "hits_cat_1h"
		}
	}
	if step <= 0 || step%bucket != 0 {
		return nil, fmt.Errorf("step %v: want whole minutes under an hour, whole hours above", step)
	}
	if !hasDim(table, by) {
		return nil, fmt.Errorf("hits over time by %q: want kind, category, pack, rule, sensor or action", by)
	}
	conds, err := f.where(table, rollupDims[table])
	if err != nil {
		return nil, err
	}
	conds = append(conds, timeCond("t", r, bucket))
	n := int64(step / time.Second)
	query := fmt.Sprintf("SELECT intDiv(toUInt32(t), %d) * %d AS b, %s, sum(hits) FROM %s WHERE %s GROUP BY b, %s ORDER BY b, %s",
		n, n, by, q.table(table), strings.Join(conds, " AND "), by, by)
	var out []Point
	err = q.each(ctx, query, func(rows Rows) error {
		var p Point
		var sec int64
		if err := rows.Scan(&sec, &p.Key, &p.Hits); err != nil {
			return err
		}
		p.T = time.Unix(sec, 0).UTC()
		out = append(out, p)
		return nil
	})
	return out, err
}

func hasDim(table string, d Dim) bool {
	for _, c := range rollupDims[table] {
		if c == string(d) && c != "severity" {
			return true
		}
	}
	return false
}

// Count is one row of a top list.
type Count struct {
	Key  string
	Hits uint64
}

// Top lists the limit keys of dim with the most hits in r. Names and
// clients come from hourly rollups, so r is widened to whole hours; the
// others read the minute rollup for ranges up to a day and the hour rollup
// beyond.
func (q *Queries) Top(ctx context.Context, dim Dim, r Range, limit int, f Filter) ([]Count, error) {
	if err := r.check(); err != nil {
		return nil, err
	}
	if limit <= 0 || limit > 10_000 {
		return nil, fmt.Errorf("top %s: limit %d, want 1–10000", dim, limit)
	}
	var table string
	var bucket time.Duration
	switch {
	case dim == DimName:
		table, bucket = "names_1h", time.Hour
	case dim == DimClient:
		table, bucket = "clients_1h", time.Hour
	case hasDim("hits_1m", dim) && r.To.Sub(r.From) <= 24*time.Hour:
		table, bucket = "hits_1m", time.Minute
	case hasDim("hits_1h", dim):
		table, bucket = "hits_1h", time.Hour
	default:
		return nil, fmt.Errorf("top by %q: want kind, category, pack, rule, sensor, action, name or client", dim)
	}
	conds, err := f.where(table, rollupDims[table])
	if err != nil {
		return nil, err
	}
	conds = append(conds, timeCond("t", r, bucket))
	query := fmt.Sprintf("SELECT %s, sum(hits) AS n FROM %s WHERE %s GROUP BY %s ORDER BY n DESC, %s LIMIT %d",
		dim, q.table(table), strings.Join(conds, " AND "), dim, dim, limit)
	if (dim == DimName || dim == DimClient) && !q.f.LowCardinality {
		// Servers before 19.9 group long strings slowly (0.3 s for a
		// week of names at 10M hits). Two passes instead: the top keys
		// by a 64-bit hash of the string (a fixed-width key; twice the
		// limit and ten more, so that a hash collision or a tie at the
		// edge would have to be wide to push a real top key out), then
		// the exact counts of those strings.
		where := strings.Join(conds, " AND ")
		query = fmt.Sprintf(`SELECT %[1]s, sum(hits) AS n FROM %[2]s WHERE %[3]s AND cityHash64(%[1]s) IN (
	SELECT h FROM (SELECT cityHash64(%[1]s) AS h, sum(hits) AS s FROM %[2]s WHERE %[3]s GROUP BY h ORDER BY s DESC LIMIT %[4]d))
GROUP BY %[1]s ORDER BY n DESC, %[1]s LIMIT %[5]d`, dim, q.table(table), where, 2*limit+10, limit)
	}
	var out []Count
	err = q.each(ctx, query, func(rows Rows) error {
		var c Count
		if err := rows.Scan(&c.Key, &c.Hits); err != nil {
			return err
		}
		out = append(out, c)
		return nil
	})
	return out, err
}

// Total counts the hits in r (from the minute rollup).
func (q *Queries) Total(ctx context.Context, r Range, f Filter) (uint64, error) {
	if err := r.check(); err != nil {
		return 0, err
	}
	conds, err := f.where("hits_1m", rollupDims["hits_1m"])
	if err != nil {
		return 0, err
	}
	conds = append(conds, timeCond("t", r, time.Minute))
	var n uint64
	err = queryOne(ctx, q.s, fmt.Sprintf("SELECT sum(hits) FROM %s WHERE %s", q.table("hits_1m"), strings.Join(conds, " AND ")), &n)
	return n, err
}

// Hit is a row found by Search, with its place in the store.
type Hit struct {
	Row
	Batch uint64
	Seq   uint32
}

// Page asks for up to Limit hits after Cursor (from a previous page's Next).
type Page struct {
	Limit  int
	Cursor string
}

// SearchResult is one page, newest first; Next is empty on the last page.
type SearchResult struct {
	Hits []Hit
	Next string
}

// Search lists hits in r matching f, newest first, a page at a time.
// Paging is by key (time, batch, row), so a page does not shift when new
// hits arrive.
func (q *Queries) Search(ctx context.Context, r Range, f Filter, page Page) (SearchResult, error) {
	if err := r.check(); err != nil {
		return SearchResult{}, err
	}
	if page.Limit <= 0 || page.Limit > 1000 {
		return SearchResult{}, fmt.Errorf("search: limit %d, want 1–1000", page.Limit)
	}
	conds, err := f.where("hits", nil)
	if err != nil {
		return SearchResult{}, err
	}
	ms := q.tsMillis()
	conds = append(conds, fmt.Sprintf("ts >= toDateTime(%d) AND ts < toDateTime(%d)", r.From.Unix(), r.To.Unix()))
	if page.Cursor != "" {
		c, err := parseCursor(page.Cursor)
		if err != nil {
			return SearchResult{}, err
		}
		conds = append(conds, fmt.Sprintf("ts < toDateTime(%d)", c.ms/1000+1),
			fmt.Sprintf("(%s < %d OR (%s = %d AND (batch < %d OR (batch = %d AND seq < %d))))", ms, c.ms, ms, c.ms, c.batch, c.batch, c.seq))
	}
	query := fmt.Sprintf(`SELECT %s, sensor, kind, client, server, port, name, url, pack, rule, category,
	severity, action, field, match, match_start, match_end, batch, seq
FROM %s WHERE %s ORDER BY ts DESC, batch DESC, seq DESC LIMIT %d`, ms, q.table("hits"), strings.Join(conds, " AND "), page.Limit+1)
	var res SearchResult
	err = q.each(ctx, query, func(rows Rows) error {
		var h Hit
		var tms int64
		if err := rows.Scan(&tms, &h.Sensor, &h.Kind, &h.Client, &h.Server, &h.Port, &h.Name, &h.URL, &h.Pack, &h.Rule,
			&h.Category, &h.Severity, &h.Action, &h.Field, &h.Match, &h.MatchStart, &h.MatchEnd, &h.Batch, &h.Seq); err != nil {
			return err
		}
		h.Time = time.UnixMilli(tms).UTC()
		res.Hits = append(res.Hits, h)
		return nil
	})
	if err != nil {
		return SearchResult{}, err
	}
	if len(res.Hits) > page.Limit {
		res.Hits = res.Hits[:page.Limit]
		last := res.Hits[len(res.Hits)-1]
		res.Next = cursor{ms: last.Time.UnixMilli(), batch: last.Batch, seq: last.Seq}.String()
	}
	return res, nil
}

// tsMillis is ts as Int64 milliseconds on either column type.
func (q *Queries) tsMillis() string {
	if q.f.DateTime64 {
		return "toUnixTimestamp64Milli(ts)"
	}
	return "toInt64(toUnixTimestamp(ts)) * 1000"
}

type cursor struct {
	ms    int64
	batch uint64
	seq   uint32
}

func (c cursor) String() string { return fmt.Sprintf("%d.%d.%d", c.ms, c.batch, c.seq) }

func parseCursor(s string) (cursor, error) {
	parts := strings.Split(s, ".")
	if len(parts) == 3 {
		ms, err1 := strconv.ParseInt(parts[0], 10, 64)
		batch, err2 := strconv.ParseUint(parts[1], 10, 64)
		seq, err3 := strconv.ParseUint(parts[2], 10, 32)
		if err := errors.Join(err1, err2, err3); err == nil {
			return cursor{ms: ms, batch: batch, seq: uint32(seq)}, nil
		}
	}
	return cursor{}, fmt.Errorf("search: bad page cursor %q", s)
}

// each runs query and calls fn for every row.
func (q *Queries) each(ctx context.Context, query string, fn func(Rows) error) error {
	rows, err := q.s.Query(ctx, query)
	if err != nil {
		return fmt.Errorf("%w\nquery: %s", err, query)
	}
	defer rows.Close()
	for rows.Next() {
		if err := fn(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}
