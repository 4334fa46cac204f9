package main

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/campusguard/campusguard/capture"
	"github.com/campusguard/campusguard/internal/event"
	"github.com/campusguard/campusguard/internal/output"
)

func runScan(args []string, _ io.Reader, stdout, stderr io.Writer) error {
	fs := newFlagSet("scan", "[--rules PACK...] [--events] [--format ndjson|table] [--hitlog URL] FILE.pcap...", stderr)
	var packs stringList
	fs.Var(&packs, "rules", "rule pack file, glob or builtin[:NAME] (repeatable; default: the config's packs)")
	events := fs.Bool("events", false, "print every extracted event, not only those that hit a rule")
	format := fs.String("format", output.FormatNDJSON, "output format: ndjson or table")
	hitlogURL := fs.String("hitlog", "", "also store hits in this hit store (clickhouse://… or chdb://…)")
	pseudo := fs.String("pseudonymize", "config", "replace client addresses with keyed pseudonyms: on, off, or config (privacy.pseudonymize)")
	failOnHit := fs.Bool("fail-on-hit", false, "exit 1 when any event hits a rule")
	cfgPath := fs.String("config", "", "config file (default /etc/campusguard/campusguard.yaml if it exists)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return usageErrorf("no capture files given")
	}
	out, cfg, m, err := setupMatching(*cfgPath, packs, *format, stdout, stderr)
	if err != nil {
		return err
	}
	var store *scanStore
	if *hitlogURL != "" {
		if store, err = openScanStore(*hitlogURL, cfg, stderr); err != nil {
			return err
		}
		defer store.abort()
	}
	opts := capture.Options{
		Sensor:    cfg.Sensor.Name,
		Rules:     m.Set,
		AllEvents: *events,
		Flows:     capture.FlowLimits{Memory: int64(cfg.Capture.FlowMemoryMB) << 20, Idle: int64(cfg.Capture.FlowIdle)},
	}
	switch *pseudo {
	case "on", "true":
		cfg.Privacy.Pseudonymize = true
	case "off", "false":
		cfg.Privacy.Pseudonymize = false
	case "config":
	default:
		return usageErrorf("--pseudonymize %q: want on, off or config", *pseudo)
	}
	if cfg.Privacy.Pseudonymize {
		p, err := capture.LoadPseudonymizer(cfg.Privacy.KeyFile)
		if err != nil {
			return usageErrorf("%w (set privacy.key_file, or scan with --pseudonymize=off)", err)
		}
		opts.Pseudonyms = p
	}
	var writeErr error
	hitEvents := 0
	opts.Emit = func(ev *event.Event) {
		if len(ev.Hits) > 0 {
			hitEvents++
		}
		if writeErr == nil {
			writeErr = out.Write(ev)
		}
		if store != nil {
			store.w.Write(ev)
		}
	}
	w := capture.NewWorker(opts, nil)
	bar := newProgress(fs.Args(), stderr)
	var failed []error
	var done int64
	for _, path := range fs.Args() {
		err := capture.ReadFile(path, w, func(n int64) { bar.set(done + n) })
		if fi, statErr := os.Stat(path); statErr == nil {
			done += fi.Size()
		}
		bar.set(done)
		switch {
		case errors.Is(err, capture.ErrTruncated):
			bar.clear()
			fmt.Fprintln(stderr, "campusguard scan: warning:", err)
		case err != nil:
			bar.clear()
			fmt.Fprintln(stderr, "campusguard scan:", err)
			failed = append(failed, err)
		}
		if writeErr != nil {
			return writeErr
		}
	}
	bar.finish()
	if err := out.Flush(); err != nil {
		return err
	}
	st := w.Stats()
	fmt.Fprintf(stderr, "%d files: %s\n", len(fs.Args()), st.Summary())
	if store != nil {
		if err := store.finish(stderr); err != nil {
			return err
		}
	}
	if len(failed) > 0 {
		return &exitError{code: exitUsage, err: fmt.Errorf("%d of %d files could not be read", len(failed), len(fs.Args()))}
	}
	if *failOnHit && hitEvents > 0 {
		return &exitError{code: exitFindings, err: fmt.Errorf("")}
	}
	return nil
}

// progress draws a bar over the total size of the files, on a terminal only.
type progress struct {
	bar *progressbar.ProgressBar
}

func newProgress(paths []string, stderr io.Writer) *progress {
	f, ok := stderr.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return &progress{}
	}
	var total int64
	for _, p := range paths {
		if fi, err := os.Stat(p); err == nil {
			total += fi.Size()
		}
	}
	return &progress{bar: progressbar.NewOptions64(total,
		progressbar.OptionSetWriter(stderr),
		progressbar.OptionShowBytes(true),
		progressbar.OptionSetDescription("scanning"),
		progressbar.OptionThrottle(100e6),
		progressbar.OptionClearOnFinish())}
}

func (p *progress) set(n int64) {
	if p.bar != nil {
		_ = p.bar.Set64(n)
	}
}

func (p *progress) clear() {
	if p.bar != nil {
		_ = p.bar.Clear()
	}
}

func (p *progress) finish() {
	if p.bar != nil {
		_ = p.bar.Finish()
	}
}
