package stream

import (
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseFilter(t *testing.T) {
	for _, c := range []struct {
		query string
		want  Filter
		err   string
	}{
		{"", Filter{Scopes: []string{"ip", "range"}}, ""},
		{"startup=true&ip=1.2.3.4&dedup=false", Filter{Scopes: []string{"ip", "range"}}, ""},
		{"scopes=Ip,RANGE", Filter{Scopes: []string{"ip", "range"}}, ""},
		{"scopes=ip&scope=domain", Filter{Scopes: []string{"ip", "domain"}}, ""},
		{"scopes=ip&scopes=ip,%20ip%20,,", Filter{Scopes: []string{"ip"}}, ""},
		{"scopes=,,", Filter{Scopes: []string{"ip", "range"}}, ""},
		{"origins=cscli,crowdsec,Policy", Filter{Scopes: []string{"ip", "range"}, Origins: []string{"cscli", "crowdsec", "policy"}}, ""},
		{"scenarios_containing=ssh,HTTP&scenarios_not_containing=test", Filter{Scopes: []string{"ip", "range"},
			ScenariosContaining: []string{"ssh", "http"}, ScenariosNotContaining: []string{"test"}}, ""},
		{"origins=" + strings.Repeat("x", maxItemBytes+1), Filter{}, "origins: an item of 257 bytes"},
		{"scenarios_containing=" + strings.Repeat("a,b,c,d,e,f,g,h,", 4) + "q" + strings.Repeat(",z", 40), Filter{}, ""},
	} {
		q, err := url.ParseQuery(c.query)
		if err != nil {
			t.Fatal(err)
		}
		got, err := ParseFilter(q)
		if c.err != "" {
			if err == nil || !strings.HasPrefix(err.Error(), c.err) {
				t.Errorf("%q: %v, want an error %q", c.query, err, c.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", c.query, err)
			continue
		}
		if c.want.Scopes == nil {
			continue // only checks that it parses
		}
		if diff := cmp.Diff(c.want, got); diff != "" {
			t.Errorf("%q (-want +got):\n%s", c.query, diff)
		}
	}
	var many []string
	for i := range maxItems + 1 {
		many = append(many, strings.Repeat("s", i+1))
	}
	if _, err := ParseFilter(url.Values{"scenarios_not_containing": many}); err == nil || !strings.Contains(err.Error(), "more than 32") {
		t.Errorf("33 repeated parameters: %v", err)
	}
}

func TestFilterMatch(t *testing.T) {
	d := Decision{Scope: "Ip", Origin: "policy", Scenario: "SSH-Brute-Force", Type: BanType, Value: "192.0.2.1"}
	for _, c := range []struct {
		query string
		want  bool
	}{
		{"", true},
		{"scopes=range", false},
		{"scopes=IP", true},
		{"origins=manual", false},
		{"origins=manual,POLICY", true},
		{"scenarios_containing=brute", true},
		{"scenarios_containing=http,dns", false},
		{"scenarios_not_containing=ssh", false},
		{"scenarios_not_containing=http", true},
	} {
		q, _ := url.ParseQuery(c.query)
		f, err := ParseFilter(q)
		if err != nil {
			t.Fatal(err)
		}
		if got := f.Match(d); got != c.want {
			t.Errorf("%q: Match = %v, want %v", c.query, got, c.want)
		}
	}
}

// FuzzParseFilter: whatever the query, ParseFilter returns an error or a
// filter of lower-case, non-empty, comma-free, distinct items within the
// bounds, which Encode writes back as the same filter, and Match does not
// fail on it.
func FuzzParseFilter(f *testing.F) {
	for _, s := range []string{
		"", "startup=true", "scopes=ip,range", "scope=Ip&scopes=Range,domain", "origins=cscli,crowdsec&scenarios_containing=ssh",
		"scenarios_not_containing=%2C%2C,%20", "scopes=%FF%FE", "scopes=a&scopes=b&scopes=a", "origins=" + strings.Repeat("x,", 40),
		"scopes=İ,K", // letters whose lower case is longer or not ASCII
	} {
		f.Add(s)
	}
	d := Decision{Scope: "Ip", Origin: "policy", Scenario: "phish", Type: BanType, Value: "192.0.2.1"}
	f.Fuzz(func(t *testing.T, raw string) {
		q, _ := url.ParseQuery(raw) // what it could parse, as net/http does
		got, err := ParseFilter(q)
		if err != nil {
			return
		}
		for _, items := range [][]string{got.Scopes, got.Origins, got.ScenariosContaining, got.ScenariosNotContaining} {
			if len(items) > maxItems {
				t.Fatalf("%d items", len(items))
			}
			for i, it := range items {
				if it == "" || strings.Contains(it, ",") || it != strings.ToLower(it) || it != strings.TrimSpace(it) || len(it) > maxItemBytes {
					t.Fatalf("item %q", it)
				}
				if slices.Contains(items[:i], it) {
					t.Fatalf("item %q twice", it)
				}
			}
		}
		if len(got.Scopes) == 0 {
			t.Fatal("no scopes")
		}
		again, err := ParseFilter(got.Encode())
		if err != nil {
			t.Fatalf("Encode %v: %v", got.Encode(), err)
		}
		if !cmp.Equal(got, again) {
			t.Fatalf("round trip: %+v, then %+v", got, again)
		}
		got.Match(d)
	})
}
