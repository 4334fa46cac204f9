package hitlog

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Store is one ClickHouse: a server or the embedded engine. Both run the
// same SQL; Features says which newer parts of it the server has.
type Store interface {
	// Exec runs a statement without output (DDL, ALTER, DROP PARTITION,
	// INSERT … SELECT; not INSERT … VALUES, which old servers answer by
	// waiting for a data block).
	Exec(ctx context.Context, query string) error
	// Query runs a SELECT; the caller closes the Rows.
	Query(ctx context.Context, query string) (Rows, error)
	// Insert writes one batch with one INSERT naming Columns.
	Insert(ctx context.Context, b *Batch) error
	Ping(ctx context.Context) error
	Version() Version
	Database() string
	// Describe names the store for logs and errors, without credentials.
	Describe() string
	Close() error
}

// Rows iterates a query's result, in the style of database/sql.
type Rows interface {
	Next() bool
	// Scan copies the current row into pointers to string, uint8/16/32/64,
	// int64, float64 or bool.
	Scan(dest ...any) error
	Err() error
	Close() error
}

// Version is a ClickHouse release number.
type Version struct{ Major, Minor, Patch int }

func (v Version) String() string { return fmt.Sprintf("%d.%d.%d", v.Major, v.Minor, v.Patch) }

// AtLeast reports whether v is major.minor or newer.
func (v Version) AtLeast(major, minor int) bool {
	return v.Major > major || v.Major == major && v.Minor >= minor
}

var versionRE = regexp.MustCompile(`^(\d+)\.(\d+)(?:\.(\d+))?`)

// ParseVersion reads "18.16.1", "26.7.3.1" or "26.7.3-stable".
func ParseVersion(s string) (Version, error) {
	m := versionRE.FindStringSubmatch(strings.TrimSpace(s))
	if m == nil {
		return Version{}, fmt.Errorf("unrecognised ClickHouse version %q", s)
	}
	var v Version
	v.Major, _ = strconv.Atoi(m[1])
	v.Minor, _ = strconv.Atoi(m[2])
	v.Patch, _ = strconv.Atoi(m[3])
	return v, nil
}

// Features are the parts of the schema that depend on the server version.
// Debian's clickhouse-server 18.16 has none of them; chDB 26.7 has all.
type Features struct {
	TTL            bool // table TTL (19.6)
	LowCardinality bool // LowCardinality(String) without the experimental setting (19.9)
	DateTime64     bool // millisecond timestamps (20.1)
	AddColumnIfNot bool // ALTER … ADD COLUMN IF NOT EXISTS (19.3)
	// CascadingViews: a view on a view's target table sees that view's
	// inserts. 18.16 does not (tested); 26.7 does; 20.1 is the oldest we
	// assume it of.
	CascadingViews bool
}

// FeaturesOf gates the newer features on the server version.
func FeaturesOf(v Version) Features {
	return Features{
		TTL:            v.AtLeast(19, 6),
		LowCardinality: v.AtLeast(19, 9),
		DateTime64:     v.AtLeast(20, 1),
		AddColumnIfNot: v.AtLeast(19, 3),
		CascadingViews: v.AtLeast(20, 1),
	}
}

// Open connects to the store a URL names and checks that it answers:
//
//	clickhouse://user:pass@host:9000/db[?secure=true&skip_verify=true&ca=FILE&dial_timeout=5s]
//	chdb:///var/lib/campusguard/hits   (database "campusguard" inside)
//
// Bad URLs, unreachable hosts and refused logins fail here, once, with the
// reason; a Writer then copes with outages that come later.
func Open(ctx context.Context, rawURL string) (Store, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("hit store URL: %w", err)
	}
	switch u.Scheme {
	case "clickhouse":
		opts, err := serverOptions(u)
		if err != nil {
			return nil, err
		}
		return openServer(ctx, opts)
	case "chdb":
		if u.Host != "" || u.Path == "" {
			return nil, fmt.Errorf("hit store URL %q: want chdb:///absolute/path (three slashes)", redact(u))
		}
		return openEmbedded(ctx, u.Path)
	case "":
		return nil, fmt.Errorf("hit store URL %q has no scheme: want clickhouse://user:pass@host:9000/db or chdb:///path", redact(u))
	default:
		return nil, fmt.Errorf("hit store URL scheme %q is not supported: want clickhouse:// or chdb://", u.Scheme)
	}
}

// serverConfig is what a clickhouse:// URL says.
type serverConfig struct {
	addr, user, password, database string
	tls                            *tls.Config
	dialTimeout                    time.Duration
}

func serverOptions(u *url.URL) (serverConfig, error) {
	c := serverConfig{addr: u.Host, user: u.User.Username(), database: strings.Trim(u.Path, "/"), dialTimeout: 5 * time.Second}
	c.password, _ = u.User.Password()
	if c.addr == "" {
		return c, fmt.Errorf("hit store URL %q needs a host", redact(u))
	}
	if u.Port() == "" {
		c.addr += ":9000"
	}
	if c.user == "" {
		c.user = "default"
	}
	if c.database == "" {
		c.database = "campusguard"
	}
	if !validIdent(c.database) {
		return c, fmt.Errorf("hit store URL %q: database name %q must be letters, digits and _", redact(u), c.database)
	}
	q := u.Query()
	for key := range q {
		switch key {
		case "secure", "skip_verify", "ca", "dial_timeout":
		default:
			return c, fmt.Errorf("hit store URL %q: unknown option %q (want secure, skip_verify, ca, dial_timeout)", redact(u), key)
		}
	}
	if d := q.Get("dial_timeout"); d != "" {
		v, err := time.ParseDuration(d)
		if err != nil || v <= 0 {
			return c, fmt.Errorf("hit store URL %q: dial_timeout %q is not a duration", redact(u), d)
		}
		c.dialTimeout = v
	}
	secure, err := boolOpt(q, "secure")
	if err != nil {
		return c, fmt.Errorf("hit store URL %q: %w", redact(u), err)
	}
	skip, err := boolOpt(q, "skip_verify")
	if err != nil {
		return c, fmt.Errorf("hit store URL %q: %w", redact(u), err)
	}
	if secure || skip || q.Get("ca") != "" {
		c.tls = &tls.Config{InsecureSkipVerify: skip, MinVersion: tls.VersionTLS12}
		if ca := q.Get("ca"); ca != "" {
			pem, err := os.ReadFile(ca)
			if err != nil {
				return c, fmt.Errorf("hit store CA file: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return c, fmt.Errorf("hit store CA file %s holds no PEM certificate", ca)
			}
			c.tls.RootCAs = pool
		}
	}
	return c, nil
}

func boolOpt(q url.Values, key string) (bool, error) {
	s := q.Get(key)
	if s == "" {
		return false, nil
	}
	v, err := strconv.ParseBool(s)
	if err != nil {
		return false, fmt.Errorf("option %s=%q: want true or false", key, s)
	}
	return v, nil
}

// redact drops the password from a URL for messages.
func redact(u *url.URL) string {
	return u.Redacted()
}

var identRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,62}$`)

func validIdent(s string) bool { return identRE.MatchString(s) }

// errClosed is returned by stores used after Close.
var errClosed = errors.New("hit store is closed")
