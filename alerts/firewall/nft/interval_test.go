package nft

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/nftables"

	"github.com/campusguard/campusguard/alerts/decision"
)

var t0 = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

func TestPrefixOf(t *testing.T) {
	tests := []struct {
		scope   decision.Scope
		value   string
		want    string
		wantErr string
	}{
		{decision.ScopeIP, "10.0.0.5", "10.0.0.5/32", ""},
		{decision.ScopeIP, "2001:db8::1", "2001:db8::1/128", ""},
		{decision.ScopeIP, "::ffff:10.0.0.5", "10.0.0.5/32", ""},
		{decision.ScopeIP, "fe80::1%eth0", "fe80::1/128", ""},
		{decision.ScopeRange, "10.0.0.5/24", "10.0.0.0/24", ""},
		{decision.ScopeRange, "::ffff:10.0.0.0/120", "10.0.0.0/24", ""},
		{decision.ScopeRange, "::ffff:10.0.0.7/128", "10.0.0.7/32", ""},
		{decision.ScopeRange, "::/95", "::/95", ""},
		{decision.ScopeRange, "255.255.255.255/32", "255.255.255.255/32", ""},
		{decision.ScopeRange, "0.0.0.0/0", "", "every ipv4 address"},
		{decision.ScopeRange, "10.0.0.0/0", "", "every ipv4 address"},
		{decision.ScopeRange, "::/0", "", "every ipv6 address"},
		{decision.ScopeRange, "::ffff:0.0.0.0/96", "", "every ipv4 address"},
		{decision.ScopeIP, "10.0.0.256", "", "ParseAddr"},
		{decision.ScopeRange, "10.0.0.0/33", "", "out of range"},
		{decision.ScopeRange, "10.0.0.0", "", "no '/'"},
		{decision.ScopeDomain, "example.com", "", "no address range"},
	}
	for _, tt := range tests {
		t.Run(string(tt.scope)+":"+tt.value, func(t *testing.T) {
			p, err := prefixOf(decision.Decision{ID: 7, Scope: tt.scope, Value: tt.value})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("prefixOf = %v, %v; want error containing %q", p, err, tt.wantErr)
				}
				return
			}
			if err != nil || p.String() != tt.want {
				t.Fatalf("prefixOf = %v, %v; want %s", p, err, tt.want)
			}
		})
	}
}

// elem is a readable set element for comparisons.
type elem struct {
	Key     string
	End     bool
	Timeout time.Duration
}

func readable(els []nftables.SetElement) []elem {
	var out []elem
	for _, e := range els {
		a, ok := netip.AddrFromSlice(e.Key)
		k := a.String()
		if !ok {
			k = fmt.Sprintf("bad key %x", e.Key)
		}
		out = append(out, elem{k, e.IntervalEnd, e.Timeout})
	}
	return out
}

