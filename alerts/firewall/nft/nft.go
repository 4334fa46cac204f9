// Package nft enforces firewall block decisions with nftables. It keeps
// campusguard's own inet table: one interval set per address family whose
// elements carry their own timeouts, and chains at the input and forward
// hooks that drop traffic from and to the addresses in those sets. It
// adds, refreshes and deletes set elements so that the sets match the
// active decisions, and every element expires on its own in the kernel
// when its decision does, even if campusguard is not running.
//
// It knows decisions only through package decision, and nftables only
// through its own table: it never reads, changes or deletes another table.
// It must not know which policy made a decision, the allowlist (the engine
// applies it before a decision exists) or domains (DNS and the feeds
// enforce those).
package nft

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/userdata"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sys/unix"

	"github.com/campusguard/campusguard/alerts/decision"
)

// Names of what Setup creates.
const (
	DefaultTable = "campusguard" // the table, family inet
	SetIPv4      = "blocked4"    // type ipv4_addr, flags interval,timeout
	SetIPv6      = "blocked6"    // type ipv6_addr, flags interval,timeout
	ChainInput   = "input"       // hook input
	ChainForward = "forward"     // hook forward
	// ChainPriority runs the chains just before the usual filter chains
	// (priority filter = 0), so a block holds whatever they accept.
	ChainPriority = -10
)

// maxSplice is how many new ranges Apply splices into the last update's
// ranges one by one; past it, recomputing all of them is cheaper.
const maxSplice = 64

// ErrForeignTable is returned by Setup and Uninstall when the configured
// table exists and holds chains or sets campusguard did not create, or
// ones of the right name but the wrong kind. They then change nothing.
var ErrForeignTable = errors.New("table is not campusguard's")

// ErrNotSetUp is returned by updates before Setup has succeeded.
var ErrNotSetUp = errors.New("nftables table not set up; call Setup first")

// ErrClosed is returned by every method after Close.
var ErrClosed = errors.New("nftables firewall closed")

// Options configure a Firewall.
type Options struct {
	// Table is the name of campusguard's inet table; "" means DefaultTable.
	Table string
	// NetNS is a file descriptor of the network namespace to work in; 0
	// means the namespace of the process. It is used while New runs.
	NetNS int
	// ChunkSize is how many set elements (an address range is a start
	// and usually an end element) one netlink batch carries; 0 means
	// DefaultChunkSize. It is capped at MaxChunkSize, which keeps a batch
	// under the default socket send buffer.
	ChunkSize int
	// Registerer receives the metrics; nil leaves them unregistered.
	Registerer prometheus.Registerer
	// Logger receives warnings and a line per update; nil discards them.
	Logger *slog.Logger
}

// Firewall keeps campusguard's nftables table in line with the block
// decisions. Its methods may be called from several goroutines; updates
// run one at a time.
type Firewall struct {
	conn   *nftables.Conn // writes and small reads
	dumper *dumper        // set listings (see dump.go)
	table  *nftables.Table
	sets   [2]*nftables.Set // ipv4, ipv6
	chains []*nftables.Chain
	chunk  int
	log    *slog.Logger
	met    *metrics

	mu        sync.Mutex
	ready     bool
	decisions map[entryKey]interval // what Apply and Reconcile asked for
	// seeds are the ranges the kernel held at Setup, kept until the first
	// Reconcile names the active decisions, so that an Apply after a
	// restart does not delete blocks it has not been told about.
	seeds []interval
	// have is what the sets hold after the last successful update: the
	// ranges that update wanted. Apply builds on it, and Apply and Remove
	// need not list the sets. haveOK is false when it is not known.
	have   [2][]interval
	haveOK bool
}

type entryKey struct {
	id     int64
	prefix netip.Prefix
}

