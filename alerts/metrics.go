package alerts

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/campusguard/campusguard/internal/promreg"
)

type metrics struct {
	hits         *prometheus.CounterVec
	decisions    *prometheus.CounterVec
	revoked      prometheus.Counter
	dropped      prometheus.Counter
	outputErrors *prometheus.CounterVec
	active       prometheus.GaugeFunc
	trackers     prometheus.GaugeFunc
}

func newMetrics(e *Engine) *metrics {
	const ns, sub = "campusguard", "alerts"
	return &metrics{
		hits: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "hits_total",
			Help: "Hits seen by a policy: counted, coalesced (a repeat of the last hit), absorbed (a decision is in force), deduplicated (a repeated notice), allowlisted, unaddressable (no address to act on), untracked (tracker limit)."},
			[]string{"result"}),
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "decisions_total",
			Help: "Decisions made, by action, origin (policy or manual) and dry run."}, []string{"action", "origin", "dry_run"}),
		revoked: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "revocations_total",
			Help: "Decisions lifted early by a person."}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "dropped_events_total",
			Help: "Events not counted because the engine's queue was full."}),
		outputErrors: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "output_errors_total",
			Help: "Failed applies, removals and reconciles, by enforcer."}, []string{"output"}),
		active: prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "active_decisions",
			Help: "Warn and block decisions in force."}, func() float64 {
			e.mu.Lock()
			defer e.mu.Unlock()
			return float64(len(e.enforced))
		}),
		trackers: prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "tracked_subjects",
			Help: "Subjects with hits, strikes or decisions being tracked."}, func() float64 {
			e.mu.Lock()
			defer e.mu.Unlock()
			return float64(len(e.trackers))
		}),
	}
}

// precreate makes every series of the fixed label sets exist at 0, so
// dashboards and rate() see them before the first event.
func (m *metrics) precreate(enforcers map[string]Enforcer) {
	for _, r := range []string{"counted", "coalesced", "absorbed", "deduplicated", "allowlisted", "unaddressable", "untracked"} {
		m.hits.WithLabelValues(r)
	}
	for _, a := range []string{"notify", "warn", "block"} {
		for _, o := range []string{"policy", "manual"} {
			for _, dry := range []string{"true", "false"} {
				m.decisions.WithLabelValues(a, o, dry)
			}
		}
	}
	for name := range enforcers {
		m.outputErrors.WithLabelValues(name)
	}
}

func (m *metrics) register(r prometheus.Registerer) error {
	return promreg.Register(r, m.hits, m.decisions, m.revoked, m.dropped, m.outputErrors, m.active, m.trackers)
}