func TestRangeToElements(t *testing.T) {
	const to = 90 * time.Second
	tests := []struct {
		prefix string
		want   []elem
	}{
		{"10.0.0.0/24", []elem{{"10.0.0.0", false, to}, {"10.0.1.0", true, 0}}},
		{"10.0.0.5/32", []elem{{"10.0.0.5", false, to}, {"10.0.0.6", true, 0}}},
		{"10.255.255.255/32", []elem{{"10.255.255.255", false, to}, {"11.0.0.0", true, 0}}},
		{"0.0.0.0/8", []elem{{"0.0.0.0", false, to}, {"1.0.0.0", true, 0}}},
		{"128.0.0.0/1", []elem{{"128.0.0.0", false, to}}},
		{"255.255.255.0/24", []elem{{"255.255.255.0", false, to}}},
		{"255.255.255.255/32", []elem{{"255.255.255.255", false, to}}},
		{"2001:db8::/32", []elem{{"2001:db8::", false, to}, {"2001:db9::", true, 0}}},
		{"2001:db8::1/128", []elem{{"2001:db8::1", false, to}, {"2001:db8::2", true, 0}}},
		{"2001:db8:0:0:ffff:ffff:ffff:ffff/128", []elem{{"2001:db8::ffff:ffff:ffff:ffff", false, to}, {"2001:db8:0:1::", true, 0}}},
		{"ff00::/8", []elem{{"ff00::", false, to}}},
		{"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128", []elem{{"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", false, to}}},
	}
	for _, tt := range tests {
		t.Run(tt.prefix, func(t *testing.T) {
			first, last := spanOf(netip.MustParsePrefix(tt.prefix))
			iv := interval{first: first, last: last, expires: t0.Add(to)}
			els := addElements(nil, iv, timeoutFor(iv.expires, t0))
			if diff := cmp.Diff(tt.want, readable(els)); diff != "" {
				t.Fatalf("elements (-want +got):\n%s", diff)
			}
			if got := elemCount(iv); got != len(els) {
				t.Errorf("elemCount = %d, want %d", got, len(els))
			}
			for _, e := range els {
				if len(e.Key) != len(first.AsSlice()) {
					t.Errorf("key %x: %d bytes, want %d", e.Key, len(e.Key), len(first.AsSlice()))
				}
			}
			// Deleting names the same keys without a timeout.
			var wantDel []elem
			for _, e := range tt.want {
				wantDel = append(wantDel, elem{e.Key, e.End, 0})
			}
			if diff := cmp.Diff(wantDel, readable(delElements(nil, iv))); diff != "" {
				t.Errorf("delete elements (-want +got):\n%s", diff)
			}
			// What the kernel would list reads back as the same range.
			var listed []kernelElem
			for _, e := range els {
				listed = append(listed, kernelElem{key: e.Key, end: e.IntervalEnd, timeout: e.Timeout, expires: t0.Add(e.Timeout)})
			}
			got, orphans, err := intervalsFromElements(listed, first.Is4())
			if err != nil || orphans != 0 || len(got) != 1 || got[0].first != first || got[0].last != last || !got[0].expires.Equal(iv.expires) {
				t.Fatalf("read back = %v, %d orphans, %v; want [%v]", got, orphans, err, iv)
			}
		})
	}
}

func TestMappedAddressUsesIPv4Set(t *testing.T) {
	p, err := prefixOf(decision.Decision{Scope: decision.ScopeIP, Value: "::ffff:192.0.2.1"})
	if err != nil {
		t.Fatal(err)
	}
	first, last := spanOf(p)
	els := addElements(nil, interval{first: first, last: last}, time.Second)
	if len(els) != 2 || len(els[0].Key) != 4 || len(els[1].Key) != 4 {
		t.Fatalf("elements %v: want two 4-byte keys", readable(els))
	}
	v4, v6 := segments([]interval{{first: first, last: last, expires: t0.Add(time.Hour)}}, t0)
	if len(v4) != 1 || len(v6) != 0 {
		t.Fatalf("segments: %d ipv4, %d ipv6; want 1, 0", len(v4), len(v6))
	}
}

func TestTimeoutFor(t *testing.T) {
	tests := []struct {
		left, want time.Duration
	}{
		{3 * time.Second, 3 * time.Second},
		{1500 * time.Microsecond, 2 * time.Millisecond},
		{time.Microsecond, time.Millisecond},
		{-time.Second, time.Millisecond},
		{maxTimeout + time.Hour, maxTimeout},
		{100 * 365 * 24 * time.Hour, maxTimeout},
	}
	for _, tt := range tests {
		if got := timeoutFor(t0.Add(tt.left), t0); got != tt.want {
			t.Errorf("timeoutFor(now+%v) = %v, want %v", tt.left, got, tt.want)
		}
	}
}

