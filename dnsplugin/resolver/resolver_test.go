package resolver

import (
	"slices"
	"testing"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/core/dnsserver"
)

// TestDirectives: campusguard runs before every plugin that can answer a
// query by itself, and every listed plugin is compiled in.
func TestDirectives(t *testing.T) {
	if !slices.Equal(dnsserver.Directives, Directives) {
		t.Fatalf("dnsserver.Directives = %v", dnsserver.Directives)
	}
	cg := slices.Index(Directives, "campusguard")
	for _, answering := range []string{"cache", "template", "hosts", "forward", "whoami"} {
		if i := slices.Index(Directives, answering); i < cg {
			t.Errorf("%s (%d) is before campusguard (%d)", answering, i, cg)
		}
	}
	if i := slices.Index(Directives, "acl"); i > cg {
		t.Errorf("acl (%d) is after campusguard (%d)", i, cg)
	}
	registered := caddy.ListPlugins()["others"]
	for _, d := range Directives {
		if !slices.Contains(registered, "dns."+d) {
			t.Errorf("directive %s has no plugin in this build", d)
		}
	}
}

// TestStart runs a Corefile in-process, as campusguard serve does.
func TestStart(t *testing.T) {
	caddy.Quiet, dnsserver.Quiet = true, true
	inst, err := Start("test", []byte(".:0 {\n bind 127.0.0.1\n campusguard builtin\n whoami\n}\n"))
	if err != nil {
		t.Fatal(err)
	}
	defer Stop(inst)
	if len(inst.Servers()) != 1 {
		t.Fatalf("%d servers", len(inst.Servers()))
	}
	if _, err := Start("bad", []byte(".:0 {\n kubernetes\n}\n")); err == nil {
		t.Error("a plugin outside this build was accepted")
	}
}
