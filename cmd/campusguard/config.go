package main

import (
	"io"

	"github.com/campusguard/campusguard/internal/config"
)

func runConfig(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "dump" {
		return usageErrorf("usage: campusguard config dump [--config FILE]")
	}
	fs := newFlagSet("config dump", "[--config FILE]", stderr)
	cfgPath := fs.String("config", "", "config file (default "+config.DefaultPath+" if it exists)")
	if err := parseFlags(fs, args[1:]); err != nil {
		return err
	}
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	return config.Dump(stdout, cfg)
}
