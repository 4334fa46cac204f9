package feeds

import (
	"bytes"
	"cmp"
	"slices"
	"time"

	"github.com/campusguard/campusguard/alerts/decision"
)

// Feed names one list: the metric label, and with ".txt" the file name.
type Feed int

// The feeds, in the order metrics and tests list them.
const (
	Domains Feed = iota // domains.txt
	IPs                 // ips.txt
	URLs                // urls.txt
	numFeeds
)

var feedNames = [numFeeds]string{"domains", "ips", "urls"}

func (f Feed) String() string { return feedNames[f] }

// File is the feed's file name under the mount point.
func (f Feed) File() string { return feedNames[f] + ".txt" }

// list is one built feed.
type list struct {
	body    []byte
	entries int // lines in body
	omitted int // distinct lines the cap left out
}

func (l list) truncated() bool { return l.omitted > 0 }

// feedWriter appends deduplicated lines up to a cap. Once an entry does
// not fit, nothing after it is added, so the cap only ever drops the
// entries that come last: the least severe, then the oldest.
type feedWriter struct {
	buf  bytes.Buffer
	seen map[string]struct{}
	max  int
	out  list
	full bool
}

func newFeedWriter(max, sizeHint int) *feedWriter {
	w := &feedWriter{seen: make(map[string]struct{}, min(sizeHint, max)), max: max}
	w.buf.Grow(min(sizeHint, max) * 24)
	return w
}

// add writes the lines of one entry (a domain and its wildcard go
// together or not at all) that are not in the feed yet.
func (w *feedWriter) add(lines ...string) {
	n := 0
	for i, l := range lines {
		if _, dup := w.seen[l]; dup {
			continue
		}
		w.seen[l] = struct{}{}
		lines[n] = lines[i]
		n++
	}
	if n == 0 {
		return
	}
	if w.full || w.out.entries+n > w.max {
		w.full = true
		w.out.omitted += n
		return
	}
	for _, l := range lines[:n] {
		w.buf.WriteString(l)
		w.buf.WriteByte('\n')
	}
	w.out.entries += n
}

func (w *feedWriter) list() list {
	w.out.body = w.buf.Bytes()
	return w.out
}

// plain reports whether v can be written as a line as it is. Stored
// values are normalized (decision.NormalizeValue), so this only guards
// the format against a value that was not.
func plain(v string) bool {
	if v == "" {
		return false
	}
	for i := 0; i < len(v); i++ {
		if c := v[i]; c <= ' ' || c >= 0x7f || c == '#' {
			return false
		}
	}
	return true
}

// build renders the three feeds from the decisions in force at now:
//
//   - domains.txt: domain decisions with action warn or block, each as
//     "example.com" and, with SubdomainsWildcard, "*.example.com";
//   - ips.txt: ip and range decisions with action block, as "192.0.2.7",
//     "2001:db8::7", "198.51.100.0/24" or "2001:db8:1::/48";
//   - urls.txt: the domains of domains.txt as URL entries without a
//     scheme, "example.com/" and "*.example.com/".
//
// Entries come most severe decision first, then newest (highest id);
// exact duplicates appear once, where the first decision puts them.
func build(ds []decision.Decision, now time.Time, cfg Config) [numFeeds]list {
	bySeverity := func(a, b *decision.Decision) int {
		if c := cmp.Compare(b.Severity, a.Severity); c != 0 {
			return c
		}
		return cmp.Compare(b.ID, a.ID)
	}
	// Store.Active returns them in this order already; sort pointers, not
	// the records, when they are not.
	order := make([]*decision.Decision, len(ds))
	for i := range ds {
		order[i] = &ds[i]
	}
	if !slices.IsSortedFunc(order, bySeverity) {
		slices.SortStableFunc(order, bySeverity)
	}
	wild := cfg.Subdomains != SubdomainsExact
	var domains, ips int
	for _, d := range order {
		if d.Scope == decision.ScopeDomain {
			domains++
		} else {
			ips++
		}
	}
	w := [numFeeds]*feedWriter{
		Domains: newFeedWriter(cfg.MaxEntries.Domains, 2*domains),
		IPs:     newFeedWriter(cfg.MaxEntries.IPs, ips),
		URLs:    newFeedWriter(cfg.MaxEntries.URLs, 2*domains),
	}
	var pair [2]string
	for _, d := range order {
		if !d.Enforced(now) || !plain(d.Value) {
			continue
		}
		switch d.Scope {
		case decision.ScopeDomain:
			if d.Action != decision.ActionWarn && d.Action != decision.ActionBlock {
				continue
			}
			v := d.Value
			if wild {
				pair = [2]string{v, "*." + v}
				w[Domains].add(pair[:]...)
				pair = [2]string{v + "/", "*." + v + "/"}
				w[URLs].add(pair[:]...)
			} else {
				pair[0] = v
				w[Domains].add(pair[:1]...)
				pair[0] = v + "/"
				w[URLs].add(pair[:1]...)
			}
		case decision.ScopeIP, decision.ScopeRange:
			if d.Action != decision.ActionBlock {
				continue
			}
			pair[0] = d.Value
			w[IPs].add(pair[:1]...)
		}
	}
	var out [numFeeds]list
	for f := range numFeeds {
		out[f] = w[f].list()
	}
	return out
}
