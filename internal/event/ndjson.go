package event

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// MaxLineBytes bounds one NDJSON line when reading, so a peer cannot make
// the reader buffer without limit.
const MaxLineBytes = 1 << 20

// Encoder writes events as NDJSON, one object a line.
type Encoder struct {
	enc *json.Encoder
}

// NewEncoder returns an Encoder writing to w. HTML escaping is off because
// the output is data, not HTML, and operators read it.
func NewEncoder(w io.Writer) *Encoder {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return &Encoder{enc: enc}
}

// Encode writes one event and a newline.
func (e *Encoder) Encode(ev *Event) error {
	if err := e.enc.Encode(ev); err != nil {
		return fmt.Errorf("encode %s event: %w", ev.Kind, err)
	}
	return nil
}

// Decoder reads NDJSON events.
type Decoder struct {
	sc   *bufio.Scanner
	line int
}

// NewDecoder returns a Decoder reading from r.
func NewDecoder(r io.Reader) *Decoder {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), MaxLineBytes)
	return &Decoder{sc: sc}
}

// Decode reads the next event into ev. Blank lines are skipped; io.EOF ends
// the stream. Errors name the line.
func (d *Decoder) Decode(ev *Event) error {
	for d.sc.Scan() {
		d.line++
		b := d.sc.Bytes()
		if len(trimSpace(b)) == 0 {
			continue
		}
		*ev = Event{}
		if err := json.Unmarshal(b, ev); err != nil {
			return fmt.Errorf("line %d: %w", d.line, err)
		}
		if ev.Kind == KindUnknown {
			return fmt.Errorf("line %d: missing \"kind\"", d.line)
		}
		return nil
	}
	if err := d.sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return fmt.Errorf("line %d: longer than %d bytes", d.line+1, MaxLineBytes)
		}
		return fmt.Errorf("line %d: %w", d.line+1, err)
	}
	return io.EOF
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t' || b[0] == '\r') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return b
}
