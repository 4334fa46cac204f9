package feeds

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/campusguard/campusguard/internal/promreg"
)

// Results in campusguard_feed_requests_total.
const (
	resultOK           = "ok"           // 200, the body
	resultNotModified  = "not_modified" // 304, the firewall has it
	resultUnauthorized = "unauthorized" // 401
	resultError        = "error"        // 503, the decisions could not be read
)

type metrics struct {
	entries   *prometheus.GaugeVec
	truncated *prometheus.GaugeVec
	omitted   *prometheus.GaugeVec
	requests  *prometheus.CounterVec
	builds    *prometheus.CounterVec
	buildTime prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		entries: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "campusguard", Subsystem: "feed", Name: "entries",
			Help: "Lines in each firewall feed (domains, ips, urls) as last built.",
		}, []string{"feed"}),
		truncated: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "campusguard", Subsystem: "feed", Name: "truncated",
			Help: "1 when the feed's max_entries cap left decisions out of it as last built, else 0.",
		}, []string{"feed"}),
		omitted: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "campusguard", Subsystem: "feed", Name: "omitted_entries",
			Help: "Lines the feed's max_entries cap left out as last built (the least severe decisions).",
		}, []string{"feed"}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "campusguard", Subsystem: "feed", Name: "requests_total",
			Help: "Feed requests by feed and result: ok (body sent), not_modified (304), unauthorized, error (decisions unreadable).",
		}, []string{"feed", "result"}),
		builds: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "campusguard", Subsystem: "feed", Name: "builds_total",
			Help: "Times the feeds were built from the decisions in force, by result (ok, error).",
		}, []string{"result"}),
		buildTime: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "campusguard", Subsystem: "feed", Name: "build_duration_seconds",
			Help:    "Time to read the decisions in force and build the three feeds.",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 8), // 1 ms .. 16 s
		}),
	}
	for f := range numFeeds {
		m.entries.WithLabelValues(f.String())
		m.truncated.WithLabelValues(f.String())
		m.omitted.WithLabelValues(f.String())
		for _, r := range []string{resultOK, resultNotModified, resultUnauthorized, resultError} {
			m.requests.WithLabelValues(f.String(), r)
		}
	}
	m.builds.WithLabelValues("ok")
	m.builds.WithLabelValues("error")
	if reg == nil {
		return m, nil
	}
	if err := promreg.Register(reg, m.entries, m.truncated, m.omitted, m.requests, m.builds, m.buildTime); err != nil {
		return nil, fmt.Errorf("feeds: register metrics: %w", err)
	}
	return m, nil
}
