package httpreq

import (
	"bytes"
	"errors"
)

// DefaultMaxHead is the longest request head (request line, headers and the
// blank line) a Stream buffers unless MaxHead says otherwise. It also bounds
// chunk extensions and trailers.
const DefaultMaxHead = 16 << 10

// Errors that end a Stream. After any of them the stream stays failed until
// Reset.
var (
	// ErrNotHTTP: the bytes where a request should start are not a request
	// line with a known method. Callers use it to stop watching the
	// connection (it is also what tunnelled bytes after CONNECT or an
	// Upgrade produce).
	ErrNotHTTP = errors.New("httpreq: not an HTTP/1.x request")
	// ErrTooLong: a request head, chunk extension or trailer section is
	// longer than the limit.
	ErrTooLong = errors.New("httpreq: request head longer than the limit")
	// ErrMalformed: the request line is not "METHOD target HTTP/1.x".
	ErrMalformed = errors.New("httpreq: malformed request line")
	// ErrContentLength: a Content-Length that is not a number, too large,
	// or repeated with different values; the body cannot be delimited.
	ErrContentLength = errors.New("httpreq: bad Content-Length")
	// ErrTransferEncoding: a Transfer-Encoding whose last coding is not
	// chunked, so the request body's length is unknown.
	ErrTransferEncoding = errors.New("httpreq: Transfer-Encoding does not end in chunked")
	// ErrChunk: a malformed chunk size line or chunk terminator.
	ErrChunk = errors.New("httpreq: malformed chunked body")
)

// Request is one request head. Its slices point into the Stream's buffer or
// into the bytes passed to Feed and are valid only during the callback.
type Request struct {
	Method []byte // as sent, e.g. "GET"
	Target []byte // origin form "/path?q", absolute form "http://host/path", authority form "host:443" (CONNECT) or "*"
	Proto  []byte // "HTTP/1.1" or "HTTP/1.0"
	Host   []byte // value of the first Host header, without surrounding whitespace; empty if none
}

type state uint8

const (
	stateHead         state = iota // reading a request head
	stateBody                      // skipping a Content-Length body
	stateChunkSize                 // reading a chunk size line
	stateChunkData                 // skipping chunk data
	stateChunkDataEnd              // expecting the CRLF after chunk data
	stateTrailer                   // skipping trailer lines up to the blank line
)

// Stream follows the requests in the client-to-server direction of one HTTP/1.x
// connection. The zero value is ready to use with DefaultMaxHead.
type Stream struct {
	// MaxHead bounds the buffered request head; 0 means DefaultMaxHead.
	MaxHead int

	state state
	err   error

	// Head in progress.
	head      []byte // the bytes of an incomplete head
	lineStart int    // where the line in progress starts in head
	methodOK  bool   // head starts with a known method and a space

	// Body in progress.
	remaining int64 // bytes left in a Content-Length body or a chunk

	// Chunk size line and trailer in progress.
	chunkSize   int64
	chunkDigits int
	inExt       bool // in a chunk extension, skipped up to LF
	sawSpace    bool // whitespace after the size digits
	sawCR       bool
	lineLen     int  // bytes of the chunk extension or trailer line so far
	lineCR      bool // the trailer line so far is a lone CR
	trailerLen  int

	req     Request
	scratch []byte // a folded header value joined
	hostBuf []byte // a folded Host value, kept until the callback
}

// Feed takes the next bytes of the stream, in order, and calls fn for every
// request head they complete. It returns the error that failed the stream,
// now or earlier.
func (s *Stream) Feed(p []byte, fn func(*Request)) error {
	if s.err != nil {
		return s.err
	}
	for len(p) > 0 {
		var n int
		var err error
		switch s.state {
		case stateHead:
			n, err = s.feedHead(p, fn)
		case stateBody, stateChunkData:
			n = int(min(s.remaining, int64(len(p))))
			if s.remaining -= int64(n); s.remaining == 0 {
				if s.state == stateBody {
					s.state = stateHead
				} else {
					s.state = stateChunkDataEnd
				}
			}
		case stateChunkSize:
			n, err = s.feedChunkSize(p)
		case stateChunkDataEnd:
			n, err = s.feedChunkDataEnd(p[0])
		case stateTrailer:
			n, err = s.feedTrailer(p)
		}
		if err != nil {
			s.err = err
			return err
		}
		p = p[n:]
	}
	return nil
}

