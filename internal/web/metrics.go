package web

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

type metrics struct {
	logins       *prometheus.CounterVec
	csrfRejected prometheus.Counter
	queueActions *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		logins: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "campusguard", Subsystem: "console",
			Name: "logins_total", Help: "Console login attempts by result: success, failure, limited (refused by the rate limit)."},
			[]string{"result"}),
		csrfRejected: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "campusguard", Subsystem: "console",
			Name: "csrf_rejected_total", Help: "State-changing console requests refused for a missing or wrong CSRF token."}),
		queueActions: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "campusguard", Subsystem: "console",
			Name: "queue_actions_total", Help: "Moderation actions taken in the console, by action and result (ok, conflict, error)."},
			[]string{"action", "result"}),
	}
	for _, r := range []string{"success", "failure", "limited"} {
		m.logins.WithLabelValues(r)
	}
	if reg == nil {
		return m, nil
	}
	for _, col := range []prometheus.Collector{m.logins, m.csrfRejected, m.queueActions} {
		if err := reg.Register(col); err != nil {
			return nil, fmt.Errorf("web console: metrics: %w", err)
		}
	}
	return m, nil
}

// health is what the overview shows of capture, DNS and the hit log, read
// from the process's metrics. A field that is not OK was not reported
// (that part is not running in this process).
type health struct {
	Available    bool
	Err          string
	Packets      metricVal
	KernelDrops  metricVal
	OtherDrops   metricVal
	DNSQueries   metricVal
	DNSBlocked   metricVal
	DNSDropped   metricVal
	SpoolBytes   metricVal
	SpoolBatches metricVal
	LagSeconds   metricVal
	StoreUp      metricVal
	HitlogDrops  metricVal
}

// metricVal is a metric's value, OK when the process reports it.
type metricVal struct {
	OK bool
	V  float64
}

// readHealth sums every series of the families the overview shows.
func readHealth(g prometheus.Gatherer) health {
	if g == nil {
		return health{}
	}
	mfs, err := g.Gather()
	h := health{Available: true}
	if err != nil && len(mfs) == 0 {
		return health{Err: err.Error()}
	}
	sums := map[string]float64{}
	for _, mf := range mfs {
		var s float64
		for _, m := range mf.GetMetric() {
			s += value(mf.GetType(), m)
		}
		sums[mf.GetName()] = s
	}
	get := func(names ...string) metricVal {
		var m metricVal
		for _, n := range names {
			if v, ok := sums[n]; ok {
				m.V += v
				m.OK = true
			}
		}
		return m
	}
	h.Packets = get("campusguard_capture_packets_total")
	h.KernelDrops = get("campusguard_capture_kernel_drops_total")
	h.OtherDrops = get("campusguard_capture_reassembly_drops_total", "campusguard_capture_hits_dropped_total")
	h.DNSQueries = get("campusguard_dns_queries_total")
	h.DNSBlocked = get("campusguard_dns_blocked_total")
	h.DNSDropped = get("campusguard_dns_hits_dropped_total")
	h.SpoolBytes = get("campusguard_hitlog_spool_bytes")
	h.SpoolBatches = get("campusguard_hitlog_spool_batches")
	h.LagSeconds = get("campusguard_hitlog_lag_seconds")
	h.StoreUp = get("campusguard_hitlog_store_up")
	h.HitlogDrops = get("campusguard_hitlog_dropped_rows_total")
	return h
}

func value(t dto.MetricType, m *dto.Metric) float64 {
	switch t {
	case dto.MetricType_COUNTER:
		return m.GetCounter().GetValue()
	case dto.MetricType_GAUGE:
		return m.GetGauge().GetValue()
	case dto.MetricType_UNTYPED:
		return m.GetUntyped().GetValue()
	}
	return 0
}
