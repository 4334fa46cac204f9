// Package event defines the one record that flows through campusguard: an
// Event is what a source saw (a DNS query, a TLS or QUIC SNI, an HTTP request,
// a forum post), and its Hits are the rules it matched. Sources, the matcher
// and every sink speak this type; the package knows nothing about any of them.
package event

import (
	"fmt"
	"net/netip"
	"time"
)

// Kind says which source produced an event.
type Kind uint8

// The kinds of DESIGN.md. KindUnknown is the zero value so that a forgotten
// kind is visible instead of silently becoming "dns".
const (
	KindUnknown Kind = iota
	KindDNS
	KindTLS
	KindQUIC
	KindHTTP
	KindPost
	numKinds
)

var kindNames = [numKinds]string{"", "dns", "tls", "quic", "http", "post"}

// Kinds lists every valid kind, in declaration order.
func Kinds() []Kind { return []Kind{KindDNS, KindTLS, KindQUIC, KindHTTP, KindPost} }

// String returns the wire name of the kind ("dns", "post", ...).
func (k Kind) String() string {
	if k < numKinds {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// IsNetwork reports whether the kind comes from traffic rather than posts.
func (k Kind) IsNetwork() bool { return k >= KindDNS && k <= KindHTTP }

// ParseKind turns a wire name into a Kind.
func ParseKind(s string) (Kind, error) {
	for k := KindDNS; k < numKinds; k++ {
		if kindNames[k] == s {
			return k, nil
		}
	}
	return KindUnknown, fmt.Errorf("unknown event kind %q (want dns, tls, quic, http or post)", s)
}

// MarshalText implements encoding.TextMarshaler.
func (k Kind) MarshalText() ([]byte, error) {
	if k == KindUnknown || k >= numKinds {
		return nil, fmt.Errorf("cannot encode event kind %d", uint8(k))
	}
	return []byte(kindNames[k]), nil
}

// UnmarshalText implements encoding.TextUnmarshaler.
func (k *Kind) UnmarshalText(b []byte) error {
	v, err := ParseKind(string(b))
	if err != nil {
		return err
	}
	*k = v
	return nil
}

// Event is one observation. Fields that do not apply to a kind stay zero and
// are left out of the JSON encoding.
type Event struct {
	Time    time.Time `json:"ts"`
	Sensor  string    `json:"sensor,omitempty"`
	Frame   uint64    `json:"frame,omitempty"` // 1-based packet number in a capture file
	Kind    Kind      `json:"kind"`
	Src     string    `json:"src,omitempty"` // may be a pseudonym
	SrcPort uint16    `json:"src_port,omitempty"`
	Dst     string    `json:"dst,omitempty"`
	DstPort uint16    `json:"dst_port,omitempty"`
	Name    string    `json:"name,omitempty"`  // DNS qname, SNI or HTTP Host
	QType   string    `json:"qtype,omitempty"` // DNS only
	RCode   string    `json:"rcode,omitempty"` // DNS responses only
	// DNS responses: the CNAME chain the answer followed and the addresses
	// it ended in, so a permitted name that resolves through a blocked
	// CNAME still hits.
	CNAMEs  []string `json:"cnames,omitempty"`
	Answers []string `json:"answers,omitempty"`
	URL     string   `json:"url,omitempty"` // HTTP request target or post URL

	// Post fields.
	PostID string `json:"id,omitempty"`
	Forum  string `json:"forum,omitempty"`
	Author string `json:"author,omitempty"`
	Title  string `json:"title,omitempty"`
	Text   string `json:"text,omitempty"` // body of a post, or a line given to `match`

	Hits []Hit `json:"hits,omitempty"`

	// ClientAddr is the client's real address when Src is a pseudonym. It
	// never leaves the process (no JSON, not in the hit log): the alert
	// engine needs it because a firewall can only block real addresses.
	ClientAddr netip.Addr `json:"-"`
}

// Severity ranks how bad a hit is; the zero value is "info".
type Severity uint8

// Severities from least to most severe.
const (
	SeverityInfo Severity = iota
	SeverityLow
	SeverityMedium
	SeverityHigh
	SeverityCritical
	numSeverities
)

var severityNames = [numSeverities]string{"info", "low", "medium", "high", "critical"}

func (s Severity) String() string {
	if s < numSeverities {
		return severityNames[s]
	}
	return fmt.Sprintf("severity(%d)", uint8(s))
}

// ParseSeverity turns a name into a Severity.
func ParseSeverity(s string) (Severity, error) {
	for i, n := range severityNames {
		if n == s {
			return Severity(i), nil
		}
	}
	return 0, fmt.Errorf("unknown severity %q (want info, low, medium, high or critical)", s)
}

// MarshalText implements encoding.TextMarshaler.
func (s Severity) MarshalText() ([]byte, error) {
	if s >= numSeverities {
		return nil, fmt.Errorf("cannot encode severity %d", uint8(s))
	}
	return []byte(severityNames[s]), nil
}

// UnmarshalText implements encoding.TextUnmarshaler.
func (s *Severity) UnmarshalText(b []byte) error {
	v, err := ParseSeverity(string(b))
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// Field names the part of an event a hit was found in.
const (
	FieldName  = "name"
	FieldCNAME = "cname" // a target in Event.CNAMEs; offsets are into that name
	FieldURL   = "url"
	FieldTitle = "title"
	FieldText  = "text"
)

// Hit is one rule that matched an event. Start and End are UTF-8 byte offsets
// into the event field named by Field, so a console can highlight the span
// in the original text.
type Hit struct {
	Pack     string   `json:"pack"`
	Rule     string   `json:"rule"` // FILE:LINE of the rule, or PACK.yaml:LINE for inline entries
	Category string   `json:"category"`
	Severity Severity `json:"severity"`
	Action   string   `json:"action"`
	Match    string   `json:"match"`
	Field    string   `json:"field,omitempty"`
	Start    int      `json:"start"`
	End      int      `json:"end"`
}
