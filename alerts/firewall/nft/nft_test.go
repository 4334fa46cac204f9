package nft

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/campusguard/campusguard/alerts/decision"
)

func block(id int64, scope decision.Scope, value string, left time.Duration) decision.Decision {
	now := time.Now()
	return decision.Decision{
		ID: id, Action: decision.ActionBlock, Scope: scope, Value: value,
		Origin: decision.OriginPolicy, Policy: "test", Actor: "system", Reason: "test",
		Severity: 3, Strike: 1, Created: now, Expires: now.Add(left),
	}
}

func newFirewall(t testing.TB, ns *netNS, opts Options) *Firewall {
	t.Helper()
	opts.NetNS = ns.fd
	f, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	if err := f.Setup(context.Background()); err != nil {
		t.Fatal(err)
	}
	return f
}

func mustApply(t *testing.T, f *Firewall, ds ...decision.Decision) Changes {
	t.Helper()
	ch, err := f.Apply(context.Background(), ds, time.Now())
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	return ch
}

func mustRemove(t *testing.T, f *Firewall, ds ...decision.Decision) Changes {
	t.Helper()
	ch, err := f.Remove(context.Background(), ds)
	if err != nil {
		t.Fatalf("Remove: %v", err)
	}
	return ch
}

func setKeys(t testing.TB, ns *netNS, set string) []string {
	t.Helper()
	return slices.Sorted(func(yield func(string) bool) {
		for _, k := range keys(listSet(t, ns, DefaultTable, set)) {
			if !yield(k) {
				return
			}
		}
	})
}

