package state

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base32"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Scope is what an API token may do.
type Scope string

// The token scopes of DESIGN.md.
const (
	ScopeIngest  Scope = "ingest"  // POST posts and events
	ScopeBouncer Scope = "bouncer" // read the decision stream
	ScopeFeeds   Scope = "feeds"   // read the plain-text feeds
)

// ParseScope checks a scope name.
func ParseScope(s string) (Scope, error) {
	switch sc := Scope(s); sc {
	case ScopeIngest, ScopeBouncer, ScopeFeeds:
		return sc, nil
	}
	return "", fmt.Errorf("unknown token scope %q (want ingest, bouncer or feeds)", s)
}

// Token is an API token as listed; its secret is shown once, at creation,
// and only its SHA-256 is stored.
type Token struct {
	ID       int64
	Name     string
	Scope    Scope
	Created  time.Time
	LastUsed time.Time
	Revoked  time.Time
}

// ErrBadToken is the one answer to a token that is unknown, revoked or of
// another scope.
var ErrBadToken = errors.New("invalid, revoked or out-of-scope API token")

const tokenPrefix = "cg_"

// AddToken creates a token and returns its secret.
func (db *DB) AddToken(ctx context.Context, name string, scope Scope) (string, Token, error) {
	if err := checkUserName(name); err != nil {
		return "", Token{}, fmt.Errorf("token name: %w", err)
	}
	if _, err := ParseScope(string(scope)); err != nil {
		return "", Token{}, err
	}
	raw := make([]byte, 20)
	if _, err := rand.Read(raw); err != nil {
		return "", Token{}, err
	}
	secret := tokenPrefix + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(raw))
	t := Token{Name: name, Scope: scope, Created: time.Now().UTC().Truncate(time.Second)}
	res, err := db.ExecContext(ctx, `INSERT INTO tokens (name, scope, secret_hash, created) VALUES (?, ?, ?, ?)`,
		name, string(scope), hashSecret(secret), t.Created.Format(time.RFC3339))
	if err != nil {
		if strings.Contains(err.Error(), "UNIQUE") {
			return "", Token{}, fmt.Errorf("token %q exists", name)
		}
		return "", Token{}, err
	}
	t.ID, _ = res.LastInsertId()
	return secret, t, nil
}

func hashSecret(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// CheckToken returns the live token with this secret, if it has scope.
func (db *DB) CheckToken(ctx context.Context, secret string, scope Scope) (Token, error) {
	if !strings.HasPrefix(secret, tokenPrefix) || len(secret) > 128 {
		return Token{}, ErrBadToken
	}
	row := db.QueryRowContext(ctx, `SELECT id, name, scope, created, last_used, revoked FROM tokens WHERE secret_hash = ?`, hashSecret(secret))
	t, err := scanToken(row)
	if errors.Is(err, sql.ErrNoRows) || err == nil && (!t.Revoked.IsZero() || t.Scope != scope) {
		return Token{}, ErrBadToken
	}
	if err != nil {
		return Token{}, err
	}
	// Last use is kept to the minute: one write a minute per token, not
	// one per request.
	now := time.Now().UTC().Truncate(time.Minute)
	if t.LastUsed.Before(now) {
		_, _ = db.ExecContext(ctx, `UPDATE tokens SET last_used = ? WHERE id = ?`, now.Format(time.RFC3339), t.ID)
		t.LastUsed = now
	}
	return t, nil
}

// RevokeToken revokes a token by name; revoking twice is not an error.
func (db *DB) RevokeToken(ctx context.Context, name string) error {
	res, err := db.ExecContext(ctx, `UPDATE tokens SET revoked = CASE revoked WHEN '' THEN ? ELSE revoked END WHERE name = ?`,
		time.Now().UTC().Format(time.RFC3339), name)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("token %q: %w", name, ErrNotFound)
	}
	return nil
}

// Tokens lists every token by name.
func (db *DB) Tokens(ctx context.Context) ([]Token, error) {
	rows, err := db.QueryContext(ctx, `SELECT id, name, scope, created, last_used, revoked FROM tokens ORDER BY name`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Token
	for rows.Next() {
		t, err := scanToken(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

func scanToken(s scanner) (Token, error) {
	var t Token
	var scope, created, used, revoked string
	if err := s.Scan(&t.ID, &t.Name, &scope, &created, &used, &revoked); err != nil {
		return Token{}, err
	}
	t.Scope = Scope(scope)
	t.Created, _ = time.Parse(time.RFC3339, created)
	t.LastUsed, _ = time.Parse(time.RFC3339, used)
	t.Revoked, _ = time.Parse(time.RFC3339, revoked)
	return t, nil
}
