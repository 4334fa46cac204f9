// Package dnsplugin is the CoreDNS plugin campusguard: it runs every query
// (and the CNAME targets of every answer) through campusguard's rule packs
// and answers a blocked name itself, with an RFC 8914 Extended DNS Error
// that names the pack. Hits leave the query path through a bounded queue to
// a Sink registered by the embedding program and to an optional HTTP
// forwarder. It knows nothing about what the sinks do with hits, and nothing
// about CoreDNS beyond the plugin interface.
package dnsplugin

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coredns/coredns/plugin"
	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/campusguard/campusguard/alerts/decision"
	"github.com/campusguard/campusguard/internal/event"
	"github.com/campusguard/campusguard/matcher"
	"github.com/campusguard/campusguard/rules"
)

// Handler is the campusguard plugin in one server block. Server blocks with
// the same campusguard configuration (a snippet imported by the plain DNS
// and the DoT listener, or the same Corefile after a reload) share one
// engine: one copy of the rules in memory, one queue, one reload loop.
type Handler struct {
	Next plugin.Handler
	*engine
}

// engine is the state a Handler's queries use.
type engine struct {
	key    string
	refs   int // running server instances using it; guarded by enginesMu
	cfg    *config
	m      *matcher.Matcher
	pols   []*policy // the groups, then the top-level policy last
	view   atomic.Pointer[view]
	allow  atomic.Pointer[allowlist]
	queue  chan *event.Event
	fwd    *Forwarder
	sensor string
	counts [][numResults]prometheus.Counter // by policy
	loaded atomic.Bool
	stopc  chan struct{}
	wg     sync.WaitGroup
	cwPool sync.Pool
}

var (
	enginesMu sync.Mutex
	engines   = map[string]*engine{}
)

// handlerFor returns a Handler on the engine for cfg, building the engine if
// no server block uses this configuration yet.
func handlerFor(cfg *config) (*Handler, error) {
	key := cfg.key()
	enginesMu.Lock()
	defer enginesMu.Unlock()
	if e := engines[key]; e != nil {
		return &Handler{engine: e}, nil
	}
	h, err := newHandler(cfg)
	if err != nil {
		return nil, err
	}
	h.key = key
	engines[key] = h.engine
	return h, nil
}

// view is the rule set in force and, per policy, the pack names it uses
// (nil: all of them). It is swapped as a whole after a reload.
type view struct {
	set     *matcher.Set
	allowed []map[string]struct{}
}

// Query results, the result label of campusguard_dns_queries_total.
const (
	resultAllowed = iota
	resultBlocked
	resultMonitored
	resultAllowlisted
	numResults
)

var resultNames = [numResults]string{"allowed", "blocked", "monitored", "allowlisted"}

var _ plugin.Handler = (*Handler)(nil)

// newHandler builds the handler and loads the packs once; a pack that fails
// to load at startup is an error (on a later reload it keeps its last good
// version instead).
func newHandler(cfg *config) (*Handler, error) {
	h := &Handler{engine: &engine{cfg: cfg, sensor: cfg.sensor}}
	for _, g := range cfg.groups {
		g.inherit(&cfg.def)
		h.pols = append(h.pols, g)
	}
	def := cfg.def
	h.pols = append(h.pols, &def)
	var union []string
	for _, p := range h.pols {
		for _, pk := range p.packs {
			if !slices.Contains(union, pk) {
				union = append(union, pk)
			}
		}
	}
	m, rep, err := matcher.New(matcher.Options{
		Packs:                   union,
		Builtin:                 rules.FS,
		TraditionalToSimplified: true,
		Registerer:              matcherRegisterer{},
		Logger:                  slogger,
	})
	if err != nil {
		return nil, err
	}
	if err := rep.Err(); err != nil {
		return nil, err
	}
	h.m = m
	h.swapView()
	if err := h.loadAllowlist(); err != nil {
		return nil, err
	}
	h.loaded.Store(true)
	h.counts = make([][numResults]prometheus.Counter, len(h.pols))
	for i, p := range h.pols {
		for r := range numResults {
			h.counts[i][r] = queriesTotal.WithLabelValues(p.name, resultNames[r])
		}
	}
	if h.sensor == "" {
		h.sensor = hostname()
	}
	h.queue = make(chan *event.Event, cfg.queue)
	if cfg.report != nil {
		fc := ForwarderConfig{URL: cfg.report.url, Batch: cfg.report.batch, Flush: cfg.report.flush,
			Queue: cfg.report.queue, Retries: cfg.report.retries, Timeout: cfg.report.timeout}
		if cfg.report.tokenFile != "" {
			tok, err := readToken(cfg.report.tokenFile)
			if err != nil {
				return nil, err
			}
			fc.Token = tok
		}
		h.fwd = NewForwarder(fc)
	}
	return h, nil
}