// Buffered returns the number of bytes held for an incomplete request head.
func (s *Stream) Buffered() int { return len(s.head) }

// Reset makes the stream ready for a new connection, keeping MaxHead and its
// buffer for reuse.
func (s *Stream) Reset() {
	*s = Stream{MaxHead: s.MaxHead, head: s.head[:0], scratch: s.scratch[:0], hostBuf: s.hostBuf[:0]}
}

func (s *Stream) maxHead() int {
	if s.MaxHead > 0 {
		return s.MaxHead
	}
	return DefaultMaxHead
}

// feedHead consumes bytes of a request head and returns how many it used.
// A head that lies whole within p is parsed in place, without copying.
func (s *Stream) feedHead(p []byte, fn func(*Request)) (int, error) {
	limit := s.maxHead()
	if len(s.head) == 0 {
		// Empty lines before a request line are allowed (RFC 9112
		// section 2.2); some clients send a CRLF after a body.
		skip := 0
		for skip < len(p) && (p[skip] == '\r' || p[skip] == '\n') {
			skip++
		}
		if skip > 0 {
			return skip, nil
		}
		if !methodPrefix(p) {
			return 0, ErrNotHTTP
		}
		end, lastLine := headEnd(nil, p)
		if end >= 0 {
			if end > limit {
				return 0, ErrTooLong
			}
			return end, s.parseHead(p[:end], fn)
		}
		if len(p) >= limit {
			return 0, ErrTooLong
		}
		s.head = append(s.head, p...)
		s.lineStart = max(lastLine, 0)
		s.methodOK = bytes.IndexByte(p, ' ') >= 0
		return len(p), nil
	}

	if !s.methodOK {
		// Check the method before the length, as for a head within p.
		var start [maxMethod + 1]byte
		n := copy(start[:], s.head)
		n += copy(start[n:], p)
		if !methodPrefix(start[:n]) {
			return 0, ErrNotHTTP
		}
		s.methodOK = bytes.IndexByte(start[:n], ' ') >= 0
	}
	end, lastLine := headEnd(s.head[s.lineStart:], p)
	take := len(p)
	if end >= 0 {
		take = end
	}
	if len(s.head)+take > limit || (end < 0 && len(s.head)+take >= limit) {
		return 0, ErrTooLong
	}
	old := len(s.head)
	s.head = append(s.head, p[:take]...)
	if end < 0 {
		if lastLine >= 0 {
			s.lineStart = old + lastLine
		}
		return take, nil
	}
	err := s.parseHead(s.head, fn)
	s.head = s.head[:0]
	s.lineStart = 0
	s.methodOK = false
	return take, err
}

// headEnd finds the blank line that ends a head in b, where pending is the
// start of the line in progress before b. It returns the length of b up to
// and including that line's LF, or -1, and the offset in b after its last LF
// (-1 if none).
func headEnd(pending, b []byte) (end, lastLine int) {
	lastLine = -1
	start := 0
	for {
		i := bytes.IndexByte(b[start:], '\n')
		if i < 0 {
			return -1, lastLine
		}
		i += start
		line := b[start:i]
		if start == 0 && len(pending) > 0 {
			// The line began before b: blank only if it is a lone CR.
			if len(line) == 0 && len(pending) == 1 && pending[0] == '\r' {
				return i + 1, lastLine
			}
		} else if len(line) == 0 || (len(line) == 1 && line[0] == '\r') {
			return i + 1, lastLine
		}
		start = i + 1
		lastLine = start
	}
}

