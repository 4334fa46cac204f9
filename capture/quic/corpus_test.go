package quic

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

var updateCorpus = flag.Bool("update-corpus", false, "rewrite the hand-made fuzz corpus in testdata/fuzz")

// openCase is one FuzzOpen input: raw datagram bytes, or (seal) a payload
// the fuzz target seals into a valid Initial first.
type openCase struct {
	in   []byte
	seal bool
}

// nastyDatagrams are the hand-made cases of the committed FuzzOpen corpus.
func nastyDatagrams(tb testing.TB) map[string]openCase {
	hello := quicClientHello(tb, "corpus.example")
	s := sealer{version: Version1, dcid: []byte("corpus-dcid")}
	first, second := s.twoDatagrams(tb, hello)
	zeroRTT := sealer{version: Version1, dcid: s.dcid, typ: 0b01}.seal(tb, 0, []byte{framePing}, 0)
	rfc := unhex(tb, rfc9001ClientInitial)
	flipped := append([]byte{}, rfc...)
	flipped[100] ^= 0x01

	return map[string]openCase{
		"v1-pq-coalesced-with-0rtt": {in: bytes.Join([][]byte{first, zeroRTT, second}, nil)},
		"v2-rfc-truncated-in-tag":   {in: unhex(tb, rfc9369ClientInitial)[:1190]},
		"v1-rfc-bit-flip":           {in: flipped},
		"length-overruns":           {in: unhex(tb, "c0000000010000004400aabb")},
		"dcid-21-bytes":             {in: unhex(tb, "c00000000115000102030405060708090a0b0c0d0e0f101112131400000000")},
		"token-overruns":            {in: unhex(tb, "c000000001000005aa")},
		"no-room-for-sample":        {in: unhex(tb, "c00000000100000005000000000000")},
		"retry-v2-after-initial":    {in: append(append([]byte{}, first[:len(first)]...), 0xc0, 0x6b, 0x33, 0x43, 0xcf, 0, 0)},
		"unknown-version-tail":      {in: append(append([]byte{}, first...), 0xc0, 0xff, 0, 0, 0x1d, 0, 0)},
		"version-negotiation":       {in: unhex(tb, "c000000000088394c8f03e51570800000000010a0a0a0a")},
		"frames-stream":             {in: []byte{0x08, 0x00, 0x01, 'x'}, seal: true},
		"frames-ack-range-huge":     {in: []byte{0x02, 0x05, 0x00, 0xbf, 0xff, 0xff, 0xff, 0x00}, seal: true},
		"frames-crypto-beyond-2-62": {in: append([]byte{0x06, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02}, "xy"...), seal: true},
		"frames-crypto-overruns":    {in: []byte{0x06, 0x00, 0x44, 0x00, 'x'}, seal: true},
		"frames-close-overruns":     {in: []byte{0x1c, 0x00, 0x00, 0x44, 0x00, 'x'}, seal: true},
		"frames-ack-ecn":            {in: []byte{0x03, 0x05, 0x00, 0x01, 0x00, 0x01, 0x02, 0x03, 0x04, 0x05}, seal: true},
		"frames-crypto-past-limit":  {in: append([]byte{0x06, 0x81, 0x00, 0x00, 0x00, 0x02}, "xy"...), seal: true},
	}
}

// streamCase is one FuzzCryptoStream input: the stream bytes and the ops.
type streamCase struct{ msg, ops []byte }

func nastyStreams(tb testing.TB) map[string]streamCase {
	rfcHello := unhex(tb, rfcClientHello)
	return map[string]streamCase{
		"byte-at-limit":        {rfcHello, []byte{0, 0xff, 0xff, 0, 1}},
		"past-limit-shifted":   {rfcHello, []byte{0x90, 0xff, 0xff, 0, 1}},
		"reset-then-late-byte": {rfcHello, []byte{0, 0, 0, 0, 200, 0x40, 0, 0, 0, 0, 0, 0, 100, 0, 4}},
		"word-edges":           {rfcHello, []byte{0, 0, 64, 0, 64, 0, 0, 0, 0, 63, 0, 0, 63, 0, 1}},
		"announces-more":       {[]byte{1, 0xff, 0xff, 0xff}, []byte{0, 0, 0, 0, 4}},
		"grow-after-reset":     {rfcHello, []byte{0x20, 0x80, 0, 0x10, 0, 0x40, 0, 0, 0, 0, 0x20, 0, 0, 0x10, 0}},
		"fill-to-limit":        {rfcHello, []byte{0x20, 0, 1, 0xff, 0xff, 0, 0, 0, 0, 1}},
	}
}

// TestFuzzCorpus rewrites the hand-made corpus with -update-corpus; go test
// runs testdata/fuzz through the fuzz targets either way.
func TestFuzzCorpus(t *testing.T) {
	if !*updateCorpus {
		t.Skip("run with -update-corpus to rewrite testdata/fuzz")
	}
	for name, c := range nastyDatagrams(t) {
		writeCorpus(t, "FuzzOpen", name, fmt.Sprintf("[]byte(%q)\nbool(%v)\n", c.in, c.seal))
	}
	for name, c := range nastyStreams(t) {
		writeCorpus(t, "FuzzCryptoStream", name, fmt.Sprintf("[]byte(%q)\n[]byte(%q)\n", c.msg, c.ops))
	}
}

func writeCorpus(t *testing.T, target, name, values string) {
	dir := filepath.Join("testdata", "fuzz", target)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), []byte("go test fuzz v1\n"+values), 0o644); err != nil {
		t.Fatal(err)
	}
}