// New returns a Firewall for the table named in opts. It opens two
// netlink sockets in the network namespace and changes nothing in the
// kernel until Setup.
func New(opts Options) (*Firewall, error) {
	name := opts.Table
	if name == "" {
		name = DefaultTable
	}
	if len(name) > 255 || strings.ContainsRune(name, 0) {
		return nil, fmt.Errorf("nftables: table name %q: want at most 255 bytes and no NUL", name)
	}
	chunk := opts.ChunkSize
	switch {
	case chunk <= 0:
		chunk = DefaultChunkSize
	case chunk > MaxChunkSize:
		chunk = MaxChunkSize
	case chunk < 2:
		chunk = 2 // an interval's start and end
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	f := &Firewall{
		table:     &nftables.Table{Name: name, Family: nftables.TableFamilyINet},
		chunk:     chunk,
		log:       log.With("table", "inet "+name),
		decisions: make(map[entryKey]interval),
	}
	f.sets[0] = &nftables.Set{Table: f.table, Name: SetIPv4, KeyType: nftables.TypeIPAddr, Interval: true, HasTimeout: true}
	f.sets[1] = &nftables.Set{Table: f.table, Name: SetIPv6, KeyType: nftables.TypeIP6Addr, Interval: true, HasTimeout: true}
	for _, c := range []struct {
		name string
		hook *nftables.ChainHook
	}{{ChainInput, nftables.ChainHookInput}, {ChainForward, nftables.ChainHookForward}} {
		prio := nftables.ChainPriority(ChainPriority)
		policy := nftables.ChainPolicyAccept
		f.chains = append(f.chains, &nftables.Chain{
			Name: c.name, Table: f.table, Type: nftables.ChainTypeFilter,
			Hooknum: c.hook, Priority: &prio, Policy: &policy,
		})
	}
	met, err := newMetrics(f, opts.Registerer)
	if err != nil {
		return nil, err
	}
	f.met = met
	c, err := nftables.New(nftables.WithNetNSFd(opts.NetNS), nftables.AsLasting())
	if err != nil {
		met.unregister()
		return nil, fmt.Errorf("nftables: open netlink connection (netns fd %d): %w", opts.NetNS, err)
	}
	d, err := openDumper(opts.NetNS)
	if err != nil {
		c.CloseLasting()
		met.unregister()
		return nil, fmt.Errorf("nftables: open netlink connection for listings (netns fd %d): %w", opts.NetNS, err)
	}
	f.conn, f.dumper = c, d
	return f, nil
}

// Close releases the netlink sockets and unregisters the metrics; later
// calls do nothing. The table and its elements stay in the kernel.
func (f *Firewall) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.dumper == nil {
		return nil
	}
	f.met.unregister()
	err := errors.Join(f.conn.CloseLasting(), f.dumper.close())
	f.dumper, f.ready = nil, false
	return err
}

// Table returns the name of the inet table the Firewall owns.
func (f *Firewall) Table() string { return f.table.Name }

