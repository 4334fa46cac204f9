package alerts_test

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/campusguard/campusguard/alerts"
	"github.com/campusguard/campusguard/alerts/decision"
	"github.com/campusguard/campusguard/alerts/firewall/feeds"
	"github.com/campusguard/campusguard/alerts/firewall/nft"
	"github.com/campusguard/campusguard/alerts/firewall/stream"
	"github.com/campusguard/campusguard/capture"
	"github.com/campusguard/campusguard/capture/pcapgen"
	"github.com/campusguard/campusguard/internal/config"
	"github.com/campusguard/campusguard/internal/event"
	"github.com/campusguard/campusguard/internal/state"
	"github.com/campusguard/campusguard/matcher"
	"github.com/campusguard/campusguard/rules"
)

// inNetNS is set in the copy of the test binary that runs inside its own
// network namespace, so nftables changes touch nothing of the machine.
const inNetNS = "CAMPUSGUARD_TEST_IN_NETNS"

// TestScenarioRepeatPhishingClient is the end-to-end check: a
// capture in which one laptop keeps resolving a phishing domain, replayed
// through the example packs into the engine under the policy of
// deploy/demo/campusguard.yaml (its block shortened to 3 s so expiry can
// be watched), produces a notify, then a block that shows in the nftables
// set, the feed and the bouncer stream, and ends on time. The same run
// under dry run records the same decisions and blocks nothing.
func TestScenarioRepeatPhishingClient(t *testing.T) {
	if os.Getenv(inNetNS) == "" {
		reexecInNetNS(t, "TestScenarioRepeatPhishingClient")
		return
	}
	for _, dry := range []bool{false, true} {
		name := map[bool]string{false: "enforcing", true: "dry-run"}[dry]
		t.Run(name, func(t *testing.T) { runScenario(t, dry) })
	}
}

// reexecInNetNS runs this test again under unshare -n; it skips, loudly,
// only where namespaces cannot be made.
func reexecInNetNS(t *testing.T, test string) {
	if os.Geteuid() != 0 {
		t.Skip("SKIPPING the nftables scenario: it needs root for a network namespace")
	}
	if err := exec.Command("unshare", "-n", "true").Run(); err != nil {
		t.Skipf("SKIPPING the nftables scenario: unshare -n fails here: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "unshare", "-n", os.Args[0], "-test.run=^"+test+"$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), inNetNS+"=1")
	out, err := cmd.CombinedOutput()
	t.Logf("in a network namespace:\n%s", out)
	if err != nil {
		t.Fatalf("the scenario failed in its namespace: %v", err)
	}
}