// parseHead parses a complete head, reports it to fn and sets the state for
// the body that follows.
func (s *Stream) parseHead(h []byte, fn func(*Request)) error {
	line, rest := cutLine(h)
	sp1 := bytes.IndexByte(line, ' ')
	sp2 := bytes.LastIndexByte(line, ' ')
	if sp1 <= 0 || sp2 == sp1 {
		return ErrMalformed
	}
	method := line[:sp1]
	if !isMethod(method) {
		return ErrNotHTTP
	}
	target := bytes.Trim(line[sp1+1:sp2], " ")
	proto := line[sp2+1:]
	if len(target) == 0 || !isHTTP1(proto) {
		return ErrMalformed
	}
	s.req = Request{Method: method, Target: target, Proto: proto}

	var h2 headers
	var name, value []byte
	folded := false
	for len(rest) > 0 {
		line, rest = cutLine(rest)
		if len(line) == 0 {
			break
		}
		if line[0] == ' ' || line[0] == '\t' {
			// obs-fold: a continuation of the previous field value.
			if name == nil {
				continue
			}
			if !folded {
				s.scratch = append(s.scratch[:0], trimSpace(value)...)
				folded = true
			}
			s.scratch = append(s.scratch, ' ')
			s.scratch = append(s.scratch, trimSpace(line)...)
			value = s.scratch
			continue
		}
		if name != nil {
			s.field(&h2, name, value, folded)
		}
		name, value, folded = nil, nil, false
		if colon := bytes.IndexByte(line, ':'); colon > 0 {
			name, value = line[:colon], line[colon+1:] // trimmed in field, if wanted
		}
		// A line without a colon is not a field; it is skipped.
	}
	if name != nil {
		s.field(&h2, name, value, folded)
	}

	fn(&s.req)

	switch {
	case h2.badLength:
		return ErrContentLength
	case string(method) == "CONNECT":
		// No body: what follows a successful CONNECT is the tunnel.
		s.state = stateHead
	case h2.transferEncoding:
		if !h2.chunked {
			return ErrTransferEncoding
		}
		s.startChunk()
	case h2.contentLength > 0:
		s.state = stateBody
		s.remaining = h2.contentLength
	default:
		s.state = stateHead
	}
	return nil
}

// headers collects what the fields of one head say about its body.
type headers struct {
	hostSeen         bool
	contentLength    int64
	lengthSeen       bool // a Content-Length field was seen
	badLength        bool // a Content-Length that cannot be trusted
	transferEncoding bool
	chunked          bool // the last transfer coding seen is chunked
}

// field interprets one header field. A folded value lives in s.scratch,
// which the next folded field overwrites, so a folded Host is copied.
func (s *Stream) field(h *headers, name, value []byte, folded bool) {
	name = trimSpace(name) // whitespace before the colon is tolerated
	switch len(name) {
	case len("host"), len("content-length"), len("transfer-encoding"):
	default:
		return // most fields: nothing to do
	}
	value = trimSpace(value)
	switch {
	case equalFold(name, "host"):
		if h.hostSeen {
			return
		}
		h.hostSeen = true
		if folded {
			s.hostBuf = append(s.hostBuf[:0], value...)
			value = s.hostBuf
		}
		s.req.Host = value
	case equalFold(name, "content-length"):
		// A list of identical values is allowed (RFC 9110 section 8.6).
		for first := true; first || len(value) > 0; first = false {
			var v []byte
			v, value, _ = bytes.Cut(value, []byte(","))
			n, ok := parseLength(trimSpace(v))
			if !ok || (h.lengthSeen && n != h.contentLength) {
				h.badLength = true
				return
			}
			h.contentLength, h.lengthSeen = n, true
		}
	case equalFold(name, "transfer-encoding"):
		h.transferEncoding = true
		last := value
		if i := bytes.LastIndexByte(value, ','); i >= 0 {
			last = value[i+1:]
		}
		h.chunked = equalFold(trimSpace(last), "chunked")
	}
}

