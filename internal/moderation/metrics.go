package moderation

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/campusguard/campusguard/internal/promreg"
)

// metrics of the moderation queue. Labels come from fixed sets only.
type metrics struct {
	svc       *Service
	ingested  map[Verdict]prometheus.Counter
	ingestVec *prometheus.CounterVec
	unchanged prometheus.Counter
	decisions *prometheus.CounterVec
	webhook   *prometheus.CounterVec

	itemsDesc  *prometheus.Desc
	oldestDesc *prometheus.Desc
}

func newMetrics(s *Service) *metrics {
	m := &metrics{
		svc: s,
		ingestVec: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "campusguard", Name: "posts_ingested_total",
			Help: "Posts recorded, new or edited, by the verdict the rules gave (retries of an unchanged post are not counted here).",
		}, []string{"verdict"}),
		unchanged: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "campusguard", Name: "posts_unchanged_total",
			Help: "Posts sent again unchanged (retries), answered from the record without changing anything.",
		}),
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "campusguard", Subsystem: "queue", Name: "decisions_total",
			Help: "Moderator decisions (bulk items included) and undos.",
		}, []string{"decision"}),
		webhook: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "campusguard", Subsystem: "moderation", Name: "webhook_deliveries_total",
			Help: "Webhook delivery attempts: ok (delivered), retry (failed, will be retried), failed (given up, or dropped because the queue was full).",
		}, []string{"result"}),
		itemsDesc: prometheus.NewDesc("campusguard_queue_items",
			"Moderation queue items by state (claimed: an open item with a claim that has not expired).", []string{"state"}, nil),
		oldestDesc: prometheus.NewDesc("campusguard_queue_oldest_open_seconds",
			"Age of the oldest open (pending, claimed or escalated) item; 0 when none is open.", nil, nil),
	}
	m.ingested = map[Verdict]prometheus.Counter{}
	for _, v := range []Verdict{VerdictAllow, VerdictFlag, VerdictHold, VerdictReject} {
		m.ingested[v] = m.ingestVec.WithLabelValues(string(v))
	}
	for _, d := range []string{string(DecideApprove), string(DecideReject), string(DecideEscalate), "undo"} {
		m.decisions.WithLabelValues(d)
	}
	for _, r := range []string{"ok", "retry", "failed"} {
		m.webhook.WithLabelValues(r)
	}
	return m
}

func (m *metrics) register(reg prometheus.Registerer) error {
	return promreg.Register(reg, m.ingestVec, m.unchanged, m.decisions, m.webhook, queueCollector{m})
}

// queueCollector reads the queue's counts at scrape time.
type queueCollector struct{ m *metrics }

func (c queueCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.m.itemsDesc
	ch <- c.m.oldestDesc
}

func (c queueCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s := c.m.svc
	counts, oldest, err := s.Counts(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(c.m.itemsDesc, err)
		return
	}
	for _, st := range States() {
		ch <- prometheus.MustNewConstMetric(c.m.itemsDesc, prometheus.GaugeValue, float64(counts[st]), string(st))
	}
	age := 0.0
	if !oldest.IsZero() {
		age = max(s.now().Sub(oldest).Seconds(), 0)
	}
	ch <- prometheus.MustNewConstMetric(c.m.oldestDesc, prometheus.GaugeValue, age)
}
