package web

import (
	"context"
	"time"

	"github.com/campusguard/campusguard/alerts/decision"
	"github.com/campusguard/campusguard/internal/hitlog"
	"github.com/campusguard/campusguard/internal/moderation"
)

const (
	overviewSpan = 24 * time.Hour
	overviewStep = 10 * time.Minute
	topLimit     = 10
)

type stateCount struct {
	State string
	N     int
}

type topList struct {
	TitleKey string
	DimKey   string
	Rows     []barRow
	Err      string
}

type overviewData struct {
	QueueCounts []stateCount
	QueueOpen   int
	Oldest      time.Time
	QueueErr    string

	HasHits    bool
	HitsErr    string
	From, To   time.Time
	ByCategory chart
	ByKind     chart
	Tops       []topList

	Health health

	// Decisions in force (nil engine: not enabled).
	HasDecisions bool
	Live         int
	LiveMore     bool // the count stopped at maxDecisionsLimit
	LiveBlocks   int
	LiveWarns    int
	DecisionsErr string
}

func (c *Console) overview(rq *req) {
	ctx, cancel := context.WithTimeout(rq.r.Context(), 15*time.Second)
	defer cancel()
	d := overviewData{HasHits: c.hits != nil, Health: readHealth(c.opts.Gatherer)}

	counts, oldest, err := c.queue.Counts(ctx)
	if err != nil {
		c.log.Error("queue counts", "err", err)
		d.QueueErr = err.Error()
	}
	for _, st := range moderation.States() {
		d.QueueCounts = append(d.QueueCounts, stateCount{State: string(st), N: counts[st]})
		if st == moderation.StatePending || st == moderation.StateClaimed || st == moderation.StateEscalated {
			d.QueueOpen += counts[st]
		}
	}
	d.Oldest = oldest

	if c.hits != nil {
		// Whole steps, the last one containing now.
		to := c.now().Truncate(overviewStep).Add(overviewStep)
		from := to.Add(-overviewSpan)
		d.From, d.To = from, to
		r := hitlog.Range{From: from, To: to}
		n := int(overviewSpan / overviewStep)
		label := func(prefix string) func(string) string {
			return func(k string) string {
				if k == otherKey {
					return rq.T("chart.other")
				}
				if k == "" {
					return rq.T("common.none")
				}
				return rq.V(prefix, k)
			}
		}
		pts, err := c.hits.HitsOverTime(ctx, r, hitlog.DimCategory, overviewStep, hitlog.Filter{})
		if err != nil {
			d.HitsErr = err.Error()
			c.log.Error("overview: hits over time", "err", err)
		}
		d.ByCategory = stackedBars("chart-category", pts, from, overviewStep, n, label("category"),
			rq.T("overview.chart.category"), rq.T("overview.chart.desc"))
		pts, err = c.hits.HitsOverTime(ctx, r, hitlog.DimKind, overviewStep, hitlog.Filter{})
		if err != nil && d.HitsErr == "" {
			d.HitsErr = err.Error()
		}
		d.ByKind = stackedBars("chart-kind", pts, from, overviewStep, n, label("kind"),
			rq.T("overview.chart.kind"), rq.T("overview.chart.desc"))
		for _, t := range []struct {
			dim       hitlog.Dim
			title     string
			dimKey    string
			translate string
		}{
			{hitlog.DimPack, "overview.top.pack", "hits.col.pack", ""},
			{hitlog.DimRule, "overview.top.rule", "hits.col.rule", ""},
			{hitlog.DimName, "overview.top.name", "hits.col.name", ""},
			{hitlog.DimCategory, "overview.top.category", "hits.col.category", "category"},
		} {
			tl := topList{TitleKey: t.title, DimKey: t.dimKey}
			counts, err := c.hits.Top(ctx, t.dim, r, topLimit, hitlog.Filter{})
			if err != nil {
				tl.Err = err.Error()
				c.log.Error("overview: top", "dim", t.dim, "err", err)
			}
			lab := func(k string) string { return k }
			if t.translate != "" {
				lab = label(t.translate)
			}
			tl.Rows = topRows(counts, lab)
			d.Tops = append(d.Tops, tl)
		}
	}
	if c.decisions != nil {
		d.HasDecisions = true
		live, err := c.decisions.List(ctx, decision.Filter{Live: true, Limit: maxDecisionsLimit})
		if err != nil {
			c.log.Error("overview: decisions in force", "err", err)
			d.DecisionsErr = rq.T("decisions.err.list")
		}
		d.Live, d.LiveMore = len(live), len(live) >= maxDecisionsLimit
		for _, x := range live {
			switch x.Action {
			case decision.ActionBlock:
				d.LiveBlocks++
			case decision.ActionWarn:
				d.LiveWarns++
			}
		}
	}
	c.render(rq, 200, "overview", "overview.title", d)
}
