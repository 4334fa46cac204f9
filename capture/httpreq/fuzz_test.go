package httpreq

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func FuzzStream(f *testing.F) {
	for _, tt := range streamTests {
		f.Add([]byte(tt.in), uint16(len(tt.in)/2), uint8(tt.maxHead))
	}
	f.Fuzz(func(t *testing.T, in []byte, cut uint16, limit uint8) {
		maxHead := 0 // the default
		if limit > 0 {
			maxHead = 16 + int(limit)
		}
		whole := &Stream{MaxHead: maxHead}
		want, wantErr := run(whole, in)
		if whole.Buffered() > whole.maxHead() {
			t.Fatalf("%d bytes buffered, limit %d", whole.Buffered(), whole.maxHead())
		}
		if wantErr != nil && !isStreamError(wantErr) {
			t.Fatalf("unexpected error %v", wantErr)
		}
		for _, r := range want {
			if r.Method == "" || r.Target == "" || r.Proto == "" {
				t.Fatalf("request with empty fields: %v", r)
			}
		}

		c := int(cut) % (len(in) + 1)
		got, err := run(&Stream{MaxHead: maxHead}, in[:c], in[c:])
		if !errors.Is(err, wantErr) || (wantErr == nil) != (err == nil) {
			t.Fatalf("split at %d: err %v, whole: %v", c, err, wantErr)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Fatalf("split at %d: requests differ (-whole +split):\n%s", c, diff)
		}

		var bytewise [][]byte
		for i := range in {
			bytewise = append(bytewise, in[i:i+1])
		}
		s := &Stream{MaxHead: maxHead}
		got, err = run(s, bytewise...)
		if !errors.Is(err, wantErr) || (wantErr == nil) != (err == nil) {
			t.Fatalf("byte by byte: err %v, whole: %v", err, wantErr)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Fatalf("byte by byte: requests differ (-whole +bytewise):\n%s", diff)
		}
		if err == nil && s.Buffered() != whole.Buffered() {
			t.Fatalf("byte by byte buffers %d bytes, whole %d", s.Buffered(), whole.Buffered())
		}
	})
}

func isStreamError(err error) bool {
	for _, e := range []error{ErrNotHTTP, ErrTooLong, ErrMalformed, ErrContentLength, ErrTransferEncoding, ErrChunk} {
		if err == e {
			return true
		}
	}
	return false
}
