package capture

import (
	"bytes"
	stdcmp "cmp"
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/campusguard/campusguard/capture/pcapgen"
	"github.com/campusguard/campusguard/internal/event"
)

// seen is one extracted name, comparable across tools.
type seen struct {
	Frame uint64
	Kind  string
	Name  string
}

func (s seen) String() string { return fmt.Sprintf("%d %s %s", s.Frame, s.Kind, s.Name) }

func sortSeen(s []seen) {
	slices.SortFunc(s, func(a, b seen) int {
		if c := stdcmp.Compare(a.Frame, b.Frame); c != 0 {
			return c
		}
		if c := strings.Compare(a.Kind, b.Kind); c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	})
}

// scanEvents runs a worker over a capture and returns every event.
func scanEvents(t testing.TB, path string, opts Options) ([]*event.Event, Stats) {
	t.Helper()
	var evs []*event.Event
	opts.AllEvents = true
	opts.Emit = func(ev *event.Event) { evs = append(evs, ev) }
	w := NewWorker(opts, nil)
	if err := ReadFile(path, w, nil); err != nil {
		t.Fatalf("ReadFile: %v", err)
	}
	return evs, w.Stats()
}

func namesOf(evs []*event.Event) []seen {
	var out []seen
	for _, ev := range evs {
		out = append(out, seen{ev.Frame, ev.Kind.String(), ev.Name})
	}
	sortSeen(out)
	return out
}

func writeCapture(t testing.TB, cfg pcapgen.Config) (string, []pcapgen.Truth) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "gen.pcap")
	truth, err := pcapgen.WriteFile(path, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return path, truth
}

// TestGeneratedTruth: every event the generator planted — through every
// tunnel, split and reordered segments, fragments, keep-alive requests —
// is extracted once, on the frame that completes it, and nothing else.
func TestGeneratedTruth(t *testing.T) {
	for _, seed := range []uint64{1, 2, 3} {
		path, truth := writeCapture(t, pcapgen.Config{Seed: seed, Packets: 20000, Tunnels: 0.4})
		evs, st := scanEvents(t, path, Options{})
		var want []seen
		for _, tr := range truth {
			want = append(want, seen{tr.Frame, tr.Kind, tr.Name})
		}
		sortSeen(want)
		if diff := cmp.Diff(want, namesOf(evs)); diff != "" {
			t.Errorf("seed %d: events differ from the generator's truth (-want +got):\n%s", seed, diff)
		}
		if len(st.DecodeErrors) > 0 || len(st.ExtractErrors) > 0 || st.Panics > 0 {
			t.Errorf("seed %d: errors on clean traffic: decode %v extract %v panics %d", seed, st.DecodeErrors, st.ExtractErrors, st.Panics)
		}
	}
}

// TestAgreesWithTshark compares the names scan extracts with what tshark
// reports for the same frames. tshark is installed by `make test`; without
// it the test fails unless -short.
func TestAgreesWithTshark(t *testing.T) {
	tshark, err := exec.LookPath("tshark")
	if err != nil {
		if testing.Short() {
			t.Skip("tshark not installed")
		}
		t.Fatal("tshark not installed (make test installs it: apt-get install tshark)")
	}
	captures := map[string]string{}
	for _, seed := range []uint64{7, 8} {
		path, _ := writeCapture(t, pcapgen.Config{Seed: seed, Packets: 6000, Tunnels: 0.3})
		captures[fmt.Sprintf("generated seed %d", seed)] = path
	}
	files, _ := filepath.Glob("testdata/pcap/*.pcap*")
	for _, f := range files {
		captures[f] = f
	}
	for name, path := range captures {
		t.Run(name, func(t *testing.T) {
			want := tsharkNames(t, tshark, path)
			evs, _ := scanEvents(t, path, Options{})
			got := namesOf(evs)
			if len(want) == 0 {
				t.Fatalf("tshark found no names in %s", path)
			}
			t.Logf("%d names from tshark, %d events from scan", len(want), len(got))
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("scan and tshark disagree (-tshark +scan):\n%s", diff)
			}
		})
	}
}

// tsharkNames runs tshark -T fields and returns (frame, kind, name) for
// DNS query names, TLS and QUIC SNIs and HTTP hosts (port removed, as
// events carry it in dst_port).
func tsharkNames(t *testing.T, tshark, path string) []seen {
	t.Helper()
	cmd := exec.Command(tshark, "-n", "-r", path, "-T", "fields", "-E", "separator=|", "-E", "occurrence=f",
		"-o", "tcp.reassemble_out_of_order:TRUE",
		"-e", "frame.number", "-e", "dns.qry.name", "-e", "tls.handshake.extensions_server_name",
		"-e", "http.host", "-e", "quic.packet_length")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("tshark: %v\n%s", err, stderr.String())
	}
	var res []seen
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Split(line, "|")
		if len(f) < 5 {
			continue
		}
		no, err := strconv.ParseUint(f[0], 10, 64)
		if err != nil {
			t.Fatalf("tshark line %q", line)
		}
		switch {
		case f[1] != "":
			res = append(res, seen{no, "dns", f[1]})
		case f[2] != "" && f[4] != "":
			res = append(res, seen{no, "quic", f[2]})
		case f[2] != "":
			res = append(res, seen{no, "tls", f[2]})
		case f[3] != "":
			host := f[3]
			if h, _, ok := splitHostPort([]byte(host)); ok {
				host = string(h)
			}
			res = append(res, seen{no, "http", host})
		}
	}
	sortSeen(res)
	return res
}