// swapView publishes the matcher's current Set with the pack names each
// policy may use.
func (h *engine) swapView() {
	set := h.m.Set()
	v := &view{set: set, allowed: make([]map[string]struct{}, len(h.pols))}
	infos := set.Packs()
	for i, p := range h.pols {
		all := true
		names := map[string]struct{}{}
		for _, in := range infos {
			if packSelected(p.packs, in.Source) {
				names[in.Name] = struct{}{}
			} else {
				all = false
			}
		}
		if !all {
			v.allowed[i] = names
		}
	}
	h.view.Store(v)
}

func (h *engine) loadAllowlist() error {
	names := slices.Clone(h.cfg.allow)
	for _, f := range h.cfg.allowFiles {
		more, err := readAllowFile(f)
		if err != nil {
			return err
		}
		names = append(names, more...)
	}
	h.allow.Store(newAllowlist(names))
	return nil
}

// Name implements plugin.Handler.
func (h *Handler) Name() string { return pluginName }

// ServeDNS implements plugin.Handler.
func (h *Handler) ServeDNS(ctx context.Context, w dns.ResponseWriter, r *dns.Msg) (int, error) {
	if len(r.Question) != 1 || r.Opcode != dns.OpcodeQuery {
		return plugin.NextOrFailure(h.Name(), h.Next, ctx, w, r)
	}
	q := &r.Question[0]
	if q.Qclass != dns.ClassINET && q.Qclass != dns.ClassANY {
		return plugin.NextOrFailure(h.Name(), h.Next, ctx, w, r)
	}
	pi := h.policyFor(w.RemoteAddr())
	pol := h.pols[pi]
	allow := h.allow.Load()
	if allow.contains(q.Name) {
		h.counts[pi][resultAllowlisted].Inc()
		return plugin.NextOrFailure(h.Name(), h.Next, ctx, w, r)
	}
	v := h.view.Load()
	var buf [4]event.Hit
	hits := v.match(pi, q.Name, buf[:0])
	result := resultAllowed
	if d := currentDecisions(); d != nil {
		if hit, ok := h.decided(d, w.RemoteAddr(), q.Name, hits); ok {
			rcode := h.writeBlock(w, r, pol, &hit, "")
			h.counts[pi][resultBlocked].Inc()
			blockedTotal.WithLabelValues(hit.Pack, "decision").Inc()
			h.report(w, r, append(hits, hit), nil, rcode, true)
			return dns.RcodeSuccess, nil
		}
	}
	if len(hits) > 0 {
		if blocker := pol.blocker(hits); blocker >= 0 {
			rcode := h.writeBlock(w, r, pol, &hits[blocker], "")
			h.counts[pi][resultBlocked].Inc()
			blockedTotal.WithLabelValues(hits[blocker].Pack, "qname").Inc()
			h.report(w, r, hits, nil, rcode, true)
			return dns.RcodeSuccess, nil
		}
		h.report(w, r, hits, nil, "", false)
		result = resultMonitored
	}
	if !h.cfg.cnames || q.Qtype == dns.TypeCNAME {
		h.counts[pi][result].Inc()
		return plugin.NextOrFailure(h.Name(), h.Next, ctx, w, r)
	}
	// Not pooled: a plugin after this one may keep the writer past the
	// return (cache's verify_stale refresh goes on in the background).
	cw := &cnameWriter{ResponseWriter: w, h: h.engine, req: r, pi: pi, v: v, allow: allow}
	rc, err := plugin.NextOrFailure(h.Name(), h.Next, ctx, cw, r)
	switch {
	case cw.blocked:
		result = resultBlocked
		rc, err = dns.RcodeSuccess, nil
	case cw.monitored:
		result = resultMonitored
	}
	h.counts[pi][result].Inc()
	return rc, err
}

