// Package dnsmsg reads the metadata campusguard needs from DNS messages in
// wire format (RFC 1035): the header flags, the first question, and from
// responses the CNAME chain and the A/AAAA answer addresses. It also splits a
// DNS-over-TCP byte stream into messages.
//
// Input is untrusted packet data: every length, count and compression pointer
// is checked, work per message is bounded, and malformed input yields an
// error, never a panic. Unpack does not allocate once a Message's buffers
// have grown to fit, so one Message per worker can be reused for every
// packet. Nothing of the payload is kept beyond the exported fields.
package dnsmsg
