package hitlog

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// A migration moves the schema from version-1 to version. Its statements
// are idempotent (IF NOT EXISTS), so a migration cut short by a crash is
// simply run again; schema_migrations records the versions applied.
type migration struct {
	version int
	name    string
	stmts   func(s schema) []string
}

// schema renders DDL for one database on one server version.
type schema struct {
	db string
	f  Features
	// engine returns the table engine clause; the cluster DDL swaps in
	// Replicated engines here.
	engine func(table, kind string) string
	// onCluster is " ON CLUSTER name" for cluster DDL, else "".
	onCluster string
	// now splits a rollup's history: its view counts hits from the moment
	// it exists, a backfill counts the older ones.
	now time.Time
}

func newSchema(db string, v Version, now time.Time) schema {
	return schema{db: db, f: FeaturesOf(v), engine: func(_, kind string) string { return kind }, now: now}
}

// lc is a string column type for columns with few distinct values.
func (s schema) lc() string {
	if s.f.LowCardinality {
		return "LowCardinality(String)"
	}
	return "String"
}

func (s schema) ts() string {
	if s.f.DateTime64 {
		return "DateTime64(3)"
	}
	return "DateTime"
}

// rollup is the DDL of a SummingMergeTree table fed by a materialized view
// from hits: dims are "name type" pairs, grouped by with the time bucket t.
func (s schema) rollup(table, bucket, partition string, dims [][2]string) []string {
	return s.rollupOf("hits", "ts", "count()", table, bucket, partition, dims)
}

// rollupOf is rollup over another source: a rollup table whose view
// reads what the source's own view inserts (already summed rows, so
// measure is sum(hits)), which costs a fraction of reading raw hits.
func (s schema) rollupOf(source, tcol, measure, table, bucket, partition string, dims [][2]string) []string {
	var cols, names []string
	for _, d := range dims {
		cols = append(cols, d[0]+" "+d[1])
		names = append(names, d[0])
	}
	create := fmt.Sprintf("CREATE TABLE IF NOT EXISTS %s.%s%s (t DateTime, %s, hits UInt64) ENGINE = %s PARTITION BY %s(t) ORDER BY (t, %s)",
		s.db, table, s.onCluster, strings.Join(cols, ", "), s.engine(table, "SummingMergeTree(hits)"), partition, strings.Join(names, ", "))
	sel := fmt.Sprintf("SELECT %s(toDateTime(%s)) AS t, %s, %s AS hits FROM %s.%s", bucket, tcol, strings.Join(names, ", "), measure, s.db, source)
	group := " GROUP BY t, " + strings.Join(names, ", ")
	view := fmt.Sprintf("CREATE MATERIALIZED VIEW IF NOT EXISTS %s.%s_mv%s TO %s.%s AS %s%s", s.db, table, s.onCluster, s.db, table, sel, group)
	// Hits stored before the view existed are counted once, by the
	// backfill, and only if no earlier run of this migration did it. Rows
	// another sensor writes with a time before the cutoff while this runs
	// may be counted twice; serve migrates before it starts writing.
	if s.now.IsZero() {
		return []string{create, view} // a new cluster has nothing to backfill
	}
	cutoff := s.now.Unix()
	backfill := fmt.Sprintf("INSERT INTO %s.%s (t, %s, hits) %s WHERE %s < toDateTime(%d) AND (SELECT count() FROM %s.%s WHERE t < toDateTime(%d)) = 0%s",
		s.db, table, strings.Join(names, ", "), sel, tcol, cutoff, s.db, table, cutoff, group)
	return []string{create, view, backfill}
}

// The versions of the hit store schema. Append only: a released migration
// is never edited, since servers out there have run it.
var migrations = []migration{
	{1, "hits table", func(s schema) []string {
		lc := s.lc()
		return []string{
			fmt.Sprintf("CREATE DATABASE IF NOT EXISTS %s%s", s.db, s.onCluster),
			fmt.Sprintf("CREATE TABLE IF NOT EXISTS %s.schema_migrations%s (version UInt32, name String, applied DateTime) ENGINE = %s ORDER BY version",
				s.db, s.onCluster, s.engine("schema_migrations", "MergeTree")),
			// Partitioned by day so retention can drop whole days; ordered by
			// time first because every console query names a time range.
			fmt.Sprintf(`CREATE TABLE IF NOT EXISTS %s.hits%s (
	ts %s, sensor %s, kind %s, client String, server String, port UInt16,
	name String, url String, pack %s, rule %s, category %s, severity UInt8,
	action %s, field %s, match String, match_start UInt32, match_end UInt32,
	batch UInt64, seq UInt32
) ENGINE = %s PARTITION BY toYYYYMMDD(ts) ORDER BY (ts, kind, category)`,
				s.db, s.onCluster, s.ts(), lc, lc, lc, lc, lc, lc, lc, s.engine("hits", "MergeTree")),
		}
	}},
	{2, "per-minute and per-hour rollups", func(s schema) []string {
		lc := s.lc()
		dims := [][2]string{{"sensor", lc}, {"kind", lc}, {"category", lc}, {"pack", lc}, {"rule", lc}, {"action", lc}, {"severity", "UInt8"}}
		return append(s.rollup("hits_1m", "toStartOfMinute", "toYYYYMMDD", dims),
			s.rollup("hits_1h", "toStartOfHour", "toYYYYMM", dims)...)
	}},
	{3, "hourly top names and clients", func(s schema) []string {
		lc := s.lc()
		return append(s.rollup("names_1h", "toStartOfHour", "toYYYYMM", [][2]string{{"kind", lc}, {"category", lc}, {"name", "String"}}),
			s.rollup("clients_1h", "toStartOfHour", "toYYYYMMDD", [][2]string{{"category", lc}, {"client", "String"}})...)
	}},
	{4, "slim hourly counts for charts", func(s schema) []string {
		// Charts by kind, category, sensor or action over weeks read a
		// tenth of hits_1h's rows here (no pack, no rule). Where views
		// cascade, its view reads hits_1h's inserts, not raw hits, so
		// ingest barely notices it.
		lc := s.lc()
		dims := [][2]string{{"sensor", lc}, {"kind", lc}, {"category", lc}, {"action", lc}, {"severity", "UInt8"}}
		if !s.f.CascadingViews {
			return s.rollup("hits_cat_1h", "toStartOfHour", "toYYYYMM", dims)
		}
		return s.rollupOf("hits_1h", "t", "sum(hits)", "hits_cat_1h", "toStartOfHour", "toYYYYMM", dims)
	}},
}

