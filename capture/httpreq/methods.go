package httpreq

import "bytes"

// methods are the request methods a connection may start with: RFC 9110,
// PATCH (RFC 5789), and WebDAV with its extensions (RFC 4918, 3253, 3648,
// 3744, 4791, 5323, 5842).
var methods = [...]string{
	"GET", "POST", "HEAD", "PUT", "DELETE", "OPTIONS", "PATCH", "CONNECT", "TRACE",
	"PROPFIND", "PROPPATCH", "MKCOL", "COPY", "MOVE", "LOCK", "UNLOCK",
	"SEARCH", "REPORT", "ACL", "MKCALENDAR", "ORDERPATCH",
	"BIND", "UNBIND", "REBIND", "MKWORKSPACE", "MKACTIVITY", "VERSION-CONTROL",
	"CHECKOUT", "CHECKIN", "UNCHECKOUT", "UPDATE", "LABEL", "MERGE", "BASELINE-CONTROL",
}

// maxMethod is the length of the longest method.
const maxMethod = len("BASELINE-CONTROL")

func isMethod(b []byte) bool {
	// A switch on string(b) compiles to a search without allocating;
	// TestMethods checks it against the list.
	switch string(b) {
	case "GET", "POST", "HEAD", "PUT", "DELETE", "OPTIONS", "PATCH", "CONNECT", "TRACE",
		"PROPFIND", "PROPPATCH", "MKCOL", "COPY", "MOVE", "LOCK", "UNLOCK",
		"SEARCH", "REPORT", "ACL", "MKCALENDAR", "ORDERPATCH",
		"BIND", "UNBIND", "REBIND", "MKWORKSPACE", "MKACTIVITY", "VERSION-CONTROL",
		"CHECKOUT", "CHECKIN", "UNCHECKOUT", "UPDATE", "LABEL", "MERGE", "BASELINE-CONTROL":
		return true
	}
	return false
}

// methodPrefix reports whether b, the first bytes of a request, can still be
// a known method followed by a space: so that a TLS handshake or other binary
// data is rejected from its first byte.
func methodPrefix(b []byte) bool {
	b = b[:min(len(b), maxMethod+1)]
	if sp := bytes.IndexByte(b, ' '); sp >= 0 {
		return isMethod(b[:sp])
	}
	if len(b) > maxMethod {
		return false
	}
	for _, m := range methods {
		if len(b) <= len(m) && string(b) == m[:len(b)] {
			return true
		}
	}
	return false
}

// StartsRequest reports whether b begins with a known method and a space,
// so a reader joining a connection midway (or looking at its first
// segment) knows a request head starts here.
func StartsRequest(b []byte) bool {
	b = b[:min(len(b), maxMethod+1)]
	sp := bytes.IndexByte(b, ' ')
	return sp > 0 && isMethod(b[:sp])
}