func runScenario(t *testing.T, dryRun bool) {
	ctx := context.Background()
	dir := t.TempDir()

	// The capture: one laptop, 10.3.7.21, looking up a phishing name
	// among ordinary ones, a session every 5 s of traffic time.
	pcap := filepath.Join(dir, "repeat.pcap")
	if _, err := pcapgen.WriteFile(pcap, pcapgen.Config{Seed: 7, Packets: 400, Client: net.ParseIP("10.3.7.21"),
		Gap: 5 * time.Second, Names: []string{"login-verify.example", "www.example.com", "library.example.edu"}}); err != nil {
		t.Fatal(err)
	}

	// The policy from deploy/, with a 3 s block.
	cfg, err := config.Load(filepath.Join("..", "deploy", "demo", "campusguard.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	policies, err := alerts.ParsePolicies(cfg.Alerts.Policies, cfg.Alerts.DryRun)
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(policies, func(p *alerts.Policy) bool { return p.Name == "phishing-clients" })
	if i < 0 {
		t.Fatal("deploy/demo/campusguard.yaml has no phishing-clients policy")
	}
	p := policies[i]
	ladder := []string{}
	for j := range p.Ladder {
		ladder = append(ladder, string(p.Ladder[j].Action))
		if p.Ladder[j].Action == decision.ActionBlock {
			p.Ladder[j].Duration = config.Duration(3 * time.Second)
		}
	}
	if strings.Join(ladder, ",") != "notify,block" {
		t.Fatalf("the deploy policy's ladder is %v; this scenario expects notify, then block", ladder)
	}
	p.DryRun = &dryRun
	policies, err = alerts.ParsePolicies([]map[string]any{policyMap(t, p)}, dryRun)
	if err != nil {
		t.Fatal(err)
	}
	allow, err := alerts.ParseAllowlist(cfg.Alerts.Allowlist)
	if err != nil {
		t.Fatal(err)
	}

	db, err := state.Open(ctx, filepath.Join(dir, "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	fw, err := nft.New(nft.Options{Table: "campusguard"})
	if err != nil {
		t.Fatal(err)
	}
	defer fw.Close()
	if err := fw.Setup(ctx); err != nil {
		t.Fatal(err)
	}
	defer fw.Uninstall(ctx)
	notes := &notices{}
	engine, err := alerts.New(ctx, db, alerts.Options{Policies: policies, Allowlist: allow,
		Enforcers: map[string]alerts.Enforcer{"nftables": nft.Enforcer{F: fw}}, Notifiers: []alerts.Notifier{notes}})
	if err != nil {
		t.Fatal(err)
	}

	m, _, err := matcher.New(matcher.Options{Packs: []string{"builtin"}, Builtin: rules.FS})
	if err != nil {
		t.Fatal(err)
	}
	var decided []decision.Decision
	w := capture.NewWorker(capture.Options{Sensor: "scenario", Rules: m.Set, Emit: func(ev *event.Event) {
		ds, err := engine.Observe(ctx, ev)
		if err != nil {
			t.Error(err)
		}
		decided = append(decided, ds...)
	}}, nil)
	start := time.Now()
	if err := capture.ReadFile(pcap, w, nil); err != nil {
		t.Fatal(err)
	}
	var steps []string
	for _, d := range decided {
		steps = append(steps, string(d.Action))
		if d.Value != "10.3.7.21" || d.DryRun != dryRun || d.Policy != "phishing-clients" || len(d.Hits) == 0 {
			t.Errorf("decision %+v", d)
		}
	}
	if strings.Join(steps, ",") != "notify,block" {
		t.Fatalf("decisions %v; want notify, then block", steps)
	}
	if n := notes.count(); n != 2 {
		t.Errorf("%d announcements, want 2 (the notify and the block)", n)
	}

	lists, err := feeds.New(feeds.Options{Store: engine.Store(), Config: feeds.Config{AllowAnonymous: true,
		CacheTTL: time.Millisecond}}) // no caching between the checks
	if err != nil {
		t.Fatal(err)
	}
	pulls, err := stream.New(stream.Options{Store: engine.Store(), Auth: func(*http.Request) (string, error) { return "fw", nil }})
	if err != nil {
		t.Fatal(err)
	}
	inSet, inFeed, inStream := nftHas(t, "10.3.7.21"), feedHas(t, lists, "10.3.7.21"), streamNew(t, pulls, true)
	if dryRun {
		if inSet || inFeed || inStream != "" {
			t.Fatalf("dry run enforced: set %v, feed %v, stream %q", inSet, inFeed, inStream)
		}
		return
	}
	if !inSet || !inFeed || inStream != "10.3.7.21" {
		t.Fatalf("the block: in the nftables set %v, in ips.txt %v, in the stream %q", inSet, inFeed, inStream)
	}
	// Expiry: the kernel drops the element on its own timeout; the
	// stream reports the deletion; the feed no longer lists it.
	time.Sleep(time.Until(start.Add(3500 * time.Millisecond)))
	deadline := time.Now().Add(3 * time.Second)
	for nftHas(t, "10.3.7.21") && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if nftHas(t, "10.3.7.21") {
		t.Fatal("the block is still in the nftables set after its expiry")
	}
	if feedHas(t, lists, "10.3.7.21") {
		t.Fatal("the feed still lists the expired block")
	}
	if got := streamDeleted(t, pulls); got != "10.3.7.21" {
		t.Fatalf("the stream's deletions after expiry: %q", got)
	}
}

type notices struct {
	mu sync.Mutex
	n  int
}

func (n *notices) Notify(decision.Decision) { n.mu.Lock(); n.n++; n.mu.Unlock() }
func (n *notices) count() int               { n.mu.Lock(); defer n.mu.Unlock(); return n.n }

// policyMap turns a parsed policy back into config data.
func policyMap(t *testing.T, p *alerts.Policy) map[string]any {
	var ladder []any
	for _, s := range p.Ladder {
		step := map[string]any{"action": string(s.Action)}
		if s.Duration > 0 {
			step["duration"] = time.Duration(s.Duration).String()
		}
		ladder = append(ladder, step)
	}
	return map[string]any{"name": p.Name, "categories": p.Categories, "subject": string(p.Subject), "threshold": p.Threshold,
		"window": time.Duration(p.Window).String(), "ladder": ladder, "dry_run": *p.DryRun,
		"escalation": map[string]any{"factor": p.Escalation.Factor, "max": time.Duration(p.Escalation.Max).String()},
		"decay":      time.Duration(p.Decay).String()}
}

// nftHas asks the nft command (outside the library) whether addr is in
// campusguard's IPv4 set.
func nftHas(t *testing.T, addr string) bool {
	t.Helper()
	out, err := exec.Command("nft", "-j", "list", "set", "inet", "campusguard", "blocked4").Output()
	if err != nil {
		t.Fatalf("nft list set: %v", err)
	}
	return strings.Contains(string(out), `"`+addr+`"`)
}

func feedHas(t *testing.T, h http.Handler, addr string) bool {
	t.Helper()
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/feeds/ips.txt", nil))
	if w.Code != 200 {
		t.Fatalf("ips.txt: %d", w.Code)
	}
	return slices.Contains(strings.Split(w.Body.String(), "\n"), addr)
}

func pull(t *testing.T, h http.Handler, startup bool) stream.Response {
	t.Helper()
	q := ""
	if startup {
		q = "?startup=true"
	}
	r := httptest.NewRequest(http.MethodGet, "/api/v1/decisions/stream"+q, nil)
	r.Header.Set("X-Api-Key", "x")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	var s stream.Response
	if err := json.Unmarshal(w.Body.Bytes(), &s); err != nil {
		t.Fatalf("stream: %d %s", w.Code, w.Body)
	}
	return s
}

func streamNew(t *testing.T, h http.Handler, startup bool) string {
	var v []string
	for _, d := range pull(t, h, startup).New {
		v = append(v, d.Value)
	}
	return strings.Join(v, ",")
}

func streamDeleted(t *testing.T, h http.Handler) string {
	var v []string
	for _, d := range pull(t, h, false).Deleted {
		v = append(v, d.Value)
	}
	return strings.Join(v, ",")
}