// iv builds an interval from a prefix or "first-last" and seconds left.
func iv(s string, secs int) interval {
	exp := t0.Add(time.Duration(secs) * time.Second)
	if a, b, ok := strings.Cut(s, "-"); ok {
		return interval{first: netip.MustParseAddr(a), last: netip.MustParseAddr(b), expires: exp}
	}
	first, last := spanOf(netip.MustParsePrefix(s))
	return interval{first: first, last: last, expires: exp}
}

func show(ivs []interval) []string {
	var out []string
	for _, i := range ivs {
		out = append(out, fmt.Sprintf("%s-%s %v", i.first, i.last, i.expires.Sub(t0)))
	}
	return out
}

func TestSegments(t *testing.T) {
	tests := []struct {
		name    string
		entries []interval
		want    []string
	}{
		{"disjoint", []interval{iv("10.0.0.9/32", 10), iv("10.0.0.1/32", 20)},
			[]string{"10.0.0.1-10.0.0.1 20s", "10.0.0.9-10.0.0.9 10s"}},
		{"covered and shorter: absorbed", []interval{iv("10.0.0.0/24", 60), iv("10.0.0.5/32", 30)},
			[]string{"10.0.0.0-10.0.0.255 1m0s"}},
		{"covered and as long: absorbed", []interval{iv("10.0.0.5/32", 60), iv("10.0.0.0/24", 60)},
			[]string{"10.0.0.0-10.0.0.255 1m0s"}},
		{"covered and longer: split", []interval{iv("10.0.0.0/24", 60), iv("10.0.0.5/32", 90)},
			[]string{"10.0.0.0-10.0.0.4 1m0s", "10.0.0.5-10.0.0.5 1m30s", "10.0.0.6-10.0.0.255 1m0s"}},
		{"longer at first address", []interval{iv("10.0.0.0/24", 60), iv("10.0.0.0/32", 90)},
			[]string{"10.0.0.0-10.0.0.0 1m30s", "10.0.0.1-10.0.0.255 1m0s"}},
		{"longer at last address", []interval{iv("10.0.0.0/24", 60), iv("10.0.0.255/32", 90)},
			[]string{"10.0.0.0-10.0.0.254 1m0s", "10.0.0.255-10.0.0.255 1m30s"}},
		{"adjacent, same expiry: merged", []interval{iv("10.0.0.128/25", 60), iv("10.0.0.0/25", 60)},
			[]string{"10.0.0.0-10.0.0.255 1m0s"}},
		{"adjacent, other expiry", []interval{iv("10.0.0.128/25", 61), iv("10.0.0.0/25", 60)},
			[]string{"10.0.0.0-10.0.0.127 1m0s", "10.0.0.128-10.0.0.255 1m1s"}},
		{"duplicates: latest wins", []interval{iv("10.0.0.5/32", 60), iv("10.0.0.5/32", 90), iv("10.0.0.5/32", 30)},
			[]string{"10.0.0.5-10.0.0.5 1m30s"}},
		{"expired dropped", []interval{iv("10.0.0.0/24", 0), iv("10.0.0.5/32", -5), iv("10.0.0.6/32", 5)},
			[]string{"10.0.0.6-10.0.0.6 5s"}},
		{"nested three deep", []interval{iv("10.0.0.0/16", 10), iv("10.0.1.0/24", 20), iv("10.0.1.7/32", 30)},
			[]string{"10.0.0.0-10.0.0.255 10s", "10.0.1.0-10.0.1.6 20s", "10.0.1.7-10.0.1.7 30s", "10.0.1.8-10.0.1.255 20s", "10.0.2.0-10.0.255.255 10s"}},
		{"top of ipv4", []interval{iv("255.255.255.0/24", 10), iv("255.255.255.255/32", 20)},
			[]string{"255.255.255.0-255.255.255.254 10s", "255.255.255.255-255.255.255.255 20s"}},
		{"bottom of ipv4", []interval{iv("0.0.0.0/8", 10), iv("0.0.0.0/32", 20)},
			[]string{"0.0.0.0-0.0.0.0 20s", "0.0.0.1-0.255.255.255 10s"}},
		{"top of ipv6", []interval{iv("ffff::/16", 10), iv("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128", 5)},
			[]string{"ffff::-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 10s"}},
		{"overlapping, not nested", []interval{iv("10.0.0.0-10.0.0.9", 10), iv("10.0.0.5-10.0.0.20", 20)},
			[]string{"10.0.0.0-10.0.0.4 10s", "10.0.0.5-10.0.0.20 20s"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v4, v6 := segments(tt.entries, t0)
			if diff := cmp.Diff(tt.want, show(append(v4, v6...))); diff != "" {
				t.Fatalf("segments (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSegmentsSplitsFamilies(t *testing.T) {
	v4, v6 := segments([]interval{iv("2001:db8::/64", 10), iv("10.0.0.0/8", 10), iv("2001:db8::1/128", 20)}, t0)
	if diff := cmp.Diff([]string{"10.0.0.0-10.255.255.255 10s"}, show(v4)); diff != "" {
		t.Errorf("ipv4 (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"2001:db8::-2001:db8:: 10s", "2001:db8::1-2001:db8::1 20s", "2001:db8::2-2001:db8::ffff:ffff:ffff:ffff 10s"}, show(v6)); diff != "" {
		t.Errorf("ipv6 (-want +got):\n%s", diff)
	}
}

// TestSegmentsAgainstBruteForce checks on random overlapping prefixes in
// a small range that every address is blocked until the latest expiry of
// the entries covering it, that segments are sorted and disjoint, and that
// neighbours with the same expiry are merged.
func TestSegmentsAgainstBruteForce(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	base := netip.MustParseAddr("10.0.0.0")
	for round := range 200 {
		var entries []interval
		for range 1 + r.IntN(12) {
			a := base
			for range r.IntN(256) {
				a = a.Next()
			}
			p := netip.PrefixFrom(a, 24+r.IntN(9)).Masked()
			first, last := spanOf(p)
			entries = append(entries, interval{first: first, last: last, expires: t0.Add(time.Duration(r.IntN(5)-1) * time.Second)})
		}
		v4, _ := segments(slices.Clone(entries), t0)
		for i := 1; i < len(v4); i++ {
			if !v4[i-1].last.Less(v4[i].first) {
				t.Fatalf("round %d: segments overlap or are unsorted: %v", round, show(v4))
			}
			if v4[i-1].last.Next() == v4[i].first && v4[i-1].expires.Equal(v4[i].expires) {
				t.Fatalf("round %d: neighbours with the same expiry not merged: %v", round, show(v4))
			}
		}
		a := base
		for range 256 {
			var want time.Time
			for _, e := range entries {
				if e.expires.After(t0) && !a.Less(e.first) && !e.last.Less(a) && e.expires.After(want) {
					want = e.expires
				}
			}
			var got time.Time
			for _, s := range v4 {
				if !a.Less(s.first) && !s.last.Less(a) {
					got = s.expires
				}
			}
			if !got.Equal(want) {
				t.Fatalf("round %d: %s blocked until %v, want %v\nentries %v\nsegments %v", round, a, got.Sub(t0), want.Sub(t0), show(entries), show(v4))
			}
			a = a.Next()
		}
	}
}

func TestIntervalsFromElements(t *testing.T) {
	k := func(s string) []byte { return netip.MustParseAddr(s).AsSlice() }
	start := func(s string, left time.Duration) kernelElem {
		return kernelElem{key: k(s), timeout: left, expires: t0.Add(left)}
	}
	end := func(s string) kernelElem { return kernelElem{key: k(s), end: true} }
	tests := []struct {
		name    string
		els     []kernelElem
		want    []string
		lone    []bool
		orphans int
	}{
		{"descending dump order", []kernelElem{end("10.0.2.0"), start("10.0.1.0", time.Second), end("10.0.1.0"), start("10.0.0.0", 2*time.Second)},
			[]string{"10.0.0.0-10.0.0.255 2s", "10.0.1.0-10.0.1.255 1s"}, []bool{false, false}, 0},
		{"orphan end skipped", []kernelElem{end("10.9.0.1"), start("10.0.0.5", time.Second), end("10.0.0.6")},
			[]string{"10.0.0.5-10.0.0.5 1s"}, []bool{false}, 1},
		{"open to the top", []kernelElem{start("255.255.255.0", time.Second), start("10.0.0.5", time.Second), end("10.0.0.6")},
			[]string{"10.0.0.5-10.0.0.5 1s", "255.255.255.0-255.255.255.255 1s"}, []bool{false, false}, 0},
		{"lone start in the middle", []kernelElem{start("10.0.0.1", time.Second), start("10.0.0.5", time.Second), end("10.0.0.6")},
			[]string{"10.0.0.1-10.0.0.4 1s", "10.0.0.5-10.0.0.5 1s"}, []bool{true, false}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, orphans, err := intervalsFromElements(tt.els, true)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, show(got)); diff != "" {
				t.Errorf("intervals (-want +got):\n%s", diff)
			}
			var lone []bool
			for _, g := range got {
				lone = append(lone, g.lone)
			}
			if diff := cmp.Diff(tt.lone, lone); diff != "" {
				t.Errorf("lone (-want +got):\n%s", diff)
			}
			if orphans != tt.orphans {
				t.Errorf("orphans = %d, want %d", orphans, tt.orphans)
			}
		})
	}
	if _, _, err := intervalsFromElements([]kernelElem{{key: []byte{1, 2, 3}}}, true); err == nil {
		t.Error("a 3-byte key in an ipv4 set: no error")
	}
	ivs, _, err := intervalsFromElements([]kernelElem{{key: k("10.0.0.1")}, end("10.0.0.2")}, true)
	if err != nil || len(ivs) != 1 || time.Until(ivs[0].expires) < 50*365*24*time.Hour {
		t.Errorf("element without timeout read as %v, %v; want one that never expires", show(ivs), err)
	}
}

func TestPlan(t *testing.T) {
	have := []interval{
		iv("10.0.0.1/32", 60),       // unchanged
		iv("10.0.0.2/32", 60),       // refreshed within tolerance: unchanged
		iv("10.0.0.3/32", 10),       // refreshed
		iv("10.0.0.4/32", 60),       // deleted
		iv("10.0.1.0/24", 60),       // split by a longer /32
		iv("10.0.2.0/24", 60),       // shrunk by a longer /32
		iv("10.0.3.0-10.0.3.9", 60), // lone start: rewritten
	}
	have[len(have)-1].lone = true
	want := []interval{
		iv("10.0.0.1/32", 60),
		{first: have[1].first, last: have[1].last, expires: have[1].expires.Add(refreshTolerance / 2)},
		iv("10.0.0.3/32", 600),
		iv("10.0.0.9/32", 60), // added
		iv("10.0.1.0-10.0.1.4", 60), iv("10.0.1.5/32", 90), iv("10.0.1.6-10.0.1.255", 60),
		iv("10.0.2.0-10.0.2.254", 60), iv("10.0.2.255/32", 90),
		iv("10.0.3.0-10.0.3.9", 60),
	}
	groups, ch := plan(have, want, t0)
	if diff := cmp.Diff(Changes{Added: 7, Deleted: 4, Refreshed: 1, Unchanged: 2}, ch); diff != "" {
		t.Errorf("changes (-want +got):\n%s", diff)
	}
	var got []string
	for _, g := range groups {
		got = append(got, fmt.Sprintf("del %v add %v elems %d", show(g.del), show(g.add), g.elems))
	}
	wantGroups := []string{
		"del [10.0.0.3-10.0.0.3 10s] add [10.0.0.3-10.0.0.3 10m0s] elems 4",
		"del [10.0.0.4-10.0.0.4 1m0s] add [] elems 2",
		"del [] add [10.0.0.9-10.0.0.9 1m0s] elems 2",
		"del [10.0.1.0-10.0.1.255 1m0s] add [10.0.1.0-10.0.1.4 1m0s 10.0.1.5-10.0.1.5 1m30s 10.0.1.6-10.0.1.255 1m0s] elems 8",
		"del [10.0.2.0-10.0.2.255 1m0s] add [10.0.2.0-10.0.2.254 1m0s 10.0.2.255-10.0.2.255 1m30s] elems 6",
		"del [10.0.3.0-10.0.3.9 1m0s] add [10.0.3.0-10.0.3.9 1m0s] elems 3",
	}
	if diff := cmp.Diff(wantGroups, got); diff != "" {
		t.Errorf("groups (-want +got):\n%s", diff)
	}
	if groups, ch := plan(want, want, t0); len(groups) != 0 || ch.Unchanged != len(want) {
		t.Errorf("plan(want, want) = %d groups, %+v; want none", len(groups), ch)
	}
}

func TestNeedsRefreshCapped(t *testing.T) {
	far := interval{expires: t0.Add(365 * 24 * time.Hour)}
	if needsRefresh(interval{expires: t0.Add(maxTimeout - time.Hour)}, far, t0) {
		t.Error("a capped timeout with most of the cap left was refreshed")
	}
	if !needsRefresh(interval{expires: t0.Add(maxTimeout/2 - time.Hour)}, far, t0) {
		t.Error("a capped timeout with less than half the cap left was not refreshed")
	}
	if !needsRefresh(interval{expires: t0.Add(100 * 365 * 24 * time.Hour)}, far, t0) {
		t.Error("an element without timeout was not rewritten with one")
	}
}

func TestSubtract(t *testing.T) {
	ivs := []interval{iv("10.0.0.0/24", 10), iv("10.0.1.0/24", 10), iv("2001:db8::/64", 10)}
	got := subtract(ivs, netip.MustParseAddr("10.0.0.5"), netip.MustParseAddr("10.0.1.0"))
	want := []string{"10.0.0.0-10.0.0.4 10s", "10.0.1.1-10.0.1.255 10s", "2001:db8::-2001:db8::ffff:ffff:ffff:ffff 10s"}
	if diff := cmp.Diff(want, show(got)); diff != "" {
		t.Errorf("subtract (-want +got):\n%s", diff)
	}
	if got := subtract(ivs[:1], netip.MustParseAddr("10.0.0.0"), netip.MustParseAddr("10.0.0.255")); len(got) != 0 {
		t.Errorf("subtracting all of a range left %v", show(got))
	}
}

// TestSpliceMatchesSegments checks that adding one entry to the last
// segments gives what computing the segments of all entries gives.
func TestSpliceMatchesSegments(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	base := netip.MustParseAddr("10.0.0.0")
	randomEntry := func() interval {
		a := base
		for range r.IntN(256) {
			a = a.Next()
		}
		first, last := spanOf(netip.PrefixFrom(a, 24+r.IntN(9)).Masked())
		return interval{first: first, last: last, expires: t0.Add(time.Duration(1+r.IntN(4)) * time.Second)}
	}
	for round := range 500 {
		var entries []interval
		for range r.IntN(10) {
			entries = append(entries, randomEntry())
		}
		e := randomEntry()
		before, _ := segments(slices.Clone(entries), t0)
		got := splice(before, e, t0)
		want, _ := segments(append(slices.Clone(entries), e), t0)
		if diff := cmp.Diff(show(want), show(got)); diff != "" {
			t.Fatalf("round %d: splice %v into %v (-segments +splice):\n%s", round, show([]interval{e}), show(before), diff)
		}
	}
	top := iv("255.255.255.255/32", 5)
	if got := splice([]interval{iv("255.255.255.0-255.255.255.254", 5)}, top, t0); len(got) != 1 || got[0].last != top.last {
		t.Errorf("splice at the top of the address space: %v", show(got))
	}
}
