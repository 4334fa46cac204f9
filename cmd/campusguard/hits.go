package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/campusguard/campusguard/internal/event"
	"github.com/campusguard/campusguard/internal/hitlog"
)

func runHits(args []string, _ io.Reader, stdout, stderr io.Writer) error {
	fs := newFlagSet("hits", "[--hitlog URL] [--since DURATION] [--top DIM] [filters] [--limit N] [--format table|ndjson]", stderr)
	url := fs.String("hitlog", "", "hit store to read (default: the config's hitlog.url)")
	since := fs.Duration("since", 0, "only hits of the last DURATION, e.g. 24h (default: all)")
	top := fs.String("top", "", "count hits by kind, category, pack, rule, sensor, action, name or client instead of listing them")
	limit := fs.Int("limit", 20, "rows to print")
	format := fs.String("format", "table", "output format: table or ndjson")
	var f hitlog.Filter
	fs.StringVar(&f.Kind, "kind", "", "only this kind (dns, tls, quic, http, post)")
	fs.StringVar(&f.Category, "category", "", "only this category")
	fs.StringVar(&f.Pack, "pack", "", "only this pack")
	fs.StringVar(&f.Rule, "rule", "", "only this rule (FILE:LINE)")
	fs.StringVar(&f.Client, "client", "", "only this client (pseudonym or address)")
	fs.StringVar(&f.Name, "name", "", "only names containing this text (listing only)")
	cfgPath := fs.String("config", "", "config file (default /etc/campusguard/campusguard.yaml if it exists)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *format != "table" && *format != "ndjson" {
		return usageErrorf("unknown format %q (want table or ndjson)", *format)
	}
	if *url == "" {
		cfg, err := loadConfig(*cfgPath)
		if err != nil {
			return err
		}
		*url = cfg.Hitlog.URL
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	store, _, err := openHitStore(ctx, *url)
	if err != nil {
		return err
	}
	defer store.Close()
	q := hitlog.NewQueries(store, false)
	now := time.Now()
	r := hitlog.Range{From: time.Unix(1, 0), To: now.Add(time.Minute)}
	if *since > 0 {
		r.From = now.Add(-*since)
	}
	if *top != "" {
		counts, err := q.Top(ctx, hitlog.Dim(*top), r, *limit, f)
		if err != nil {
			return usageErrorf("%w", err)
		}
		if *format == "ndjson" {
			enc := json.NewEncoder(stdout)
			for _, c := range counts {
				if err := enc.Encode(map[string]any{*top: c.Key, "hits": c.Hits}); err != nil {
					return err
				}
			}
			return nil
		}
		tw := tabwriter.NewWriter(stdout, 2, 4, 2, ' ', 0)
		fmt.Fprintf(tw, "%s\tHITS\n", strings.ToUpper(*top))
		for _, c := range counts {
			fmt.Fprintf(tw, "%s\t%d\n", c.Key, c.Hits)
		}
		return tw.Flush()
	}
	if *limit > 1000 {
		return usageErrorf("--limit %d: at most 1000 when listing hits", *limit)
	}
	res, err := q.Search(ctx, r, f, hitlog.Page{Limit: *limit})
	if err != nil {
		return usageErrorf("%w", err)
	}
	if *format == "ndjson" {
		enc := json.NewEncoder(stdout)
		for _, h := range res.Hits {
			if err := enc.Encode(hitJSON(h)); err != nil {
				return err
			}
		}
		return nil
	}
	tw := tabwriter.NewWriter(stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\tSENSOR\tKIND\tCLIENT\tNAME\tPACK\tRULE\tCATEGORY\tACTION\tMATCH")
	for _, h := range res.Hits {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", h.Time.Format("2006-01-02 15:04:05"), h.Sensor, h.Kind,
			h.Client, h.Name, h.Pack, h.Rule, h.Category, h.Action, h.Match)
	}
	return tw.Flush()
}

// hitJSON names a stored hit's fields as the event JSON does.
func hitJSON(h hitlog.Hit) map[string]any {
	return map[string]any{
		"ts": h.Time, "sensor": h.Sensor, "kind": h.Kind, "src": h.Client, "dst": h.Server, "dst_port": h.Port,
		"name": h.Name, "url": h.URL, "pack": h.Pack, "rule": h.Rule, "category": h.Category,
		"severity": event.Severity(h.Severity).String(), "action": h.Action, "field": h.Field, "match": h.Match,
		"start": h.MatchStart, "end": h.MatchEnd,
	}
}
