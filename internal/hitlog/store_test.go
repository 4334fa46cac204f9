package hitlog

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
)

// These tests run every query on both stores: Debian's ClickHouse 18.16
// server and chDB 26.7 (see harness_test.go).

func TestOpenErrors(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct{ url, want string }{
		{"postgres://x/y", `scheme "postgres" is not supported`},
		{"/var/lib/x", "has no scheme"},
		{"chdb://host/dir", "want chdb:///absolute/path"},
		{"clickhouse://u:p@127.0.0.1:9000/bad-name", `database name "bad-name"`},
		{"clickhouse://u:p@127.0.0.1:9000/db?secure=maybe", `secure="maybe"`},
		{"clickhouse://u:p@127.0.0.1:9000/db?color=red", `unknown option "color"`},
		// Nothing listens on port 1 of loopback.
		{"clickhouse://u:p@127.0.0.1:1/db?dial_timeout=2s", "connection refused"},
	} {
		_, err := Open(ctx, c.url)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Open(%q) = %v, want an error containing %q", c.url, err, c.want)
		}
		if err != nil && strings.Contains(err.Error(), ":p@") {
			t.Errorf("Open(%q) error shows the password: %v", c.url, err)
		}
	}
}

func TestWrongPassword(t *testing.T) {
	srv := sharedServer(t)
	u := strings.Replace(srv.URL("default"), ":"+srv.Password+"@", ":wrong@", 1)
	_, err := Open(context.Background(), u)
	if err == nil || !strings.Contains(err.Error(), "login refused") {
		t.Fatalf("wrong password: got %v, want a login refused error", err)
	}
}

func TestVersionGates(t *testing.T) {
	for _, c := range []struct {
		v    string
		want Features
	}{
		{"18.16.1", Features{}},
		{"19.6.2.11", Features{TTL: true, AddColumnIfNot: true}},
		{"26.7.3-stable", Features{TTL: true, LowCardinality: true, DateTime64: true, AddColumnIfNot: true, CascadingViews: true}},
	} {
		v, err := ParseVersion(c.v)
		if err != nil {
			t.Fatal(err)
		}
		if got := FeaturesOf(v); got != c.want {
			t.Errorf("FeaturesOf(%s) = %+v, want %+v", c.v, got, c.want)
		}
	}
	if _, err := ParseVersion("vm"); err == nil {
		t.Error("ParseVersion(vm) succeeded")
	}
}

func TestMigrations(t *testing.T) {
	forEachStore(t, func(t *testing.T, s Store) {
		ctx := context.Background()
		for start := 0; start <= LatestVersion(); start++ {
			resetDatabase(t, s)
			if _, err := migrateTo(ctx, s, start); err != nil {
				t.Fatalf("to %d: %v", start, err)
			}
			if v, err := SchemaVersion(ctx, s); err != nil || v != start {
				t.Fatalf("after migrating to %d: version %d, %v", start, v, err)
			}
			// Hits written at the earlier version survive and reach the
			// rollups added later (by the backfill).
			if start >= 1 {
				insert(t, s, sampleBatch())
			}
			from, err := Migrate(ctx, s)
			if err != nil || from != start {
				t.Fatalf("from %d: Migrate = %d, %v", start, from, err)
			}
			if v, _ := SchemaVersion(ctx, s); v != LatestVersion() {
				t.Fatalf("from %d: ended at version %d, want %d", start, v, LatestVersion())
			}
			if start == 0 {
				insert(t, s, sampleBatch())
			}
			for _, table := range []string{"hits", "hits_1m", "hits_1h", "hits_cat_1h"} {
				if n := count(t, s, "SELECT sum(%s) FROM %s.%s", map[bool]string{true: "1", false: "hits"}[table == "hits"], s.Database(), table); n != 3 {
					t.Errorf("from %d: %s counts %d hits, want 3", start, table, n)
				}
			}
			if n := count(t, s, "SELECT sum(hits) FROM %s.names_1h WHERE name = 'login.evil.test'", s.Database()); n != 2 {
				t.Errorf("from %d: names_1h counts %d hits of login.evil.test, want 2", start, n)
			}
			// Idempotent: a second run changes nothing.
			if from, err := Migrate(ctx, s); err != nil || from != LatestVersion() {
				t.Fatalf("second Migrate = %d, %v", from, err)
			}
			if n := count(t, s, "SELECT sum(hits) FROM %s.hits_1m", s.Database()); n != 3 {
				t.Errorf("from %d: after a second Migrate hits_1m counts %d, want 3", start, n)
			}
		}
		// A store from a newer build is refused, not downgraded.
		exec(t, s, "INSERT INTO %s.schema_migrations (version, name, applied) SELECT 999, 'future', now()", s.Database())
		if _, err := Migrate(ctx, s); err == nil || !strings.Contains(err.Error(), "newer than this build") {
			t.Errorf("Migrate on a newer schema = %v", err)
		}
	})
}

func TestClusterDDL(t *testing.T) {
	ddl := ClusterDDL("campus", "campusguard", Version{Major: 23, Minor: 8})
	for _, want := range []string{
		"CREATE DATABASE IF NOT EXISTS campusguard ON CLUSTER campus",
		"ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/campusguard/hits', '{replica}') PARTITION BY toYYYYMMDD(ts)",
		"ENGINE = ReplicatedSummingMergeTree('/clickhouse/tables/{shard}/campusguard/hits_1m', '{replica}', hits)",
		"CREATE TABLE IF NOT EXISTS campusguard.hits_all ON CLUSTER campus AS campusguard.hits ENGINE = Distributed(campus, campusguard, hits, rand())",
		"LowCardinality(String)",
	} {
		if !strings.Contains(ddl, want) {
			t.Errorf("cluster DDL lacks %q", want)
		}
	}
	if strings.Contains(ddl, "INSERT") {
		t.Error("cluster DDL backfills; a new cluster has nothing to backfill")
	}
}

// helpers

func insert(t *testing.T, s Store, b *Batch) {
	t.Helper()
	if err := s.Insert(context.Background(), b); err != nil {
		t.Fatal(err)
	}
}

func exec(t *testing.T, s Store, format string, args ...any) {
	t.Helper()
	if err := s.Exec(context.Background(), fmt.Sprintf(format, args...)); err != nil {
		t.Fatal(err)
	}
}

func count(t *testing.T, s Store, format string, args ...any) uint64 {
	t.Helper()
	var n uint64
	if err := queryOne(context.Background(), s, fmt.Sprintf(format, args...), &n); err != nil {
		t.Fatal(err)
	}
	return n
}

func resetDatabase(t *testing.T, s Store) {
	t.Helper()
	exec(t, s, "DROP DATABASE IF EXISTS %s", s.Database())
}

func migrated(t *testing.T, s Store) {
	t.Helper()
	resetDatabase(t, s)
	if _, err := Migrate(context.Background(), s); err != nil {
		t.Fatal(err)
	}
}

var _ = time.Second
