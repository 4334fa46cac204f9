package nft

import (
	"context"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/campusguard/campusguard/alerts/decision"
)

// bench100k returns 100,000 non-overlapping, non-adjacent block decisions:
// 85,000 IPv4 addresses, 5,000 IPv4 /24s, 8,000 IPv6 addresses and 2,000
// IPv6 /64s, all expiring at the same time.
func bench100k(now time.Time) []decision.Decision {
	ds := make([]decision.Decision, 0, 100_000)
	add := func(scope decision.Scope, value string) {
		ds = append(ds, decision.Decision{
			ID: int64(len(ds) + 1), Action: decision.ActionBlock, Scope: scope, Value: value,
			Origin: decision.OriginPolicy, Policy: "bench", Actor: "system", Reason: "bench",
			Severity: 3, Strike: 1, Created: now, Expires: now.Add(time.Hour),
		})
	}
	for i := range 85_000 {
		n := 0x0a000000 + uint32(i)*2 // 10.0.0.0, every other address
		add(decision.ScopeIP, netip.AddrFrom4([4]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}).String())
	}
	for i := range 5_000 {
		n := 0x14000000 + uint32(i)*512 // 20.0.0.0/24, every other /24
		add(decision.ScopeRange, netip.PrefixFrom(netip.AddrFrom4([4]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), 0}), 24).String())
	}
	for i := range 8_000 {
		add(decision.ScopeIP, fmt.Sprintf("2001:db8::%x", 2*i+1))
	}
	for i := range 2_000 {
		add(decision.ScopeRange, fmt.Sprintf("2001:db8:1:%x::/64", 2*i))
	}
	return ds
}

// BenchmarkNFTAdd100k adds 100,000 decisions to empty sets in a network
// namespace, one sub-benchmark per chunk size, and times a Reconcile of
// the same 100,000 when nothing has changed.
func BenchmarkNFTAdd100k(b *testing.B) {
	for _, chunk := range []int{256, 1024, DefaultChunkSize, MaxChunkSize} {
		b.Run(fmt.Sprintf("chunk=%d", chunk), func(b *testing.B) {
			ns := newNetNS(b, "b")
			f, err := New(Options{NetNS: ns.fd, ChunkSize: chunk})
			if err != nil {
				b.Fatal(err)
			}
			defer f.Close()
			ctx := context.Background()
			ds := bench100k(time.Now())
			elems := 0 // kernel set elements: a start and, mostly, an end per range
			for _, d := range ds {
				p, err := prefixOf(d)
				if err != nil {
					b.Fatal(err)
				}
				first, last := spanOf(p)
				elems += elemCount(interval{first: first, last: last})
			}
			var reconcile time.Duration
			b.ResetTimer()
			for range b.N {
				b.StopTimer()
				if err := f.Uninstall(ctx); err != nil {
					b.Fatal(err)
				}
				if err := f.Setup(ctx); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				ch, err := f.Apply(ctx, ds, time.Now())
				if err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				if ch.Added != len(ds) {
					b.Fatalf("Apply: %+v, want %d added", ch, len(ds))
				}
				start := time.Now()
				ch, err = f.Reconcile(ctx, ds, time.Now())
				reconcile += time.Since(start)
				if err != nil {
					b.Fatal(err)
				}
				if ch != (Changes{Unchanged: len(ds)}) {
					b.Fatalf("Reconcile: %+v, want all %d unchanged", ch, len(ds))
				}
				b.StartTimer()
			}
			b.StopTimer()
			b.ReportMetric(float64(len(ds))*float64(b.N)/b.Elapsed().Seconds(), "decisions/s")
			b.ReportMetric(float64(elems)*float64(b.N)/b.Elapsed().Seconds(), "elements/s")
			b.ReportMetric(float64(reconcile.Milliseconds())/float64(b.N), "reconcile-ms")
			b.ReportMetric(float64(chunk), "chunk")
		})
	}
}
