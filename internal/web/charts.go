package web

import (
	"fmt"
	"html"
	"html/template"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/campusguard/campusguard/internal/hitlog"
)

// Charts are drawn here as inline SVG: no chart library, nothing for the
// CSP to allow, and an accessible name and a data table for each.

// maxSeries is how many keys a chart colours; the rest are summed as
// "other".
const maxSeries = 6

type legendItem struct {
	Key    string
	Label  string
	Class  string
	Total  uint64
	Peak   uint64
	PeakAt time.Time
}

type chart struct {
	ID     string
	SVG    template.HTML
	Legend []legendItem
	Total  uint64
	Empty  bool
}

const (
	chartW, chartH                        = 1000, 240
	padL, padR, padTop, padBottom         = 52, 12, 12, 30
	otherKey                              = "\x00other"
	tickHours                             = 3
	maxBuckets                            = 2000
	plotW                                 = chartW - padL - padR
	plotH                                 = chartH - padTop - padBottom
	chartTimeFormat                       = "15:04"
	chartTooltipTimeFormat                = "01-02 15:04"
	chartMinBarGap                float64 = 0.15
)

// stackedBars draws hits per step in [from, from+n*step), one coloured
// stack a bucket, split by key. label names a key for people; title and
// desc are the chart's accessible name and description.
func stackedBars(id string, pts []hitlog.Point, from time.Time, step time.Duration, n int, label func(string) string, title, desc string) chart {
	ch := chart{ID: id}
	if n <= 0 || n > maxBuckets || step <= 0 {
		ch.Empty = true
		return ch
	}
	end := from.Add(time.Duration(n) * step)
	inRange := pts[:0:0]
	for _, p := range pts {
		if !p.T.Before(from) && p.T.Before(end) {
			inRange = append(inRange, p)
		}
	}
	pts = inRange
	totals := map[string]uint64{}
	for _, p := range pts {
		totals[p.Key] += p.Hits
		ch.Total += p.Hits
	}
	keys := make([]string, 0, len(totals))
	for k := range totals {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if totals[keys[i]] != totals[keys[j]] {
			return totals[keys[i]] > totals[keys[j]]
		}
		return keys[i] < keys[j]
	})
	series := map[string]int{}
	for i, k := range keys {
		if i < maxSeries {
			series[k] = i
		} else {
			series[k] = maxSeries
		}
	}
	nSeries := min(len(keys), maxSeries+1)
	buckets := make([][]uint64, n)
	for i := range buckets {
		buckets[i] = make([]uint64, nSeries)
	}
	for _, p := range pts {
		buckets[int(p.T.Sub(from)/step)][series[p.Key]] += p.Hits
	}
	for i := 0; i < nSeries; i++ {
		li := legendItem{Class: fmt.Sprintf("s%d", i)}
		if i < maxSeries {
			li.Key, li.Label = keys[i], label(keys[i])
		} else {
			li.Key, li.Label = otherKey, label(otherKey)
		}
		for b := range buckets {
			v := buckets[b][i]
			li.Total += v
			if v > li.Peak {
				li.Peak, li.PeakAt = v, from.Add(time.Duration(b)*step)
			}
		}
		ch.Legend = append(ch.Legend, li)
	}
	ch.Empty = ch.Total == 0

	var maxStack uint64
	for _, b := range buckets {
		var s uint64
		for _, v := range b {
			s += v
		}
		maxStack = max(maxStack, s)
	}
	top, tick := niceScale(maxStack)

	var sb strings.Builder
	esc := html.EscapeString
	fmt.Fprintf(&sb, `<svg class="chart" viewBox="0 0 %d %d" role="img" aria-labelledby="%s-title %s-desc" focusable="false">`,
		chartW, chartH, esc(id), esc(id))
	fmt.Fprintf(&sb, `<title id="%s-title">%s</title><desc id="%s-desc">%s</desc>`, esc(id), esc(title), esc(id), esc(desc))
	// Grid and y axis.
	for v := uint64(0); v <= top; v += tick {
		y := padTop + plotH - float64(v)/float64(top)*plotH
		fmt.Fprintf(&sb, `<line class="grid" x1="%d" x2="%d" y1="%.1f" y2="%.1f"/>`, padL, chartW-padR, y, y)
		fmt.Fprintf(&sb, `<text class="axis" x="%d" y="%.1f" text-anchor="end" dominant-baseline="middle">%s</text>`, padL-6, y, esc(shortNum(v)))
	}
	// Bars.
	bw := float64(plotW) / float64(n)
	gap := bw * chartMinBarGap
	for b, vals := range buckets {
		var sum uint64
		for _, v := range vals {
			sum += v
		}
		if sum == 0 {
			continue
		}
		t := from.Add(time.Duration(b) * step)
		var tip []string
		for i, v := range vals {
			if v > 0 {
				tip = append(tip, fmt.Sprintf("%s %d", ch.Legend[i].Label, v))
			}
		}
		fmt.Fprintf(&sb, `<g><title>%s — %s</title>`, esc(t.Local().Format(chartTooltipTimeFormat)), esc(strings.Join(tip, ", ")))
		x := padL + float64(b)*bw + gap/2
		y := float64(padTop + plotH)
		for i, v := range vals {
			if v == 0 {
				continue
			}
			h := float64(v) / float64(top) * plotH
			y -= h
			fmt.Fprintf(&sb, `<rect class="s%d" x="%.2f" y="%.2f" width="%.2f" height="%.2f"/>`, i, x, y, math.Max(bw-gap, 0.5), h)
		}
		sb.WriteString(`</g>`)
	}
	// X axis: a label on each whole tickHours hour.
	fmt.Fprintf(&sb, `<line class="axisline" x1="%d" x2="%d" y1="%d" y2="%d"/>`, padL, chartW-padR, padTop+plotH, padTop+plotH)
	for b := 0; b <= n; b++ {
		t := from.Add(time.Duration(b) * step).Local()
		if t.Minute() != 0 || t.Second() != 0 || t.Hour()%tickHours != 0 {
			continue
		}
		x := padL + float64(b)*bw
		fmt.Fprintf(&sb, `<line class="tick" x1="%.1f" x2="%.1f" y1="%d" y2="%d"/>`, x, x, padTop+plotH, padTop+plotH+4)
		fmt.Fprintf(&sb, `<text class="axis" x="%.1f" y="%d" text-anchor="middle">%s</text>`, x, chartH-8, esc(t.Format(chartTimeFormat)))
	}
	sb.WriteString(`</svg>`)
	ch.SVG = template.HTML(sb.String()) // every value above is escaped or a number
	return ch
}

