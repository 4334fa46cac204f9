package tlshello

import (
	"bytes"
	"errors"
	"testing"
)

// seedStreams are real crypto/tls hellos, whole and re-recorded.
func seedStreams(f *testing.F) [][]byte {
	var out [][]byte
	for _, hc := range helloConfigs() {
		s := clientHelloRecords(f, hc.cfg)
		out = append(out, s, rerecord(handshakeOf(f, s), 300, 0x03), rerecord(handshakeOf(f, s), 2, 0x01))
	}
	return out
}

// checkAnswer holds for any input: no error means the SNI lies inside the
// input (or is a copy of bytes from it), errors are ours.
func checkAnswer(t *testing.T, in, sni []byte, err error) {
	t.Helper()
	if err != nil {
		if sni != nil {
			t.Fatalf("error %v with non-nil sni %q", err, sni)
		}
		if err != ErrNeedMore && err != ErrNotTLS && !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrTooLarge) && !errors.Is(err, ErrNotTLS) {
			t.Fatalf("unexpected error kind: %v", err)
		}
		return
	}
	if sni != nil && (len(sni) == 0 || !bytes.Contains(in, sni) && !bytes.Contains(joinFragments(in), sni)) {
		t.Fatalf("sni %q is not from the input", sni)
	}
}

func FuzzFromRecords(f *testing.F) {
	for _, s := range seedStreams(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		var p Parser
		sni, err := p.FromRecords(in)
		checkAnswer(t, in, sni, err)
		want := string(sni)
		wantNil := sni == nil

		// Every prefix of an input that gave an answer gives ErrNeedMore or
		// that same answer (a prefix cannot know more than the whole).
		if err == nil {
			step := max(1, len(in)/64)
			for i := 0; i < len(in); i += step {
				got, perr := p.FromRecords(in[:i])
				if perr == ErrNeedMore {
					continue
				}
				if perr != nil || string(got) != want || (got == nil) != wantNil {
					t.Fatalf("prefix %d/%d: %q, %v; whole: %q", i, len(in), got, perr, want)
				}
			}
		}

		// The handshake inside the records gives the same answer as the records.
		if err == nil {
			msg := joinFragments(in)
			hs, herr := p.FromHandshake(msg)
			if herr != nil || string(hs) != want {
				t.Fatalf("FromHandshake of the joined fragments: %q, %v; FromRecords: %q", hs, herr, want)
			}
		}
	})
}

// joinFragments concatenates the fragments of the complete records in s.
func joinFragments(s []byte) []byte {
	var msg []byte
	for len(s) >= 5 {
		n := int(s[3])<<8 | int(s[4])
		if len(s) < 5+n {
			break
		}
		msg = append(msg, s[5:5+n]...)
		s = s[5+n:]
	}
	return msg
}

func FuzzFromHandshake(f *testing.F) {
	for _, s := range seedStreams(f) {
		f.Add(joinFragments(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		var p Parser
		sni, err := p.FromHandshake(in)
		checkAnswer(t, in, sni, err)
		if err == nil && sni != nil && !within(sni, in) {
			t.Fatalf("sni %q is not a subslice of the input", sni)
		}
		if err == nil {
			for i := 0; i < len(in); i += max(1, len(in)/64) {
				got, perr := p.FromHandshake(in[:i])
				if perr != ErrNeedMore && (perr != nil || string(got) != string(sni)) {
					t.Fatalf("prefix %d/%d: %q, %v; whole: %q", i, len(in), got, perr, sni)
				}
			}
			// The same message in tiny records gives the same answer.
			n := 4 + (int(in[1])<<16 | int(in[2])<<8 | int(in[3]))
			rs, rerr := p.FromRecords(rerecord(in[:n], 5, 0x03))
			if rerr != nil || string(rs) != string(sni) {
				t.Fatalf("re-recorded: %q, %v; bare: %q", rs, rerr, sni)
			}
		}
	})
}
