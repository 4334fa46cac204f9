// Command coredns is CoreDNS with the plugins a campus resolver needs and the
// campusguard plugin (see dnsplugin/resolver for the list and its order).
// Run it like CoreDNS: coredns -conf Corefile.
package main

import (
	"github.com/coredns/coredns/coremain"

	_ "github.com/campusguard/campusguard/dnsplugin/resolver"
)

func main() { coremain.Run() }
