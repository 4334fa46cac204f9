// Package tlshello reads the server name (SNI) out of a TLS ClientHello, from
// the client's TCP byte stream or from a bare handshake message (as QUIC
// carries it in CRYPTO frames).
//
// It is a parser and nothing else: it keeps no payload beyond the call that
// looked at it, knows nothing of flows, sockets or events, and validates only
// the ClientHello framing it walks to find the server_name extension. The
// only thing it hands back is the host_name bytes, as metadata for the caller.
// It never panics on any input and, once a Parser's scratch has grown to the
// largest fragmented hello it has seen, does not allocate on valid input.
package tlshello

import (
	"errors"
	"fmt"
)

// MaxHandshake bounds the ClientHello (header included) a Parser accepts.
// Post-quantum key shares make hellos of 1.5-2 KiB common; 64 KiB leaves room
// for anything legitimate while keeping per-worker scratch bounded.
const MaxHandshake = 64 << 10

// maxRecord is the largest TLSPlaintext fragment RFC 8446 §5.1 allows.
const maxRecord = 1 << 14

const (
	recordTypeHandshake   = 0x16
	handshakeClientHello  = 0x01
	extensionServerName   = 0x0000
	serverNameTypeHost    = 0x00
	recordHeaderLen       = 5
	handshakeHeaderLen    = 4
	clientHelloRandomLen  = 32
	maxLegacySessionIDLen = 32
)

var (
	// ErrNeedMore means the input ends before the ClientHello does; call
	// again with more bytes of the same stream or message.
	ErrNeedMore = errors.New("tlshello: need more data")

	// ErrNotTLS means the stream does not start with a TLS handshake record.
	ErrNotTLS = errors.New("tlshello: not a TLS handshake")

	// ErrMalformed is wrapped by every error about a ClientHello that is
	// framed as TLS but broken inside; the wrapping error says what and where.
	ErrMalformed = errors.New("tlshello: malformed ClientHello")

	// ErrTooLarge is wrapped when the handshake announces more than
	// MaxHandshake bytes.
	ErrTooLarge = errors.New("tlshello: ClientHello too large")
)

// Parser holds the scratch used to join a ClientHello that was fragmented
// over several records. Use one per worker; it is not safe for concurrent use.
// The zero value is ready to use.
type Parser struct {
	buf []byte
}

// FromRecords returns the host_name of the server_name extension of the
// ClientHello at the start of stream, the client-to-server TCP byte stream
// from its first byte. It returns ErrNotTLS as soon as the first bytes cannot
// start a handshake record, ErrNeedMore while the ClientHello is incomplete,
// and nil, nil for a complete ClientHello without SNI.
//
// The returned slice aliases stream or the Parser's scratch; it is valid until
// the next call on p or until stream changes.
func (p *Parser) FromRecords(stream []byte) (sni []byte, err error) {
	if err := checkRecordStart(stream); err != nil {
		return nil, err
	}

	// First pass: walk record headers without copying, learning the
	// handshake length from its first four bytes (which may themselves be
	// split over records), until enough fragment bytes are present.
	var (
		hdr       [handshakeHeaderLen]byte
		hdrHave   int
		total     = -1 // handshake bytes needed, header included; -1 while unknown
		got       int  // handshake bytes seen so far
		records   int
		pos       int
		firstFrag []byte
	)
	for total < 0 || got < total {
		frag, next, err := nextRecord(stream, pos, records)
		if err != nil {
			return nil, err
		}
		if records == 0 {
			firstFrag = frag
		}
		records++
		pos = next
		for i := 0; hdrHave < handshakeHeaderLen && i < len(frag); i++ {
			hdr[hdrHave] = frag[i]
			hdrHave++
			if hdrHave == 1 && hdr[0] != handshakeClientHello {
				return nil, fmt.Errorf("%w: handshake type %d, want ClientHello (1)", ErrMalformed, hdr[0])
			}
		}
		got += len(frag)
		if total < 0 && hdrHave == handshakeHeaderLen {
			n := int(hdr[1])<<16 | int(hdr[2])<<8 | int(hdr[3])
			if n > MaxHandshake-handshakeHeaderLen {
				return nil, fmt.Errorf("%w: handshake announces %d bytes, limit %d", ErrTooLarge, n, MaxHandshake)
			}
			total = handshakeHeaderLen + n
		}
	}

	// Common case: one record holds the whole hello; parse it in place.
	if len(firstFrag) >= total {
		return parseClientHello(firstFrag[handshakeHeaderLen:total])
	}

	// Fragmented: join the fragments in the scratch, then parse.
	if cap(p.buf) < total {
		p.buf = make([]byte, 0, total)
	}
	buf := p.buf[:0]
	pos = 0
	for len(buf) < total {
		frag, next, _ := nextRecord(stream, pos, 1) // validated by the first pass
		pos = next
		if room := total - len(buf); len(frag) > room {
			frag = frag[:room]
		}
		buf = append(buf, frag...)
	}
	return parseClientHello(buf[handshakeHeaderLen:total])
}

