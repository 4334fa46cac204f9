package dnsplugin

import (
	"sync/atomic"

	"github.com/campusguard/campusguard/internal/event"
)

// Sink receives the event of every query that hit a rule (blocked or only
// monitored). A program that runs CoreDNS in-process (campusguard serve)
// registers one with SetSink; the standalone build uses the report option
// (an HTTP forwarder) instead or as well.
//
// HandleEvent runs on the plugin's dispatcher goroutine, never on the query
// path; the sink owns ev afterwards. A slow sink does not slow queries: the
// plugin's bounded queue fills and further events are dropped and counted
// (campusguard_dns_hits_dropped_total).
//
// In ev, Kind is dns, Name the query name without the trailing dot, QType
// and Src/Dst are set, RCode is the rcode of the block answer (empty when
// only monitored), CNAMEs lists CNAME targets that hit, and each Hit's
// Action is what happened: "block", or for a query that was let through the
// pack's own action ("alert" or "log"; a pack's "block" becomes "log").
type Sink interface {
	HandleEvent(ev *event.Event)
}

// SinkFunc adapts a function to a Sink.
type SinkFunc func(ev *event.Event)

// HandleEvent implements Sink.
func (f SinkFunc) HandleEvent(ev *event.Event) { f(ev) }

type sinkBox struct{ s Sink }

var sink atomic.Pointer[sinkBox]

// SetSink registers the process-wide sink every campusguard plugin
// instance hands its events to; nil removes it. It may be called before or
// after the DNS server starts.
func SetSink(s Sink) {
	if s == nil {
		sink.Store(nil)
		return
	}
	sink.Store(&sinkBox{s})
}

func currentSink() Sink {
	if b := sink.Load(); b != nil {
		return b.s
	}
	return nil
}
