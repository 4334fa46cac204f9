package stream

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/campusguard/campusguard/internal/promreg"
)

type metrics struct {
	pulls  *prometheus.CounterVec
	sent   *prometheus.CounterVec
	errors prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		pulls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "campusguard", Subsystem: "stream", Name: "pulls_total",
			Help: "Answered pulls of the decision stream, by startup (true: every decision in force; false: changes since the bouncer's last pull).",
		}, []string{"startup"}),
		sent: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "campusguard", Subsystem: "stream", Name: "decisions_sent_total",
			Help: "Decisions sent to bouncers, by list (new, deleted).",
		}, []string{"list"}),
		errors: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "campusguard", Subsystem: "stream", Name: "errors_total",
			Help: "Pulls that failed reading the decision store (answered 500).",
		}),
	}
	m.pulls.WithLabelValues("true")
	m.pulls.WithLabelValues("false")
	m.sent.WithLabelValues("new")
	m.sent.WithLabelValues("deleted")
	if reg == nil {
		return m, nil
	}
	if err := promreg.Register(reg, m.pulls, m.sent, m.errors); err != nil {
		return nil, fmt.Errorf("stream: register metrics: %w", err)
	}
	return m, nil
}
