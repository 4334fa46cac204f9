//go:build linux

package main

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
	"gopkg.in/yaml.v3"

	"github.com/campusguard/campusguard/alerts/firewall/nft"
	"github.com/campusguard/campusguard/capture/pcapgen"
	"github.com/campusguard/campusguard/internal/config"
	"github.com/campusguard/campusguard/internal/event"
	"github.com/campusguard/campusguard/internal/hitlog"
	"github.com/campusguard/campusguard/internal/state"
)

// metricName matches a campusguard metric in PromQL or prose.
var metricName = regexp.MustCompile(`campusguard_[A-Za-z0-9_]*[A-Za-z0-9]`)

// dashboardMetrics lists every campusguard_* name the Grafana dashboards
// (any string in their JSON: queries, variable queries, descriptions) and
// the Prometheus rule expressions name, with where each is named.
func dashboardMetrics(t *testing.T) (names map[string][]string, fromQueries int) {
	t.Helper()
	names = map[string][]string{}
	add := func(where, text string, query bool) {
		for _, n := range metricName.FindAllString(text, -1) {
			if !contains(names[n], where) {
				names[n] = append(names[n], where)
			}
			if query {
				fromQueries++
			}
		}
	}
	jsonFiles, _ := filepath.Glob("../../dashboards/grafana/*.json")
	for _, f := range jsonFiles {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var doc any
		if err := json.Unmarshal(b, &doc); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		var walk func(path string, v any)
		walk = func(path string, v any) {
			switch x := v.(type) {
			case map[string]any:
				for k, c := range x {
					walk(path+"."+k, c)
				}
			case []any:
				for i, c := range x {
					walk(fmt.Sprintf("%s[%d]", path, i), c)
				}
			case string:
				query := strings.HasSuffix(path, ".expr") || strings.HasSuffix(path, ".query")
				add(filepath.Base(f)+" "+path, x, query)
			}
		}
		walk("", doc)
	}
	ruleFiles, _ := filepath.Glob("../../dashboards/prometheus/*.yml")
	for _, f := range ruleFiles {
		if strings.HasSuffix(f, ".test.yml") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var rules struct {
			Groups []struct {
				Rules []struct {
					Alert, Record, Expr string
				}
			}
		}
		if err := yaml.Unmarshal(b, &rules); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for _, g := range rules.Groups {
			for _, r := range g.Rules {
				add(filepath.Base(f)+" "+r.Alert+r.Record, r.Expr, true)
			}
		}
	}
	if len(jsonFiles) == 0 || len(ruleFiles) == 0 {
		t.Fatalf("found %d dashboards and %d rule files under ../../dashboards", len(jsonFiles), len(ruleFiles))
	}
	return names, fromQueries
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// scrapeFamilies reads the Prometheus text exposition: family name → type.
// A family with no series is not exposed at all.
func scrapeFamilies(t *testing.T, url string) map[string]string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	fams := map[string]string{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) == 4 && f[0] == "#" && f[1] == "TYPE" {
			fams[f[2]] = f[3]
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return fams
}

// exported says whether name is a family in fams, or a histogram's or
// summary's _bucket/_sum/_count series.
func exported(fams map[string]string, name string) bool {
	if _, ok := fams[name]; ok {
		return true
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		if base, ok := strings.CutSuffix(name, suffix); ok {
			if typ := fams[base]; typ == "histogram" || (typ == "summary" && suffix != "_bucket") {
				return true
			}
		}
	}
	return false
}

// appendBadFrame adds a frame to a pcap file whose IPv4 header is cut
// short, so the capture counts a decode error.
func appendBadFrame(t *testing.T, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) < 24 || binary.LittleEndian.Uint32(b[20:24]) != 1 {
		t.Fatalf("%s: want a little-endian Ethernet pcap", path)
	}
	frame := []byte{2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x08, 0x00, 0x45, 0x00, 0x00}
	rec := make([]byte, 16)
	binary.LittleEndian.PutUint32(rec[0:], uint32(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Unix()))
	binary.LittleEndian.PutUint32(rec[8:], uint32(len(frame)))
	binary.LittleEndian.PutUint32(rec[12:], uint32(len(frame)))
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(append(rec, frame...)); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// canCaptureLive says whether this process may open a packet socket.
func canCaptureLive() bool {
	fd, err := syscall.Socket(syscall.AF_PACKET, syscall.SOCK_RAW, 0)
	if err != nil {
		return false
	}
	syscall.Close(fd)
	return true
}

// onlyAfterFirstUse are metric families a panel or rule names that a
// running serve exposes only once the event they count has happened (a
// vector whose labels are not set up front has no series, and the
// exposition shows no family without series), and that this test cannot
// provoke in serve. Each entry proves the name another way, through the
// component that exports it, so a renamed metric still fails the test.
var onlyAfterFirstUse = map[string]func(t *testing.T, storeURL string) error{
	// Rows the hit log loses; internal/hitlog/metrics.go creates no series
	// until a first drop. A writer closed and written to drops its rows
	// with reason "closed".
	"campusguard_hitlog_dropped_rows_total": func(t *testing.T, storeURL string) error {
		ctx := context.Background()
		s, err := hitlog.Open(ctx, storeURL)
		if err != nil {
			return err
		}
		defer s.Close()
		reg := prometheus.NewRegistry()
		w, err := hitlog.NewWriter(s, hitlog.WriterOptions{SpoolDir: t.TempDir(), Registerer: reg})
		if err != nil {
			return err
		}
		if err := w.Close(ctx); err != nil {
			return err
		}
		w.Write(&event.Event{Time: time.Now(), Kind: event.KindDNS, Name: "login-verify.example",
			Hits: []event.Hit{{Pack: "phishing-example", Rule: "phishing.txt:1"}}})
		mfs, err := reg.Gather()
		if err != nil {
			return err
		}
		for _, mf := range mfs {
			if mf.GetName() == "campusguard_hitlog_dropped_rows_total" && len(mf.GetMetric()) > 0 {
				return nil
			}
		}
		return fmt.Errorf("a closed hit log writer dropped a row and exported no campusguard_hitlog_dropped_rows_total")
	},
}

// nftFamilies lists the metric families of alerts/firewall/nft (name →
// type). serve exports them only with firewall.nftables enabled, which
// needs CAP_NET_ADMIN and changes the host's ruleset, so the test proves
// these names through the package instead: nft.New registers its metrics
// (it opens netlink sockets but changes nothing in the kernel before
// Setup); the families with series are gathered, and the collectors'
// descriptions add those that only a set-up table fills (the drop
// counters read from the kernel's rules).
func nftFamilies(t *testing.T) map[string]string {
	t.Helper()
	reg := describing{Registry: prometheus.NewRegistry(), described: map[string]bool{}}
	f, err := nft.New(nft.Options{Registerer: reg})
	if err != nil {
		t.Fatalf("nft.New: %v", err)
	}
	defer f.Close() // unregisters: gather first
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	fams := map[string]string{}
	for n := range reg.described {
		fams[n] = "untyped"
	}
	for _, mf := range mfs {
		fams[mf.GetName()] = strings.ToLower(mf.GetType().String())
	}
	return fams
}

// describing registers collectors on its Registry and records the name of
// every metric they describe.
type describing struct {
	*prometheus.Registry
	described map[string]bool
}

var descName = regexp.MustCompile(`fqName: "([^"]+)"`)

func (d describing) Register(c prometheus.Collector) error {
	ch := make(chan *prometheus.Desc)
	go func() { c.Describe(ch); close(ch) }()
	for desc := range ch {
		if m := descName.FindStringSubmatch(desc.String()); m != nil {
			d.described[m[1]] = true
		}
	}
	return d.Registry.Register(c)
}

func (d describing) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		if err := d.Register(c); err != nil {
			panic(err)
		}
	}
}

