package capture

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/campusguard/campusguard/internal/event"
)

// Metrics are the capture counters, registered on the registry given to
// NewMetrics. Workers count in plain fields and publish deltas every few
// thousand packets, so the hot path does no atomic operations.
type Metrics struct {
	packets, bytes, fragments, retransmits, reassemblyDrops, panics prometheus.Counter
	decodeErrors, extractErrors, events                             *prometheus.CounterVec
	hits                                                            prometheus.Counter
	flowsCreated, flowsEvicted, flowsExpired, bufferDrops           prometheus.Counter
	flows, reassemblyBytes                                          prometheus.Gauge
	KernelPackets, KernelDrops                                      *prometheus.CounterVec

	mu        sync.Mutex
	published map[*Worker]Stats
}

// NewMetrics registers the capture metrics on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	c := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Namespace: "campusguard", Subsystem: "capture", Name: name, Help: help})
	}
	m := &Metrics{
		packets:         c("packets_total", "Frames read from interfaces and files."),
		bytes:           c("bytes_total", "Bytes of the frames read."),
		fragments:       c("ip_fragments_total", "IPv4 fragments held for reassembly."),
		retransmits:     c("tcp_retransmits_total", "TCP segments already seen, skipped."),
		reassemblyDrops: c("reassembly_drops_total", "Flows whose reassembly was abandoned at a per-flow or global limit."),
		panics:          c("panics_total", "Packets whose decoding panicked (recovered, counted, skipped)."),
		hits:            c("hits_total", "Rule hits in captured events."),
		flowsCreated:    c("flows_created_total", "Flow directions tracked for reassembly."),
		flowsEvicted:    c("flows_evicted_total", "Flows evicted because the flow table was at its memory cap."),
		flowsExpired:    c("flows_expired_total", "Flows expired after the idle timeout."),
		bufferDrops:     c("reassembly_buffer_drops_total", "Flow buffers freed to stay under the global memory cap."),
		decodeErrors: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "campusguard", Subsystem: "capture",
			Name: "decode_errors_total", Help: "Frames that failed to decode, by the layer that failed."}, []string{"layer"}),
		extractErrors: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "campusguard", Subsystem: "capture",
			Name: "extract_errors_total", Help: "Malformed application data, by extractor (dns, tls, http, quic)."}, []string{"extractor"}),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "campusguard", Subsystem: "capture",
			Name: "events_total", Help: "Events extracted, by kind."}, []string{"kind"}),
		flows: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "campusguard", Subsystem: "capture",
			Name: "flows", Help: "Flow directions tracked now."}),
		reassemblyBytes: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "campusguard", Subsystem: "capture",
			Name: "reassembly_bytes", Help: "Bytes buffered for reassembly now."}),
		KernelPackets: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "campusguard", Subsystem: "capture",
			Name: "kernel_packets_total", Help: "Packets the kernel delivered to the capture socket, by interface."}, []string{"interface"}),
		KernelDrops: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "campusguard", Subsystem: "capture",
			Name: "kernel_drops_total", Help: "Packets the kernel dropped because the capture ring was full, by interface."}, []string{"interface"}),
		published: map[*Worker]Stats{},
	}
	for _, k := range event.Kinds() {
		if k.IsNetwork() {
			m.events.WithLabelValues(k.String())
		}
	}
	for _, e := range []string{"dns", "tls", "http", "quic"} {
		m.extractErrors.WithLabelValues(e)
	}
	reg.MustRegister(m.packets, m.bytes, m.fragments, m.retransmits, m.reassemblyDrops, m.panics, m.hits,
		m.flowsCreated, m.flowsEvicted, m.flowsExpired, m.bufferDrops, m.decodeErrors, m.extractErrors,
		m.events, m.flows, m.reassemblyBytes, m.KernelPackets, m.KernelDrops)
	return m
}

// publish adds what w counted since its last publish.
func (m *Metrics) publish(w *Worker) {
	now := w.Stats()
	m.mu.Lock()
	defer m.mu.Unlock()
	was := m.published[w]
	m.published[w] = now
	m.packets.Add(float64(now.Packets - was.Packets))
	m.bytes.Add(float64(now.Bytes - was.Bytes))
	m.fragments.Add(float64(now.Fragments - was.Fragments))
	m.retransmits.Add(float64(now.Retransmits - was.Retransmits))
	m.reassemblyDrops.Add(float64(now.ReassemblyDrops - was.ReassemblyDrops))
	m.panics.Add(float64(now.Panics - was.Panics))
	m.hits.Add(float64(now.Hits - was.Hits))
	m.flowsCreated.Add(float64(now.flows.created - was.flows.created))
	m.flowsEvicted.Add(float64(now.flows.evicted - was.flows.evicted))
	m.flowsExpired.Add(float64(now.flows.expired - was.flows.expired))
	m.bufferDrops.Add(float64(now.flows.bufferDrops - was.flows.bufferDrops))
	for _, k := range event.Kinds() {
		if d := now.Events[k] - was.Events[k]; d > 0 {
			m.events.WithLabelValues(k.String()).Add(float64(d))
		}
	}
	for l, v := range now.DecodeErrors {
		if d := v - was.DecodeErrors[l]; d > 0 {
			m.decodeErrors.WithLabelValues(l).Add(float64(d))
		}
	}
	for l, v := range now.ExtractErrors {
		if d := v - was.ExtractErrors[l]; d > 0 {
			m.extractErrors.WithLabelValues(l).Add(float64(d))
		}
	}
	m.flows.Add(float64(now.FlowsActive - was.FlowsActive))
	m.reassemblyBytes.Add(float64(now.ReassemblyBytes - was.ReassemblyBytes))
}