// Setup creates the table, its sets, chains and rules where they are
// missing, and reuses them where they exist; it can run any number of
// times. It refuses (ErrForeignTable) a table holding chains or sets it
// did not create. Rules that differ from campusguard's are replaced in
// one transaction; rules that match are kept with their counters. The
// ranges already in the sets are kept until the first Reconcile.
func (f *Firewall) Setup(ctx context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return err
	}
	if f.dumper == nil {
		return ErrClosed
	}
	exists, err := f.tableExists()
	if err != nil {
		return err
	}
	haveSets := map[string]bool{}
	haveChains := map[string]bool{}
	if exists {
		if err := f.checkTable(haveSets, haveChains); err != nil {
			return err
		}
	}
	// Read everything before queueing anything: google/nftables cannot
	// drop queued commands, so an early return would leave them for the
	// next Flush.
	keepRules := map[string]bool{}
	for _, c := range f.chains {
		if !haveChains[c.Name] {
			continue
		}
		rules, err := f.conn.GetRules(f.table, c)
		if err != nil {
			return fmt.Errorf("nftables: list rules of chain inet %s %s: %w", f.table.Name, c.Name, err)
		}
		keepRules[c.Name] = rulesMatch(rules)
		if !keepRules[c.Name] {
			f.log.Warn("replacing the rules of a chain that differ from campusguard's", "chain", c.Name, "rules", len(rules))
		}
	}
	f.conn.AddTable(f.table)
	for _, s := range f.sets {
		if haveSets[s.Name] {
			continue
		}
		if err := f.conn.AddSet(s, nil); err != nil {
			return fmt.Errorf("nftables: add set inet %s %s: %w", f.table.Name, s.Name, err)
		}
	}
	for _, c := range f.chains {
		// Adding an existing chain re-asserts its policy (accept).
		f.conn.AddChain(c)
		if keepRules[c.Name] {
			continue
		}
		if haveChains[c.Name] {
			f.conn.FlushChain(c)
		}
		for _, spec := range ruleSpecs {
			f.conn.AddRule(&nftables.Rule{
				Table: f.table, Chain: c, Exprs: spec.exprs(f.sets[spec.fam]),
				UserData: userdata.AppendString(nil, userdata.TypeComment, spec.comment()),
			})
		}
	}
	if err := f.conn.Flush(); err != nil {
		f.met.errors.WithLabelValues(reasonNetlink).Inc()
		return fmt.Errorf("nftables: set up table inet %s: %w", f.table.Name, err)
	}
	have, err := f.dump()
	if err != nil {
		f.met.errors.WithLabelValues(reasonNetlink).Inc()
		return err
	}
	f.have, f.haveOK = have, true
	for _, ivs := range have {
		for _, iv := range ivs {
			if iv.lone {
				f.haveOK = false // not what campusguard writes: rewrite at the next update
			}
		}
	}
	f.seeds = append(append([]interval(nil), have[0]...), have[1]...)
	clear(f.decisions)
	f.ready = true
	f.setGauges(have)
	f.log.Info("nftables table ready", "reused", exists, "ipv4_ranges", len(have[0]), "ipv6_ranges", len(have[1]))
	return nil
}

// usable says why the Firewall cannot update its sets, if it cannot.
func (f *Firewall) usable() error {
	switch {
	case f.dumper == nil:
		return ErrClosed
	case !f.ready:
		return ErrNotSetUp
	}
	return nil
}

// tableExists reports whether the inet table is there.
func (f *Firewall) tableExists() (bool, error) {
	tables, err := f.conn.ListTablesOfFamily(nftables.TableFamilyINet)
	if err != nil {
		return false, fmt.Errorf("nftables: list inet tables: %w", err)
	}
	for _, t := range tables {
		if t.Name == f.table.Name {
			return true, nil
		}
	}
	return false, nil
}

