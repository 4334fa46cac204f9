package notify

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are shared by every output on one Registerer; the output label
// is the output's configured name, so its values are a small fixed set.
type metrics struct {
	sent    *prometheus.CounterVec
	dropped *prometheus.CounterVec
	queue   *prometheus.GaugeVec
	retries *prometheus.CounterVec
	skipped *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	const ns, sub = "campusguard", "notify"
	m := &metrics{
		sent: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "sent_total",
			Help: "Announcements finished, by output and result: ok (delivered), failed (given up: refused, out of attempts or time, or abandoned at shutdown)."},
			[]string{"output", "result"}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "dropped_total",
			Help: "Announcements dropped because the output's queue was full (or the output closed)."},
			[]string{"output"}),
		queue: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "queue_length",
			Help: "Announcements waiting in the output's queue."},
			[]string{"output"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "retries_total",
			Help: "Failed attempts that were tried again (webhook requests, syslog connections and writes)."},
			[]string{"output"}),
		skipped: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "skipped_total",
			Help: "Decisions an output did not announce, by reason: filtered (min_action, categories) or duplicate (already announced with that status)."},
			[]string{"output", "reason"}),
	}
	if reg == nil {
		return m, nil
	}
	var err error
	m.sent, err = register(reg, m.sent)
	if err != nil {
		return nil, err
	}
	if m.dropped, err = register(reg, m.dropped); err != nil {
		return nil, err
	}
	if m.queue, err = register(reg, m.queue); err != nil {
		return nil, err
	}
	if m.retries, err = register(reg, m.retries); err != nil {
		return nil, err
	}
	if m.skipped, err = register(reg, m.skipped); err != nil {
		return nil, err
	}
	return m, nil
}

// register registers c, or returns the collector of the same kind that an
// earlier output registered.
func register[C prometheus.Collector](reg prometheus.Registerer, c C) (C, error) {
	err := reg.Register(c)
	if err == nil {
		return c, nil
	}
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if old, ok := are.ExistingCollector.(C); ok {
			return old, nil
		}
	}
	return c, fmt.Errorf("notify: registering metrics: %w", err)
}

// outputMetrics are one output's series, created at once so every series
// exists from the start.
type outputMetrics struct {
	ok, failed, dropped, retries prometheus.Counter
	filtered, duplicate          prometheus.Counter
	queue                        prometheus.Gauge
}

func (m *metrics) output(name string) *outputMetrics {
	return &outputMetrics{
		ok:        m.sent.WithLabelValues(name, "ok"),
		failed:    m.sent.WithLabelValues(name, "failed"),
		dropped:   m.dropped.WithLabelValues(name),
		retries:   m.retries.WithLabelValues(name),
		filtered:  m.skipped.WithLabelValues(name, "filtered"),
		duplicate: m.skipped.WithLabelValues(name, "duplicate"),
		queue:     m.queue.WithLabelValues(name),
	}
}

// newOutputMetrics registers the metrics on reg (if any) and returns the
// series for output name.
func newOutputMetrics(reg prometheus.Registerer, name string) (*outputMetrics, error) {
	m, err := newMetrics(reg)
	if err != nil {
		return nil, err
	}
	return m.output(name), nil
}
