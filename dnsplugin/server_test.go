package dnsplugin_test

import (
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/campusguard/campusguard/dnsplugin"
	"github.com/campusguard/campusguard/dnsplugin/resolver"
	"github.com/campusguard/campusguard/internal/event"
)

// upstream answers every A and AAAA query like a recursive resolver would,
// and the names under cname.test through a CNAME (template resolves the
// target through the whole chain again), so campusguard sees real answers
// from the plugins after it.
const upstream = `
	template IN A cname.test {
		match "^to-blocked\.cname\.test\.$"
		answer "{{ .Name }} 60 IN CNAME www.blocked.example."
		fallthrough
	}
	template IN A cname.test {
		match "^to-scam\.cname\.test\.$"
		answer "{{ .Name }} 60 IN CNAME scam.test."
		fallthrough
	}
	template IN A cname.test {
		answer "{{ .Name }} 60 IN CNAME fine.example."
	}
	template IN A {
		answer "{{ .Name }} 60 IN A 192.0.2.1"
	}
	template IN AAAA {
		answer "{{ .Name }} 60 IN AAAA 2001:db8::1"
	}
	template IN MX {
		answer "{{ .Name }} 60 IN MX 10 mail.example."
	}
`

// sinkEvents collects what the plugin hands to the registered sink.
var sinkEvents struct {
	sync.Mutex
	evs []*event.Event
}

func TestMain(m *testing.M) {
	caddy.Quiet = true
	dnsserver.Quiet = true
	dnsplugin.SetSink(dnsplugin.SinkFunc(func(ev *event.Event) {
		sinkEvents.Lock()
		sinkEvents.evs = append(sinkEvents.evs, ev)
		sinkEvents.Unlock()
	}))
	os.Exit(m.Run())
}

// waitEvent returns the first sink event for name and qtype from src.
func waitEvent(t *testing.T, name, qtype, src string) *event.Event {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		sinkEvents.Lock()
		for _, ev := range sinkEvents.evs {
			if ev.Name == name && ev.QType == qtype && ev.Src == src {
				sinkEvents.Unlock()
				return ev
			}
		}
		sinkEvents.Unlock()
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("no sink event for %s %s from %s", qtype, name, src)
	return nil
}

var startMu sync.Mutex

// startServer runs a Corefile on 127.0.0.1 with a free port and returns
// the UDP address.
func startServer(t testing.TB, body string) string {
	t.Helper()
	startMu.Lock()
	defer startMu.Unlock()
	corefile := ".:0 {\n\tbind 127.0.0.1\n" + body + upstream + "}\n"
	inst, err := resolver.Start("Corefile", []byte(corefile))
	if err != nil {
		t.Fatalf("start: %v\n%s", err, corefile)
	}
	t.Cleanup(func() { resolver.Stop(inst) })
	srvs := inst.Servers()
	if len(srvs) == 0 || srvs[0].LocalAddr() == nil {
		t.Fatal("no UDP listener")
	}
	return srvs[0].LocalAddr().String()
}

// client sends from a given loopback source address (127.0.0.1 when "").
func client(src string) *dns.Client {
	c := &dns.Client{Timeout: 2 * time.Second}
	if src != "" {
		c.Dialer = &net.Dialer{LocalAddr: &net.UDPAddr{IP: net.ParseIP(src)}, Timeout: 2 * time.Second}
	}
	return c
}

func query(t testing.TB, c *dns.Client, addr, name string, qtype uint16, edns bool) *dns.Msg {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), qtype)
	if edns {
		m.SetEdns0(1232, false)
	}
	r, _, err := c.Exchange(m, addr)
	if err != nil {
		t.Fatalf("%s %s: %v", dns.TypeToString[qtype], name, err)
	}
	return r
}

func ede(r *dns.Msg) *dns.EDNS0_EDE {
	if opt := r.IsEdns0(); opt != nil {
		for _, o := range opt.Option {
			if e, ok := o.(*dns.EDNS0_EDE); ok {
				return e
			}
		}
	}
	return nil
}