// decided returns the hit to answer with when an alert decision covers
// the query: one on the name (or a parent), or a warning on the client for
// a query that hit a pack.
func (h *engine) decided(d Decisions, from net.Addr, qname string, hits []event.Hit) (event.Hit, bool) {
	name := strings.ToLower(trimDot(qname))
	if act, ok := d.Domain(name); ok {
		return event.Hit{Pack: decision.HitPack, Rule: "domain " + act, Category: "decision", Severity: event.SeverityHigh,
			Action: act, Match: name, Field: "name", End: len(name)}, true
	}
	if len(hits) > 0 && d.ClientWarned(clientAddr(from)) {
		hit := hits[0]
		hit.Action = "warn"
		return hit, true
	}
	return event.Hit{}, false
}

// match returns the hits of name from the packs policy pi uses.
func (v *view) match(pi int, name string, hits []event.Hit) []event.Hit {
	hits = v.set.MatchDomain(event.KindDNS, name, hits)
	allowed := v.allowed[pi]
	if allowed == nil || len(hits) == 0 {
		return hits
	}
	n := 0
	for _, h := range hits {
		if _, ok := allowed[h.Pack]; ok {
			hits[n] = h
			n++
		}
	}
	return hits[:n]
}

// blocker returns the index of the hit that blocks the query, or -1 if the
// policy only reports these hits.
func (p *policy) blocker(hits []event.Hit) int {
	switch p.action {
	case actionMonitor:
		return -1
	case actionPack:
		for i := range hits {
			if hits[i].Action == "block" {
				return i
			}
		}
		return -1
	}
	return 0
}

// policyFor picks the group with the most specific CIDR containing the
// client, or the top-level policy.
func (h *engine) policyFor(a net.Addr) int {
	def := len(h.pols) - 1
	if def == 0 {
		return 0
	}
	var ip net.IP
	switch a := a.(type) {
	case *net.UDPAddr:
		ip = a.IP
	case *net.TCPAddr:
		ip = a.IP
	default:
		return def
	}
	addr, ok := netip.AddrFromSlice(ip)
	if !ok {
		return def
	}
	addr = addr.Unmap()
	best, bestBits := def, -1
	for i, p := range h.pols[:def] {
		for _, n := range p.nets {
			if n.Bits() > bestBits && n.Contains(addr) {
				best, bestBits = i, n.Bits()
			}
		}
	}
	return best
}

// writeBlock answers r with the policy's block response and returns its
// rcode name. via is the CNAME target that hit, if any.
func (h *engine) writeBlock(w dns.ResponseWriter, r *dns.Msg, pol *policy, hit *event.Hit, via string) string {
	m := blockResponse(r, pol, hit, via)
	w.WriteMsg(m)
	return dns.RcodeToString[m.Rcode]
}

func blockResponse(r *dns.Msg, pol *policy, hit *event.Hit, via string) *dns.Msg {
	q := r.Question[0]
	m := new(dns.Msg)
	m.SetReply(r)
	m.RecursionAvailable = true
	m.Authoritative = false
	ttl := pol.ttl
	switch pol.resp {
	case respNXDOMAIN:
		m.Rcode = dns.RcodeNameError
		m.Ns = []dns.RR{soa(q.Name, ttl)}
	case respRefused:
		m.Rcode = dns.RcodeRefused
	case respNODATA:
		m.Ns = []dns.RR{soa(q.Name, ttl)}
	case respNull, respSinkhole:
		v4, v6 := pol.sink4, pol.sink6
		if pol.resp == respNull {
			v4, v6 = nullV4, nullV6
		}
		hdr := dns.RR_Header{Name: q.Name, Rrtype: q.Qtype, Class: dns.ClassINET, Ttl: ttl}
		switch q.Qtype {
		case dns.TypeA:
			for _, a := range v4 {
				m.Answer = append(m.Answer, &dns.A{Hdr: hdr, A: a.AsSlice()})
			}
		case dns.TypeAAAA:
			for _, a := range v6 {
				m.Answer = append(m.Answer, &dns.AAAA{Hdr: hdr, AAAA: a.AsSlice()})
			}
		}
		if len(m.Answer) == 0 {
			m.Ns = []dns.RR{soa(q.Name, ttl)}
		}
	}
	if opt := r.IsEdns0(); opt != nil {
		m.SetEdns0(max(opt.UDPSize(), dns.MinMsgSize), opt.Do())
		if pol.ede != 0 {
			text := "campusguard: " + hit.Pack + " (" + hit.Category + ")"
			if via != "" {
				text += " via CNAME " + via
			}
			m.IsEdns0().Option = append(m.IsEdns0().Option, &dns.EDNS0_EDE{InfoCode: pol.ede, ExtraText: text})
		}
	}
	return m
}

