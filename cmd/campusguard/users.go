package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/user"
	"strings"
	"text/tabwriter"
	"time"

	"golang.org/x/term"

	"github.com/campusguard/campusguard/internal/state"
)

// cliActor names the person at the terminal in the audit log.
func cliActor() string {
	if u, err := user.Current(); err == nil {
		return "cli:" + u.Username
	}
	return "cli"
}

// openState opens the config's state database.
func openState(cfgPath string) (*state.DB, error) {
	cfg, err := loadConfig(cfgPath)
	if err != nil {
		return nil, err
	}
	db, err := state.Open(context.Background(), cfg.State.Path)
	if err != nil {
		return nil, usageErrorf("%w", err)
	}
	return db, nil
}

func runUsers(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	const synopsis = "add --role admin|moderator|viewer [--password-stdin] NAME | passwd [--password-stdin] NAME | remove NAME | list"
	if len(args) == 0 {
		return usageErrorf("usage: campusguard users %s", synopsis)
	}
	fs := newFlagSet("users "+args[0], synopsis, stderr)
	role := fs.String("role", "", "admin, moderator or viewer (add)")
	fromStdin := fs.Bool("password-stdin", false, "read the password from the first line of stdin instead of prompting")
	cfgPath := fs.String("config", "", "config file (default /etc/campusguard/campusguard.yaml if it exists)")
	if err := parseFlags(fs, args[1:]); err != nil {
		return err
	}
	sub := args[0]
	db, err := openSubcommand("users", "user", synopsis, sub, map[string]int{"add": 1, "passwd": 1, "remove": 1, "list": 0}, fs.NArg(), *cfgPath)
	if err != nil {
		return err
	}
	defer db.Close()
	ctx := context.Background()
	name := fs.Arg(0)
	switch sub {
	case "add":
		r, err := state.ParseRole(*role)
		if err != nil {
			return usageErrorf("--role: %w", err)
		}
		pw, err := readPassword(stdin, stderr, *fromStdin)
		if err != nil {
			return err
		}
		if _, err := db.AddUser(ctx, name, r, pw); err != nil {
			return usageErrorf("%w", err)
		}
		audit(ctx, db, "user.add", "user:"+name, map[string]string{"role": string(r)})
		fmt.Fprintf(stdout, "user %s added with role %s\n", name, r)
	case "passwd":
		pw, err := readPassword(stdin, stderr, *fromStdin)
		if err != nil {
			return err
		}
		if err := db.SetPassword(ctx, name, pw); err != nil {
			return usageErrorf("%w", err)
		}
		audit(ctx, db, "user.passwd", "user:"+name, nil)
		fmt.Fprintf(stdout, "password of %s changed; their sessions ended\n", name)
	case "remove":
		if err := db.RemoveUser(ctx, name); err != nil {
			return usageErrorf("%w", err)
		}
		audit(ctx, db, "user.remove", "user:"+name, nil)
		fmt.Fprintf(stdout, "user %s removed\n", name)
	case "list":
		users, err := db.Users(ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "NAME\tROLE\tCREATED\tDISABLED")
		for _, u := range users {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%v\n", u.Name, u.Role, u.Created.Format(time.DateOnly), u.Disabled)
		}
		return tw.Flush()
	}
	return nil
}

// openSubcommand checks a users or tokens subcommand and its number of
// name arguments (want), then opens the state database.
func openSubcommand(cmd, noun, synopsis, sub string, want map[string]int, nargs int, cfgPath string) (*state.DB, error) {
	n, ok := want[sub]
	if !ok {
		return nil, usageErrorf("unknown %s command %q; usage: campusguard %s %s", cmd, sub, cmd, synopsis)
	}
	if nargs != n {
		return nil, usageErrorf("%s %s: want %d %s name, got %d arguments", cmd, sub, n, noun, nargs)
	}
	return openState(cfgPath)
}

// readPassword prompts twice on a terminal, or reads one line of stdin.
func readPassword(stdin io.Reader, stderr io.Writer, fromStdin bool) (string, error) {
	f, isFile := stdin.(*os.File)
	if fromStdin || !isFile || !term.IsTerminal(int(f.Fd())) {
		if !fromStdin {
			return "", usageErrorf("stdin is not a terminal: pass --password-stdin to read the password from it")
		}
		line, err := bufio.NewReader(stdin).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return "", err
		}
		return strings.TrimRight(line, "\r\n"), nil
	}
	fmt.Fprint(stderr, "password: ")
	a, err := term.ReadPassword(int(f.Fd()))
	fmt.Fprintln(stderr)
	if err != nil {
		return "", err
	}
	fmt.Fprint(stderr, "again: ")
	b, err := term.ReadPassword(int(f.Fd()))
	fmt.Fprintln(stderr)
	if err != nil {
		return "", err
	}
	if string(a) != string(b) {
		return "", usageErrorf("the passwords differ")
	}
	return string(a), nil
}

func audit(ctx context.Context, db *state.DB, action, object string, after any) {
	_ = db.Audit(ctx, state.AuditEntry{Actor: cliActor(), Action: action, Object: object, After: state.MarshalAudit(after)})
}

func runTokens(args []string, _ io.Reader, stdout, stderr io.Writer) error {
	const synopsis = "add --scope ingest|bouncer|feeds NAME | revoke NAME | list"
	if len(args) == 0 {
		return usageErrorf("usage: campusguard tokens %s", synopsis)
	}
	fs := newFlagSet("tokens "+args[0], synopsis, stderr)
	scope := fs.String("scope", "", "ingest, bouncer or feeds (add)")
	cfgPath := fs.String("config", "", "config file (default /etc/campusguard/campusguard.yaml if it exists)")
	if err := parseFlags(fs, args[1:]); err != nil {
		return err
	}
	sub := args[0]
	db, err := openSubcommand("tokens", "token", synopsis, sub, map[string]int{"add": 1, "revoke": 1, "list": 0}, fs.NArg(), *cfgPath)
	if err != nil {
		return err
	}
	defer db.Close()
	ctx := context.Background()
	name := fs.Arg(0)
	switch sub {
	case "add":
		sc, err := state.ParseScope(*scope)
		if err != nil {
			return usageErrorf("--scope: %w", err)
		}
		secret, _, err := db.AddToken(ctx, name, sc)
		if err != nil {
			return usageErrorf("%w", err)
		}
		audit(ctx, db, "token.add", "token:"+name, map[string]string{"scope": string(sc)})
		fmt.Fprintln(stdout, secret)
		fmt.Fprintf(stderr, "token %s (scope %s) added; the secret above is shown only now\n", name, sc)
	case "revoke":
		if err := db.RevokeToken(ctx, name); err != nil {
			return usageErrorf("%w", err)
		}
		audit(ctx, db, "token.revoke", "token:"+name, nil)
		fmt.Fprintf(stdout, "token %s revoked\n", name)
	case "list":
		tokens, err := db.Tokens(ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "NAME\tSCOPE\tCREATED\tLAST USED\tREVOKED")
		for _, t := range tokens {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", t.Name, t.Scope, t.Created.Format(time.DateOnly), dateOrDash(t.LastUsed), dateOrDash(t.Revoked))
		}
		return tw.Flush()
	}
	return nil
}

func dateOrDash(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Format("2006-01-02 15:04")
}