func answers(r *dns.Msg) string {
	var s []string
	for _, rr := range r.Answer {
		switch rr := rr.(type) {
		case *dns.A:
			s = append(s, rr.A.String())
		case *dns.AAAA:
			s = append(s, rr.AAAA.String())
		case *dns.CNAME:
			s = append(s, "CNAME "+rr.Target)
		case *dns.MX:
			s = append(s, "MX "+rr.Mx)
		}
	}
	return strings.Join(s, " ")
}

// want checks a response: rcode, the answers (as answers() prints them)
// and the EDE ("" for none, else "CODE:text-fragment").
func want(t *testing.T, r *dns.Msg, rcode int, ans, wantEDE string) {
	t.Helper()
	if r.Rcode != rcode {
		t.Errorf("%s: rcode %s, want %s", r.Question[0].Name, dns.RcodeToString[r.Rcode], dns.RcodeToString[rcode])
	}
	if got := answers(r); got != ans {
		t.Errorf("%s: answers %q, want %q", r.Question[0].Name, got, ans)
	}
	e := ede(r)
	switch {
	case wantEDE == "" && e != nil:
		t.Errorf("%s: unexpected EDE %v", r.Question[0].Name, e)
	case wantEDE != "" && e == nil:
		t.Errorf("%s: no EDE, want %s", r.Question[0].Name, wantEDE)
	case wantEDE != "":
		code, text, _ := strings.Cut(wantEDE, ":")
		if dns.ExtendedErrorCodeToString[e.InfoCode] != code || !strings.Contains(e.ExtraText, text) {
			t.Errorf("%s: EDE %d %q, want %s", r.Question[0].Name, e.InfoCode, e.ExtraText, wantEDE)
		}
	}
}

func TestServeMinimal(t *testing.T) {
	addr := startServer(t, "\tcampusguard testdata/packs/phish.yaml\n")
	c := client("")
	const ede15 = "Blocked:campusguard: phish-test (phishing)"
	for _, tc := range []struct {
		name  string
		rcode int
		ans   string
		ede   string
	}{
		{"blocked.example", dns.RcodeNameError, "", ede15},
		{"WWW.Blocked.Example", dns.RcodeNameError, "", ede15}, // below a listed name, any case
		{"good.example", dns.RcodeSuccess, "192.0.2.1", ""},
		{"notblocked.example", dns.RcodeSuccess, "192.0.2.1", ""}, // label boundary
		{"a.wild.example", dns.RcodeNameError, "", ede15},         // *.wild.example
		{"wild.example", dns.RcodeSuccess, "192.0.2.1", ""},       // the wildcard does not cover its base
		{"x.ads.test", dns.RcodeNameError, "", ede15},             // ||ads.test^
		{"ok.ads.test", dns.RcodeSuccess, "192.0.2.1", ""},        // @@||ok.ads.test^
		{"deep.ok.ads.test", dns.RcodeSuccess, "192.0.2.1", ""},
		{"to-blocked.cname.test", dns.RcodeNameError, "", ede15 + " via CNAME www.blocked.example"},
		{"other.cname.test", dns.RcodeSuccess, "CNAME fine.example. 192.0.2.1", ""},
		{"scam.test", dns.RcodeSuccess, "192.0.2.1", ""}, // not in this server's packs
	} {
		r := query(t, c, addr, tc.name, dns.TypeA, true)
		want(t, r, tc.rcode, tc.ans, tc.ede)
		if tc.rcode == dns.RcodeNameError {
			if len(r.Ns) != 1 || r.Ns[0].Header().Rrtype != dns.TypeSOA || r.Ns[0].Header().Ttl != 60 {
				t.Errorf("%s: authority %v, want a SOA with TTL 60", tc.name, r.Ns)
			}
			if !r.RecursionAvailable {
				t.Errorf("%s: RA not set", tc.name)
			}
		}
	}
	// Without EDNS0 in the query there is no OPT record and so no EDE.
	r := query(t, c, addr, "blocked.example", dns.TypeA, false)
	if r.Rcode != dns.RcodeNameError || r.IsEdns0() != nil {
		t.Errorf("no-EDNS query: rcode %d, OPT %v", r.Rcode, r.IsEdns0())
	}
	// The sink got the blocked query with what happened.
	ev := waitEvent(t, "to-blocked.cname.test", "A", "127.0.0.1")
	if ev.Kind != event.KindDNS || ev.RCode != "NXDOMAIN" || len(ev.CNAMEs) != 1 || ev.CNAMEs[0] != "www.blocked.example" ||
		len(ev.Hits) != 1 || ev.Hits[0].Pack != "phish-test" || ev.Hits[0].Action != "block" || ev.Hits[0].Field != event.FieldCNAME ||
		ev.Dst != "127.0.0.1" || ev.DstPort == 0 || ev.SrcPort == 0 || ev.Sensor == "" {
		t.Errorf("event = %+v", ev)
	}
}

