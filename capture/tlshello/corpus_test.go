package tlshello

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

var updateCorpus = flag.Bool("update-corpus", false, "rewrite the hand-made fuzz corpus in testdata/fuzz")

// nastyHellos are the hand-made cases of the committed fuzz corpus: the
// inputs that broke, or nearly broke, earlier versions of the parser and
// edges the fuzzer takes long to reach.
func nastyHellos(tb testing.TB) (records, handshakes map[string][]byte) {
	pq := clientHelloRecords(tb, helloConfigs()[0].cfg)
	msg := handshakeOf(tb, pq)
	suites, comp := []byte{0x13, 0x01}, []byte{0}
	small := hello{suites: suites, comp: comp, exts: sniExt("n.example")}.bytes()
	twoRecords := rerecord(small, 20, 0x03)
	alert := append([]byte{}, twoRecords...)
	alert[25] = 0x15

	handshakes = map[string][]byte{
		"pq-hello":           msg,
		"pq-hello-truncated": msg[:len(msg)/2],
		"announces-64k":      {1, 0x01, 0x00, 0x00},
		"announces-max-ok":   append([]byte{1, 0x00, 0xff, 0xfc}, make([]byte, 16)...),
		"server-name-twice":  hello{suites: suites, comp: comp, exts: cat(sniExt("a.example"), sniExt("b.example"))}.bytes(),
		"empty-host-name":    hello{suites: suites, comp: comp, exts: ext(0, []byte{0, 3, 0, 0, 0})}.bytes(),
		"host-name-overruns": hello{suites: suites, comp: comp, exts: ext(0, []byte{0, 4, 0, 0, 5, 'a'})}.bytes(),
		"extensions-len-plus-1": func() []byte {
			h := hello{suites: suites, comp: comp, exts: sniExt("x.example"), extsLenDiff: 1}
			return h.bytes()
		}(),
		"session-id-33":          hello{sessionID: make([]byte, 33), suites: suites, comp: comp}.bytes(),
		"odd-cipher-suites":      hello{suites: []byte{1, 2, 3}, comp: comp}.bytes(),
		"no-extensions":          hello{suites: suites, comp: comp, noExts: true}.bytes(),
		"unknown-name-type-only": hello{suites: suites, comp: comp, exts: ext(0, []byte{0, 4, 7, 0, 1, 'x'})}.bytes(),
		"server-hello-type":      hello{typ: 2, suites: suites, comp: comp}.bytes(),
	}
	records = map[string][]byte{
		"pq-hello":                pq,
		"pq-hello-1-byte-records": rerecord(msg, 1, 0x03),
		"pq-hello-3-byte-records": rerecord(msg, 3, 0x01),
		"pq-prefix":               pq[:1200],
		"alert-between-fragments": alert,
		"empty-first-record":      append([]byte{0x16, 0x03, 0x01, 0, 0}, twoRecords...),
		"first-record-over-16k":   {0x16, 0x03, 0x01, 0x40, 0x01, 1},
		"second-record-over-16k":  append(append([]byte{}, twoRecords[:25]...), 0x16, 0x03, 0x03, 0x40, 0x01),
		"announces-64k-split":     rerecord([]byte{1, 0x01, 0x00, 0x01}, 2, 0x03),
		"sslv2-hello":             {0x80, 0x2e, 0x01, 0x03, 0x01, 0x00, 0x15},
		"record-version-3.5":      {0x16, 0x03, 0x05, 0x00, 0x01, 0x01},
		"http":                    []byte("GET / HTTP/1.1\r\nHost: example.com\r\n\r\n"),
	}
	for name, h := range handshakes {
		if _, ok := records[name]; !ok && len(h) > 0 {
			records[name] = rerecord(h, 7, 0x03)
		}
	}
	return records, handshakes
}

// TestFuzzCorpus runs the hand-made corpus through the same checks as the
// fuzz targets (go test runs testdata/fuzz too) and rewrites it with
// -update-corpus.
func TestFuzzCorpus(t *testing.T) {
	records, handshakes := nastyHellos(t)
	if *updateCorpus {
		writeCorpus(t, "FuzzFromRecords", records)
		writeCorpus(t, "FuzzFromHandshake", handshakes)
	}
	var p Parser
	for name, in := range records {
		sni, err := p.FromRecords(in)
		if err == nil && sni != nil && len(sni) == 0 {
			t.Errorf("%s: empty non-nil sni", name)
		}
	}
}

func writeCorpus(t *testing.T, target string, cases map[string][]byte) {
	dir := filepath.Join("testdata", "fuzz", target)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, in := range cases {
		body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", in)
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
