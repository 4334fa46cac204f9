package matcher

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics of rule loading. Labels come from fixed sets only: no pack names,
// which operators choose and could make unbounded.
type metrics struct {
	reloads      *prometheus.CounterVec
	lastReload   prometheus.Gauge
	lastSuccess  prometheus.Gauge
	duration     prometheus.Gauge
	rules        *prometheus.GaugeVec
	packs        *prometheus.GaugeVec
	lineProblems prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "campusguard_rules_reloads_total",
			Help: "Rule reloads by result: success (every pack loaded), partial (some pack failed and kept its previous version or was dropped), failure (no pack usable).",
		}, []string{"result"}),
		lastReload: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "campusguard_rules_last_reload_timestamp_seconds",
			Help: "Unix time of the last reload attempt.",
		}),
		lastSuccess: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "campusguard_rules_last_success_timestamp_seconds",
			Help: "Unix time of the last reload in which every pack loaded.",
		}),
		duration: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "campusguard_rules_reload_duration_seconds",
			Help: "How long the last reload took.",
		}),
		rules: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "campusguard_rules_loaded",
			Help: "Rules in force by type.",
		}, []string{"type"}),
		packs: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "campusguard_rules_packs",
			Help: "Packs by state after the last reload: loaded (fresh or unchanged), stale (new version failed, previous kept), failed (not in force).",
		}, []string{"state"}),
		lineProblems: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "campusguard_rules_line_errors",
			Help: "Bad rule lines skipped in the last reload.",
		}),
	}
	for _, r := range []string{"success", "partial", "failure"} {
		m.reloads.WithLabelValues(r)
	}
	reg.MustRegister(m.reloads, m.lastReload, m.lastSuccess, m.duration, m.rules, m.packs, m.lineProblems)
	return m
}

func (m *metrics) observe(rep *ReloadReport, s *Set) {
	if m == nil {
		return
	}
	ts := float64(time.Now().UnixNano()) / 1e9
	m.lastReload.Set(ts)
	m.duration.Set(rep.Duration.Seconds())
	switch {
	case len(rep.Failed) == 0:
		m.reloads.WithLabelValues("success").Inc()
		m.lastSuccess.Set(ts)
	case len(s.packs) > 0:
		m.reloads.WithLabelValues("partial").Inc()
	default:
		m.reloads.WithLabelValues("failure").Inc()
	}
	var domains, regexes, detectors int
	for _, p := range s.packs {
		domains += p.info.Domains
		regexes += p.info.Regexes
		detectors += len(p.detectors)
	}
	m.rules.WithLabelValues("domain").Set(float64(domains))
	m.rules.WithLabelValues("keyword").Set(float64(len(s.kwRules)))
	m.rules.WithLabelValues("regex").Set(float64(regexes))
	m.rules.WithLabelValues("detector").Set(float64(detectors))
	m.packs.WithLabelValues("loaded").Set(float64(len(s.packs) - len(rep.Kept)))
	m.packs.WithLabelValues("stale").Set(float64(len(rep.Kept)))
	m.packs.WithLabelValues("failed").Set(float64(len(rep.Failed) - len(rep.Kept)))
	errs := 0
	for _, p := range rep.Problems {
		if !p.Warning {
			errs++
		}
	}
	m.lineProblems.Set(float64(errs))
}
