package nft

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/campusguard/campusguard/internal/promreg"
)

// Reasons in campusguard_firewall_nft_errors_total.
const (
	reasonNetlink = "netlink"          // the kernel refused or a read failed
	reasonInvalid = "invalid_decision" // a decision Apply or Reconcile refused
)

const (
	metricNamespace = "campusguard"
	metricSubsystem = "firewall_nft"
)

type metrics struct {
	elements *prometheus.GaugeVec
	updates  *prometheus.CounterVec
	changes  *prometheus.CounterVec
	errors   *prometheus.CounterVec
	duration *prometheus.HistogramVec
	dropped  *dropCollector

	reg        prometheus.Registerer
	registered []prometheus.Collector
}

func newMetrics(f *Firewall, reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		elements: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: metricNamespace, Subsystem: metricSubsystem, Name: "elements",
			Help: "Address ranges in campusguard's nftables block sets after the last update, by family (an interval counts once).",
		}, []string{"family"}),
		updates: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: metricNamespace, Subsystem: metricSubsystem, Name: "updates_total",
			Help: "Successful updates of the nftables block sets, by operation (apply, remove, reconcile).",
		}, []string{"op"}),
		changes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: metricNamespace, Subsystem: metricSubsystem, Name: "range_changes_total",
			Help: "Address ranges written to the nftables block sets, by change (add, delete, refresh of the timeout).",
		}, []string{"change"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: metricNamespace, Subsystem: metricSubsystem, Name: "errors_total",
			Help: "Failed nftables operations (netlink) and refused decisions (invalid_decision).",
		}, []string{"reason"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: metricNamespace, Subsystem: metricSubsystem, Name: "update_duration_seconds",
			Help:    "Time an update of the nftables block sets took, reads of the sets included, by operation.",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 8), // 1 ms .. 16 s
		}, []string{"op"}),
		dropped: &dropCollector{
			f: f,
			packets: prometheus.NewDesc(prometheus.BuildFQName(metricNamespace, metricSubsystem, "dropped_packets_total"),
				"Packets dropped by campusguard's nftables rules, by hook, family and direction (source: ip saddr, destination: ip daddr).",
				[]string{"hook", "family", "direction"}, nil),
			bytes: prometheus.NewDesc(prometheus.BuildFQName(metricNamespace, metricSubsystem, "dropped_bytes_total"),
				"Bytes dropped by campusguard's nftables rules, by hook, family and direction.",
				[]string{"hook", "family", "direction"}, nil),
		},
		reg: reg,
	}
	for _, fam := range []string{"ipv4", "ipv6"} {
		m.elements.WithLabelValues(fam)
	}
	for _, op := range []string{"apply", "remove", "reconcile"} {
		m.updates.WithLabelValues(op)
		m.duration.WithLabelValues(op)
	}
	for _, c := range []string{"add", "delete", "refresh"} {
		m.changes.WithLabelValues(c)
	}
	for _, r := range []string{reasonNetlink, reasonInvalid} {
		m.errors.WithLabelValues(r)
	}
	if reg == nil {
		return m, nil
	}
	cs := []prometheus.Collector{m.elements, m.updates, m.changes, m.errors, m.duration, m.dropped}
	if err := promreg.Register(reg, cs...); err != nil {
		return nil, fmt.Errorf("nftables: register metrics: %w", err)
	}
	m.registered = cs
	return m, nil
}

func (m *metrics) unregister() {
	for _, c := range m.registered {
		m.reg.Unregister(c)
	}
	m.registered = nil
}

// dropCollector reads the rule counters from the kernel at each scrape.
type dropCollector struct {
	f              *Firewall
	packets, bytes *prometheus.Desc
}

func (c *dropCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.packets
	ch <- c.bytes
}

func (c *dropCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	counts, err := c.f.Dropped(ctx)
	if errors.Is(err, ErrNotSetUp) || errors.Is(err, ErrClosed) {
		return
	}
	if err != nil {
		ch <- prometheus.NewInvalidMetric(c.packets, err)
		return
	}
	for _, d := range counts {
		ch <- prometheus.MustNewConstMetric(c.packets, prometheus.CounterValue, float64(d.Packets), d.Hook, d.Family, d.Direction)
		ch <- prometheus.MustNewConstMetric(c.bytes, prometheus.CounterValue, float64(d.Bytes), d.Hook, d.Family, d.Direction)
	}
}
