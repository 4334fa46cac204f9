package dnsplugin

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/plugin"
	"github.com/coredns/coredns/plugin/pkg/dnstest"
	"github.com/coredns/coredns/plugin/test"
	"github.com/miekg/dns"
)

var updateCorpus = flag.Bool("update-corpus", false, "rewrite the generated fuzz corpora in testdata/fuzz")

// FuzzParse: no Corefile text makes the parser panic, and what it accepts
// is usable (a group has a name and networks, a sinkhole has addresses).
func FuzzParse(f *testing.F) {
	for _, s := range parseSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, input string) {
		cfg, err := parse(caddy.NewTestController("dns", input))
		if err != nil {
			if !strings.Contains(err.Error(), "Testfile:") && !strings.Contains(err.Error(), "Wrong argument count") {
				t.Errorf("error without a line: %v", err)
			}
			return
		}
		if len(cfg.def.packs) == 0 {
			t.Error("accepted without packs")
		}
		for _, g := range cfg.groups {
			if g.name == "" || len(g.nets) == 0 {
				t.Errorf("group %+v", g)
			}
		}
		for _, p := range append([]*policy{&cfg.def}, cfg.groups...) {
			if p.resp == respSinkhole && len(p.sink4)+len(p.sink6) == 0 {
				t.Error("sinkhole without addresses")
			}
		}
	})
}

var parseSeeds = []string{
	"campusguard testdata/packs/phish.yaml",
	"campusguard builtin",
	"campusguard testdata/packs/*.yaml {\n reload 1m\n action pack\n response sinkhole 192.0.2.1 ::1\n ttl 0\n ede off\n}",
	"campusguard builtin {\n group a 10.0.0.0/8 {\n  packs builtin:phishing-example\n  action monitor\n }\n group b ::/0\n}",
	"campusguard builtin {\n report http://x/ {\n  batch 1\n  token_file /dev/null\n }\n allow a.example\n cnames off\n}",
	"campusguard builtin {\n group a 10.0.0.0/8 {\n  group b 10.0.0.0/9 {\n  }\n }\n}",
	"campusguard builtin {\n{\n}\n}",
	"campusguard builtin {\n response sinkhole {\n}\n}",
	"campusguard builtin {\n group x 1.2.3.4 { packs }\n}",
	"campusguard { packs builtin } campusguard",
	"campusguard builtin }\n}",
	"campusguard \"builtin\" {\n allow \"\" \"*.\" \". \"\n}",
	"campusguard builtin {\n ttl 99999999999999999999\n queue -1\n}",
}

// fuzzHandler is a handler with groups, an allowlist and CNAME inspection in
// front of an upstream that echoes the query's own sections back, so fuzzed
// answers (CNAME chains, odd names) reach the CNAME inspection too.
func fuzzHandler(t testing.TB) *Handler {
	c := caddy.NewTestController("dns", `campusguard testdata/packs/phish.yaml {
		allow safe.blocked.example
		group dorms 10.240.0.0/16 {
			packs testdata/packs/phish.yaml testdata/packs/scam.yaml
			response sinkhole 192.0.2.80 2001:db8::80
		}
		group v6 ::1/128 {
			action pack
			response null
			ede filtered
		}
		reload 0
	}`)
	cfg, err := parse(c)
	if err != nil {
		t.Fatal(err)
	}
	h, err := newHandler(cfg)
	if err != nil {
		t.Fatal(err)
	}
	h.Next = plugin.HandlerFunc(func(ctx context.Context, w dns.ResponseWriter, r *dns.Msg) (int, error) {
		m := r.Copy()
		m.Response = true
		w.WriteMsg(m)
		return dns.RcodeSuccess, nil
	})
	return h
}

// FuzzServeDNS: any message that unpacks is served without a panic, and a
// block answer campusguard writes packs again.
func FuzzServeDNS(f *testing.F) {
	for _, m := range fuzzMessages() {
		b, err := m.Pack()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	h := fuzzHandler(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		r := new(dns.Msg)
		if r.Unpack(data) != nil {
			return
		}
		var w dns.ResponseWriter = &test.ResponseWriter{}
		if len(data) > 0 && data[len(data)-1]&1 == 1 {
			w = &test.ResponseWriter6{}
		}
		rec := dnstest.NewRecorder(w)
		h.ServeDNS(context.Background(), rec, r)
		if rec.Msg != nil {
			if _, err := rec.Msg.Pack(); err != nil {
				t.Errorf("answer does not pack: %v\n%v", err, rec.Msg)
			}
		}
	})
}

