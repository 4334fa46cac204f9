package web

import (
	"context"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/campusguard/campusguard/internal/event"
	"github.com/campusguard/campusguard/internal/hitlog"
	"github.com/campusguard/campusguard/internal/state"
)

const (
	hitsPageSize     = 50
	maxFilterBytes   = 256
	maxCursorBytes   = 64
	datetimeLocalFmt = "2006-01-02T15:04"
)

// hitRanges are the preset time ranges of the search form.
var hitRanges = []struct {
	Key string
	D   time.Duration
}{{"1h", time.Hour}, {"6h", 6 * time.Hour}, {"24h", 24 * time.Hour}, {"7d", 7 * 24 * time.Hour}, {"30d", 30 * 24 * time.Hour}}

// hitsQuery is a parsed search form.
type hitsQuery struct {
	Search   bool   // the form was submitted
	RangeKey string // a preset, or "custom"
	From, To time.Time
	FromText string // as typed, for the form
	ToText   string
	Filter   hitlog.Filter
	Severity string
	Cursor   string
	Errs     []fieldErr
}

type fieldErr struct {
	Field string
	Key   string // translation key
}

// parseHitsQuery reads the search form from a query string, which anyone
// with a session can write: every field is bounded and checked, and a bad
// one is reported, never passed on.
func parseHitsQuery(q url.Values, now time.Time) hitsQuery {
	h := hitsQuery{Search: q.Get("search") != "", RangeKey: "24h"}
	bad := func(field, key string) { h.Errs = append(h.Errs, fieldErr{field, key}) }
	text := func(field string) string {
		v := strings.TrimSpace(q.Get(field))
		switch {
		case len(v) > maxFilterBytes:
			bad(field, "hits.err.toolong")
			return ""
		case !utf8.ValidString(v) || strings.IndexFunc(v, unicode.IsControl) >= 0:
			bad(field, "hits.err.chars")
			return ""
		}
		return v
	}
	f := &h.Filter
	if k := text("kind"); k != "" {
		if _, err := event.ParseKind(k); err != nil {
			bad("kind", "hits.err.kind")
		} else {
			f.Kind = k
		}
	}
	f.Category = text("category")
	f.Pack = text("pack")
	f.Rule = text("rule")
	f.Sensor = text("sensor")
	f.Action = text("action")
	f.Client = text("client")
	f.Name = text("name")
	if s := text("severity"); s != "" {
		sev, err := event.ParseSeverity(s)
		if err != nil {
			bad("severity", "hits.err.severity")
		} else {
			h.Severity = s
			f.MinSeverity = uint8(sev)
		}
	}
	if c := q.Get("cursor"); c != "" {
		if validCursor(c) {
			h.Cursor = c
		} else {
			bad("cursor", "hits.err.cursor")
		}
	}

	rk := text("range")
	if rk == "" {
		rk = "24h"
	}
	h.RangeKey = rk
	h.To = now
	switch rk {
	case "custom":
		h.FromText, h.ToText = text("from"), text("to")
		from, err1 := time.ParseInLocation(datetimeLocalFmt, h.FromText, time.Local)
		if err1 != nil {
			bad("from", "hits.err.time")
		}
		to, err2 := time.ParseInLocation(datetimeLocalFmt, h.ToText, time.Local)
		if err2 != nil {
			bad("to", "hits.err.time")
		}
		if err1 == nil && err2 == nil {
			if !from.Before(to) {
				bad("to", "hits.err.order")
			} else {
				h.From, h.To = from, to
			}
		}
	default:
		found := false
		for _, r := range hitRanges {
			if r.Key == rk {
				h.From, found = now.Add(-r.D), true
			}
		}
		if !found {
			bad("range", "hits.err.range")
			h.RangeKey = "24h"
			h.From = now.Add(-24 * time.Hour)
		}
	}
	if h.From.IsZero() {
		h.From = h.To.Add(-24 * time.Hour)
	}
	return h
}

// validCursor accepts the store's keyset cursor shape, MS.BATCH.SEQ.
func validCursor(c string) bool {
	if len(c) > maxCursorBytes {
		return false
	}
	parts := strings.Split(c, ".")
	if len(parts) != 3 {
		return false
	}
	for _, p := range parts {
		if p == "" {
			return false
		}
		if _, err := strconv.ParseUint(p, 10, 64); err != nil {
			return false
		}
	}
	return true
}

// nextURL is the link to the page at cursor ("": the first page).
func (h hitsQuery) nextURL(q url.Values, cursor string) string {
	v := url.Values{}
	for k, vals := range q {
		if k != "cursor" && len(vals) > 0 {
			v.Set(k, vals[0])
		}
	}
	if cursor != "" {
		v.Set("cursor", cursor)
	}
	return "/hits?" + v.Encode()
}

type hitsData struct {
	HasStore bool
	Q        hitsQuery
	Ranges   []string
	Kinds    []string
	Sevs     []string
	Result   hitlog.SearchResult
	Next     string
	Err      string
	First    string // link back to the first page
}

func (c *Console) hitsPage(rq *req) {
	q := rq.r.URL.Query()
	d := hitsData{HasStore: c.hits != nil, Q: parseHitsQuery(q, c.now())}
	for _, r := range hitRanges {
		d.Ranges = append(d.Ranges, r.Key)
	}
	for _, k := range event.Kinds() {
		d.Kinds = append(d.Kinds, k.String())
	}
	for s := event.SeverityLow; s <= event.SeverityCritical; s++ {
		d.Sevs = append(d.Sevs, s.String())
	}
	code := 200
	if len(d.Q.Errs) > 0 {
		code = 400
	}
	if c.hits != nil && d.Q.Search && len(d.Q.Errs) == 0 {
		ctx, cancel := context.WithTimeout(rq.r.Context(), 20*time.Second)
		defer cancel()
		res, err := c.hits.Search(ctx, hitlog.Range{From: d.Q.From, To: d.Q.To}, d.Q.Filter,
			hitlog.Page{Limit: hitsPageSize, Cursor: d.Q.Cursor})
		if err != nil {
			c.log.Error("hits search", "err", err)
			d.Err = err.Error()
		} else {
			d.Result = res
			if res.Next != "" {
				d.Next = d.Q.nextURL(q, res.Next)
			}
			if d.Q.Cursor != "" {
				d.First = d.Q.nextURL(q, "")
			}
			// Rows that name clients are personal data: the search is
			// audited with its filter, before the page is shown.
			named := d.Q.Filter.Client != ""
			for _, h := range res.Hits {
				named = named || h.Client != ""
			}
			if named {
				err := c.audit(rq.r.Context(), state.AuditEntry{Actor: rq.user(), Action: "hits.search", Object: "hits",
					After: state.MarshalAudit(auditFilter(d.Q, len(res.Hits)))})
				if err != nil {
					c.errorPage(rq, 500, "error.audit")
					return
				}
			}
		}
	}
	c.render(rq, code, "hits", "hits.title", d)
}

func auditFilter(q hitsQuery, rows int) map[string]any {
	m := map[string]any{"from": q.From.UTC().Format(time.RFC3339), "to": q.To.UTC().Format(time.RFC3339), "rows": rows}
	f := q.Filter
	for k, v := range map[string]string{"kind": f.Kind, "category": f.Category, "pack": f.Pack, "rule": f.Rule,
		"sensor": f.Sensor, "action": f.Action, "client": f.Client, "name": f.Name, "severity": q.Severity, "cursor": q.Cursor} {
		if v != "" {
			m[k] = v
		}
	}
	return m
}
