package state

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"
)

// Role is what a console user may do.
type Role string

// The roles, from most to least powerful.
const (
	RoleAdmin     Role = "admin"     // everything, including users, tokens and decisions
	RoleModerator Role = "moderator" // the queue, hits, rules
	RoleViewer    Role = "viewer"    // read only
)

// ParseRole checks a role name.
func ParseRole(s string) (Role, error) {
	switch r := Role(s); r {
	case RoleAdmin, RoleModerator, RoleViewer:
		return r, nil
	}
	return "", fmt.Errorf("unknown role %q (want admin, moderator or viewer)", s)
}

// Allows reports whether r includes the powers of need.
func (r Role) Allows(need Role) bool { return rank(r) >= rank(need) }

func rank(r Role) int {
	switch r {
	case RoleAdmin:
		return 3
	case RoleModerator:
		return 2
	case RoleViewer:
		return 1
	}
	return 0
}

// User is a console account.
type User struct {
	ID       int64
	Name     string
	Role     Role
	Created  time.Time
	Disabled bool
}

// ErrBadLogin is the one answer to a wrong name or a wrong password, so a
// login form does not tell which.
var ErrBadLogin = errors.New("wrong user name or password")

// MinPasswordLen is the shortest password accepted.
const MinPasswordLen = 10

func checkUserName(name string) error {
	if name == "" || len(name) > 64 || !utf8.ValidString(name) || strings.ContainsAny(name, " \t\r\n:/") {
		return fmt.Errorf("user name %q: want 1–64 characters without spaces, ':' or '/'", name)
	}
	return nil
}

func checkPassword(pw string) error {
	if utf8.RuneCountInString(pw) < MinPasswordLen {
		return fmt.Errorf("password too short: want at least %d characters", MinPasswordLen)
	}
	if len(pw) > 1024 {
		return errors.New("password too long: at most 1024 bytes")
	}
	return nil
}

// AddUser creates a user.
func (db *DB) AddUser(ctx context.Context, name string, role Role, password string) (User, error) {
	if err := checkUserName(name); err != nil {
		return User{}, err
	}
	if _, err := ParseRole(string(role)); err != nil {
		return User{}, err
	}
	if err := checkPassword(password); err != nil {
		return User{}, err
	}
	u := User{Name: name, Role: role, Created: time.Now().UTC().Truncate(time.Second)}
	res, err := db.ExecContext(ctx, `INSERT INTO users (name, role, password, created) VALUES (?, ?, ?, ?)`,
		name, string(role), hashPassword(password), u.Created.Format(time.RFC3339))
	if err != nil {
		if strings.Contains(err.Error(), "UNIQUE") {
			return User{}, fmt.Errorf("user %q exists", name)
		}
		return User{}, fmt.Errorf("add user %s: %w", name, err)
	}
	u.ID, _ = res.LastInsertId()
	return u, nil
}

// SetPassword replaces a user's password and ends their sessions.
func (db *DB) SetPassword(ctx context.Context, name, password string) error {
	if err := checkPassword(password); err != nil {
		return err
	}
	return db.Tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE users SET password = ? WHERE name = ?`, hashPassword(password), name)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("user %q: %w", name, ErrNotFound)
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM sessions WHERE user_id = (SELECT id FROM users WHERE name = ?)`, name)
		return err
	})
}

// RemoveUser deletes a user and their sessions. The last admin cannot be
// removed, so the console always has someone who can manage it.
func (db *DB) RemoveUser(ctx context.Context, name string) error {
	return db.Tx(ctx, func(tx *sql.Tx) error {
		var role string
		if err := tx.QueryRowContext(ctx, `SELECT role FROM users WHERE name = ?`, name).Scan(&role); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return fmt.Errorf("user %q: %w", name, ErrNotFound)
			}
			return err
		}
		if Role(role) == RoleAdmin {
			var admins int
			if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM users WHERE role = 'admin' AND disabled = 0`).Scan(&admins); err != nil {
				return err
			}
			if admins <= 1 {
				return fmt.Errorf("user %q is the last admin; add another admin first", name)
			}
		}
		_, err := tx.ExecContext(ctx, `DELETE FROM users WHERE name = ?`, name)
		return err
	})
}

// Users lists every user by name.
func (db *DB) Users(ctx context.Context) ([]User, error) {
	rows, err := db.QueryContext(ctx, `SELECT id, name, role, created, disabled FROM users ORDER BY name`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []User
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	return out, rows.Err()
}

type scanner interface{ Scan(...any) error }

func scanUser(s scanner) (User, error) {
	var u User
	var role, created string
	if err := s.Scan(&u.ID, &u.Name, &role, &created, &u.Disabled); err != nil {
		return User{}, err
	}
	u.Role = Role(role)
	u.Created, _ = time.Parse(time.RFC3339, created)
	return u, nil
}

// Authenticate checks a password. A missing user costs the same hashing
// work as a wrong password, so timing does not reveal user names.
func (db *DB) Authenticate(ctx context.Context, name, password string) (User, error) {
	var stored string
	row := db.QueryRowContext(ctx, `SELECT id, name, role, created, disabled, password FROM users WHERE name = ?`, name)
	var u User
	var role, created string
	err := row.Scan(&u.ID, &u.Name, &role, &created, &u.Disabled, &stored)
	if errors.Is(err, sql.ErrNoRows) {
		verifyPassword(dummyHash, password)
		return User{}, ErrBadLogin
	}
	if err != nil {
		return User{}, err
	}
	if !verifyPassword(stored, password) || u.Disabled {
		return User{}, ErrBadLogin
	}
	u.Role = Role(role)
	u.Created, _ = time.Parse(time.RFC3339, created)
	return u, nil
}

// Argon2id with OWASP's second recommended setting (19 MiB, 2 passes).
const (
	argonTime    = 2
	argonMemory  = 19 * 1024
	argonThreads = 1
	argonKeyLen  = 32
)

var dummyHash = hashPassword("campusguard-no-such-user")

func hashPassword(pw string) string {
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	key := argon2.IDKey([]byte(pw), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, argonMemory, argonTime, argonThreads, b64.EncodeToString(salt), b64.EncodeToString(key))
}

// verifyPassword checks pw against a PHC-format argon2id hash, honouring
// the parameters stored with it.
func verifyPassword(encoded, pw string) bool {
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false
	}
	var m uint32
	var t uint32
	var p uint8
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &p); err != nil || m > 1<<22 || t > 16 || p == 0 {
		return false
	}
	b64 := base64.RawStdEncoding
	salt, err1 := b64.DecodeString(parts[4])
	want, err2 := b64.DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(want) == 0 {
		return false
	}
	got := argon2.IDKey([]byte(pw), salt, t, m, p, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1
}