// TestDashboardsMetricsExist: every metric a Grafana panel or a Prometheus
// rule in dashboards/ names is on /metrics of a running serve that has
// captured (a file with a bad frame, and the loopback interface live when
// it may), answered DNS (a blocked and an allowed name) and taken an event
// on /api/v1/events, has a webhook output for decisions and has answered
// a feed request, so that the labelled counters those exercise exist. The
// nftables metrics are proven through alerts/firewall/nft (nftFamilies).
func TestDashboardsMetricsExist(t *testing.T) {
	want, fromQueries := dashboardMetrics(t)
	if fromQueries < 30 {
		t.Fatalf("found %d metric names in dashboard queries and rule expressions; the extraction is broken", fromQueries)
	}

	pcap, _ := writePcap(t, pcapgen.Config{Seed: 9, Packets: 1500, NoQUIC: true})
	appendBadFrame(t, pcap)
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dnsAddr := pc.LocalAddr().String()
	pc.Close()
	_, port, _ := net.SplitHostPort(dnsAddr)
	corefile := filepath.Join(t.TempDir(), "Corefile")
	if err := os.WriteFile(corefile, []byte(".:"+port+" {\n\tbind 127.0.0.1\n\tcampusguard builtin\n\ttemplate IN A {\n\t\tanswer \"{{ .Name }} 60 IN A 192.0.2.1\"\n\t}\n}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	cfg.Rules.Packs = []string{"builtin"}
	cfg.Capture.Files = []string{pcap}
	// Kernel ring counters exist only for live capture, which needs
	// CAP_NET_RAW; CI runs as root.
	live := canCaptureLive()
	if live {
		cfg.Capture.Interfaces = []string{"lo"}
		cfg.Capture.Workers = 1
	}
	cfg.DNS.Corefile = corefile
	cfg.HTTP.Listen = freePort(t)
	cfg.Privacy.KeyFile = filepath.Join(t.TempDir(), "key")
	cfg.Hitlog.URL = serverStoreURL(t)
	cfg.Hitlog.SpoolDir = t.TempDir()
	cfg.Hitlog.BatchInterval = config.Duration(50 * time.Millisecond)
	cfg.State.Path = filepath.Join(t.TempDir(), "state.db")
	// alerts/notify registers its metrics with the first output.
	hook := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer hook.Close()
	cfg.Alerts.Notify = map[string]any{"webhooks": []any{map[string]any{
		"name": "dashboards-test", "url": hook.URL, "secret": "dashboards-test-webhook-secret"}}}
	db, err := state.Open(context.Background(), cfg.State.Path)
	if err != nil {
		t.Fatal(err)
	}
	token, _, err := db.AddToken(context.Background(), "sensor-2", state.ScopeIngest)
	db.Close()
	if err != nil {
		t.Fatal(err)
	}

	var stdout, stderr syncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serve(ctx, cfg, &stdout, &stderr) }()
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			cancel()
			if err := <-done; err != nil {
				t.Errorf("serve: %v\n%s", err, stderr.String())
			}
		}
	}
	defer stop()
	base := "http://" + cfg.HTTP.Listen
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		for deadline := time.Now().Add(20 * time.Second); !ok(); time.Sleep(50 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("serve: no %s after 20 s\n%s", what, stderr.String())
			}
		}
	}
	waitFor("capture files read", func() bool { return strings.Contains(stderr.String(), "capture files read") })

	// DNS: a blocked name and an allowed one.
	c := &dns.Client{Timeout: time.Second}
	for _, name := range []string{"login-verify.example.", "www.example.com."} {
		m := new(dns.Msg)
		m.SetQuestion(name, dns.TypeA)
		waitFor("DNS answer for "+name, func() bool { _, _, err := c.Exchange(m, dnsAddr); return err == nil })
	}

	// The events API: one event with a hit from a remote sensor.
	body := `{"ts":"2026-11-26T12:00:00Z","sensor":"sensor-2","kind":"dns","src":"10.1.2.3","dst":"10.0.0.53","name":"login-verify.example",` +
		`"hits":[{"pack":"phishing-example","rule":"phishing.txt:12","category":"phishing","severity":"high","action":"block","match":"login-verify.example","start":0,"end":20}]}` + "\n"
	req, _ := http.NewRequest(http.MethodPost, base+"/api/v1/events", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/x-ndjson")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("POST /api/v1/events: %d %s", resp.StatusCode, b)
	}
	// A feed request (without the token firewall.feeds.require_token asks
	// for, so refused) counts in campusguard_feed_requests_total.
	resp, err = http.Get(base + "/feeds/ips.txt")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if live {
		// The live capture publishes the kernel's counters every second.
		waitFor("kernel capture counters", func() bool {
			_, ok := scrapeFamilies(t, base+"/metrics")["campusguard_capture_kernel_drops_total"]
			return ok
		})
	}

	fams := scrapeFamilies(t, base+"/metrics")
	stop()

	var names []string
	for n := range want {
		names = append(names, n)
	}
	sort.Strings(names)
	var nftFams map[string]string
	for _, n := range names {
		if exported(fams, n) {
			continue
		}
		if check, ok := onlyAfterFirstUse[n]; ok {
			if err := check(t, cfg.Hitlog.URL); err != nil {
				t.Errorf("%s (named in %s): not on /metrics before its first use, and its exporter does not produce it: %v", n, strings.Join(want[n], ", "), err)
			}
			continue
		}
		if strings.HasPrefix(n, "campusguard_firewall_nft_") && !cfg.Firewall.NFTables.Enabled {
			if nftFams == nil {
				nftFams = nftFamilies(t)
			}
			if !exported(nftFams, n) {
				t.Errorf("%s is named in %s but alerts/firewall/nft has no such metric", n, strings.Join(want[n], ", "))
			}
			continue
		}
		if !live && strings.HasPrefix(n, "campusguard_capture_kernel_") {
			t.Logf("%s: not checked; live capture needs CAP_NET_RAW", n)
			continue
		}
		t.Errorf("%s is named in %s but a running serve does not export it", n, strings.Join(want[n], ", "))
	}
	if t.Failed() {
		var have []string
		for n := range fams {
			if strings.HasPrefix(n, "campusguard_") {
				have = append(have, n)
			}
		}
		sort.Strings(have)
		t.Logf("serve exports:\n%s", strings.Join(have, "\n"))
	}
}
