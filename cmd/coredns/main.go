// Command coredns is CoreDNS with the plugins a campus resolver needs and the
// campusguard plugin (see dnsplugin/resolver for the list and its order).
// Run it like CoreDNS: coredns -conf Corefile.
package main

import (
	"os"
	"runtime/debug"

	"github.com/coredns/coredns/coremain"

	_ "github.com/campusguard/campusguard/dnsplugin/resolver"
)

// gcPercent is the GOGC this binary runs with unless GOGC is set. The rule
// index of a 1M-domain list is ~35 MB of pointer-free memory that the
// default GOGC=100 lets the heap grow past by as much again (+71 MB RSS over
// plain CoreDNS in dnsplugin/bench); at 25 the overhead stays near 45 MB.
// The extra collections are cheap: the index has no pointers to mark.
const gcPercent = 25

func main() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(gcPercent)
	}
	coremain.Run()
}
