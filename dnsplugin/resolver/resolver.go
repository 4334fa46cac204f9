// Package resolver is a CoreDNS build for a campus resolver: it registers
// only the plugins such a resolver needs plus campusguard, in an order that
// puts campusguard in front of every plugin that answers (cache, template,
// hosts, forward), and can run a Corefile in-process. cmd/coredns is this
// package behind CoreDNS's command line; campusguard serve uses Start. It
// does not import core/plugin, which would build all of CoreDNS.
package resolver

import (
	"github.com/coredns/caddy"
	"github.com/coredns/coredns/core/dnsserver"

	// The plugins of this build; Directives below orders them.
	_ "github.com/coredns/coredns/plugin/acl"
	_ "github.com/coredns/coredns/plugin/bind"
	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/forward"
	_ "github.com/coredns/coredns/plugin/health"
	_ "github.com/coredns/coredns/plugin/hosts"
	_ "github.com/coredns/coredns/plugin/log"
	_ "github.com/coredns/coredns/plugin/metrics"
	_ "github.com/coredns/coredns/plugin/ready"
	_ "github.com/coredns/coredns/plugin/reload"
	_ "github.com/coredns/coredns/plugin/template"
	_ "github.com/coredns/coredns/plugin/tls"
	_ "github.com/coredns/coredns/plugin/whoami"

	_ "github.com/campusguard/campusguard/dnsplugin"
)

// Directives is the plugin chain of this build, in CoreDNS's own order
// (core/dnsserver/zdirectives.go) with campusguard after acl and before
// cache: a client the acl refuses never reaches the rules, and no cached,
// templated, hosts or forwarded answer bypasses them. The plugins that only
// configure the server (reload, bind, tls, ...) are listed where CoreDNS
// lists them.
var Directives = []string{
	"reload",
	"bind",
	"ready",
	"health",
	"prometheus",
	"errors",
	"log",
	"acl",
	"campusguard",
	"cache",
	"tls",
	"template",
	"hosts",
	"forward",
	"whoami",
}

func init() { dnsserver.Directives = Directives }

// Instance is a running DNS server.
type Instance = caddy.Instance

// Start runs the Corefile (its text; name is used in error messages) until
// Stop.
func Start(name string, corefile []byte) (*Instance, error) {
	return caddy.Start(caddy.CaddyfileInput{Contents: corefile, Filepath: name, ServerTypeName: "dns"})
}

// Stop stops the servers, then runs the plugins' shutdown hooks (campusguard
// hands on the events still queued and stops its reload).
func Stop(inst *Instance) {
	inst.Stop()
	inst.ShutdownCallbacks()
}
