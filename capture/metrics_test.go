package capture

import (
	"strings"
	"testing"

	"github.com/gopacket/gopacket/layers"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/campusguard/campusguard/capture/pcapgen"
)

// TestMetrics: a worker's counters reach the registry on Flush, with
// bounded labels only, and a second flush adds deltas, not totals.
func TestMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	met := NewMetrics(reg)
	path, truth := writeCapture(t, pcapgen.Config{Seed: 9, Packets: 2000, NoQUIC: true})
	w := NewWorker(Options{}, met)
	if err := ReadFile(path, w, nil); err != nil {
		t.Fatal(err)
	}
	w.Flush()
	w.Packet(layers.LayerTypeEthernet, []byte{1, 2, 3}, w.curTime, 0) // too short: a decode error
	w.Flush()
	problems, err := testutil.GatherAndLint(reg)
	if err != nil || len(problems) > 0 {
		t.Fatalf("lint: %v %v", err, problems)
	}
	st := w.Stats()
	if got := testutil.ToFloat64(met.packets); got != float64(st.Packets) {
		t.Errorf("packets_total %v, worker counted %d", got, st.Packets)
	}
	dns := 0
	for _, tr := range truth {
		if tr.Kind == "dns" {
			dns++
		}
	}
	if got := testutil.ToFloat64(met.events.WithLabelValues("dns")); got != float64(dns) {
		t.Errorf("events_total{kind=dns} %v, want %d", got, dns)
	}
	if got := testutil.ToFloat64(met.flows); got != float64(st.FlowsActive) {
		t.Errorf("flows %v, want %d", got, st.FlowsActive)
	}
	n, err := testutil.GatherAndCount(reg, "campusguard_capture_decode_errors_total")
	if err != nil || n != 1 {
		t.Errorf("decode error series: %d %v", n, err)
	}
	for _, name := range []string{"campusguard_capture_kernel_drops_total", "campusguard_capture_reassembly_bytes",
		"campusguard_capture_flows_evicted_total", "campusguard_capture_extract_errors_total"} {
		if n, err := testutil.GatherAndCount(reg, name); err != nil || (n == 0 && !strings.Contains(name, "kernel")) {
			t.Errorf("%s: %d series, %v", name, n, err)
		}
	}
}
