package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/campusguard/campusguard/internal/state"
)

// stateConfig writes a config whose state database is in a temp dir.
func stateConfig(t *testing.T) (cfgPath, dbPath string) {
	t.Helper()
	dir := t.TempDir()
	dbPath = filepath.Join(dir, "state.db")
	cfgPath = filepath.Join(dir, "campusguard.yaml")
	if err := os.WriteFile(cfgPath, []byte("state: {path: "+dbPath+"}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return cfgPath, dbPath
}

func TestUsersCommand(t *testing.T) {
	cfg, dbPath := stateConfig(t)
	code, out, errOut := runCLI(t, "a long admin password\n", "users", "add", "--config", cfg, "--role", "admin", "--password-stdin", "alice")
	if code != exitOK || !strings.Contains(out, "user alice added with role admin") {
		t.Fatalf("add: exit %d %q %q", code, out, errOut)
	}
	for _, c := range []struct {
		stdin string
		args  []string
		want  string
	}{
		{"x\n", []string{"add", "--role", "admin", "--password-stdin", "bob"}, "password too short"},
		{"", []string{"add", "--role", "root", "--password-stdin", "bob"}, `unknown role "root"`},
		{"", []string{"add", "--role", "viewer", "bob"}, "pass --password-stdin"},
		{"", []string{"remove", "alice"}, "last admin"},
		{"", []string{"remove", "nobody"}, "not found"},
		{"", []string{"frob"}, `unknown users command "frob"`},
		{"", []string{"add", "--role", "viewer"}, "want 1 user name"},
	} {
		args := append([]string{"users", c.args[0], "--config", cfg}, c.args[1:]...)
		if code, _, errOut := runCLI(t, c.stdin, args...); code != exitUsage || !strings.Contains(errOut, c.want) {
			t.Errorf("%v: exit %d, %q; want %q", c.args, code, errOut, c.want)
		}
	}
	if code, _, errOut := runCLI(t, "another long password\n", "users", "passwd", "--config", cfg, "--password-stdin", "alice"); code != exitOK {
		t.Fatalf("passwd: %d %s", code, errOut)
	}
	code, out, _ = runCLI(t, "", "users", "list", "--config", cfg)
	if code != exitOK || !strings.Contains(out, "alice") || !strings.Contains(out, "admin") {
		t.Errorf("list: %d %q", code, out)
	}
	db, err := state.Open(context.Background(), dbPath)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Authenticate(context.Background(), "alice", "another long password"); err != nil {
		t.Errorf("the new password does not log in: %v", err)
	}
	log, _ := db.AuditLog(context.Background(), 10, 0)
	if len(log) != 2 || log[0].Action != "user.passwd" || log[1].Action != "user.add" || !strings.HasPrefix(log[0].Actor, "cli") {
		t.Errorf("audit log: %+v", log)
	}
}

func TestTokensCommand(t *testing.T) {
	cfg, dbPath := stateConfig(t)
	code, out, errOut := runCLI(t, "", "tokens", "add", "--config", cfg, "--scope", "ingest", "forum-bbs")
	secret := strings.TrimSpace(out)
	if code != exitOK || !strings.HasPrefix(secret, "cg_") || !strings.Contains(errOut, "shown only now") {
		t.Fatalf("add: exit %d %q %q", code, out, errOut)
	}
	if code, _, errOut := runCLI(t, "", "tokens", "add", "--config", cfg, "--scope", "admin", "x"); code != exitUsage || !strings.Contains(errOut, "unknown token scope") {
		t.Errorf("bad scope: %d %q", code, errOut)
	}
	db, err := state.Open(context.Background(), dbPath)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.CheckToken(context.Background(), secret, state.ScopeIngest); err != nil {
		t.Errorf("printed secret does not check: %v", err)
	}
	if code, out, _ := runCLI(t, "", "tokens", "revoke", "--config", cfg, "forum-bbs"); code != exitOK || !strings.Contains(out, "revoked") {
		t.Errorf("revoke: %d %q", code, out)
	}
	if _, err := db.CheckToken(context.Background(), secret, state.ScopeIngest); err == nil {
		t.Error("revoked token still checks")
	}
	if code, out, _ := runCLI(t, "", "tokens", "list", "--config", cfg); code != exitOK || !strings.Contains(out, "forum-bbs") || strings.Contains(out, secret) {
		t.Errorf("list: %d %q", code, out)
	}
}
