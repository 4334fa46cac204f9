package dnsplugin

import (
	"context"
	"net"
	"testing"

	"github.com/coredns/coredns/plugin"
	"github.com/coredns/coredns/plugin/test"
	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// benchHandler is fuzzHandler with an upstream that answers from a fixed
// message, like cache does.
func benchHandler(t testing.TB) *Handler {
	h := fuzzHandler(t)
	answer := new(dns.Msg)
	answer.SetQuestion("www.example.", dns.TypeA)
	answer.Response = true
	answer.Answer = []dns.RR{test.A("www.example. 60 IN A 192.0.2.1")}
	h.Next = fixedAnswer{answer}
	return h
}

type fixedAnswer struct{ m *dns.Msg }

func (f fixedAnswer) ServeDNS(ctx context.Context, w dns.ResponseWriter, r *dns.Msg) (int, error) {
	w.WriteMsg(f.m)
	return dns.RcodeSuccess, nil
}

func (fixedAnswer) Name() string { return "fixed" }

// addrWriter is test.ResponseWriter with addresses made once, as a server's
// writer has them (test.ResponseWriter parses them on every call).
type addrWriter struct {
	test.ResponseWriter
	remote, local net.Addr
}

func newAddrWriter() *addrWriter {
	return &addrWriter{remote: &net.UDPAddr{IP: net.ParseIP("10.240.0.1"), Port: 40212}, local: &net.UDPAddr{IP: net.ParseIP("127.0.0.1"), Port: 53}}
}

func (w *addrWriter) RemoteAddr() net.Addr { return w.remote }
func (w *addrWriter) LocalAddr() net.Addr  { return w.local }

var _ plugin.Handler = fixedAnswer{}

// TestServeDNSAllocs: a query that hits nothing costs at most two small
// allocations: the writer that inspects CNAMEs in the answer (not pooled: a
// later plugin may keep it) and CoreDNS's plugin.NextOrFailure (a
// pluginWriter per call, for every plugin). Matching allocates nothing.
func TestServeDNSAllocs(t *testing.T) {
	h := benchHandler(t)
	r := new(dns.Msg)
	r.SetQuestion("www.example.", dns.TypeA)
	w := newAddrWriter()
	ctx := context.Background()
	if n := testing.AllocsPerRun(200, func() { h.ServeDNS(ctx, w, r) }); n > 2 {
		t.Errorf("%v allocations per allowed query", n)
	}
}

func BenchmarkServeDNSAllowed(b *testing.B) {
	h := benchHandler(b)
	r := new(dns.Msg)
	r.SetQuestion("www.example.", dns.TypeA)
	w := newAddrWriter()
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		h.ServeDNS(ctx, w, r)
	}
}

func BenchmarkServeDNSBlocked(b *testing.B) {
	h := benchHandler(b)
	r := new(dns.Msg)
	r.SetQuestion("login.blocked.example.", dns.TypeA)
	r.SetEdns0(1232, false)
	w := newAddrWriter()
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		h.ServeDNS(ctx, w, r)
	}
}

// TestQueryResults: each query is counted once, by what finally happened to
// it (a CNAME that blocks counts as blocked).
func TestQueryResults(t *testing.T) {
	h := fuzzHandler(t)  // the upstream echoes the query's answer section
	w := newAddrWriter() // 10.240.0.1: group dorms
	count := func(result string) float64 { return testutil.ToFloat64(queriesTotal.WithLabelValues("dorms", result)) }
	before := map[string]float64{}
	for _, r := range resultNames {
		before[r] = count(r)
	}
	ask := func(name, cname string) {
		r := new(dns.Msg)
		r.SetQuestion(name, dns.TypeA)
		if cname != "" {
			r.Answer = []dns.RR{test.CNAME(name + " 60 IN CNAME " + cname)}
		}
		h.ServeDNS(context.Background(), w, r)
	}
	ask("www.example.", "")
	ask("www.example.", "fine.example.")
	ask("blocked.example.", "")
	ask("www.example.", "x.ads.test.")
	ask("safe.blocked.example.", "")
	for r, want := range map[string]float64{"allowed": 2, "blocked": 2, "monitored": 0, "allowlisted": 1} {
		if got := count(r) - before[r]; got != want {
			t.Errorf("%s: %v, want %v", r, got, want)
		}
	}
}
