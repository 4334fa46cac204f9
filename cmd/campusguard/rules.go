package main

import (
	"fmt"
	"io"

	"github.com/campusguard/campusguard/matcher"
	"github.com/campusguard/campusguard/rules"
)

func runRules(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "check" {
		return usageErrorf("usage: campusguard rules check PACK...")
	}
	fs := newFlagSet("rules check", "PACK...", stderr)
	t2s := fs.Bool("traditional-to-simplified", true, "fold traditional Chinese in keywords, as matching does")
	if err := parseFlags(fs, args[1:]); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return usageErrorf("rules check needs at least one pack file, glob or builtin[:NAME]")
	}
	m, rep, err := matcher.New(matcher.Options{Packs: fs.Args(), Builtin: rules.FS, TraditionalToSimplified: *t2s})
	if err != nil {
		return usageErrorf("%w", err)
	}
	bad := 0
	for _, e := range rep.Failed {
		fmt.Fprintln(stdout, e)
		bad++
	}
	for _, p := range rep.Problems {
		if p.Warning {
			fmt.Fprintf(stdout, "%s: warning: %s\n", location(p), p.Reason)
			continue
		}
		fmt.Fprintf(stdout, "%s: %s\n", location(p), p.Reason)
		bad++
	}
	var domains, dupes, keywords, regexes, detectors int
	packs := m.Set().Packs()
	for _, p := range packs {
		domains += p.Domains
		dupes += p.DuplicateDomains
		keywords += p.Keywords
		regexes += p.Regexes
		detectors += len(p.Detectors)
	}
	skipped := ""
	if dupes > 0 {
		skipped = fmt.Sprintf(" (%d duplicate domain lines skipped)", dupes)
	}
	fmt.Fprintf(stderr, "%d packs: %d domain, %d keyword, %d regex rules, %d detectors%s; %d problems\n",
		len(packs), domains, keywords, regexes, detectors, skipped, bad)
	if bad > 0 {
		return &exitError{code: exitUsage, err: fmt.Errorf("")}
	}
	return nil
}

func location(p matcher.LineError) string {
	if p.Line == 0 {
		return p.File
	}
	return fmt.Sprintf("%s:%d", p.File, p.Line)
}
