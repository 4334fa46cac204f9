// Command campusguard is the campusguard binary. This file only dispatches
// subcommands; each subcommand wires components together in its own file.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
)

// Exit codes (DESIGN.md): 0 success, 1 findings when a flag asks for it,
// 2 usage or input errors.
const (
	exitOK       = 0
	exitFindings = 1
	exitUsage    = 2
)

// exitError carries an exit code through an error return.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func usageErrorf(format string, args ...any) error {
	return &exitError{code: exitUsage, err: fmt.Errorf(format, args...)}
}

type command struct {
	name, summary string
	run           func(args []string, stdin io.Reader, stdout, stderr io.Writer) error
}

func commands() []command {
	return []command{
		{"serve", "run everything the config enables: capture, DNS, API, console, alerts", runServe},
		{"scan", "read pcap/pcapng files and print the events that hit a rule", runScan},
		{"match", "match one text a line from stdin against rule packs", runMatch},
		{"rules", "rules check PACK...: report every bad rule line", runRules},
		{"migrate", "create or upgrade the hit store schema", runMigrate},
		{"hits", "list stored hits, or count them by rule, name, client…", runHits},
		{"users", "manage console users: add, passwd, remove, list", runUsers},
		{"tokens", "manage API tokens: add, revoke, list", runTokens},
		{"firewall", "firewall status: drop counters of campusguard's nftables table; firewall uninstall: remove it", runFirewall},
		{"config", "config dump: print the effective configuration", runConfig},
		{"version", "print the version", runVersion},
	}
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stderr)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	for _, c := range commands() {
		if c.name != args[0] {
			continue
		}
		err := c.run(args[1:], stdin, stdout, stderr)
		if err == nil {
			return exitOK
		}
		var ee *exitError
		if errors.As(err, &ee) {
			if ee.err != nil && ee.err.Error() != "" {
				fmt.Fprintf(stderr, "campusguard %s: %v\n", c.name, ee.err)
			}
			return ee.code
		}
		fmt.Fprintf(stderr, "campusguard %s: %v\n", c.name, err)
		return exitUsage
	}
	fmt.Fprintf(stderr, "campusguard: unknown command %q\n\n", args[0])
	usage(stderr)
	return exitUsage
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: campusguard COMMAND [flags]\n\ncommands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-8s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nRun 'campusguard COMMAND -h' for a command's flags.")
}
