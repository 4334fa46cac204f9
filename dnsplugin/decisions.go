package dnsplugin

import (
	"net"
	"net/netip"
	"sync/atomic"
)

// Decisions are the alert engine's decisions a resolver enforces (the
// engine's DNS output; see alerts/firewall/dnsdecisions):
//
//   - a warn or block decision on a domain answers every query for it and
//     its subdomains with the group's block response, whatever the packs
//     say (a sinkhole response shows the warning page);
//   - a warn decision on a client answers that client's queries that hit
//     any pack — even one that only alerts — with the block response, so
//     a repeat visitor of phishing sites sees the warning page.
//
// The allowlist still wins. Both methods are on the query path: they must
// be fast and must not block.
type Decisions interface {
	Domain(name string) (action string, ok bool) // name: lower case, no trailing dot
	ClientWarned(client netip.Addr) bool
}

type decisionsBox struct{ d Decisions }

var decisions atomic.Pointer[decisionsBox]

// SetDecisions registers the process-wide decisions every campusguard
// plugin instance enforces; nil removes them. campusguard serve sets it
// when the alert engine runs in the same process.
func SetDecisions(d Decisions) {
	if d == nil {
		decisions.Store(nil)
		return
	}
	decisions.Store(&decisionsBox{d})
}

func currentDecisions() Decisions {
	if b := decisions.Load(); b != nil {
		return b.d
	}
	return nil
}

// clientAddr is the query's source address.
func clientAddr(a net.Addr) netip.Addr {
	var ip net.IP
	switch a := a.(type) {
	case *net.UDPAddr:
		ip = a.IP
	case *net.TCPAddr:
		ip = a.IP
	default:
		return netip.Addr{}
	}
	addr, _ := netip.AddrFromSlice(ip)
	return addr.Unmap()
}