// checkTable checks that an existing table holds only campusguard's sets
// and chains, of the right kind, and records which of them exist.
func (f *Firewall) checkTable(haveSets, haveChains map[string]bool) error {
	sets, err := f.conn.GetSets(f.table)
	if err != nil {
		return fmt.Errorf("nftables: list sets of table inet %s: %w", f.table.Name, err)
	}
	chains, err := f.conn.ListChainsOfTableFamily(nftables.TableFamilyINet)
	if err != nil {
		return fmt.Errorf("nftables: list inet chains: %w", err)
	}
	var bad []string
	for _, s := range sets {
		want := f.setNamed(s.Name)
		switch {
		case want == nil:
			bad = append(bad, "set "+s.Name)
		case !s.Interval || !s.HasTimeout || s.IsMap || s.KeyType.GetNFTMagic() != want.KeyType.GetNFTMagic():
			bad = append(bad, fmt.Sprintf("set %s of another type or without flags interval,timeout", s.Name))
		default:
			haveSets[s.Name] = true
		}
	}
	for _, c := range chains {
		if c.Table == nil || c.Table.Name != f.table.Name {
			continue
		}
		want := f.chainNamed(c.Name)
		switch {
		case want == nil:
			bad = append(bad, "chain "+c.Name)
		case c.Hooknum == nil || *c.Hooknum != *want.Hooknum || c.Priority == nil || *c.Priority != *want.Priority || c.Type != want.Type:
			bad = append(bad, fmt.Sprintf("chain %s with another hook, priority or type", c.Name))
		default:
			haveChains[c.Name] = true
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("nftables: table inet %s holds %s; configure another table name or remove it: %w",
			f.table.Name, strings.Join(bad, ", "), ErrForeignTable)
	}
	return nil
}

func (f *Firewall) setNamed(name string) *nftables.Set {
	for _, s := range f.sets {
		if s.Name == name {
			return s
		}
	}
	return nil
}

func (f *Firewall) chainNamed(name string) *nftables.Chain {
	for _, c := range f.chains {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// Uninstall deletes campusguard's table with its sets, chains and rules,
// and nothing else. A missing table is not an error; a table holding
// chains or sets campusguard did not create is refused (ErrForeignTable),
// so a mistyped table name cannot delete someone else's rules.
func (f *Firewall) Uninstall(ctx context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return err
	}
	if f.dumper == nil {
		return ErrClosed
	}
	exists, err := f.tableExists()
	if err != nil {
		return err
	}
	if exists {
		if err := f.checkTable(map[string]bool{}, map[string]bool{}); err != nil {
			return err
		}
		f.conn.DelTable(f.table)
		if err := f.conn.Flush(); err != nil {
			f.met.errors.WithLabelValues(reasonNetlink).Inc()
			return fmt.Errorf("nftables: delete table inet %s: %w", f.table.Name, err)
		}
	}
	f.ready, f.haveOK = false, false
	f.have = [2][]interval{}
	f.seeds = nil
	clear(f.decisions)
	f.setGauges(f.have)
	f.log.Info("nftables table deleted", "existed", exists)
	return nil
}

// Apply adds the enforced block decisions for addresses and ranges among
// ds to the sets, each with its remaining time at now as its timeout.
// Other decisions (domains, notify, warn, expired, revoked, dry runs) are
// ignored. A decision whose range is not valid or covers a whole address
// family (/0) is refused: it is skipped, logged and counted in
// campusguard_firewall_nft_errors_total{reason="invalid_decision"}, and
// the others are still applied. A decision inside a range that is already
// blocked for at least as long adds nothing.
func (f *Firewall) Apply(ctx context.Context, ds []decision.Decision, now time.Time) (Changes, error) {
	called := time.Now()
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.usable(); err != nil {
		return Changes{}, err
	}
	var added []interval
	shortened := false
	for _, d := range ds {
		if k, iv, ok := f.admit(d, now); ok {
			if old, dup := f.decisions[k]; dup && old.expires.After(iv.expires) {
				shortened = true
			}
			f.decisions[k] = iv
			added = append(added, iv)
		}
	}
	if len(added) == 0 {
		return Changes{}, nil
	}
	if shortened || len(added) > maxSplice {
		added = nil // recompute everything
	}
	return f.sync(ctx, "apply", now, called, false, added)
}

// Remove takes revoked decisions out of the sets at once. An address stays
// blocked while another decision still covers it. Before the first
// Reconcile after Setup, the ranges found in the kernel are cut where a
// removed decision covers them, since which decisions they came from is
// not known; Reconcile restores any that are still active.
func (f *Firewall) Remove(ctx context.Context, ds []decision.Decision) (Changes, error) {
	called := time.Now()
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.usable(); err != nil {
		return Changes{}, err
	}
	removed := 0
	for _, d := range ds {
		if d.Scope != decision.ScopeIP && d.Scope != decision.ScopeRange {
			continue
		}
		p, err := prefixOf(d)
		if err != nil {
			continue // never applied
		}
		k := entryKey{d.ID, p}
		if _, ok := f.decisions[k]; ok {
			delete(f.decisions, k)
			removed++
		}
		if len(f.seeds) > 0 {
			first, last := spanOf(p)
			f.seeds = subtract(f.seeds, first, last)
			removed++
		}
	}
	if removed == 0 {
		return Changes{}, nil
	}
	return f.sync(ctx, "remove", called, called, false, nil)
}

// Reconcile makes the sets hold exactly the enforced block decisions among
// active: it reads the elements the kernel holds, adds missing ranges,
// rewrites timeouts that drifted from the decisions' remaining time (so a
// long block never lapses because its first timeout ran out) and deletes
// ranges no active decision covers. Call it periodically and once after
// Setup with every active decision.
func (f *Firewall) Reconcile(ctx context.Context, active []decision.Decision, now time.Time) (Changes, error) {
	called := time.Now()
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.usable(); err != nil {
		return Changes{}, err
	}
	decisions := make(map[entryKey]interval, len(active))
	for _, d := range active {
		if k, iv, ok := f.admit(d, now); ok {
			if old, dup := decisions[k]; !dup || iv.expires.After(old.expires) {
				decisions[k] = iv
			}
		}
	}
	f.decisions, f.seeds = decisions, nil
	return f.sync(ctx, "reconcile", now, called, true, nil)
}

// admit returns the range a decision blocks if nftables enforces it.
func (f *Firewall) admit(d decision.Decision, now time.Time) (entryKey, interval, bool) {
	if d.Action != decision.ActionBlock || (d.Scope != decision.ScopeIP && d.Scope != decision.ScopeRange) || !d.Enforced(now) {
		return entryKey{}, interval{}, false
	}
	p, err := prefixOf(d)
	if err != nil {
		f.met.errors.WithLabelValues(reasonInvalid).Inc()
		f.log.Warn("refusing a block decision", "id", d.ID, "subject", d.Subject(), "err", err)
		return entryKey{}, interval{}, false
	}
	first, last := spanOf(p)
	return entryKey{d.ID, p}, interval{first: first, last: last, expires: d.Expires}, true
}

// sync writes what the decisions and seeds ask for; now is the caller's
// time, taken when it called at called. When added lists the only entries
// that are new since the last successful update, the wanted ranges are
// that update's with them spliced in; otherwise they are computed from
// every entry. With fresh, or when what the sets hold is not known, it
// lists the sets first. A failed write is retried once after listing them:
// the usual cause is an element that expired in the kernel between a
// listing and the write.
func (f *Firewall) sync(ctx context.Context, op string, now, called time.Time, fresh bool, added []interval) (Changes, error) {
	start := time.Now()
	// Timeouts are the time left when an element is written, not when the
	// call began: a large update takes seconds.
	clock := func() time.Time { return now.Add(time.Since(called)) }
	var want [2][]interval
	if added != nil && f.haveOK {
		want = f.have
		for _, e := range added {
			fam := 1
			if e.first.Is4() {
				fam = 0
			}
			want[fam] = splice(want[fam], e, now)
		}
	} else {
		want[0], want[1] = segments(f.entries(now), now)
	}
	ch, err := f.converge(ctx, want, clock, fresh || !f.haveOK)
	if err != nil && ctx.Err() == nil {
		f.met.errors.WithLabelValues(reasonNetlink).Inc()
		f.log.Warn("nftables update failed; reading the sets again and retrying once", "op", op, "err", err)
		ch, err = f.converge(ctx, want, clock, true)
	}
	f.met.duration.WithLabelValues(op).Observe(time.Since(start).Seconds())
	if err != nil {
		f.haveOK = false
		f.met.errors.WithLabelValues(reasonNetlink).Inc()
		return ch, fmt.Errorf("nftables: %s on table inet %s: %w", op, f.table.Name, err)
	}
	f.met.updates.WithLabelValues(op).Inc()
	f.met.changes.WithLabelValues("add").Add(float64(ch.Added))
	f.met.changes.WithLabelValues("delete").Add(float64(ch.Deleted))
	f.met.changes.WithLabelValues("refresh").Add(float64(ch.Refreshed))
	f.setGauges(want)
	level := slog.LevelDebug
	if ch.Added+ch.Deleted+ch.Refreshed > 0 {
		level = slog.LevelInfo
	}
	f.log.Log(ctx, level, "nftables sets updated", "op", op, "added", ch.Added, "deleted", ch.Deleted,
		"refreshed", ch.Refreshed, "unchanged", ch.Unchanged, "took", time.Since(start))
	return ch, nil
}

// entries returns the ranges asked for, dropping expired ones.
func (f *Firewall) entries(now time.Time) []interval {
	es := make([]interval, 0, len(f.decisions)+len(f.seeds))
	for k, iv := range f.decisions {
		if !iv.expires.After(now) {
			delete(f.decisions, k)
			continue
		}
		es = append(es, iv)
	}
	seeds := f.seeds[:0]
	for _, iv := range f.seeds {
		if iv.expires.After(now) {
			seeds = append(seeds, iv)
		}
	}
	f.seeds = seeds
	return append(es, seeds...)
}

// converge writes the difference between the sets and want.
func (f *Firewall) converge(ctx context.Context, want [2][]interval, clock func() time.Time, read bool) (Changes, error) {
	have := f.have
	if read {
		var err error
		if have, err = f.dump(); err != nil {
			return Changes{}, err
		}
	}
	// Ranges that ran out are gone from the kernel, or will be any moment:
	// leave them to it rather than delete them.
	t := clock()
	for i := range have {
		have[i], want[i] = unexpired(have[i], t), unexpired(want[i], t)
	}
	var ch Changes
	var groups [2][]group
	for i := range groups {
		g, c := plan(have[i], want[i], clock())
		groups[i] = g
		ch.add(c)
	}
	f.haveOK = false
	if err := f.write(ctx, groups, clock); err != nil {
		return ch, err
	}
	f.have, f.haveOK = want, true
	return ch, nil
}

func unexpired(ivs []interval, now time.Time) []interval {
	out := make([]interval, 0, len(ivs))
	for _, iv := range ivs {
		if iv.expires.After(now) {
			out = append(out, iv)
		}
	}
	return out
}

// write sends the groups in batches of at most f.chunk elements. A batch
// holds whole groups where they fit and lists its deletions before its
// additions; the kernel applies a batch as one transaction.
func (f *Firewall) write(ctx context.Context, groups [2][]group, clock func() time.Time) error {
	var del, add [2][]nftables.SetElement
	n, batches := 0, 0
	flush := func() error {
		if n == 0 {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		for i, s := range f.sets {
			if err := queue(f.conn.SetDeleteElements, s, del[i]); err != nil {
				return err
			}
			if err := queue(f.conn.SetAddElements, s, add[i]); err != nil {
				return err
			}
		}
		batches++
		if err := f.conn.Flush(); err != nil {
			return fmt.Errorf("batch %d (%d elements): %w", batches, n, err)
		}
		for i := range del {
			del[i], add[i] = del[i][:0], add[i][:0]
		}
		n = 0
		return nil
	}
	for fam := range groups {
		for _, g := range groups[fam] {
			if n > 0 && n+g.elems > f.chunk {
				if err := flush(); err != nil {
					return err
				}
			}
			// A group larger than a batch is split, its deletions first.
			for _, iv := range g.del {
				if n+elemCount(iv) > f.chunk {
					if err := flush(); err != nil {
						return err
					}
				}
				del[fam] = delElements(del[fam], iv)
				n += elemCount(iv)
			}
			for _, iv := range g.add {
				if n+elemCount(iv) > f.chunk {
					if err := flush(); err != nil {
						return err
					}
				}
				add[fam] = addElements(add[fam], iv, timeoutFor(iv.expires, clock()))
				n += elemCount(iv)
			}
		}
	}
	return flush()
}

// queue puts els on the connection's batch in messages of at most
// maxElemsPerMsg elements.
func queue(op func(*nftables.Set, []nftables.SetElement) error, s *nftables.Set, els []nftables.SetElement) error {
	for len(els) > 0 {
		part := els[:min(len(els), maxElemsPerMsg)]
		els = els[len(part):]
		if err := op(s, part); err != nil {
			return fmt.Errorf("set %s: encode %d elements: %w", s.Name, len(part), err)
		}
	}
	return nil
}

// dump reads both sets.
func (f *Firewall) dump() ([2][]interval, error) {
	var out [2][]interval
	for i, s := range f.sets {
		els, err := f.dumper.elements(f.table.Name, s.Name)
		if err != nil {
			return out, fmt.Errorf("nftables: list set inet %s %s: %w", f.table.Name, s.Name, err)
		}
		ivs, orphans, err := intervalsFromElements(els, i == 0)
		if err != nil {
			return out, fmt.Errorf("nftables: set inet %s %s: %w", f.table.Name, s.Name, err)
		}
		if orphans > 0 {
			f.log.Debug("interval ends without a start (expired, not yet collected by the kernel)", "set", s.Name, "count", orphans)
		}
		out[i] = ivs
	}
	return out, nil
}

func (f *Firewall) setGauges(have [2][]interval) {
	f.met.elements.WithLabelValues("ipv4").Set(float64(len(have[0])))
	f.met.elements.WithLabelValues("ipv6").Set(float64(len(have[1])))
}

// ruleSpec is one of the four drop rules every chain holds.
type ruleSpec struct {
	fam       int    // 0 ipv4, 1 ipv6
	direction string // "source" or "destination"
	offset    uint32 // of the address in the network header
}

var ruleSpecs = []ruleSpec{
	{0, "source", 12}, {0, "destination", 16},
	{1, "source", 8}, {1, "destination", 24},
}

func (s ruleSpec) comment() string {
	proto, dir, set := "ip", "saddr", SetIPv4
	if s.fam == 1 {
		proto, set = "ip6", SetIPv6
	}
	if s.direction == "destination" {
		dir = "daddr"
	}
	return fmt.Sprintf("campusguard: %s %s @%s counter drop", proto, dir, set)
}

// exprs is the rule `meta nfproto ipvN <ip|ip6> <saddr|daddr> @set counter drop`.
func (s ruleSpec) exprs(set *nftables.Set) []expr.Any {
	nfproto, alen := byte(unix.NFPROTO_IPV4), uint32(4)
	if s.fam == 1 {
		nfproto, alen = unix.NFPROTO_IPV6, 16
	}
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{nfproto}},
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: s.offset, Len: alen},
		&expr.Lookup{SourceRegister: 1, SetName: set.Name, SetID: set.ID},
		&expr.Counter{},
		&expr.Verdict{Kind: expr.VerdictDrop},
	}
}