var (
	nullV4 = []netip.Addr{netip.IPv4Unspecified()}
	nullV6 = []netip.Addr{netip.IPv6Unspecified()}
)

// soa is the record that lets resolvers cache a negative block answer for ttl.
func soa(name string, ttl uint32) dns.RR {
	return &dns.SOA{
		Hdr:     dns.RR_Header{Name: name, Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: ttl},
		Ns:      "campusguard.invalid.",
		Mbox:    "hostmaster.campusguard.invalid.",
		Serial:  1,
		Refresh: 3600,
		Retry:   600,
		Expire:  86400,
		Minttl:  ttl,
	}
}

// cnameWriter inspects the answer the rest of the chain writes: if a CNAME
// target hits a rule, the client gets the block response instead.
type cnameWriter struct {
	dns.ResponseWriter
	h         *engine
	req       *dns.Msg
	pi        int
	v         *view
	allow     *allowlist
	blocked   bool
	monitored bool
}

// WriteMsg implements dns.ResponseWriter.
func (cw *cnameWriter) WriteMsg(res *dns.Msg) error {
	if res == nil || cw.blocked {
		return cw.ResponseWriter.WriteMsg(res)
	}
	var cnames []string
	var all []event.Hit
	for _, rr := range res.Answer {
		c, ok := rr.(*dns.CNAME)
		if !ok || cw.allow.contains(c.Target) {
			continue
		}
		var buf [4]event.Hit
		hits := cw.v.match(cw.pi, c.Target, buf[:0])
		if len(hits) == 0 {
			continue
		}
		target := trimDot(c.Target)
		cnames = append(cnames, target)
		for i := range hits {
			hits[i].Field = event.FieldCNAME
		}
		pol := cw.h.pols[cw.pi]
		if b := pol.blocker(hits); b >= 0 {
			cw.blocked = true
			rcode := cw.h.writeBlock(cw.ResponseWriter, cw.req, pol, &hits[b], target)
			blockedTotal.WithLabelValues(hits[b].Pack, "cname").Inc()
			cw.h.report(cw.ResponseWriter, cw.req, append(all, hits...), cnames, rcode, true)
			return nil
		}
		all = append(all, hits...)
	}
	if len(all) > 0 {
		cw.monitored = true
		cw.h.report(cw.ResponseWriter, cw.req, all, cnames, dns.RcodeToString[res.Rcode], false)
	}
	return cw.ResponseWriter.WriteMsg(res)
}

// report hands the event of a hit to the dispatcher without waiting.
func (h *engine) report(w dns.ResponseWriter, r *dns.Msg, hits []event.Hit, cnames []string, rcode string, blocked bool) {
	q := r.Question[0]
	ev := &event.Event{
		Time:   time.Now().UTC(),
		Sensor: h.sensor,
		Kind:   event.KindDNS,
		Name:   trimDot(q.Name),
		QType:  dns.Type(q.Qtype).String(),
		RCode:  rcode,
		CNAMEs: cnames,
		Hits:   slices.Clone(hits),
	}
	for i := range ev.Hits { // Action says what was done: block, or the pack's alert/log
		if blocked {
			ev.Hits[i].Action = "block"
		} else if ev.Hits[i].Action == "block" {
			ev.Hits[i].Action = "log"
		}
	}
	if ap, ok := addrPort(w.RemoteAddr()); ok {
		ev.Src, ev.SrcPort = ap.Addr().String(), ap.Port()
	}
	if ap, ok := addrPort(w.LocalAddr()); ok {
		ev.Dst, ev.DstPort = ap.Addr().String(), ap.Port()
	}
	select {
	case h.queue <- ev:
	default:
		hitsDropped.Inc()
	}
}