func TestServeAllowlist(t *testing.T) {
	addr := startServer(t, `	campusguard testdata/packs/phish.yaml {
		allow www.blocked.example
		allowlist testdata/allow.txt
	}
`)
	c := client("")
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"safe.blocked.example", true},
		{"a.safe.blocked.example", true},
		{"partner.ads.test", true},
		{"blocked.example", false},
		{"other.blocked.example", false},
		{"to-blocked.cname.test", true}, // its CNAME target www.blocked.example is allowed
	} {
		r := query(t, c, addr, tc.name, dns.TypeA, true)
		if got := r.Rcode == dns.RcodeSuccess; got != tc.ok {
			t.Errorf("%s: rcode %s, want allowed=%v", tc.name, dns.RcodeToString[r.Rcode], tc.ok)
		}
	}
}

func TestServeGroups(t *testing.T) {
	addr := startServer(t, `	campusguard testdata/packs/phish.yaml {
		group dorms 127.0.0.2/32 {
			packs testdata/packs/phish.yaml testdata/packs/scam.yaml
			response refused
			ede filtered
		}
		group lab 127.0.0.3 {
			action monitor
		}
		group staff 127.0.0.0/24 {
			action pack
			packs testdata/packs/scam.yaml
		}
	}
`)
	// 127.0.0.1 is in staff (127.0.0.0/24): only scam-test, whose pack says alert, so nothing is blocked.
	c := client("127.0.0.1")
	want(t, query(t, c, addr, "scam.test", dns.TypeA, true), dns.RcodeSuccess, "192.0.2.1", "")
	want(t, query(t, c, addr, "blocked.example", dns.TypeA, true), dns.RcodeSuccess, "192.0.2.1", "")
	ev := waitEvent(t, "scam.test", "A", "127.0.0.1")
	if ev.RCode != "" || ev.Hits[0].Action != "alert" || ev.Hits[0].Pack != "scam-test" {
		t.Errorf("staff event = %+v", ev)
	}
	// dorms: both packs, REFUSED with EDE Filtered; the most specific CIDR wins over staff's /24.
	c = client("127.0.0.2")
	want(t, query(t, c, addr, "scam.test", dns.TypeA, true), dns.RcodeRefused, "", "Filtered:scam-test (fraud)")
	want(t, query(t, c, addr, "blocked.example", dns.TypeA, true), dns.RcodeRefused, "", "Filtered:phish-test")
	want(t, query(t, c, addr, "to-scam.cname.test", dns.TypeA, true), dns.RcodeRefused, "", "Filtered:scam-test (fraud) via CNAME scam.test")
	want(t, query(t, c, addr, "good.example", dns.TypeA, true), dns.RcodeSuccess, "192.0.2.1", "")
	// lab: monitor only: answered as usual, reported with what the pack would have done turned into log.
	c = client("127.0.0.3")
	want(t, query(t, c, addr, "blocked.example", dns.TypeA, true), dns.RcodeSuccess, "192.0.2.1", "")
	want(t, query(t, c, addr, "to-blocked.cname.test", dns.TypeA, true), dns.RcodeSuccess, "CNAME www.blocked.example. 192.0.2.1", "")
	ev = waitEvent(t, "blocked.example", "A", "127.0.0.3")
	if ev.RCode != "" || ev.Hits[0].Action != "log" || ev.Hits[0].Pack != "phish-test" {
		t.Errorf("lab event = %+v", ev)
	}
	ev = waitEvent(t, "to-blocked.cname.test", "A", "127.0.0.3")
	if ev.Hits[0].Field != event.FieldCNAME || ev.RCode != "NOERROR" {
		t.Errorf("lab cname event = %+v", ev)
	}
	// 127.0.0.4 is only in staff.
	c = client("127.0.0.4")
	want(t, query(t, c, addr, "blocked.example", dns.TypeA, true), dns.RcodeSuccess, "192.0.2.1", "")
}

