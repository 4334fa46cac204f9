package dnsplugin

import (
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coredns/caddy"
	"github.com/miekg/dns"
)

const (
	phishPack = "testdata/packs/phish.yaml"
	scamPack  = "testdata/packs/scam.yaml"
)

func abs(t testing.TB, p string) string {
	t.Helper()
	a, err := filepath.Abs(p)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestSetupMinimal(t *testing.T) {
	c := caddy.NewTestController("dns", "campusguard "+phishPack+" "+scamPack)
	cfg, err := parse(c)
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.def.packs; len(got) != 2 || got[0] != abs(t, phishPack) || got[1] != abs(t, scamPack) {
		t.Errorf("packs = %v", got)
	}
	if cfg.def.action != actionBlock || cfg.def.resp != respNXDOMAIN || cfg.def.ede != dns.ExtendedErrorCodeBlocked ||
		cfg.def.ttl != defaultTTL || cfg.reload != defaultReload || !cfg.cnames || cfg.queue != defaultQueue || len(cfg.groups) != 0 {
		t.Errorf("defaults: %+v", cfg)
	}
	if err := setup(caddy.NewTestController("dns", "campusguard "+phishPack)); err != nil {
		t.Fatalf("setup: %v", err)
	}
}

func TestSetupOptions(t *testing.T) {
	input := `campusguard builtin:phishing-example {
		packs ` + phishPack + ` testdata/packs/*.yaml builtin
		reload 5m
		action pack
		response sinkhole 192.0.2.80 2001:db8::80 ::ffff:192.0.2.81
		ttl 300
		ede filtered
		allow Safe.Example. *.partner.test
		allowlist testdata/allow.txt
		cnames off
		queue 100
		sensor dns-1
		log_hits
		group dorms 10.10.0.0/16 10.11.0.1 {
			packs ` + scamPack + `
			action monitor
			response refused
			ttl 10
			ede off
		}
		group guest 192.168.0.0/16 ::ffff:172.16.0.0/108
		report http://127.0.0.1:8080/api/v1/events {
			batch 100
			flush 2s
			queue 500
			retries 3
			timeout 5s
		}
	}`
	cfg, err := parse(caddy.NewTestController("dns", input))
	if err != nil {
		t.Fatal(err)
	}
	d := cfg.def
	if len(d.packs) != 4 || d.packs[0] != "builtin:phishing-example" || d.packs[2] != abs(t, "testdata/packs/*.yaml") || d.packs[3] != "builtin" {
		t.Errorf("packs = %v", d.packs)
	}
	if d.action != actionPack || d.resp != respSinkhole || d.ttl != 300 || d.ede != dns.ExtendedErrorCodeFiltered {
		t.Errorf("policy = %+v", d)
	}
	if len(d.sink4) != 2 || d.sink4[1] != netip.MustParseAddr("192.0.2.81") || len(d.sink6) != 1 {
		t.Errorf("sinkhole = %v %v", d.sink4, d.sink6)
	}
	if cfg.reload != 5*time.Minute || cfg.cnames || cfg.queue != 100 || cfg.sensor != "dns-1" || !cfg.logHits {
		t.Errorf("options = %+v", cfg)
	}
	if strings.Join(cfg.allow, ",") != "safe.example,partner.test" || len(cfg.allowFiles) != 1 {
		t.Errorf("allow = %v %v", cfg.allow, cfg.allowFiles)
	}
	if len(cfg.groups) != 2 {
		t.Fatalf("groups = %d", len(cfg.groups))
	}
	g := cfg.groups[0]
	g.inherit(&cfg.def)
	if g.name != "dorms" || len(g.nets) != 2 || g.nets[1] != netip.MustParsePrefix("10.11.0.1/32") ||
		g.action != actionMonitor || g.resp != respRefused || g.ttl != 10 || g.ede != 0 || len(g.packs) != 1 {
		t.Errorf("dorms = %+v", g)
	}
	g = cfg.groups[1]
	g.inherit(&cfg.def)
	if g.name != "guest" || g.nets[1] != netip.MustParsePrefix("172.16.0.0/12") || g.action != actionPack ||
		g.resp != respSinkhole || len(g.sink4) != 2 || g.ttl != 300 || len(g.packs) != 4 {
		t.Errorf("guest = %+v", g)
	}
	r := cfg.report
	if r == nil || r.url != "http://127.0.0.1:8080/api/v1/events" || r.batch != 100 || r.flush != 2*time.Second ||
		r.queue != 500 || r.retries != 3 || r.timeout != 5*time.Second {
		t.Errorf("report = %+v", r)
	}
}

func TestSetupResponses(t *testing.T) {
	for in, want := range map[string]respKind{
		"nxdomain": respNXDOMAIN, "refused": respRefused, "nodata": respNODATA, "null": respNull, "sinkhole ::1": respSinkhole,
	} {
		cfg, err := parse(caddy.NewTestController("dns", "campusguard "+phishPack+" {\nresponse "+in+"\n}"))
		if err != nil {
			t.Errorf("%s: %v", in, err)
			continue
		}
		if cfg.def.resp != want {
			t.Errorf("%s: resp = %d", in, cfg.def.resp)
		}
	}
}

func TestSetupErrors(t *testing.T) {
	p := "campusguard " + phishPack + " {\n"
	for _, tc := range []struct{ input, want string }{
		{"campusguard", "Testfile:1 - Error during parsing: no rule packs"},
		{"campusguard {\n}", "no rule packs"},
		{"campusguard testdata/none.yaml", "Testfile:1 - Error during parsing: pack testdata/none.yaml: stat"},
		{"campusguard testdata", "is a directory"},
		{"campusguard testdata/[.yaml", "pack pattern"},
		{p + "packs\n}", "Testfile:2 - Error during parsing: Wrong argument count"},
		{p + "bogus 1\n}", "Testfile:2 - Error during parsing: unknown option \"bogus\""},
		{p + "\nreload soon\n}", "Testfile:3 - Error during parsing: reload: \"soon\" is not a duration"},
		{p + "reload -1s\n}", "not a duration"},
		{p + "reload 10ms\n}", "too short"},
		{p + "reload\n}", "Wrong argument count"},
		{p + "action drop\n}", "Testfile:2 - Error during parsing: action: \"drop\" is not block, monitor or pack"},
		{p + "action\n}", "Wrong argument count"},
		{p + "response\n}", "Wrong argument count"},
		{p + "response servfail\n}", "response: \"servfail\" is not"},
		{p + "response nxdomain 1.2.3.4\n}", "response nxdomain takes no arguments"},
		{p + "response sinkhole\n}", "response sinkhole: want 1 to 8 addresses"},
		{p + "response sinkhole warn.example\n}", "\"warn.example\" is not an IP address"},
		{p + "response sinkhole fe80::1%eth0\n}", "is not an IP address"},
		{p + "ttl -1\n}", "ttl: \"-1\" is not a number from 0 to 2147483647"},
		{p + "ttl 2147483648\n}", "is not a number"},
		{p + "ttl x\n}", "is not a number"},
		{p + "ede maybe\n}", "ede: \"maybe\" is not blocked, filtered or off"},
		{p + "allow\n}", "Wrong argument count"},
		{p + "allow bad..name\n}", "allow: \"bad..name\" is not a domain name"},
		{p + "allowlist testdata/nope.txt\n}", "allowlist: stat"},
		{p + "cnames maybe\n}", "cnames: want on or off"},
		{p + "queue 0\n}", "queue: \"0\" is not a number"},
		{p + "sensor\n}", "Wrong argument count"},
		{p + "log_hits yes\n}", "Wrong argument count"},
		{p + "group dorms\n}", "Testfile:2 - Error during parsing: group: want a name and at least one CIDR"},
		{p + "group Dorms 10.0.0.0/8\n}", "group: \"Dorms\" is not a usable name"},
		{p + "group default 10.0.0.0/8\n}", "is not a usable name"},
		{p + "group dorms 10.0.0.0/33\n}", "group dorms: \"10.0.0.0/33\" is not a CIDR"},
		{p + "group dorms 10.0.0.0/8\ngroup dorms 11.0.0.0/8\n}", "Testfile:3 - Error during parsing: group dorms is defined twice"},
		{p + "group dorms 10.0.0.0/8 {\nreload 1s\n}\n}", "Testfile:3 - Error during parsing: group dorms: unknown option \"reload\""},
		{p + "group dorms 10.0.0.0/8 {\naction nope\n}\n}", "Testfile:3 - Error during parsing: action: \"nope\""},
		{p + "group dorms 10.0.0.0/8 {\npacks testdata/missing.yaml\n}\n}", "Testfile:3 - Error during parsing: pack testdata/missing.yaml"},
		{p + "report\n}", "report: want one URL"},
		{p + "report ftp://x\n}", "is not an http:// or https:// URL"},
		{p + "report http://x {\nbatch 0\n}\n}", "Testfile:3 - Error during parsing: report batch: \"0\""},
		{p + "report http://x {\nflush never\n}\n}", "report flush: \"never\""},
		{p + "report http://x {\ntoken_file testdata/none\n}\n}", "report token_file: stat"},
		{p + "report http://x {\nwhat 1\n}\n}", "report: unknown option \"what\""},
		{p + "report http://x\nreport http://y\n}", "report is given twice"},
		{"campusguard " + phishPack + "\ncampusguard " + phishPack, "Testfile:2 - Error during parsing: campusguard is given twice"},
	} {
		_, err := parse(caddy.NewTestController("dns", tc.input))
		if err == nil {
			t.Errorf("%q: no error, want %q", tc.input, tc.want)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q:\n got %v\nwant %q", tc.input, err, tc.want)
		}
	}
}

// TestSetupPackFailure: a pack that does not load fails the setup with the
// pack's own error (file and line), not silently at the first query.
func TestSetupPackFailure(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	writeFile(t, bad, "name: bad\nkeywrods: [x]\n")
	err := setup(caddy.NewTestController("dns", "campusguard "+bad))
	if err == nil || !strings.Contains(err.Error(), "bad.yaml") || !strings.Contains(err.Error(), "keywrods") {
		t.Fatalf("err = %v", err)
	}
	err = setup(caddy.NewTestController("dns", "campusguard builtin:nope"))
	if err == nil || !strings.Contains(err.Error(), "no such built-in pack") {
		t.Fatalf("err = %v", err)
	}
}

func TestPackSelected(t *testing.T) {
	for _, tc := range []struct {
		pats   []string
		source string
		want   bool
	}{
		{[]string{"builtin"}, "builtin:phishing-example.yaml", true},
		{[]string{"builtin:phishing-example"}, "builtin:phishing-example.yaml", true},
		{[]string{"builtin:malware-example"}, "builtin:phishing-example.yaml", false},
		{[]string{"/r/*.yaml"}, "/r/a.yaml", true},
		{[]string{"/r/a.yaml"}, "/r/b.yaml", false},
		{[]string{"builtin"}, "/r/a.yaml", false},
	} {
		if got := packSelected(tc.pats, tc.source); got != tc.want {
			t.Errorf("packSelected(%v, %s) = %v", tc.pats, tc.source, got)
		}
	}
}

// TestEngineShared: server blocks with the same configuration share one
// engine (one copy of the rules); it stops when the last one stops.
func TestEngineShared(t *testing.T) {
	mk := func(input string) *Handler {
		cfg, err := parse(caddy.NewTestController("dns", input))
		if err != nil {
			t.Fatal(err)
		}
		h, err := handlerFor(cfg)
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	a := mk("campusguard " + phishPack + " {\n group x 10.0.0.0/8 {\n  ttl 5\n }\n}")
	b := mk("campusguard " + phishPack + " {\n group x 10.0.0.0/8 {\n  ttl 5\n }\n}")
	c := mk("campusguard " + phishPack + " {\n group x 10.0.0.0/8 {\n  ttl 6\n }\n}")
	if a.engine != b.engine || a.engine == c.engine {
		t.Fatal("equal configurations must share an engine, different ones must not")
	}
	a.start()
	b.start()
	c.start()
	a.stop()
	enginesMu.Lock()
	still := engines[a.key] == a.engine
	enginesMu.Unlock()
	if !still {
		t.Error("engine dropped while a server still uses it")
	}
	b.stop()
	c.stop()
	enginesMu.Lock()
	defer enginesMu.Unlock()
	if engines[a.key] != nil || engines[c.key] != nil {
		t.Error("engines kept after the last server stopped")
	}
}