func addrPort(a net.Addr) (netip.AddrPort, bool) {
	switch a := a.(type) {
	case *net.UDPAddr:
		ap := a.AddrPort()
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), true
	case *net.TCPAddr:
		ap := a.AddrPort()
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), true
	}
	return netip.AddrPort{}, false
}

func trimDot(s string) string {
	if len(s) > 1 && s[len(s)-1] == '.' {
		return s[:len(s)-1]
	}
	return s
}

// start begins the background reload and the hit dispatcher when the first
// server using the engine starts.
func (h *engine) start() error {
	enginesMu.Lock()
	defer enginesMu.Unlock()
	h.refs++
	if h.refs > 1 {
		return nil
	}
	h.stopc = make(chan struct{})
	if h.fwd != nil {
		h.fwd.Start()
	}
	h.wg.Add(1)
	go h.dispatch()
	if h.cfg.reload > 0 {
		h.wg.Add(1)
		go h.reloadLoop()
	}
	return nil
}

// stop ends the background work when the last server using the engine
// stops; events still queued are handed on.
func (h *engine) stop() error {
	enginesMu.Lock()
	defer enginesMu.Unlock()
	if h.refs == 0 {
		return nil
	}
	h.refs--
	if h.refs > 0 {
		return nil
	}
	if engines[h.key] == h {
		delete(engines, h.key)
	}
	close(h.stopc)
	h.wg.Wait()
	if h.fwd != nil {
		h.fwd.Stop()
	}
	return nil
}

func (h *engine) reloadLoop() {
	defer h.wg.Done()
	t := time.NewTicker(h.cfg.reload)
	defer t.Stop()
	for {
		select {
		case <-h.stopc:
			return
		case <-t.C:
			h.Reload()
		}
	}
}

// Reload rereads the packs and allowlist files now, off the query path;
// queries keep using the previous rules until the new ones are swapped in.
func (h *engine) Reload() {
	rep := h.m.Reload()
	h.swapView()
	result := "success"
	if len(rep.Failed) > 0 {
		result = "partial"
		if len(rep.Loaded)+len(rep.Reused)+len(rep.Kept) == 0 {
			result = "failure"
		}
	}
	if err := h.loadAllowlist(); err != nil {
		log.Errorf("allowlist kept as it was: %v", err)
		result = "partial"
	}
	reloadsTotal.WithLabelValues(result).Inc()
	lastReload.SetToCurrentTime()
}

// dispatch hands events to the registered sink and the forwarder. It is the
// only goroutine that waits for them.
func (h *engine) dispatch() {
	defer h.wg.Done()
	handle := func(ev *event.Event) {
		if h.cfg.logHits || ev.Hits[0].Action != "block" {
			logEvent(ev)
		}
		if s := currentSink(); s != nil {
			s.HandleEvent(ev)
		}
		if h.fwd != nil {
			h.fwd.Add(ev)
		}
	}
	for {
		select {
		case ev := <-h.queue:
			handle(ev)
		case <-h.stopc:
			for {
				select {
				case ev := <-h.queue:
					handle(ev)
				default:
					return
				}
			}
		}
	}
}

func logEvent(ev *event.Event) {
	h := ev.Hits[0]
	verb := "monitored"
	if h.Action == "block" {
		verb = "blocked"
	}
	via := ""
	if len(ev.CNAMEs) > 0 {
		via = fmt.Sprintf(" via CNAME %s", ev.CNAMEs[len(ev.CNAMEs)-1])
	}
	log.Infof("%s %s %s from %s%s: pack %s rule %s (%s, %s)", verb, ev.QType, ev.Name, ev.Src, via, h.Pack, h.Rule, h.Category, h.Severity)
}