// parseLength parses a Content-Length value: decimal digits, at most 18.
func parseLength(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 18 {
		return 0, false
	}
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

func (s *Stream) startChunk() {
	s.state = stateChunkSize
	s.chunkSize, s.chunkDigits = 0, 0
	s.inExt, s.sawSpace, s.sawCR = false, false, false
	s.lineLen = 0
}

// feedChunkSize reads a chunk size line: hex digits, optional whitespace and
// extensions (skipped), then CRLF or LF.
func (s *Stream) feedChunkSize(p []byte) (int, error) {
	for i, c := range p {
		if c == '\n' {
			if s.chunkDigits == 0 {
				return 0, ErrChunk
			}
			if s.chunkSize == 0 {
				s.state = stateTrailer
				s.lineLen, s.lineCR, s.trailerLen = 0, false, 0
			} else {
				s.state = stateChunkData
				s.remaining = s.chunkSize
				s.sawCR = false // now tracks the CRLF after the data
			}
			return i + 1, nil
		}
		if s.inExt {
			if s.lineLen++; s.lineLen > s.maxHead() {
				return 0, ErrTooLong
			}
			continue
		}
		if s.sawCR {
			return 0, ErrChunk
		}
		switch v := unhex(c); {
		case c == '\r':
			s.sawCR = true
		case c == ';':
			s.inExt = true
		case c == ' ' || c == '\t':
			s.sawSpace = s.chunkDigits > 0
		case v >= 0 && !s.sawSpace && s.chunkDigits < 15:
			s.chunkSize = s.chunkSize<<4 | int64(v)
			s.chunkDigits++
		default:
			return 0, ErrChunk
		}
	}
	return len(p), nil
}

// feedChunkDataEnd reads the CRLF (or LF) after chunk data.
func (s *Stream) feedChunkDataEnd(c byte) (int, error) {
	switch {
	case c == '\r' && !s.sawCR:
		s.sawCR = true
	case c == '\n':
		s.startChunk()
	default:
		return 0, ErrChunk
	}
	return 1, nil
}

// feedTrailer skips trailer fields up to the blank line that ends the request.
func (s *Stream) feedTrailer(p []byte) (int, error) {
	i := 0
	for {
		j := bytes.IndexByte(p[i:], '\n')
		if j < 0 {
			rest := p[i:]
			s.lineCR = s.lineLen == 0 && len(rest) == 1 && rest[0] == '\r'
			s.lineLen += len(rest)
			if s.trailerLen += len(rest); s.trailerLen > s.maxHead() {
				return 0, ErrTooLong
			}
			return len(p), nil
		}
		seg := p[i : i+j]
		total := s.lineLen + len(seg)
		blank := total == 0 || (total == 1 && (s.lineCR || (len(seg) == 1 && seg[0] == '\r')))
		if s.trailerLen += len(seg) + 1; s.trailerLen > s.maxHead() {
			return 0, ErrTooLong
		}
		i += j + 1
		s.lineLen, s.lineCR = 0, false
		if blank {
			s.state = stateHead
			return i, nil
		}
	}
}

// cutLine splits b after its first LF and drops the line ending (LF or CRLF).
func cutLine(b []byte) (line, rest []byte) {
	i := bytes.IndexByte(b, '\n')
	if i < 0 {
		line, rest = b, nil
	} else {
		line, rest = b[:i], b[i+1:]
	}
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line, rest
}

// trimSpace drops leading and trailing spaces and tabs.
func trimSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

func isHTTP1(p []byte) bool {
	return len(p) == 8 && string(p[:7]) == "HTTP/1." && p[7] >= '0' && p[7] <= '9'
}

// equalFold reports whether b equals the lower-case ASCII string s, ignoring case.
func equalFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range len(b) {
		if b[i]|0x20 != s[i] {
			return false
		}
	}
	return true
}

func unhex(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10
	case c >= 'A' && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}
