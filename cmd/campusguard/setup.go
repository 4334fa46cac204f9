package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/campusguard/campusguard/internal/config"
	"github.com/campusguard/campusguard/internal/output"
	"github.com/campusguard/campusguard/matcher"
	"github.com/campusguard/campusguard/rules"
)

// stringList is a repeatable flag that also splits on commas.
type stringList []string

func (s *stringList) String() string { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error {
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			*s = append(*s, p)
		}
	}
	return nil
}

// newFlagSet returns a flag set that reports errors instead of exiting.
func newFlagSet(name, args string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("campusguard "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: campusguard %s %s\n", name, args)
		fs.PrintDefaults()
	}
	return fs
}

// parseFlags parses args and turns -h and bad flags into exit codes.
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return &exitError{code: exitOK, err: fmt.Errorf("")}
		}
		return &exitError{code: exitUsage, err: fmt.Errorf("")}
	}
	return nil
}

// loadConfig reads --config, CAMPUSGUARD_CONFIG, the default path or the
// built-in defaults, in that order, and applies CAMPUSGUARD_* overrides.
func loadConfig(flagPath string) (config.Config, error) {
	path, useDefaults := config.Resolve(flagPath)
	if useDefaults {
		c := config.Default()
		if err := c.ApplyEnv(os.Environ()); err != nil {
			return c, usageErrorf("%w", err)
		}
		if err := c.Validate(); err != nil {
			return c, usageErrorf("%w", err)
		}
		return c, nil
	}
	c, err := config.Load(path, config.WithEnv(os.Environ()))
	if err != nil {
		return c, usageErrorf("%w", err)
	}
	return c, nil
}

// setupMatching is what match and scan share: the output writer, the
// config, and the matcher with its pack errors reported on stderr.
func setupMatching(cfgPath string, packs []string, format string, stdout, stderr io.Writer) (output.Writer, config.Config, *matcher.Matcher, error) {
	out, err := output.New(stdout, format)
	if err != nil {
		return nil, config.Config{}, nil, usageErrorf("%w", err)
	}
	cfg, err := loadConfig(cfgPath)
	if err != nil {
		return nil, cfg, nil, err
	}
	m, rep, err := newMatcher(cfg, packs, stderr)
	if err != nil {
		return nil, cfg, nil, usageErrorf("%w", err)
	}
	for _, e := range rep.Failed {
		fmt.Fprintln(stderr, e)
	}
	return out, cfg, m, nil
}

// newMatcher loads packs: --rules when given, else the config's packs, else
// (nothing matched on disk) the built-in example packs, with a note.
func newMatcher(cfg config.Config, flagPacks []string, stderr io.Writer) (*matcher.Matcher, *matcher.ReloadReport, error) {
	return matcher.New(matcherOptions(cfg, flagPacks, stderr))
}

func matcherOptions(cfg config.Config, flagPacks []string, stderr io.Writer) matcher.Options {
	packs := flagPacks
	if len(packs) == 0 {
		packs = cfg.Rules.Packs
		if !anyPackExists(packs) {
			fmt.Fprintln(stderr, "campusguard: no rule packs found at", strings.Join(packs, ", "), "- using the built-in example packs")
			packs = []string{"builtin"}
		}
	}
	return matcher.Options{
		Packs:                   packs,
		Builtin:                 rules.FS,
		TraditionalToSimplified: cfg.Rules.TraditionalToSimplified,
		MaxHitsPerText:          cfg.Rules.MaxHitsPerText,
	}
}

func anyPackExists(patterns []string) bool {
	for _, p := range patterns {
		if p == "builtin" || strings.HasPrefix(p, "builtin:") {
			return true
		}
		if m, _ := globAny(p); m {
			return true
		}
	}
	return false
}

// globAny reports whether a glob pattern matches any file.
func globAny(pattern string) (bool, error) {
	m, err := filepath.Glob(pattern)
	return len(m) > 0, err
}
