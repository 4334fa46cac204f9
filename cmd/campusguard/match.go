package main

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/campusguard/campusguard/internal/event"
	"github.com/campusguard/campusguard/internal/output"
)

// maxMatchLine bounds one stdin line of `match`.
const maxMatchLine = 1 << 20

func runMatch(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newFlagSet("match", "[--rules PACK...] [--format ndjson|table] [--all] [--fail-on-hit] < TEXT", stderr)
	var packs stringList
	fs.Var(&packs, "rules", "rule pack file, glob or builtin[:NAME] (repeatable; default: the config's packs)")
	format := fs.String("format", output.FormatNDJSON, "output format: ndjson or table")
	all := fs.Bool("all", false, "print every line, also those without hits")
	failOnHit := fs.Bool("fail-on-hit", false, "exit 1 when any line hits a rule")
	cfgPath := fs.String("config", "", "config file (default "+"/etc/campusguard/campusguard.yaml if it exists)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageErrorf("unexpected argument %q: match reads text from stdin", fs.Arg(0))
	}
	out, cfg, m, err := setupMatching(*cfgPath, packs, *format, stdout, stderr)
	if err != nil {
		return err
	}
	set := m.Set()
	if len(set.Packs()) == 0 {
		return usageErrorf("no usable rule packs")
	}
	sc := bufio.NewScanner(stdin)
	sc.Buffer(make([]byte, 0, 64<<10), maxMatchLine)
	lines, hitLines := 0, 0
	for sc.Scan() {
		lines++
		ev := event.Event{Time: time.Now().UTC(), Sensor: cfg.Sensor.Name, Kind: event.KindPost, PostID: strconv.Itoa(lines), Text: sc.Text()}
		set.MatchEvent(&ev)
		if len(ev.Hits) > 0 {
			hitLines++
		}
		if len(ev.Hits) > 0 || *all {
			if err := out.Write(&ev); err != nil {
				return err
			}
		}
	}
	if err := sc.Err(); err != nil {
		return usageErrorf("stdin line %d: %w", lines+1, err)
	}
	if err := out.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "%d lines, %d with hits\n", lines, hitLines)
	if *failOnHit && hitLines > 0 {
		return &exitError{code: exitFindings, err: fmt.Errorf("")}
	}
	return nil
}