// niceScale picks the axis top and tick step: 4 or 5 ticks on 1, 2 or 5
// times a power of ten.
func niceScale(maxV uint64) (top, tick uint64) {
	if maxV == 0 {
		return 4, 1
	}
	raw := float64(maxV) / 4
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	var step float64
	switch r := raw / mag; {
	case r <= 1:
		step = mag
	case r <= 2:
		step = 2 * mag
	case r <= 5:
		step = 5 * mag
	default:
		step = 10 * mag
	}
	tick = max(uint64(math.Ceil(step)), 1)
	top = (maxV + tick - 1) / tick * tick
	if top == maxV && top/tick < 5 {
		top += tick
	}
	return top, tick
}

func shortNum(v uint64) string {
	switch {
	case v >= 1_000_000_000:
		return trimZero(float64(v)/1e9) + "G"
	case v >= 1_000_000:
		return trimZero(float64(v)/1e6) + "M"
	case v >= 10_000:
		return trimZero(float64(v)/1e3) + "k"
	}
	return fmt.Sprint(v)
}

func trimZero(f float64) string {
	return strings.TrimSuffix(fmt.Sprintf("%.1f", f), ".0")
}

// barRow is one row of a top list, with the width of its bar.
type barRow struct {
	Key   string
	Label string
	Hits  uint64
	Width float64 // 0–100
}

func topRows(counts []hitlog.Count, label func(string) string) []barRow {
	var maxV uint64
	for _, c := range counts {
		maxV = max(maxV, c.Hits)
	}
	out := make([]barRow, 0, len(counts))
	for _, c := range counts {
		r := barRow{Key: c.Key, Label: label(c.Key), Hits: c.Hits}
		if maxV > 0 {
			r.Width = math.Round(float64(c.Hits)/float64(maxV)*1000) / 10
		}
		out = append(out, r)
	}
	return out
}
