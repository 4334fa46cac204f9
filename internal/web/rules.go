package web

import (
	"strings"
	"time"

	"github.com/campusguard/campusguard/internal/event"
	"github.com/campusguard/campusguard/matcher"
)

// maxTestText bounds the rules tester's input, as a post body is bounded.
const maxTestText = 64 << 10

type packRow struct {
	matcher.PackInfo
	Kinds []string
}

type rulesData struct {
	Packs    []packRow
	ReportAt time.Time
	Duration time.Duration
	Failed   []string
	Problems []matcher.LineError
	Kept     []string

	Tested   bool
	Text     string
	TooLong  bool
	Segments []segment
	Hits     []event.Hit
}

func (c *Console) rulesData() rulesData {
	var d rulesData
	if set := c.match.Set(); set != nil {
		for _, p := range set.Packs() {
			row := packRow{PackInfo: p}
			for _, k := range p.AppliesTo {
				row.Kinds = append(row.Kinds, k.String())
			}
			d.Packs = append(d.Packs, row)
		}
	}
	if rep := c.match.LastReport(); rep != nil {
		d.ReportAt, d.Duration, d.Kept = rep.At, rep.Duration, rep.Kept
		for _, err := range rep.Failed {
			d.Failed = append(d.Failed, err.Error())
		}
		d.Problems = rep.Problems
	}
	return d
}

func (c *Console) rulesPage(rq *req) {
	c.render(rq, 200, "rules", "rules.title", c.rulesData())
}

// rulesTest runs a text through the rules in force as a post body. It is a
// POST so the text stays out of URLs and logs; nothing is stored.
func (c *Console) rulesTest(rq *req) {
	d := c.rulesData()
	d.Tested = true
	d.Text = rq.r.PostFormValue("text")
	code := 200
	if len(d.Text) > maxTestText {
		d.TooLong, d.Text, code = true, "", 400
	} else if strings.TrimSpace(d.Text) != "" {
		ev := &event.Event{Kind: event.KindPost, Text: d.Text}
		if set := c.match.Set(); set != nil {
			set.MatchEvent(ev)
		}
		d.Hits = ev.Hits
		d.Segments = highlight(d.Text, ev.Hits, event.FieldText)
	}
	c.render(rq, code, "rules", "rules.title", d)
}
