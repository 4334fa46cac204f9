package event

import (
	"bytes"
	"errors"
	"io"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func TestNDJSONRoundTrip(t *testing.T) {
	events := []Event{
		{Time: time.Date(2026, 11, 26, 12, 0, 0, 123456000, time.UTC), Sensor: "core-1", Frame: 17, Kind: KindDNS,
			Src: "10.1.2.3", SrcPort: 53211, Dst: "10.0.0.53", DstPort: 53, Name: "login-verify.example", QType: "A",
			Hits: []Hit{{Pack: "phishing-example", Rule: "phishing.txt:12", Category: "phishing", Severity: SeverityHigh,
				Action: "block", Match: "login-verify.example", Start: 0, End: 20}}},
		{Time: time.Date(2026, 11, 26, 12, 0, 1, 0, time.UTC), Kind: KindPost, PostID: "42", Forum: "bbs", Author: "u1",
			Title: "<b>hi</b>", Text: "刷单 & more"},
	}
	var buf bytes.Buffer
	enc := NewEncoder(&buf)
	for i := range events {
		if err := enc.Encode(&events[i]); err != nil {
			t.Fatal(err)
		}
	}
	// The DESIGN.md example, byte for byte in its key order and omissions.
	wantFirst := `{"ts":"2026-11-26T12:00:00.123456Z","sensor":"core-1","frame":17,"kind":"dns","src":"10.1.2.3","src_port":53211,"dst":"10.0.0.53","dst_port":53,"name":"login-verify.example","qtype":"A","hits":[{"pack":"phishing-example","rule":"phishing.txt:12","category":"phishing","severity":"high","action":"block","match":"login-verify.example","start":0,"end":20}]}`
	if first := strings.SplitN(buf.String(), "\n", 2)[0]; first != wantFirst {
		t.Errorf("encoding\n got  %s\n want %s", first, wantFirst)
	}
	if !strings.Contains(buf.String(), `"<b>hi</b>"`) {
		t.Errorf("HTML was escaped: %s", buf.String())
	}
	dec := NewDecoder(strings.NewReader("\n" + buf.String() + "  \n"))
	var got []Event
	for {
		var ev Event
		err := dec.Decode(&ev)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, ev)
	}
	if diff := cmp.Diff(events, got, cmpopts.EquateComparable(netip.Addr{})); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
}

func TestDecodeErrors(t *testing.T) {
	tests := []struct{ in, want string }{
		{`{"kind":"dns"}` + "\n" + `{"kind":"smtp"}`, `line 2: unknown event kind "smtp"`},
		{`{"ts":"x","kind":"dns"}`, `line 1: parsing time`},
		{`{"name":"x"}`, `line 1: missing "kind"`},
		{`{"kind":"post","hits":[{"severity":"huge"}]}`, `line 1: unknown severity "huge"`},
		{strings.Repeat("x", MaxLineBytes+1), "line 1: longer than"},
	}
	for _, tt := range tests {
		dec := NewDecoder(strings.NewReader(tt.in))
		var ev Event
		var err error
		for err == nil {
			err = dec.Decode(&ev)
		}
		if !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%.40q: got %v, want %q", tt.in, err, tt.want)
		}
	}
}

func TestKindsAndSeverities(t *testing.T) {
	for _, k := range Kinds() {
		got, err := ParseKind(k.String())
		if err != nil || got != k {
			t.Errorf("kind %v round trip: %v %v", k, got, err)
		}
	}
	if _, err := KindUnknown.MarshalText(); err == nil {
		t.Error("the unknown kind encoded")
	}
	if !KindHTTP.IsNetwork() || KindPost.IsNetwork() {
		t.Error("IsNetwork")
	}
	for s := SeverityInfo; s <= SeverityCritical; s++ {
		got, err := ParseSeverity(s.String())
		if err != nil || got != s {
			t.Errorf("severity %v round trip: %v %v", s, got, err)
		}
	}
}

// FuzzDecode: the decoder reads events from the network (API, replays);
// it must never panic, and what it accepts must encode and decode again
// to the same event.
func FuzzDecode(f *testing.F) {
	f.Add([]byte(`{"ts":"2026-11-26T12:00:00Z","kind":"dns","name":"a.test","hits":[{"pack":"p","severity":"high","start":0,"end":1}]}`))
	f.Add([]byte(`{"kind":"post","text":"刷单\u200b","src_port":65536}`))
	f.Add([]byte(`{"kind":"post"}` + "\n\n" + `{"kind":"tls","frame":-1}`))
	f.Add([]byte(`{"kind":"http","url":"\ud800"}`))
	f.Add([]byte(`[{"kind":"dns"}]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		dec := NewDecoder(bytes.NewReader(data))
		for i := 0; i < 100; i++ {
			var ev Event
			if err := dec.Decode(&ev); err != nil {
				return
			}
			var buf bytes.Buffer
			if err := NewEncoder(&buf).Encode(&ev); err != nil {
				t.Fatalf("accepted event does not encode: %v", err)
			}
			var again Event
			if err := NewDecoder(&buf).Decode(&again); err != nil {
				t.Fatalf("re-decode %s: %v", buf.String(), err)
			}
			if diff := cmp.Diff(ev, again, cmpopts.EquateEmpty(), cmpopts.EquateComparable(netip.Addr{})); diff != "" {
				t.Fatalf("round trip changed the event (-first +second):\n%s", diff)
			}
		}
	})
}