func TestServeResponses(t *testing.T) {
	for _, tc := range []struct {
		opts       string
		a, aaaa    string
		rcode      int
		mxAnswered bool
	}{
		{"response null", "0.0.0.0", "::", dns.RcodeSuccess, false},
		{"response sinkhole 192.0.2.80 2001:db8::80", "192.0.2.80", "2001:db8::80", dns.RcodeSuccess, false},
		{"response sinkhole 192.0.2.80", "192.0.2.80", "", dns.RcodeSuccess, false},
		{"response sinkhole 2001:db8::80", "", "2001:db8::80", dns.RcodeSuccess, false},
		{"response nodata", "", "", dns.RcodeSuccess, false},
		{"response refused", "", "", dns.RcodeRefused, false},
		{"response nxdomain", "", "", dns.RcodeNameError, false},
	} {
		t.Run(strings.ReplaceAll(tc.opts, " ", "_"), func(t *testing.T) {
			addr := startServer(t, "\tcampusguard testdata/packs/phish.yaml {\n\t\t"+tc.opts+"\n\t\tttl 30\n\t}\n")
			c := client("")
			for _, q := range []struct {
				qtype uint16
				ans   string
			}{{dns.TypeA, tc.a}, {dns.TypeAAAA, tc.aaaa}, {dns.TypeMX, ""}} {
				r := query(t, c, addr, "login.blocked.example", q.qtype, true)
				want(t, r, tc.rcode, q.ans, "Blocked:phish-test")
				for _, rr := range append(r.Answer, r.Ns...) {
					if rr.Header().Ttl != 30 {
						t.Errorf("%s: TTL %d, want 30", rr, rr.Header().Ttl)
					}
				}
				if q.ans == "" && tc.rcode != dns.RcodeRefused && len(r.Ns) != 1 {
					t.Errorf("%s: no SOA for negative caching: %v", dns.TypeToString[q.qtype], r.Ns)
				}
			}
			want(t, query(t, c, addr, "good.example", dns.TypeAAAA, true), dns.RcodeSuccess, "2001:db8::1", "")
		})
	}
}

func TestServeBuiltin(t *testing.T) {
	addr := startServer(t, "\tcampusguard builtin:phishing-example {\n\t\tede off\n\t}\n")
	r := query(t, client(""), addr, "login-verify.example", dns.TypeA, true)
	want(t, r, dns.RcodeNameError, "", "")
}

func writeFile(t testing.TB, path, content string) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil { // atomic, as a deploy tool would
		t.Fatal(err)
	}
}

// TestServeReport: the standalone build's report option posts the events
// of blocked queries to a campusguard server.
func TestServeReport(t *testing.T) {
	got := make(chan string, 10)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		dec := event.NewDecoder(r.Body)
		for {
			var ev event.Event
			if dec.Decode(&ev) != nil {
				break
			}
			got <- ev.Name + " " + ev.RCode + " " + ev.Hits[0].Pack
		}
	}))
	defer srv.Close()
	addr := startServer(t, "\tcampusguard testdata/packs/phish.yaml {\n\t\treport "+srv.URL+"/api/v1/events {\n\t\t\tflush 20ms\n\t\t}\n\t}\n")
	query(t, client(""), addr, "report.blocked.example", dns.TypeA, true)
	select {
	case s := <-got:
		if s != "report.blocked.example NXDOMAIN phish-test" {
			t.Errorf("reported %q", s)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("nothing reported")
	}
}

// TestMetricsLint: the plugin's metrics follow Prometheus conventions.
func TestMetricsLint(t *testing.T) {
	startServer(t, "\tcampusguard testdata/packs/phish.yaml\n")
	problems, err := testutil.GatherAndLint(prometheus.DefaultGatherer,
		"campusguard_dns_queries_total", "campusguard_dns_blocked_total", "campusguard_dns_hits_dropped_total",
		"campusguard_dns_reloads_total", "campusguard_dns_last_reload_timestamp_seconds",
		"campusguard_dns_report_events_total", "campusguard_dns_report_retries_total", "campusguard_rules_loaded")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("%s: %s", p.Metric, p.Text)
	}
}