// checkRecordStart rejects streams that cannot begin with a handshake record,
// looking at no more bytes than are there.
func checkRecordStart(stream []byte) error {
	if len(stream) == 0 {
		return ErrNeedMore
	}
	if stream[0] != recordTypeHandshake {
		return ErrNotTLS
	}
	if len(stream) >= 2 && stream[1] != 0x03 {
		return ErrNotTLS
	}
	if len(stream) >= 3 && stream[2] > 0x04 {
		return ErrNotTLS
	}
	return nil
}

// nextRecord returns the fragment of the record at stream[pos:] and the
// position after it. index is the record's number in the stream, 0 for the
// first; only the first one decides ErrNotTLS.
func nextRecord(stream []byte, pos, index int) (frag []byte, next int, err error) {
	if pos >= len(stream) {
		return nil, pos, ErrNeedMore
	}
	rest := stream[pos:]
	if index == 0 {
		if err := checkRecordStart(rest); err != nil {
			return nil, pos, err
		}
	} else if rest[0] != recordTypeHandshake {
		return nil, pos, fmt.Errorf("%w: record %d at offset %d has content type %d before the ClientHello ended", ErrMalformed, index, pos, rest[0])
	} else if len(rest) >= 2 && rest[1] != 0x03 || len(rest) >= 3 && rest[2] > 0x04 {
		return nil, pos, fmt.Errorf("%w: record %d at offset %d has version %#x", ErrMalformed, index, pos, rest[1:3])
	}
	if len(rest) < recordHeaderLen {
		return nil, pos, ErrNeedMore
	}
	n := int(rest[3])<<8 | int(rest[4])
	if n > maxRecord {
		if index == 0 {
			return nil, pos, fmt.Errorf("%w: first record length %d exceeds %d", ErrNotTLS, n, maxRecord)
		}
		return nil, pos, fmt.Errorf("%w: record %d at offset %d has length %d, limit %d", ErrMalformed, index, pos, n, maxRecord)
	}
	if n == 0 {
		// RFC 8446 §5.1 forbids empty handshake fragments.
		return nil, pos, fmt.Errorf("%w: record %d at offset %d is empty", ErrMalformed, index, pos)
	}
	if len(rest) < recordHeaderLen+n {
		return nil, pos, ErrNeedMore
	}
	return rest[recordHeaderLen : recordHeaderLen+n], pos + recordHeaderLen + n, nil
}

// FromHandshake is FromRecords for a bare handshake message, as QUIC carries
// it: msg starts with the 4-byte handshake header. It returns ErrNeedMore when
// msg is shorter than the header announces; bytes after the message are
// ignored. The returned slice aliases msg.
func (p *Parser) FromHandshake(msg []byte) (sni []byte, err error) {
	if len(msg) >= 1 && msg[0] != handshakeClientHello {
		return nil, fmt.Errorf("%w: handshake type %d, want ClientHello (1)", ErrMalformed, msg[0])
	}
	if len(msg) < handshakeHeaderLen {
		return nil, ErrNeedMore
	}
	n := int(msg[1])<<16 | int(msg[2])<<8 | int(msg[3])
	if n > MaxHandshake-handshakeHeaderLen {
		return nil, fmt.Errorf("%w: handshake announces %d bytes, limit %d", ErrTooLarge, n, MaxHandshake)
	}
	if len(msg) < handshakeHeaderLen+n {
		return nil, ErrNeedMore
	}
	return parseClientHello(msg[handshakeHeaderLen : handshakeHeaderLen+n])
}

