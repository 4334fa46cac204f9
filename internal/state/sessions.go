package state

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"errors"
	"time"
)

// Session is a logged-in console user. Its ID goes in the cookie; only its
// SHA-256 is stored, so a copy of the database cannot log anyone in.
type Session struct {
	ID      string
	User    User
	CSRF    string // the form token of this session
	Lang    string // "en", "zh-CN" or "" (from the browser)
	Expires time.Time
}

func randomString(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// NewSession starts a session for user that lasts ttl.
func (db *DB) NewSession(ctx context.Context, user User, ttl time.Duration) (Session, error) {
	s := Session{ID: randomString(32), User: user, CSRF: randomString(32), Expires: time.Now().UTC().Add(ttl).Truncate(time.Second)}
	_, err := db.ExecContext(ctx, `INSERT INTO sessions (id_hash, user_id, csrf, created, expires) VALUES (?, ?, ?, ?, ?)`,
		hashSecret(s.ID), user.ID, s.CSRF, time.Now().UTC().Format(time.RFC3339), s.Expires.Format(time.RFC3339))
	if err != nil {
		return Session{}, err
	}
	// Expired sessions are swept as new ones start.
	_, _ = db.ExecContext(ctx, `DELETE FROM sessions WHERE expires < ?`, time.Now().UTC().Format(time.RFC3339))
	return s, nil
}

// Session looks up a live session by the cookie's ID.
func (db *DB) Session(ctx context.Context, id string) (Session, error) {
	if id == "" || len(id) > 128 {
		return Session{}, ErrNotFound
	}
	row := db.QueryRowContext(ctx, `SELECT s.csrf, s.lang, s.expires, u.id, u.name, u.role, u.created, u.disabled
		FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.id_hash = ?`, hashSecret(id))
	s := Session{ID: id}
	var expires, role, created string
	err := row.Scan(&s.CSRF, &s.Lang, &expires, &s.User.ID, &s.User.Name, &role, &created, &s.User.Disabled)
	if errors.Is(err, sql.ErrNoRows) {
		return Session{}, ErrNotFound
	}
	if err != nil {
		return Session{}, err
	}
	s.User.Role = Role(role)
	s.User.Created, _ = time.Parse(time.RFC3339, created)
	s.Expires, _ = time.Parse(time.RFC3339, expires)
	if time.Now().After(s.Expires) || s.User.Disabled {
		return Session{}, ErrNotFound
	}
	return s, nil
}

// SetSessionLang remembers the console language a user picked.
func (db *DB) SetSessionLang(ctx context.Context, id, lang string) error {
	_, err := db.ExecContext(ctx, `UPDATE sessions SET lang = ? WHERE id_hash = ?`, lang, hashSecret(id))
	return err
}

// EndSession logs a session out.
func (db *DB) EndSession(ctx context.Context, id string) error {
	_, err := db.ExecContext(ctx, `DELETE FROM sessions WHERE id_hash = ?`, hashSecret(id))
	return err
}
