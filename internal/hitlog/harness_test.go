package hitlog

import (
	"context"
	"os"
	"sync"
	"testing"

	"github.com/campusguard/campusguard/internal/hitlog/chdb"
	"github.com/campusguard/campusguard/internal/hitlog/chtest"
)

func TestMain(m *testing.M) {
	code := chtest.RunShared(m)
	if embedded.dir != "" {
		os.RemoveAll(embedded.dir)
	}
	os.Exit(code)
}

func sharedServer(t *testing.T) *chtest.Server { return chtest.SharedServer(t) }

// serverStore opens a fresh database of its own on the shared server.
func openServerStore(t *testing.T) Store {
	t.Helper()
	srv := sharedServer(t)
	s, err := Open(context.Background(), srv.URL(srv.NewDatabase(t)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// The engine allows one database directory per process: the tests share
// one store and reset its database.
var embedded struct {
	once  sync.Once
	dir   string
	store Store
	err   error
}

func openEmbeddedStore(t *testing.T) Store {
	t.Helper()
	if os.Getenv(chdb.LibEnv) == "" {
		os.Setenv(chdb.LibEnv, chtest.LibPath(t))
	}
	embedded.once.Do(func() {
		embedded.dir, embedded.err = os.MkdirTemp("", "hitlog-chdb-")
		if embedded.err == nil {
			embedded.store, embedded.err = Open(context.Background(), "chdb://"+embedded.dir)
		}
	})
	if embedded.err != nil {
		t.Fatal(embedded.err)
	}
	resetDatabase(t, embedded.store)
	return embedded.store
}

// forEachStore runs fn against the ClickHouse server and against chDB,
// each with an empty database.
func forEachStore(t *testing.T, fn func(t *testing.T, s Store)) {
	t.Run("server", func(t *testing.T) { fn(t, openServerStore(t)) })
	t.Run("chdb", func(t *testing.T) { fn(t, openEmbeddedStore(t)) })
}