// parseClientHello walks a ClientHello body (RFC 8446 §4.1.2) to its
// extensions and returns the first host_name of the server_name extension
// (RFC 6066 §3). Every length is checked against what encloses it.
func parseClientHello(body []byte) ([]byte, error) {
	r := reader{b: body}
	if !r.skip(2 + clientHelloRandomLen) {
		return nil, fmt.Errorf("%w: %d-byte body ends inside version and random", ErrMalformed, len(body))
	}
	sid, ok := r.vec8()
	if !ok {
		return nil, fmt.Errorf("%w: legacy_session_id overruns the body at offset %d", ErrMalformed, r.off)
	}
	if len(sid) > maxLegacySessionIDLen {
		return nil, fmt.Errorf("%w: legacy_session_id of %d bytes, limit %d", ErrMalformed, len(sid), maxLegacySessionIDLen)
	}
	suites, ok := r.vec16()
	if !ok {
		return nil, fmt.Errorf("%w: cipher_suites overrun the body at offset %d", ErrMalformed, r.off)
	}
	if len(suites) < 2 || len(suites)%2 != 0 {
		return nil, fmt.Errorf("%w: cipher_suites of %d bytes", ErrMalformed, len(suites))
	}
	comp, ok := r.vec8()
	if !ok {
		return nil, fmt.Errorf("%w: legacy_compression_methods overrun the body at offset %d", ErrMalformed, r.off)
	}
	if len(comp) == 0 {
		return nil, fmt.Errorf("%w: no compression methods", ErrMalformed)
	}
	if r.empty() {
		return nil, nil // a hello without extensions (TLS 1.2 allows it) has no SNI
	}
	exts, ok := r.vec16()
	if !ok {
		return nil, fmt.Errorf("%w: extensions overrun the body at offset %d", ErrMalformed, r.off)
	}
	if !r.empty() {
		return nil, fmt.Errorf("%w: %d bytes after the extensions", ErrMalformed, len(r.b)-r.off)
	}

	var sni []byte
	seen := false
	er := reader{b: exts}
	for !er.empty() {
		typ, ok1 := er.u16()
		data, ok2 := er.vec16()
		if !ok1 || !ok2 {
			return nil, fmt.Errorf("%w: extension overruns the extensions block at offset %d", ErrMalformed, er.off)
		}
		if typ != extensionServerName {
			continue
		}
		if seen {
			return nil, fmt.Errorf("%w: server_name extension appears twice", ErrMalformed)
		}
		seen = true
		name, err := parseServerName(data)
		if err != nil {
			return nil, err
		}
		sni = name
	}
	return sni, nil
}

// parseServerName returns the first host_name entry of a server_name
// extension body.
func parseServerName(data []byte) ([]byte, error) {
	if len(data) == 0 {
		// An empty extension is how a server acknowledges SNI; a client
		// sending it has named no server.
		return nil, nil
	}
	r := reader{b: data}
	list, ok := r.vec16()
	if !ok || !r.empty() {
		return nil, fmt.Errorf("%w: server_name list length does not match its %d-byte extension", ErrMalformed, len(data))
	}
	var host []byte
	lr := reader{b: list}
	for !lr.empty() {
		typ, ok1 := lr.u8()
		name, ok2 := lr.vec16()
		if !ok1 || !ok2 {
			return nil, fmt.Errorf("%w: server_name entry overruns its list at offset %d", ErrMalformed, lr.off)
		}
		if typ == serverNameTypeHost && host == nil {
			if len(name) == 0 {
				return nil, fmt.Errorf("%w: empty host_name", ErrMalformed)
			}
			host = name
		}
	}
	return host, nil
}

// reader walks TLS vectors in b; every method reports false instead of
// reading past the end.
type reader struct {
	b   []byte
	off int
}

func (r *reader) empty() bool { return r.off >= len(r.b) }

func (r *reader) skip(n int) bool {
	if n > len(r.b)-r.off {
		return false
	}
	r.off += n
	return true
}

func (r *reader) u8() (byte, bool) {
	if r.off >= len(r.b) {
		return 0, false
	}
	v := r.b[r.off]
	r.off++
	return v, true
}

func (r *reader) u16() (int, bool) {
	if len(r.b)-r.off < 2 {
		return 0, false
	}
	v := int(r.b[r.off])<<8 | int(r.b[r.off+1])
	r.off += 2
	return v, true
}

func (r *reader) bytes(n int) ([]byte, bool) {
	if n > len(r.b)-r.off {
		return nil, false
	}
	v := r.b[r.off : r.off+n : r.off+n]
	r.off += n
	return v, true
}

func (r *reader) vec8() ([]byte, bool) {
	n, ok := r.u8()
	if !ok {
		return nil, false
	}
	return r.bytes(int(n))
}

func (r *reader) vec16() ([]byte, bool) {
	n, ok := r.u16()
	if !ok {
		return nil, false
	}
	return r.bytes(n)
}
