package hitlog

import "github.com/prometheus/client_golang/prometheus"

type writerMetrics struct {
	rows, batches, errors     prometheus.Counter
	spooledRows, replayedRows prometheus.Counter
	dedupRows, corrupt        prometheus.Counter
	overflow, dedupLookups    prometheus.Counter
	dropped                   *prometheus.CounterVec
	lag, up, queueRows        prometheus.Gauge
	insertSeconds             prometheus.Histogram
}

func newWriterMetrics(reg prometheus.Registerer, w *Writer) *writerMetrics {
	const ns, sub = "campusguard", "hitlog"
	counter := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: name, Help: help})
	}
	gauge := func(name, help string) prometheus.Gauge {
		return prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: name, Help: help})
	}
	m := &writerMetrics{
		rows:         counter("rows_written_total", "Hit rows inserted into the hit store."),
		batches:      counter("batches_written_total", "INSERTs that succeeded."),
		errors:       counter("errors_total", "Failed INSERTs and dedup lookups."),
		spooledRows:  counter("spooled_rows_total", "Hit rows written to the disk spool."),
		replayedRows: counter("replayed_rows_total", "Hit rows replayed from the spool into the store."),
		dedupRows:    counter("deduplicated_rows_total", "Rows of replayed batches the store already held, not inserted again."),
		corrupt:      counter("spool_undecodable_records_total", "Spool records with a valid checksum that did not decode; skipped."),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "dropped_rows_total",
			Help: "Hit rows lost: spool_full (spool at its cap, per its policy), spool_error (disk error), closed (written after Close)."}, []string{"reason"}),
		dedupLookups: counter("dedup_lookups_total", "Spooled batches checked against the store before replay because an INSERT of them had been attempted."),
		overflow:     counter("queue_overflow_batches_total", "Batches that found the memory queue full and were spooled by the writing goroutine itself (a burst faster than the disk)."),
		lag:          gauge("lag_seconds", "Age of the last batch written when it was written; 0 when idle."),
		up:           gauge("store_up", "1 while the hit store accepts inserts, 0 while the writer is backing off."),
		queueRows:    gauge("queue_rows", "Rows in sealed batches waiting in memory."),
		insertSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Subsystem: sub, Name: "insert_duration_seconds",
			Help: "Time of one INSERT.", Buckets: prometheus.ExponentialBuckets(0.005, 2, 14)}),
	}
	for _, reason := range []string{"spool_full", "spool_error", "closed"} {
		m.dropped.WithLabelValues(reason) // every series exists from the start, at 0
	}
	if reg == nil {
		return m
	}
	spoolGauge := func(name, help string, f func() float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: name, Help: help}, f)
	}
	spoolCounter := func(name, help string, f func() float64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: name, Help: help}, f)
	}
	reg.MustRegister(m.rows, m.batches, m.errors, m.spooledRows, m.replayedRows, m.dedupRows, m.corrupt, m.overflow, m.dedupLookups,
		m.dropped, m.lag, m.up, m.queueRows, m.insertSeconds,
		spoolGauge("spool_bytes", "Bytes of spool segment files on disk.", func() float64 { _, b := w.sp.Len(); return float64(b) }),
		spoolGauge("spool_batches", "Batches in the spool waiting for replay.", func() float64 { n, _ := w.sp.Len(); return float64(n) }),
		spoolCounter("spool_corrupt_records_total", "Spool records that failed their checksum; the rest of their segment was skipped.",
			func() float64 { return float64(w.sp.Stats().CorruptRecords) }),
		spoolCounter("spool_dropped_batches_total", "Spooled batches deleted to stay under the spool cap (drop_oldest).",
			func() float64 { return float64(w.sp.Stats().DroppedRecords) }),
	)
	return m
}
