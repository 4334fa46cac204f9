package hitlog

import (
	"bytes"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/campusguard/campusguard/internal/event"
)

func sampleBatch() *Batch {
	ts := time.Date(2026, 11, 26, 8, 30, 15, 123e6, time.UTC)
	b := &Batch{ID: 0xfeedface12345678, Created: ts}
	b.AppendEvent(&event.Event{Time: ts, Sensor: "gw-1", Kind: event.KindDNS, Src: "c-9f2e", Dst: "10.0.0.53", DstPort: 53,
		Name: "login.evil.test", Hits: []event.Hit{
			{Pack: "phishing", Rule: "phishing.txt:3", Category: "phishing", Severity: event.SeverityHigh, Action: "block", Match: "evil.test", Field: "name", Start: 6, End: 15},
			{Pack: "watch", Rule: "watch.yaml:9", Category: "malware", Severity: event.SeverityLow, Action: "monitor", Match: "login", Field: "name", Start: 0, End: 5},
		}})
	b.AppendEvent(&event.Event{Time: ts.Add(time.Second), Kind: event.KindPost, Forum: "bbs", PostID: "t/77", Author: "u-1",
		Text: "刷单 返利", Hits: []event.Hit{{Pack: "fraud", Rule: "fraud.txt:1", Category: "fraud", Action: "hold", Match: "刷单", Field: "text", End: 6}}})
	return b
}

func TestRecordRoundTrip(t *testing.T) {
	b := sampleBatch()
	if len(b.Rows) != 3 {
		t.Fatalf("rows = %d, want one per hit (3)", len(b.Rows))
	}
	if r := b.Rows[2]; r.Name != "bbs" || r.URL != "t/77" || r.Client != "u-1" || r.Kind != "post" {
		t.Errorf("post row = %+v, want forum as name, id as url, author as client", r)
	}
	got, err := DecodeRecord(EncodeRecord(b))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(b, got); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
	// A subset keeps its row numbers, and whether it was ever sent.
	sub := &Batch{ID: b.ID, Created: b.Created, Rows: b.Rows[1:], Seqs: []uint32{1, 2}, Attempted: true}
	got, err = DecodeRecord(EncodeRecord(sub))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(sub, got); diff != "" {
		t.Errorf("subset round trip (-want +got):\n%s", diff)
	}
	if enc := EncodeRecord(sub); string(enc[:4]) != "CGB1" {
		t.Errorf("an attempted batch is recorded as %q, want CGB1 (spools written before CGN1 existed replay with the lookup)", enc[:4])
	}
}

func TestDecodeRecordRejects(t *testing.T) {
	good := EncodeRecord(sampleBatch())
	for name, p := range map[string][]byte{
		"empty":       nil,
		"bad magic":   append([]byte("XXXX"), good[4:]...),
		"truncated":   good[:len(good)-3],
		"trailing":    append(append([]byte(nil), good...), 0),
		"header only": good[:21],
		"huge count":  append(append([]byte(nil), good[:20]...), 0xff, 0xff, 0xff, 0xff, 0x0f),
	} {
		if _, err := DecodeRecord(p); err == nil {
			t.Errorf("%s: decoded without error", name)
		}
	}
}

func FuzzDecodeRecord(f *testing.F) {
	f.Add(EncodeRecord(sampleBatch()))
	f.Add(EncodeRecord(&Batch{}))
	f.Add([]byte("CGB1"))
	f.Fuzz(func(t *testing.T, p []byte) {
		b, err := DecodeRecord(p)
		if err != nil {
			return
		}
		// Whatever decodes encodes back to the same bytes, except for
		// times, which are kept to the millisecond.
		if again := EncodeRecord(b); !bytes.Equal(again, p) {
			b2, err := DecodeRecord(again)
			if err != nil || !cmp.Equal(b, b2) {
				t.Fatalf("re-encoding changed the batch: %v", err)
			}
		}
	})
}
