package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/campusguard/campusguard/capture/pcapgen"
	"github.com/campusguard/campusguard/internal/hitlog"
	"github.com/campusguard/campusguard/internal/hitlog/chdb"
	"github.com/campusguard/campusguard/internal/hitlog/chtest"
)

func TestMain(m *testing.M) { os.Exit(chtest.RunShared(m)) }

// serverStoreURL is a fresh database on the package's ClickHouse server.
func serverStoreURL(t *testing.T) string {
	t.Helper()
	srv := chtest.SharedServer(t)
	return srv.URL(srv.NewDatabase(t))
}

// embeddedStoreURL is a new chDB directory. The engine holds one directory
// per process, so only one test at a time may keep it open.
func embeddedStoreURL(t *testing.T) string {
	t.Helper()
	if os.Getenv(chdb.LibEnv) == "" {
		os.Setenv(chdb.LibEnv, chtest.LibPath(t))
	}
	return "chdb://" + t.TempDir()
}

// storedHits lists every hit in the store, newest first.
func storedHits(t *testing.T, url string, f hitlog.Filter) []hitlog.Hit {
	t.Helper()
	ctx := context.Background()
	s, err := hitlog.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	q := hitlog.NewQueries(s, false)
	r := hitlog.Range{From: time.Unix(0, 0), To: time.Now().Add(24 * 365 * time.Hour)}
	var all []hitlog.Hit
	page := hitlog.Page{Limit: 1000}
	for {
		res, err := q.Search(ctx, r, f, page)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, res.Hits...)
		if res.Next == "" {
			return all
		}
		page.Cursor = res.Next
	}
}

// scanHits counts the hits `campusguard scan` prints for a capture.
func scanHits(t *testing.T, pcap string) int {
	t.Helper()
	code, out, errOut := runCLI(t, "", "scan", "--rules", "builtin", "--pseudonymize=off", pcap)
	if code != exitOK {
		t.Fatalf("scan: exit %d: %s", code, errOut)
	}
	n := 0
	for _, ev := range decodeEvents(t, out) {
		n += len(ev.Hits)
	}
	return n
}

// scan --hitlog leaves exactly the printed hits in the store, on the
// server and on chDB.
func TestScanHitlog(t *testing.T) {
	pcap, _ := writePcap(t, pcapgen.Config{Seed: 11, Packets: 2000, NoQUIC: true})
	for _, c := range []struct {
		name string
		url  func(*testing.T) string
	}{{"server", serverStoreURL}, {"chdb", embeddedStoreURL}} {
		t.Run(c.name, func(t *testing.T) {
			url := c.url(t)
			code, out, errOut := runCLI(t, "", "scan", "--rules", "builtin", "--pseudonymize=off", "--hitlog", url, pcap)
			if code != exitOK {
				t.Fatalf("scan: exit %d: %s", code, errOut)
			}
			var printed []string
			for _, ev := range decodeEvents(t, out) {
				for _, h := range ev.Hits {
					printed = append(printed, ev.Name+" "+h.Rule)
				}
			}
			var stored []string
			for _, h := range storedHits(t, url, hitlog.Filter{}) {
				stored = append(stored, h.Name+" "+h.Rule)
			}
			if len(printed) == 0 {
				t.Fatal("the capture has no hits; the test proves nothing")
			}
			if strings.Join(sorted(printed), "\n") != strings.Join(sorted(stored), "\n") {
				t.Errorf("printed %d hits, stored %d, and they differ", len(printed), len(stored))
			}
			if !strings.Contains(errOut, "stored ") {
				t.Errorf("no stored-hits summary on stderr: %s", errOut)
			}

			// campusguard hits reads them back: counts by rule, and a listing.
			rules := map[string]int{}
			for _, p := range printed {
				rules[p[strings.LastIndexByte(p, ' ')+1:]]++
			}
			code, out, errOut = runCLI(t, "", "hits", "--hitlog", url, "--top", "rule", "--limit", "1000", "--format", "ndjson")
			if code != exitOK {
				t.Fatalf("hits --top rule: exit %d: %s", code, errOut)
			}
			got := map[string]int{}
			for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
				var c struct {
					Rule string `json:"rule"`
					Hits int    `json:"hits"`
				}
				if err := json.Unmarshal([]byte(line), &c); err != nil {
					t.Fatalf("hits --top output %q: %v", line, err)
				}
				got[c.Rule] = c.Hits
			}
			if fmt.Sprint(got) != fmt.Sprint(rules) {
				t.Errorf("hits --top rule = %v, want %v", got, rules)
			}
			code, out, _ = runCLI(t, "", "hits", "--hitlog", url, "--limit", "3")
			if lines := strings.Split(strings.TrimSpace(out), "\n"); code != exitOK || len(lines) != 4 || !strings.HasPrefix(lines[0], "TIME") {
				t.Errorf("hits --limit 3: exit %d, %d lines:\n%s", code, len(lines), out)
			}
		})
	}
}

func sorted(s []string) []string {
	out := append([]string(nil), s...)
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j] < out[j-1]; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

func TestMigrateCommand(t *testing.T) {
	url := serverStoreURL(t)
	code, out, errOut := runCLI(t, "", "migrate", "--hitlog", url)
	if code != exitOK || !strings.Contains(out, "migrated from version 0 to") {
		t.Fatalf("first migrate: exit %d, %q %q", code, out, errOut)
	}
	code, out, _ = runCLI(t, "", "migrate", "--hitlog", url)
	if code != exitOK || !strings.Contains(out, "nothing to do") {
		t.Errorf("second migrate: exit %d, %q", code, out)
	}
	wrong := strings.Replace(url, "@", "x@", 1) // a wrong password
	if code, _, errOut := runCLI(t, "", "migrate", "--hitlog", wrong); code != exitUsage || !strings.Contains(errOut, "login refused") {
		t.Errorf("wrong password: exit %d, %q", code, errOut)
	}
}

// deploy/clickhouse/cluster.sql is what `migrate --cluster-ddl` prints.
func TestClusterDDLFile(t *testing.T) {
	code, out, errOut := runCLI(t, "", "migrate", "--cluster-ddl", "campus")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	path := filepath.Join("..", "..", "deploy", "clickhouse", "cluster.sql")
	if os.Getenv("UPDATE_CLUSTER_DDL") == "1" {
		if err := os.WriteFile(path, []byte(out), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(want) != out {
		t.Errorf("%s is out of date; regenerate it with UPDATE_CLUSTER_DDL=1 go test -run TestClusterDDLFile ./cmd/campusguard/", path)
	}
}