// LatestVersion is the schema version this build writes.
func LatestVersion() int { return migrations[len(migrations)-1].version }

// SchemaVersion reads the version the store is at; 0 for an empty store.
func SchemaVersion(ctx context.Context, s Store) (int, error) {
	var n uint64
	err := queryOne(ctx, s, fmt.Sprintf("SELECT count() FROM system.tables WHERE database = %s AND name = 'schema_migrations'", quote(s.Database())), &n)
	if err != nil || n == 0 {
		return 0, err
	}
	var v uint64
	if err := queryOne(ctx, s, fmt.Sprintf("SELECT max(version) FROM %s.schema_migrations", s.Database()), &v); err != nil {
		return 0, err
	}
	return int(v), nil
}

// Migrate brings the store to LatestVersion and says where it started.
// It refuses a store newer than this build.
func Migrate(ctx context.Context, s Store) (from int, err error) {
	return migrateTo(ctx, s, LatestVersion())
}

func migrateTo(ctx context.Context, s Store, target int) (from int, err error) {
	from, err = SchemaVersion(ctx, s)
	if err != nil {
		return 0, fmt.Errorf("migrate %s: read schema version: %w", s.Describe(), err)
	}
	if from > LatestVersion() {
		return from, fmt.Errorf("migrate %s: the store is at schema version %d, newer than this build's %d; upgrade campusguard", s.Describe(), from, LatestVersion())
	}
	sc := newSchema(s.Database(), s.Version(), time.Now())
	for _, m := range migrations {
		if m.version <= from || m.version > target {
			continue
		}
		for _, stmt := range m.stmts(sc) {
			if err := s.Exec(ctx, stmt); err != nil {
				return from, fmt.Errorf("migrate %s to version %d (%s): %w\nstatement: %s", s.Describe(), m.version, m.name, err, stmt)
			}
		}
		rec := fmt.Sprintf("INSERT INTO %s.schema_migrations (version, name, applied) SELECT %d, %s, now()", s.Database(), m.version, quote(m.name))
		if err := s.Exec(ctx, rec); err != nil {
			return from, fmt.Errorf("migrate %s: record version %d: %w", s.Describe(), m.version, err)
		}
	}
	return from, nil
}

// ClusterDDL renders every migration for a ClickHouse cluster: each table
// Replicated on its shard under Keeper, a Distributed hits_all over the
// shards, and ON CLUSTER on every statement. deploy/clickhouse/cluster.sql
// is this output.
func ClusterDDL(cluster, db string, v Version) string {
	sc := newSchema(db, v, time.Time{})
	sc.onCluster = " ON CLUSTER " + cluster
	sc.engine = func(table, kind string) string {
		name, args, _ := strings.Cut(kind, "(")
		zk := fmt.Sprintf("'/clickhouse/tables/{shard}/%s/%s', '{replica}'", db, table)
		if args = strings.TrimSuffix(args, ")"); args != "" {
			zk += ", " + args
		}
		return "Replicated" + name + "(" + zk + ")"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "-- campusguard hit store, schema version %d, for ClickHouse %s or newer on cluster %s.\n", LatestVersion(), v, cluster)
	fmt.Fprintf(&b, "-- Generated by `campusguard migrate --cluster-ddl %s`; run it once with clickhouse-client --multiquery.\n", cluster)
	for _, m := range migrations {
		fmt.Fprintf(&b, "\n-- %d: %s\n", m.version, m.name)
		for _, stmt := range m.stmts(sc) {
			b.WriteString(stmt + ";\n")
		}
	}
	fmt.Fprintf(&b, "\n-- Sensors write to the local hits table of the node they connect to; each shard's\n")
	fmt.Fprintf(&b, "-- views fill its own rollups, and the console reads these _all tables.\n")
	for _, t := range []string{"hits", "hits_1m", "hits_1h", "hits_cat_1h", "names_1h", "clients_1h"} {
		fmt.Fprintf(&b, "CREATE TABLE IF NOT EXISTS %s.%s_all ON CLUSTER %s AS %s.%s ENGINE = Distributed(%s, %s, %s, rand());\n", db, t, cluster, db, t, cluster, db, t)
	}
	return b.String()
}

// queryOne scans the single row of a query.
func queryOne(ctx context.Context, s Store, query string, dest ...any) error {
	rows, err := s.Query(ctx, query)
	if err != nil {
		return err
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return err
		}
		return fmt.Errorf("no row from %s", query)
	}
	if err := rows.Scan(dest...); err != nil {
		return err
	}
	return rows.Err()
}

// quote renders s as a ClickHouse string literal; the same escaping holds
// on every server version.
func quote(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 2)
	b.WriteByte('\'')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\\', '\'':
			b.WriteByte('\\')
			b.WriteByte(c)
		case 0:
			b.WriteString(`\0`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('\'')
	return b.String()
}