// rulesMatch reports whether a chain holds exactly campusguard's rules,
// recognized by their comments.
func rulesMatch(rules []*nftables.Rule) bool {
	if len(rules) != len(ruleSpecs) {
		return false
	}
	for i, r := range rules {
		c, _ := userdata.GetString(r.UserData, userdata.TypeComment)
		if c != ruleSpecs[i].comment() {
			return false
		}
	}
	return true
}

// DropCount is what one drop rule has dropped since it was created.
type DropCount struct {
	Hook      string // "input" or "forward"
	Family    string // "ipv4" or "ipv6"
	Direction string // "source" (ip saddr) or "destination" (ip daddr)
	Packets   uint64
	Bytes     uint64
}

// Dropped reads the counters of the drop rules.
func (f *Firewall) Dropped(ctx context.Context) ([]DropCount, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := f.usable(); err != nil {
		return nil, err
	}
	var out []DropCount
	for _, c := range f.chains {
		rules, err := f.conn.GetRules(f.table, c)
		if err != nil {
			return nil, fmt.Errorf("nftables: list rules of chain inet %s %s: %w", f.table.Name, c.Name, err)
		}
		for _, r := range rules {
			comment, _ := userdata.GetString(r.UserData, userdata.TypeComment)
			for _, spec := range ruleSpecs {
				if comment != spec.comment() {
					continue
				}
				dc := DropCount{Hook: c.Name, Family: familyName(spec.fam == 0), Direction: spec.direction}
				for _, e := range r.Exprs {
					if ctr, ok := e.(*expr.Counter); ok {
						dc.Packets, dc.Bytes = ctr.Packets, ctr.Bytes
					}
				}
				out = append(out, dc)
			}
		}
	}
	return out, nil
}
