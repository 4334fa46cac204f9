// Package hitlog stores hits in ClickHouse: a ClickHouse server over the
// native protocol (clickhouse-go) or the embedded chDB engine, with the same
// migrations and queries on both. A Writer batches hits, spools them to disk
// while the store is unreachable and replays them without double counting.
package hitlog

import (
	"time"

	"github.com/campusguard/campusguard/internal/event"
)

// Columns are the hits table's columns in insert order; every INSERT names
// them, so a newer schema with more columns still takes an older writer.
var Columns = []string{
	"ts", "sensor", "kind", "client", "server", "port", "name", "url",
	"pack", "rule", "category", "severity", "action", "field", "match",
	"match_start", "match_end", "batch", "seq",
}

// Row is one hit: an event that hits two rules is two rows.
type Row struct {
	Time       time.Time
	Sensor     string
	Kind       string
	Client     string // the event's client address, pseudonymized when configured
	Server     string
	Port       uint16
	Name       string // DNS name, SNI, HTTP host, or the forum of a post
	URL        string // HTTP request target, or the post's id or URL
	Pack       string
	Rule       string
	Category   string
	Severity   uint8
	Action     string
	Field      string
	Match      string
	MatchStart uint32
	MatchEnd   uint32
}

// Batch is a set of rows written in one INSERT. ID and each row's position
// form the dedup key: a replayed batch inserts only the rows the store does
// not already hold.
type Batch struct {
	ID      uint64
	Created time.Time
	Rows    []Row
	// Seqs are the rows' numbers in the batch as first built; nil means
	// row i is number i. A replay that inserts only missing rows keeps
	// their numbers.
	Seqs []uint32
	// Attempted says an INSERT of the batch was tried, so some of its rows
	// may be in the store: a replay must ask which. A batch spooled only
	// because the inserter was behind was never sent, and replays without
	// that lookup.
	Attempted bool
}

func (b *Batch) seq(i int) uint32 {
	if b.Seqs != nil {
		return b.Seqs[i]
	}
	return uint32(i)
}

// AppendEvent adds one row per hit of ev.
func (b *Batch) AppendEvent(ev *event.Event) {
	for i := range ev.Hits {
		b.Rows = append(b.Rows, rowOf(ev, &ev.Hits[i]))
	}
}

func rowOf(ev *event.Event, h *event.Hit) Row {
	r := Row{
		Time:       ev.Time,
		Sensor:     ev.Sensor,
		Kind:       ev.Kind.String(),
		Client:     ev.Src,
		Server:     ev.Dst,
		Port:       ev.DstPort,
		Name:       ev.Name,
		URL:        ev.URL,
		Pack:       h.Pack,
		Rule:       h.Rule,
		Category:   h.Category,
		Severity:   uint8(h.Severity),
		Action:     h.Action,
		Field:      h.Field,
		Match:      h.Match,
		MatchStart: clampU32(h.Start),
		MatchEnd:   clampU32(h.End),
	}
	if ev.Kind == event.KindPost {
		// Posts have no network peers: the forum and post id are what a
		// moderator searches by.
		r.Name = ev.Forum
		if r.URL == "" {
			r.URL = ev.PostID
		}
		if r.Client == "" {
			r.Client = ev.Author
		}
	}
	return r
}

func clampU32(n int) uint32 {
	switch {
	case n < 0:
		return 0
	case uint64(n) > 1<<32-1:
		return 1<<32 - 1
	}
	return uint32(n)
}

// timeRange returns the earliest and latest row time, for the dedup lookup.
func (b *Batch) timeRange() (lo, hi time.Time) {
	for i, r := range b.Rows {
		if i == 0 || r.Time.Before(lo) {
			lo = r.Time
		}
		if i == 0 || r.Time.After(hi) {
			hi = r.Time
		}
	}
	return lo, hi
}
