package notify

import (
	"net/netip"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/campusguard/campusguard/alerts/decision"
)

// CEF header constants.
const (
	cefVendor  = "campusguard"
	cefProduct = "campusguard"
)

// cefClean makes s one line of valid UTF-8 text: invalid bytes become
// U+FFFD; C0 controls but for tab, DEL, NEL and the Unicode line and
// paragraph separators become a space, unless keepNewlines and the rune is
// \n or \r. A SIEM that splits on any of them cannot be fooled into a
// second event.
func cefClean(s string, keepNewlines bool) string {
	clean := true
	for _, r := range s {
		if r == utf8.RuneError || cefReplace(r, keepNewlines) {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n <= 1:
			b.WriteRune(utf8.RuneError)
		case cefReplace(r, keepNewlines):
			b.WriteByte(' ')
		default:
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return b.String()
}

func cefReplace(r rune, keepNewlines bool) bool {
	switch {
	case r == '\t':
		return false
	case r == '\n' || r == '\r':
		return !keepNewlines
	case r < 0x20, r == 0x7f, r == 0x85, r == 0x2028, r == 0x2029:
		return true
	}
	return false
}

// cefHeader escapes a CEF header field: backslash and pipe. Newlines cannot
// be escaped in the header; they become spaces, like other controls.
func cefHeader(s string) string {
	s = cefClean(s, false)
	if !strings.ContainsAny(s, `\|`) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == '\\' || c == '|' {
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// cefValue escapes a CEF extension value: backslash, equals sign, and
// newlines as \n and \r. Pipes need no escape there.
func cefValue(s string) string {
	s = cefClean(s, true)
	if !strings.ContainsAny(s, "\\=\n\r") {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\\':
			b.WriteString(`\\`)
		case '=':
			b.WriteString(`\=`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// cefSeverity maps a decision severity (1 to 4) to CEF's 0 to 10 scale:
// low 3, medium 5, high 8, critical 10. The end of a decision is 1.
func cefSeverity(it *item) int {
	if it.status == StatusResolved {
		return 1
	}
	switch s := it.d.Severity; {
	case s <= 1:
		return 3
	case s == 2:
		return 5
	case s == 3:
		return 8
	}
	return 10
}

// syslogSeverity maps a decision severity to RFC 5424's: critical 2
// (crit), high 3 (err), medium 4 (warning), low 5 (notice). The end of a
// decision is 6 (info).
func syslogSeverity(it *item) int {
	if it.status == StatusResolved {
		return 6
	}
	switch s := it.d.Severity; {
	case s <= 1:
		return 5
	case s == 2:
		return 4
	case s == 3:
		return 3
	}
	return 2
}

// cefSignature is the CEF Signature ID, one per kind of event:
// decision-<action>, then -revoked or -expired for its end.
func cefSignature(it *item) string {
	s := "decision-" + string(it.d.Action)
	if it.why != "" {
		s += "-" + it.why
	}
	return s
}

// cefName is the CEF Name: readable, without the subject, so a SIEM can
// group by it.
func cefName(it *item) string {
	d := &it.d
	var b strings.Builder
	if d.DryRun {
		b.WriteString("Dry-run ")
	}
	switch it.why {
	case "revoked", "expired":
		b.WriteString(string(d.Action) + " " + it.why + ": " + string(d.Scope))
	default:
		b.WriteString(string(d.Action) + " " + string(d.Scope))
	}
	if d.Category != "" {
		b.WriteString(" (" + d.Category + ")")
	}
	return b.String()
}

// cefField is one extension pair; the value is not yet escaped.
type cefField struct{ key, value string }

// cefFields are the extension pairs of it, short and structured ones
// first, free text last: truncation cuts from the end. Empty values are
// left out, with their labels.
func cefFields(it *item) []cefField {
	d := &it.d
	var f []cefField
	add := func(key, value string) {
		if value != "" {
			f = append(f, cefField{key, value})
		}
	}
	labeled := func(key, label, value string) {
		if value != "" {
			f = append(f, cefField{key + "Label", label}, cefField{key, value})
		}
	}
	ms := func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return strconv.FormatInt(t.UnixMilli(), 10)
	}
	at := d.Created
	if it.status == StatusResolved {
		at = it.ended
	}
	add("rt", ms(at))
	add("act", string(d.Action))
	switch d.Scope {
	case decision.ScopeIP:
		if a, err := netip.ParseAddr(d.Value); err == nil && a.Unmap().Is4() {
			add("src", a.Unmap().String())
		} else if err == nil {
			labeled("c6a2", "Source IPv6 Address", a.String())
		}
	case decision.ScopeDomain:
		add("dhost", d.Value)
	}
	add("externalId", strconv.FormatInt(d.ID, 10))
	add("cat", d.Category)
	labeled("cs1", "policy", d.Policy)
	labeled("cs2", "category", d.Category)
	labeled("cs3", "status", statusWord(it))
	labeled("cs4", "subject", d.Subject())
	labeled("cs5", "origin", string(d.Origin))
	labeled("cn1", "strike", strconv.Itoa(d.Strike))
	add("cnt", strconv.Itoa(it.hits))
	labeled("flexString1", "dryRun", strconv.FormatBool(d.DryRun))
	add("start", ms(d.Created))
	if d.Action != decision.ActionNotify {
		add("end", ms(d.Expires))
	}
	actor := d.Actor
	if it.why == "revoked" {
		actor = d.RevokedBy
		labeled("cs6", "revokeReason", d.RevokeReason)
	}
	add("suser", actor)
	add("msg", summary(it))
	add("reason", d.Reason)
	return f
}

// statusWord is firing, revoked or expired.
func statusWord(it *item) string {
	if it.why != "" {
		return it.why
	}
	return string(it.status)
}

// appendCEF appends the CEF message for it to b, stopping at max bytes in
// all: a field that does not fit is cut at a character boundary (never
// inside an escape), and the fields after it are left out.
func appendCEF(b []byte, it *item, version string, max int) []byte {
	b = append(b, "CEF:0|"...)
	for _, h := range []string{cefVendor, cefProduct, version, cefSignature(it), cefName(it), strconv.Itoa(cefSeverity(it))} {
		b = append(b, cefHeader(h)...)
		b = append(b, '|')
	}
	if len(b) > max {
		return cutEscaped(b[:0], string(b), max)
	}
	first := true
	for _, f := range cefFields(it) {
		v := cefValue(f.value)
		n := len(f.key) + 1 + len(v)
		if !first {
			n++
		}
		if len(b)+n <= max {
			if !first {
				b = append(b, ' ')
			}
			b = append(b, f.key...)
			b = append(b, '=')
			b = append(b, v...)
			first = false
			continue
		}
		// Cut this value if its key and something of it fit.
		room := max - len(b) - len(f.key) - 1
		if !first {
			room--
		}
		if room > 0 {
			if !first {
				b = append(b, ' ')
			}
			b = append(b, f.key...)
			b = append(b, '=')
			b = cutEscaped(b, v, len(b)+room)
		}
		break
	}
	return b
}

// cutEscaped appends to b as much of the escaped text s as keeps b within
// max bytes, ending on a whole character and a whole escape.
func cutEscaped(b []byte, s string, max int) []byte {
	for i := 0; i < len(s); {
		n := 1
		if s[i] == '\\' && i+1 < len(s) {
			n = 2
		} else if s[i] >= utf8.RuneSelf {
			_, n = utf8.DecodeRuneInString(s[i:])
		}
		if len(b)+n > max {
			break
		}
		b = append(b, s[i:i+n]...)
		i += n
	}
	return b
}