// fuzzMessages are the nasty cases the corpus starts from.
func fuzzMessages() []*dns.Msg {
	q := func(name string, qtype uint16) *dns.Msg {
		m := new(dns.Msg)
		m.SetQuestion(name, qtype)
		return m
	}
	var out []*dns.Msg
	out = append(out, q("blocked.example.", dns.TypeA), q("BLOCKED.EXAMPLE.", dns.TypeAAAA), q("scam.test.", dns.TypeHTTPS),
		q(".", dns.TypeNS), q("safe.blocked.example.", dns.TypeA), q("ok.ads.test.", dns.TypeANY),
		q("bl\\.ocked.example.", dns.TypeA), q("a\\000b.blocked.example.", dns.TypeA), q("xn--bcher-kva.example.", dns.TypeA),
		q(strings.Repeat("a.", 126)+"blocked.example.", dns.TypeA), q("*.wild.example.", dns.TypeCNAME))
	m := q("blocked.example.", dns.TypeA)
	m.SetEdns0(65535, true)
	m.IsEdns0().Option = append(m.IsEdns0().Option, &dns.EDNS0_EDE{InfoCode: 15, ExtraText: "spoofed"},
		&dns.EDNS0_SUBNET{Code: dns.EDNS0SUBNET, Family: 1, SourceNetmask: 16, Address: []byte{10, 240, 0, 0}})
	out = append(out, m)
	m = q("blocked.example.", dns.TypeA)
	m.SetEdns0(0, false) // UDP size below 512
	out = append(out, m)
	m = q("blocked.example.", dns.TypeTXT)
	m.Question[0].Qclass = dns.ClassCHAOS
	out = append(out, m)
	m = q("blocked.example.", dns.TypeA)
	m.Opcode = dns.OpcodeUpdate
	out = append(out, m)
	m = q("blocked.example.", dns.TypeA)
	m.Question = append(m.Question, dns.Question{Name: "good.example.", Qtype: dns.TypeA, Qclass: dns.ClassINET})
	out = append(out, m)
	m = new(dns.Msg) // no question
	m.Id = 7
	out = append(out, m)
	cname := func(owner, target string) dns.RR {
		return &dns.CNAME{Hdr: dns.RR_Header{Name: owner, Rrtype: dns.TypeCNAME, Class: dns.ClassINET, Ttl: 5}, Target: target}
	}
	m = q("good.example.", dns.TypeA) // echoed CNAME chain ending in a blocked name
	m.Answer = []dns.RR{cname("good.example.", "hop.example."), cname("hop.example.", "x.ads.test."),
		&dns.A{Hdr: dns.RR_Header{Name: "x.ads.test.", Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 5}, A: []byte{192, 0, 2, 1}}}
	out = append(out, m)
	m = q("loop.example.", dns.TypeA) // a CNAME loop and a CNAME to the root
	m.Answer = []dns.RR{cname("loop.example.", "loop.example."), cname("loop.example.", ".")}
	out = append(out, m)
	m = q("good.example.", dns.TypeA) // CNAME to an allowlisted name below a blocked one
	m.Answer = []dns.RR{cname("good.example.", "safe.blocked.example.")}
	out = append(out, m)
	m = q("good.example.", dns.TypeA)
	m.Answer = []dns.RR{cname("good.example.", "fake-jobs.example.")}
	m.Rcode = dns.RcodeNameError
	out = append(out, m)
	return out
}

// TestFuzzCorpus writes the generated corpus with -update-corpus; the files
// in testdata/fuzz are what `go test` replays as regression cases.
func TestFuzzCorpus(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzServeDNS")
	if *updateCorpus {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for i, m := range fuzzMessages() {
			b, err := m.Pack()
			if err != nil {
				t.Fatal(err)
			}
			writeFile(t, filepath.Join(dir, fmt.Sprintf("nasty-%02d", i)), fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", b))
		}
		pdir := filepath.Join("testdata", "fuzz", "FuzzParse")
		if err := os.MkdirAll(pdir, 0o755); err != nil {
			t.Fatal(err)
		}
		for i, s := range parseSeeds {
			writeFile(t, filepath.Join(pdir, fmt.Sprintf("seed-%02d", i)), fmt.Sprintf("go test fuzz v1\nstring(%q)\n", s))
		}
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*"))
	if len(files) < len(fuzzMessages()) {
		t.Errorf("%s has %d files, want at least %d (go test ./dnsplugin -run TestFuzzCorpus -update-corpus)", dir, len(files), len(fuzzMessages()))
	}
}