// TestBlocksTraffic sends real connections from a client namespace
// through the firewall namespace to a server namespace.
func TestBlocksTraffic(t *testing.T) {
	t.Parallel()
	l := newLab(t)
	for _, a := range []string{fwAddr4, fwAddr6} {
		l.fw.listen(t, a)
	}
	for _, a := range []string{serverAddr4, serverAddr6} {
		l.server.listen(t, a)
	}
	f := newFirewall(t, l.fw, Options{})
	all := []string{fwAddr4, fwAddr6, serverAddr4, serverAddr6}

	t.Run("passes before any decision", func(t *testing.T) {
		for _, a := range all {
			l.mustPass(t, a)
		}
	})
	t.Run("client address blocked until its decision expires", func(t *testing.T) {
		const life = 3 * time.Second
		start := time.Now()
		d := block(1, decision.ScopeIP, "10.99.1.2", life)
		if ch := mustApply(t, f, d); ch.Added != 1 {
			t.Fatalf("Apply: %+v, want one range added", ch)
		}
		l.mustDrop(t, fwAddr4)     // input, ip saddr
		l.mustDrop(t, serverAddr4) // forward, ip saddr
		l.mustPass(t, fwAddr6)     // another family, another address
		if got := listSet(t, l.fw, DefaultTable, SetIPv4)["10.99.1.2"]; got.Timeout != 3 {
			t.Errorf("nft lists 10.99.1.2 with %+v; want timeout 3s", got)
		}
		var err error
		for time.Since(start) < life+3*time.Second {
			if err = l.client.dial(t, fwAddr4, blockProbe); err == nil {
				break
			}
		}
		if err != nil {
			t.Fatalf("still dropped %v after the decision expired: %v", time.Since(start), err)
		}
		if el := time.Since(start); el < life-500*time.Millisecond {
			t.Fatalf("passes again after %v, before the decision's %v were over", el, life)
		}
		l.mustPass(t, serverAddr4)
	})
	t.Run("range blocks an address other than its first", func(t *testing.T) {
		d := block(2, decision.ScopeRange, "10.99.1.0/24", time.Minute)
		mustApply(t, f, d)
		l.mustDrop(t, fwAddr4)
		l.mustDrop(t, serverAddr4)
		if ch := mustRemove(t, f, d); ch.Deleted != 1 {
			t.Fatalf("Remove: %+v, want one range deleted", ch)
		}
		l.mustPass(t, fwAddr4)
		l.mustPass(t, serverAddr4)
	})
	t.Run("range above the client does not block it", func(t *testing.T) {
		d := block(3, decision.ScopeRange, "10.99.1.128/25", time.Minute)
		mustApply(t, f, d)
		l.mustPass(t, fwAddr4)
		mustRemove(t, f, d)
	})
	t.Run("server address blocked as destination", func(t *testing.T) {
		rx4, rx6 := l.server.listenUDP(t, "10.99.2.2:7001"), l.server.listenUDP(t, "[fd00:99:2::2]:7001")
		if !l.udpArrives(t, rx4, "10.99.2.2:7001") || !l.udpArrives(t, rx6, "[fd00:99:2::2]:7001") {
			t.Fatal("udp to the server does not arrive before any decision")
		}
		d4 := block(4, decision.ScopeIP, "10.99.2.2", time.Minute)
		d6 := block(5, decision.ScopeIP, "fd00:99:2::2", time.Minute)
		mustApply(t, f, d4, d6)
		if l.udpArrives(t, rx4, "10.99.2.2:7001") {
			t.Error("udp to a blocked ipv4 server arrives (forward, ip daddr)")
		}
		if l.udpArrives(t, rx6, "[fd00:99:2::2]:7001") {
			t.Error("udp to a blocked ipv6 server arrives (forward, ip6 daddr)")
		}
		l.mustDrop(t, serverAddr4)
		l.mustDrop(t, serverAddr6)
		l.mustPass(t, fwAddr4)
		l.mustPass(t, fwAddr6)
		mustRemove(t, f, d4, d6)
		l.mustPass(t, serverAddr4)
		l.mustPass(t, serverAddr6)
		if !l.udpArrives(t, rx4, "10.99.2.2:7001") {
			t.Error("udp to the server does not arrive after Remove")
		}
	})
	t.Run("own address blocked as destination", func(t *testing.T) {
		rx := l.fw.listenUDP(t, "10.99.1.1:7001")
		d := block(9, decision.ScopeIP, "10.99.1.1", time.Minute)
		mustApply(t, f, d)
		if l.udpArrives(t, rx, "10.99.1.1:7001") {
			t.Error("udp to a blocked address of the firewall arrives (input, ip daddr)")
		}
		mustRemove(t, f, d)
		if !l.udpArrives(t, rx, "10.99.1.1:7001") {
			t.Error("udp to the firewall does not arrive after Remove")
		}
	})
	t.Run("ipv6 address and range", func(t *testing.T) {
		d := block(6, decision.ScopeIP, "fd00:99:1::2", time.Minute)
		mustApply(t, f, d)
		l.mustDrop(t, fwAddr6)
		l.mustDrop(t, serverAddr6)
		l.mustPass(t, fwAddr4)
		mustRemove(t, f, d)
		l.mustPass(t, fwAddr6)
		r := block(7, decision.ScopeRange, "fd00:99:1::/64", time.Minute)
		mustApply(t, f, r)
		l.mustDrop(t, fwAddr6)
		mustRemove(t, f, r)
		l.mustPass(t, fwAddr6)
	})
	t.Run("v4-mapped decision blocks the IPv4 client", func(t *testing.T) {
		d := block(8, decision.ScopeIP, "::ffff:10.99.1.2", time.Minute)
		mustApply(t, f, d)
		l.mustDrop(t, fwAddr4)
		mustRemove(t, f, d)
		l.mustPass(t, fwAddr4)
	})
	t.Run("counters", func(t *testing.T) {
		counts, err := f.Dropped(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if len(counts) != 8 {
			t.Fatalf("Dropped: %d counters, want 8: %+v", len(counts), counts)
		}
		got := map[string]uint64{}
		for _, c := range counts {
			got[c.Hook+"/"+c.Family+"/"+c.Direction] = c.Packets
		}
		for _, k := range []string{"input/ipv4/source", "input/ipv4/destination", "forward/ipv4/source", "forward/ipv4/destination", "input/ipv6/source", "forward/ipv6/destination"} {
			if got[k] == 0 {
				t.Errorf("counter %s: 0 packets dropped, want some (all: %v)", k, got)
			}
		}
	})
}

func TestReconcile(t *testing.T) {
	t.Parallel()
	ns := newNetNS(t, "f")
	f := newFirewall(t, ns, Options{})
	a := block(1, decision.ScopeIP, "10.0.0.1", 2*time.Second)
	b := block(2, decision.ScopeIP, "10.0.0.2", time.Minute)
	mustApply(t, f, a, b)
	if got := listSet(t, ns, DefaultTable, SetIPv4)["10.0.0.1"]; got.Timeout != 2 {
		t.Fatalf("10.0.0.1 listed with %+v, want timeout 2s", got)
	}

	// a is extended, b revoked, c and a range are new.
	a.Expires = time.Now().Add(2 * time.Minute)
	c := block(3, decision.ScopeIP, "10.0.0.3", time.Minute)
	r := block(4, decision.ScopeRange, "10.1.0.0/16", time.Minute)
	v6 := block(5, decision.ScopeRange, "2001:db8::/48", time.Minute)
	active := []decision.Decision{a, c, r, v6}
	ch, err := f.Reconcile(context.Background(), active, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(Changes{Added: 3, Deleted: 1, Refreshed: 1}, ch); diff != "" {
		t.Errorf("Reconcile changes (-want +got):\n%s", diff)
	}
	set := listSet(t, ns, DefaultTable, SetIPv4)
	if diff := cmp.Diff([]string{"10.0.0.1", "10.0.0.3", "10.1.0.0/16"}, slices.Sorted(mapKeys(set))); diff != "" {
		t.Errorf("set (-want +got):\n%s", diff)
	}
	if got := set["10.0.0.1"]; got.Timeout < 110 || got.Expires < 110 {
		t.Errorf("10.0.0.1 after Reconcile: %+v; want its timeout refreshed to about 120s", got)
	}
	time.Sleep(2500 * time.Millisecond) // past a's first timeout
	if _, ok := listSet(t, ns, DefaultTable, SetIPv4)["10.0.0.1"]; !ok {
		t.Fatal("10.0.0.1 lapsed at its first timeout although Reconcile extended it")
	}

	t.Run("nothing to do", func(t *testing.T) {
		ch, err := f.Reconcile(context.Background(), active, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(Changes{Unchanged: 4}, ch); diff != "" {
			t.Errorf("changes (-want +got):\n%s", diff)
		}
	})
	t.Run("repairs changes made behind its back", func(t *testing.T) {
		ns.nft(t, "add", "element", "inet", DefaultTable, SetIPv4, "{ 10.5.5.5 timeout 1h }")
		ns.nft(t, "delete", "element", "inet", DefaultTable, SetIPv4, "{ 10.0.0.3 }")
		ns.nft(t, "flush", "set", "inet", DefaultTable, SetIPv6)
		ch, err := f.Reconcile(context.Background(), active, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(Changes{Added: 2, Deleted: 1, Unchanged: 2}, ch); diff != "" {
			t.Errorf("changes (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff([]string{"10.0.0.1", "10.0.0.3", "10.1.0.0/16"}, setKeys(t, ns, SetIPv4)); diff != "" {
			t.Errorf("ipv4 set (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff([]string{"2001:db8::/48"}, setKeys(t, ns, SetIPv6)); diff != "" {
			t.Errorf("ipv6 set (-want +got):\n%s", diff)
		}
	})
	t.Run("empty active list empties the sets", func(t *testing.T) {
		if _, err := f.Reconcile(context.Background(), nil, time.Now()); err != nil {
			t.Fatal(err)
		}
		if got := append(setKeys(t, ns, SetIPv4), setKeys(t, ns, SetIPv6)...); len(got) != 0 {
			t.Errorf("sets still hold %v", got)
		}
	})
}

func mapKeys(m map[string]nftElem) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// TestOverlaps checks that ranges inside ranges never reach the kernel
// as overlapping elements (it would refuse them) and expire correctly.
func TestOverlaps(t *testing.T) {
	t.Parallel()
	ns := newNetNS(t, "f")
	f := newFirewall(t, ns, Options{})
	wide := block(1, decision.ScopeRange, "10.0.0.0/24", time.Minute)
	short := block(2, decision.ScopeIP, "10.0.0.5", 30*time.Second)
	long := block(3, decision.ScopeIP, "10.0.0.6", 10*time.Minute)
	mustApply(t, f, wide)
	if ch := mustApply(t, f, short); ch != (Changes{Unchanged: 1}) {
		t.Errorf("a shorter /32 inside a /24: %+v, want nothing written", ch)
	}
	if diff := cmp.Diff([]string{"10.0.0.0/24"}, setKeys(t, ns, SetIPv4)); diff != "" {
		t.Errorf("set (-want +got):\n%s", diff)
	}
	mustApply(t, f, long)
	if diff := cmp.Diff([]string{"10.0.0.0-10.0.0.5", "10.0.0.6", "10.0.0.7-10.0.0.255"}, setKeys(t, ns, SetIPv4)); diff != "" {
		t.Errorf("set after a longer /32 inside the /24 (-want +got):\n%s", diff)
	}
	mustRemove(t, f, wide)
	if diff := cmp.Diff([]string{"10.0.0.5", "10.0.0.6"}, setKeys(t, ns, SetIPv4)); diff != "" {
		t.Errorf("set after removing the /24 (-want +got):\n%s", diff)
	}
	mustApply(t, f, block(4, decision.ScopeRange, "10.0.0.0/16", time.Hour))
	if diff := cmp.Diff([]string{"10.0.0.0/16"}, setKeys(t, ns, SetIPv4)); diff != "" {
		t.Errorf("set after a /16 over everything (-want +got):\n%s", diff)
	}
	mustApply(t, f,
		block(5, decision.ScopeRange, "10.2.0.0/25", time.Hour),
		block(6, decision.ScopeRange, "10.2.0.128/25", 2*time.Hour))
	if diff := cmp.Diff([]string{"10.0.0.0/16", "10.2.0.0/25", "10.2.0.128/25"}, setKeys(t, ns, SetIPv4)); diff != "" {
		t.Errorf("set after adjacent ranges (-want +got):\n%s", diff)
	}
}

func TestTopOfAddressSpace(t *testing.T) {
	t.Parallel()
	ns := newNetNS(t, "f")
	f := newFirewall(t, ns, Options{})
	ds := []decision.Decision{
		block(1, decision.ScopeRange, "255.255.255.0/24", time.Minute),
		block(2, decision.ScopeIP, "255.255.255.255", time.Hour),
		block(3, decision.ScopeRange, "0.0.0.0/8", time.Minute),
		block(4, decision.ScopeIP, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", time.Minute),
		block(5, decision.ScopeIP, "::1", time.Minute),
	}
	mustApply(t, f, ds...)
	if diff := cmp.Diff([]string{"0.0.0.0/8", "255.255.255.0-255.255.255.254", "255.255.255.255"}, setKeys(t, ns, SetIPv4)); diff != "" {
		t.Errorf("ipv4 set (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"::1", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"}, setKeys(t, ns, SetIPv6)); diff != "" {
		t.Errorf("ipv6 set (-want +got):\n%s", diff)
	}
	// Read back from the kernel, the ranges without an end element are
	// the ones written.
	ch, err := f.Reconcile(context.Background(), ds, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if ch != (Changes{Unchanged: 5}) {
		t.Errorf("Reconcile: %+v, want 5 ranges unchanged", ch)
	}
}

func TestApplyRefusesInvalid(t *testing.T) {
	t.Parallel()
	ns := newNetNS(t, "f")
	reg := prometheus.NewPedanticRegistry()
	f := newFirewall(t, ns, Options{Registerer: reg})
	now := time.Now()
	good := block(1, decision.ScopeIP, "192.0.2.7", time.Minute)
	notify := block(10, decision.ScopeIP, "192.0.2.10", time.Minute)
	notify.Action = decision.ActionNotify
	warn := block(11, decision.ScopeIP, "192.0.2.11", time.Minute)
	warn.Action = decision.ActionWarn
	dry := block(12, decision.ScopeIP, "192.0.2.12", time.Minute)
	dry.DryRun = true
	revoked := block(13, decision.ScopeIP, "192.0.2.13", time.Minute)
	revoked.Revoked = now
	expired := block(14, decision.ScopeIP, "192.0.2.14", -time.Second)
	ds := []decision.Decision{
		block(2, decision.ScopeRange, "0.0.0.0/0", time.Minute),
		block(3, decision.ScopeRange, "::/0", time.Minute),
		block(4, decision.ScopeRange, "::ffff:0.0.0.0/96", time.Minute),
		block(5, decision.ScopeIP, "not-an-address", time.Minute),
		block(6, decision.ScopeDomain, "phish.example", time.Minute),
		notify, warn, dry, revoked, expired, good,
	}
	ch, err := f.Apply(context.Background(), ds, now)
	if err != nil {
		t.Fatal(err)
	}
	if ch != (Changes{Added: 1}) {
		t.Errorf("Apply: %+v, want only the good decision added", ch)
	}
	if diff := cmp.Diff([]string{"192.0.2.7"}, setKeys(t, ns, SetIPv4)); diff != "" {
		t.Errorf("ipv4 set (-want +got):\n%s", diff)
	}
	if got := setKeys(t, ns, SetIPv6); len(got) != 0 {
		t.Errorf("ipv6 set holds %v, want nothing", got)
	}
	if got := testutil.ToFloat64(f.met.errors.WithLabelValues(reasonInvalid)); got != 4 {
		t.Errorf("errors_total{reason=invalid_decision} = %v, want 4", got)
	}
	// Nothing to do is not an update.
	if ch, err := f.Apply(context.Background(), ds[:5], now); err != nil || ch != (Changes{}) {
		t.Errorf("Apply of refused decisions only = %+v, %v", ch, err)
	}
}

// TestOwnTableOnly checks that campusguard creates, reuses and deletes
// its own table and leaves every other table as it was.
func TestOwnTableOnly(t *testing.T) {
	t.Parallel()
	ns := newNetNS(t, "f")
	other := `table inet other {
	set keep {
		type ipv4_addr
		flags interval
		elements = { 10.0.0.0/8, 192.0.2.1 }
	}
	chain c {
		type filter hook input priority filter; policy accept;
		ip saddr @keep accept
	}
}
table ip legacy {
	chain x {
	}
}
`
	runNftFile(t, ns, other)
	before := ns.nft(t, "list", "ruleset")
	if !strings.Contains(before, "table inet other") {
		t.Fatalf("test table not created:\n%s", before)
	}

	f := newFirewall(t, ns, Options{})
	if err := f.Setup(context.Background()); err != nil {
		t.Fatalf("second Setup: %v", err)
	}
	d := block(1, decision.ScopeIP, "10.0.0.5", time.Minute)
	mustApply(t, f, d)
	listing := ns.nft(t, "list", "table", "inet", DefaultTable)
	for _, want := range []string{
		"set blocked4", "set blocked6", "type ipv4_addr", "type ipv6_addr", "flags interval,timeout",
		"chain input", "hook input priority filter - 10", "chain forward", "hook forward priority filter - 10",
		"ip saddr @blocked4 counter", "ip daddr @blocked4 counter", "ip6 saddr @blocked6 counter", "ip6 daddr @blocked6 counter",
		"10.0.0.5 timeout 1m",
	} {
		if !strings.Contains(listing, want) {
			t.Errorf("nft list table inet campusguard lacks %q:\n%s", want, listing)
		}
	}

	t.Run("a second instance reuses the table and keeps its elements", func(t *testing.T) {
		g := newFirewall(t, ns, Options{})
		mustApply(t, g, block(2, decision.ScopeIP, "10.0.0.6", time.Minute))
		if diff := cmp.Diff([]string{"10.0.0.5", "10.0.0.6"}, setKeys(t, ns, SetIPv4)); diff != "" {
			t.Errorf("set (-want +got):\n%s", diff)
		}
		// Before its first Reconcile it does not know 10.0.0.5's decision,
		// but Remove still takes it out.
		mustRemove(t, g, d)
		if diff := cmp.Diff([]string{"10.0.0.6"}, setKeys(t, ns, SetIPv4)); diff != "" {
			t.Errorf("set after Remove (-want +got):\n%s", diff)
		}
	})
	t.Run("setup restores rules changed behind its back", func(t *testing.T) {
		ns.nft(t, "add", "rule", "inet", DefaultTable, "input", "counter", "accept")
		ns.nft(t, "add", "chain", "inet", DefaultTable, "forward", "{ type filter hook forward priority -10; policy drop; }")
		if err := f.Setup(context.Background()); err != nil {
			t.Fatal(err)
		}
		if fwd := ns.nft(t, "list", "chain", "inet", DefaultTable, "forward"); !strings.Contains(fwd, "policy accept;") {
			t.Errorf("forward chain policy not restored to accept:\n%s", fwd)
		}
		chain := ns.nft(t, "list", "chain", "inet", DefaultTable, "input")
		if got := strings.Count(chain, "drop comment \"campusguard: "); got != 4 {
			t.Errorf("input chain holds %d of campusguard's rules after Setup, want 4:\n%s", got, chain)
		}
		if strings.Contains(chain, "accept\n") {
			t.Errorf("the foreign rule is still in the input chain:\n%s", chain)
		}
	})
	t.Run("refuses a table it did not create", func(t *testing.T) {
		runNftFile(t, ns, "table inet legacy2 {\n\tset blocked4 {\n\t\ttype ipv4_addr\n\t}\n}\n")
		for _, name := range []string{"other", "legacy2"} {
			g, err := New(Options{Table: name, NetNS: ns.fd})
			if err != nil {
				t.Fatal(err)
			}
			defer g.Close()
			if err := g.Setup(context.Background()); !errors.Is(err, ErrForeignTable) {
				t.Errorf("Setup on table inet %s: %v, want ErrForeignTable", name, err)
			}
			if err := g.Uninstall(context.Background()); !errors.Is(err, ErrForeignTable) {
				t.Errorf("Uninstall of table inet %s: %v, want ErrForeignTable", name, err)
			}
		}
		runNftFile(t, ns, "delete table inet legacy2\n")
	})
	t.Run("uninstall deletes only its table", func(t *testing.T) {
		if err := f.Uninstall(context.Background()); err != nil {
			t.Fatal(err)
		}
		after := ns.nft(t, "list", "ruleset")
		if strings.Contains(after, "table inet "+DefaultTable) {
			t.Errorf("table inet %s still there:\n%s", DefaultTable, after)
		}
		if diff := cmp.Diff(before, after); diff != "" {
			t.Errorf("other tables changed (-before +after):\n%s", diff)
		}
		if err := f.Uninstall(context.Background()); err != nil {
			t.Errorf("second Uninstall: %v", err)
		}
		if _, err := f.Apply(context.Background(), []decision.Decision{d}, time.Now()); !errors.Is(err, ErrNotSetUp) {
			t.Errorf("Apply after Uninstall: %v, want ErrNotSetUp", err)
		}
	})
}

func runNftFile(t testing.TB, ns *netNS, script string) {
	t.Helper()
	cmd := execIn(ns, "nft", "-f", "-")
	cmd.Stdin = strings.NewReader(script)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("nft -f: %v\n%s\n%s", err, out, script)
	}
}

func TestChunking(t *testing.T) {
	t.Parallel()
	ns := newNetNS(t, "f")
	f := newFirewall(t, ns, Options{ChunkSize: 64})
	var ds []decision.Decision
	for i := range 1000 {
		a := netip.AddrFrom4([4]byte{10, 1, byte(i / 100), byte(2 * (i % 100))})
		ds = append(ds, block(int64(i+1), decision.ScopeIP, a.String(), time.Minute))
	}
	// One /16 under 100 longer /32s: a group of 202 ranges, bigger than
	// a chunk, split across batches.
	wide := block(5000, decision.ScopeRange, "10.2.0.0/16", time.Minute)
	for i := range 100 {
		ds = append(ds, block(int64(6000+i), decision.ScopeIP, fmt.Sprintf("10.2.%d.1", i), time.Hour))
	}
	if ch := mustApply(t, f, ds...); ch.Added != 1100 {
		t.Errorf("Apply: %+v, want 1100 ranges added", ch)
	}
	// The /16 lands as the 101 pieces between the longer /32s.
	if ch := mustApply(t, f, wide); ch.Added != 101 || ch.Unchanged != 1100 {
		t.Errorf("Apply /16: %+v, want 101 ranges added", ch)
	}
	if got := len(setKeys(t, ns, SetIPv4)); got != 1201 {
		t.Errorf("set holds %d ranges, want 1201", got)
	}
	ch, err := f.Reconcile(context.Background(), append(ds[:500:500], wide), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	// Deleted: 500 /32s, the 100 longer ones and the 101 pieces of the
	// /16, which is added back whole.
	if ch.Deleted != 500+100+101 || ch.Added != 1 || ch.Unchanged != 500 {
		t.Errorf("Reconcile: %+v, want 701 deleted, 1 added, 500 unchanged", ch)
	}
	if got := len(setKeys(t, ns, SetIPv4)); got != 501 {
		t.Errorf("set holds %d ranges, want 501", got)
	}
}

func TestMetrics(t *testing.T) {
	t.Parallel()
	ns := newNetNS(t, "f")
	reg := prometheus.NewPedanticRegistry()
	f := newFirewall(t, ns, Options{Registerer: reg})
	mustApply(t, f,
		block(1, decision.ScopeIP, "192.0.2.1", time.Minute),
		block(2, decision.ScopeRange, "2001:db8::/32", time.Minute))
	if _, err := f.Reconcile(context.Background(), nil, time.Now()); err != nil {
		t.Fatal(err)
	}
	mustApply(t, f, block(3, decision.ScopeIP, "192.0.2.3", time.Minute))
	want := `
# HELP campusguard_firewall_nft_elements Address ranges in campusguard's nftables block sets after the last update, by family (an interval counts once).
# TYPE campusguard_firewall_nft_elements gauge
campusguard_firewall_nft_elements{family="ipv4"} 1
campusguard_firewall_nft_elements{family="ipv6"} 0
# HELP campusguard_firewall_nft_range_changes_total Address ranges written to the nftables block sets, by change (add, delete, refresh of the timeout).
# TYPE campusguard_firewall_nft_range_changes_total counter
campusguard_firewall_nft_range_changes_total{change="add"} 3
campusguard_firewall_nft_range_changes_total{change="delete"} 2
campusguard_firewall_nft_range_changes_total{change="refresh"} 0
# HELP campusguard_firewall_nft_updates_total Successful updates of the nftables block sets, by operation (apply, remove, reconcile).
# TYPE campusguard_firewall_nft_updates_total counter
campusguard_firewall_nft_updates_total{op="apply"} 2
campusguard_firewall_nft_updates_total{op="reconcile"} 1
campusguard_firewall_nft_updates_total{op="remove"} 0
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want),
		"campusguard_firewall_nft_elements", "campusguard_firewall_nft_range_changes_total", "campusguard_firewall_nft_updates_total"); err != nil {
		t.Error(err)
	}
	if n := testutil.CollectAndCount(f.met.dropped); n != 16 {
		t.Errorf("dropped counters: %d series, want 16 (8 rules, packets and bytes)", n)
	}
	problems, err := testutil.GatherAndLint(reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("metric %s: %s", p.Metric, p.Text)
	}
	if _, err := New(Options{NetNS: ns.fd, Registerer: reg}); err == nil {
		t.Error("a second Firewall on the same registry: no error")
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if g, err := New(Options{NetNS: ns.fd, Registerer: reg}); err != nil {
		t.Errorf("New after Close unregistered the metrics: %v", err)
	} else {
		g.Close()
	}
}
