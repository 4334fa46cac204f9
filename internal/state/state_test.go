package state

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func openTest(t *testing.T) *DB {
	t.Helper()
	db, err := Open(context.Background(), filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestUsers(t *testing.T) {
	db := openTest(t)
	ctx := context.Background()
	if _, err := db.AddUser(ctx, "alice", RoleAdmin, "correct horse battery"); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, pw string
		role     Role
		want     string
	}{
		{"alice", "another password", RoleViewer, "exists"},
		{"bob", "short", RoleViewer, "too short"},
		{"b ob", "long enough password", RoleViewer, "without spaces"},
		{"bob", "long enough password", "root", "unknown role"},
	} {
		if _, err := db.AddUser(ctx, c.name, c.role, c.pw); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("AddUser(%q, %q): %v, want %q", c.name, c.role, err, c.want)
		}
	}
	u, err := db.Authenticate(ctx, "alice", "correct horse battery")
	if err != nil || u.Name != "alice" || u.Role != RoleAdmin {
		t.Fatalf("Authenticate = %+v, %v", u, err)
	}
	for _, c := range [][2]string{{"alice", "wrong password!"}, {"nobody", "correct horse battery"}} {
		if _, err := db.Authenticate(ctx, c[0], c[1]); !errors.Is(err, ErrBadLogin) {
			t.Errorf("Authenticate(%s) = %v, want ErrBadLogin", c[0], err)
		}
	}
	var stored string
	db.QueryRow(`SELECT password FROM users WHERE name = 'alice'`).Scan(&stored)
	if !strings.HasPrefix(stored, "$argon2id$") || strings.Contains(stored, "horse") {
		t.Errorf("stored password %q is not an argon2id hash", stored)
	}
	// A new password works, the old one does not, and sessions end.
	s, _ := db.NewSession(ctx, u, time.Hour)
	if err := db.SetPassword(ctx, "alice", "a brand new passphrase"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Authenticate(ctx, "alice", "correct horse battery"); !errors.Is(err, ErrBadLogin) {
		t.Error("old password still works")
	}
	if _, err := db.Session(ctx, s.ID); !errors.Is(err, ErrNotFound) {
		t.Error("session survived a password change")
	}
	if err := db.RemoveUser(ctx, "alice"); err == nil || !strings.Contains(err.Error(), "last admin") {
		t.Errorf("removing the last admin: %v", err)
	}
	db.AddUser(ctx, "carol", RoleAdmin, "carol's long password")
	if err := db.RemoveUser(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	if err := db.RemoveUser(ctx, "alice"); !errors.Is(err, ErrNotFound) {
		t.Errorf("removing twice: %v", err)
	}
	if !RoleAdmin.Allows(RoleModerator) || RoleViewer.Allows(RoleModerator) || !RoleModerator.Allows(RoleViewer) {
		t.Error("role order wrong")
	}
}

func TestSessions(t *testing.T) {
	db := openTest(t)
	ctx := context.Background()
	u, _ := db.AddUser(ctx, "mod", RoleModerator, "moderator password")
	s, err := db.NewSession(ctx, u, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	got, err := db.Session(ctx, s.ID)
	if err != nil || got.User.Name != "mod" || got.CSRF != s.CSRF || got.CSRF == "" {
		t.Fatalf("Session = %+v, %v", got, err)
	}
	var n int
	db.QueryRow(`SELECT count(*) FROM sessions WHERE id_hash = ?`, s.ID).Scan(&n)
	if n != 0 {
		t.Error("the session ID is stored in clear")
	}
	db.SetSessionLang(ctx, s.ID, "zh-CN")
	if got, _ := db.Session(ctx, s.ID); got.Lang != "zh-CN" {
		t.Errorf("lang = %q", got.Lang)
	}
	old, _ := db.NewSession(ctx, u, -time.Second)
	if _, err := db.Session(ctx, old.ID); !errors.Is(err, ErrNotFound) {
		t.Error("expired session accepted")
	}
	db.EndSession(ctx, s.ID)
	if _, err := db.Session(ctx, s.ID); !errors.Is(err, ErrNotFound) {
		t.Error("ended session accepted")
	}
}

func TestTokens(t *testing.T) {
	db := openTest(t)
	ctx := context.Background()
	secret, tok, err := db.AddToken(ctx, "forum-bbs", ScopeIngest)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(secret, "cg_") || len(secret) < 30 {
		t.Errorf("secret %q", secret)
	}
	if got, err := db.CheckToken(ctx, secret, ScopeIngest); err != nil || got.ID != tok.ID || got.LastUsed.IsZero() {
		t.Errorf("CheckToken = %+v, %v", got, err)
	}
	for _, c := range []struct {
		secret string
		scope  Scope
	}{{secret, ScopeFeeds}, {secret + "x", ScopeIngest}, {"", ScopeIngest}, {strings.TrimPrefix(secret, "cg_"), ScopeIngest}} {
		if _, err := db.CheckToken(ctx, c.secret, c.scope); !errors.Is(err, ErrBadToken) {
			t.Errorf("CheckToken(%q, %s) = %v, want ErrBadToken", c.secret, c.scope, err)
		}
	}
	if err := db.RevokeToken(ctx, "forum-bbs"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.CheckToken(ctx, secret, ScopeIngest); !errors.Is(err, ErrBadToken) {
		t.Error("revoked token accepted")
	}
	list, _ := db.Tokens(ctx)
	if len(list) != 1 || list[0].Revoked.IsZero() {
		t.Errorf("Tokens = %+v", list)
	}
	if _, _, err := db.AddToken(ctx, "x", "admin"); err == nil {
		t.Error("unknown scope accepted")
	}
}

func TestAuditChain(t *testing.T) {
	db := openTest(t)
	ctx := context.Background()
	for i := 0; i < 5; i++ {
		if err := db.Audit(ctx, AuditEntry{Actor: "alice", Action: "queue.approve", Object: "post:bbs/" + string(rune('a'+i)),
			Before: MarshalAudit(map[string]string{"state": "pending"}), After: MarshalAudit(map[string]string{"state": "approved"})}); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := db.VerifyAudit(ctx); err != nil || n != 5 {
		t.Fatalf("VerifyAudit = %d, %v", n, err)
	}
	log, _ := db.AuditLog(ctx, 2, 0)
	if len(log) != 2 || log[0].ID != 5 || log[1].Prev != "" && log[0].Prev != log[1].Hash {
		t.Errorf("AuditLog = %+v", log)
	}
	// The triggers refuse edits through SQL…
	if _, err := db.Exec(`UPDATE audit_log SET actor = 'mallory' WHERE id = 3`); err == nil {
		t.Error("audit log accepted an UPDATE")
	}
	if _, err := db.Exec(`DELETE FROM audit_log WHERE id = 3`); err == nil {
		t.Error("audit log accepted a DELETE")
	}
	// …and an edit made around them shows in the chain.
	db.Exec(`DROP TRIGGER audit_log_no_update`)
	db.Exec(`UPDATE audit_log SET actor = 'mallory' WHERE id = 3`)
	if _, err := db.VerifyAudit(ctx); err == nil || !strings.Contains(err.Error(), "entry 3 was changed") {
		t.Errorf("VerifyAudit after an edit = %v", err)
	}
}

// Appends from many goroutines keep one unbroken chain.
func TestAuditConcurrent(t *testing.T) {
	db := openTest(t)
	ctx := context.Background()
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 20; i++ {
				err := db.Tx(ctx, func(tx *sql.Tx) error {
					_, err := AppendAudit(ctx, tx, AuditEntry{Actor: "system", Action: "test", Object: "x"})
					return err
				})
				if err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if n, err := db.VerifyAudit(ctx); err != nil || n != 160 {
		t.Fatalf("VerifyAudit = %d, %v", n, err)
	}
}

func TestMigrateRefusesNewer(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.db")
	db, err := Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	db.Exec(`INSERT INTO schema_versions (component, version, name, applied) VALUES ('state', 99, 'future', '')`)
	db.Close()
	if _, err := Open(context.Background(), path); err == nil || !strings.Contains(err.Error(), "newer than this build") {
		t.Errorf("Open on a newer schema: %v", err)
	}
}
