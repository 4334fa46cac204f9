package stream

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
)

// Filter is what a bouncer asks for in the query string, read as
// CrowdSec's LAPI reads it: comma-separated lists, compared without regard
// to case. Every list holds lower-case, non-empty items without commas.
type Filter struct {
	// Scopes are the scopes sent ("scopes" or "scope"): ip, range,
	// domain; other names match nothing. Without the parameter: ip and
	// range, as CrowdSec.
	Scopes []string
	// Origins, when not empty, limits the stream to these origins
	// ("origins"): policy, manual.
	Origins []string
	// ScenariosContaining, when not empty, keeps decisions whose scenario
	// (the policy name, or "manual") contains one of them
	// ("scenarios_containing").
	ScenariosContaining []string
	// ScenariosNotContaining drops decisions whose scenario contains one
	// of them ("scenarios_not_containing").
	ScenariosNotContaining []string
}

// DefaultScopes are the scopes of a bouncer that names none. CrowdSec
// sends only ip and range decisions unless asked for others, and so does
// this stream: a firewall bouncer handed a domain would try to parse it as
// an address.
var DefaultScopes = []string{"ip", "range"}

// Bounds of one list parameter.
const (
	maxItems     = 32
	maxItemBytes = 256
)

// ParseFilter reads the filter parameters of q. Other parameters (startup,
// and CrowdSec's ip, range, value, type, contains, dedup, simulated) are
// not its business. Repeated parameters add up; empty items are skipped;
// a parameter with no items at all counts as absent.
func ParseFilter(q url.Values) (Filter, error) {
	var f Filter
	var err error
	if f.Scopes, err = list(q, "scopes", "scope"); err != nil {
		return Filter{}, err
	}
	if len(f.Scopes) == 0 {
		f.Scopes = slices.Clone(DefaultScopes)
	}
	if f.Origins, err = list(q, "origins"); err != nil {
		return Filter{}, err
	}
	if f.ScenariosContaining, err = list(q, "scenarios_containing"); err != nil {
		return Filter{}, err
	}
	if f.ScenariosNotContaining, err = list(q, "scenarios_not_containing"); err != nil {
		return Filter{}, err
	}
	return f, nil
}

func list(q url.Values, names ...string) ([]string, error) {
	var out []string
	for _, name := range names {
		for _, v := range q[name] {
			for item := range strings.SplitSeq(v, ",") {
				item = strings.ToLower(strings.TrimSpace(item))
				if item == "" || slices.Contains(out, item) {
					continue
				}
				if len(item) > maxItemBytes {
					return nil, fmt.Errorf("%s: an item of %d bytes, at most %d", name, len(item), maxItemBytes)
				}
				if len(out) == maxItems {
					return nil, fmt.Errorf("%s: more than %d items", name, maxItems)
				}
				out = append(out, item)
			}
		}
	}
	return out, nil
}

// Encode returns the query parameters that ParseFilter reads back as f.
func (f Filter) Encode() url.Values {
	q := url.Values{}
	for _, p := range []struct {
		name  string
		items []string
	}{{"scopes", f.Scopes}, {"origins", f.Origins}, {"scenarios_containing", f.ScenariosContaining}, {"scenarios_not_containing", f.ScenariosNotContaining}} {
		if len(p.items) > 0 {
			q.Set(p.name, strings.Join(p.items, ","))
		}
	}
	return q
}

// Match reports whether a decision as sent passes f.
func (f Filter) Match(d Decision) bool {
	if !slices.Contains(f.Scopes, strings.ToLower(d.Scope)) {
		return false
	}
	if len(f.Origins) > 0 && !slices.Contains(f.Origins, strings.ToLower(d.Origin)) {
		return false
	}
	scenario := strings.ToLower(d.Scenario)
	contains := func(s string) bool { return strings.Contains(scenario, s) }
	if len(f.ScenariosContaining) > 0 && !slices.ContainsFunc(f.ScenariosContaining, contains) {
		return false
	}
	return !slices.ContainsFunc(f.ScenariosNotContaining, contains)
}
