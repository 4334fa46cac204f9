package dnsplugin

import (
	"errors"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Metrics, registered with the default registry that CoreDNS's prometheus
// plugin serves. Labels come from small sets: results, the configured group
// names and the loaded pack names (never clients or query names).
var (
	queriesTotal = promauto.NewCounterVec(prometheus.CounterOpts{
		Namespace: "campusguard", Subsystem: "dns", Name: "queries_total",
		Help: "Queries seen by the campusguard plugin, by client group and result (allowed, blocked, monitored, allowlisted).",
	}, []string{"group", "result"})
	blockedTotal = promauto.NewCounterVec(prometheus.CounterOpts{
		Namespace: "campusguard", Subsystem: "dns", Name: "blocked_total",
		Help: "Blocked queries by the pack that blocked them and by what hit (qname: the query name; cname: a CNAME target in the answer).",
	}, []string{"pack", "via"})
	hitsDropped = promauto.NewCounter(prometheus.CounterOpts{
		Namespace: "campusguard", Subsystem: "dns", Name: "hits_dropped_total",
		Help: "Hit events dropped because the plugin's queue to the sinks was full.",
	})
	reloadsTotal = promauto.NewCounterVec(prometheus.CounterOpts{
		Namespace: "campusguard", Subsystem: "dns", Name: "reloads_total",
		Help: "Background reloads of packs and allowlists by result (success, partial, failure).",
	}, []string{"result"})
	lastReload = promauto.NewGauge(prometheus.GaugeOpts{
		Namespace: "campusguard", Subsystem: "dns", Name: "last_reload_timestamp_seconds",
		Help: "Unix time of the last background reload.",
	})
	reportEvents = promauto.NewCounterVec(prometheus.CounterOpts{
		Namespace: "campusguard", Subsystem: "dns", Name: "report_events_total",
		Help: "Hit events of the HTTP forwarder by result (sent, failed: given up after retries, dropped: its queue was full).",
	}, []string{"result"})
	reportRetries = promauto.NewCounter(prometheus.CounterOpts{
		Namespace: "campusguard", Subsystem: "dns", Name: "report_retries_total",
		Help: "Batches the HTTP forwarder sent again after a failure.",
	})
)

func init() {
	for _, r := range []string{"success", "partial", "failure"} {
		reloadsTotal.WithLabelValues(r)
	}
	for _, r := range []string{"sent", "failed", "dropped"} {
		reportEvents.WithLabelValues(r)
	}
}

// matcherRegisterer registers the matcher's campusguard_rules_* metrics with
// the default registry. A Corefile reload builds a new matcher while the
// old one is still registered: the newer one takes the place of the one
// this package registered before. Collectors someone else registered under
// the same names (the embedding program's own matcher) are left alone and
// the new ones are simply not exported.
type matcherRegisterer struct{}

var (
	ourCollectorsMu sync.Mutex
	ourCollectors   = map[prometheus.Collector]bool{}
)

func (matcherRegisterer) Register(c prometheus.Collector) error {
	ourCollectorsMu.Lock()
	defer ourCollectorsMu.Unlock()
	err := prometheus.DefaultRegisterer.Register(c)
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) && ourCollectors[are.ExistingCollector] {
		prometheus.DefaultRegisterer.Unregister(are.ExistingCollector)
		delete(ourCollectors, are.ExistingCollector)
		err = prometheus.DefaultRegisterer.Register(c)
	}
	if err == nil {
		ourCollectors[c] = true
	}
	return nil
}

func (r matcherRegisterer) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		_ = r.Register(c)
	}
}

func (matcherRegisterer) Unregister(c prometheus.Collector) bool {
	return prometheus.DefaultRegisterer.Unregister(c)
}
