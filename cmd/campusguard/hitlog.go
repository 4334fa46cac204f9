package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/campusguard/campusguard/internal/config"
	"github.com/campusguard/campusguard/internal/hitlog"
	"github.com/campusguard/campusguard/internal/hitlog/spool"
)

func runMigrate(args []string, _ io.Reader, stdout, stderr io.Writer) error {
	fs := newFlagSet("migrate", "[--hitlog URL] | --cluster-ddl CLUSTER [--database NAME] [--server-version X.Y]", stderr)
	url := fs.String("hitlog", "", "hit store to migrate (default: the config's hitlog.url)")
	cluster := fs.String("cluster-ddl", "", "print the schema as ON CLUSTER DDL with Replicated and Distributed tables, and exit")
	database := fs.String("database", "campusguard", "database name for --cluster-ddl")
	serverVersion := fs.String("server-version", "23.8", "oldest ClickHouse version of the cluster, for --cluster-ddl")
	cfgPath := fs.String("config", "", "config file (default /etc/campusguard/campusguard.yaml if it exists)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *cluster != "" {
		v, err := hitlog.ParseVersion(*serverVersion)
		if err != nil {
			return usageErrorf("--server-version: %w", err)
		}
		_, err = io.WriteString(stdout, hitlog.ClusterDDL(*cluster, *database, v))
		return err
	}
	if *url == "" {
		cfg, err := loadConfig(*cfgPath)
		if err != nil {
			return err
		}
		*url = cfg.Hitlog.URL
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	store, from, err := openHitStore(ctx, *url)
	if err != nil {
		return err
	}
	defer store.Close()
	if from == hitlog.LatestVersion() {
		fmt.Fprintf(stdout, "%s: schema is at version %d, nothing to do\n", store.Describe(), from)
	} else {
		fmt.Fprintf(stdout, "%s: schema migrated from version %d to %d\n", store.Describe(), from, hitlog.LatestVersion())
	}
	return nil
}

// openHitStore connects and brings the schema up to date; every failure is
// one usage error naming the store.
func openHitStore(ctx context.Context, url string) (hitlog.Store, int, error) {
	store, err := hitlog.Open(ctx, url)
	if err != nil {
		return nil, 0, usageErrorf("%w", err)
	}
	from, err := hitlog.Migrate(ctx, store)
	if err != nil {
		store.Close()
		return nil, 0, usageErrorf("%w", err)
	}
	return store, from, nil
}

// writerOptions turns the hitlog config into Writer options.
func writerOptions(h config.Hitlog, spoolDir string, reg prometheus.Registerer, log *slog.Logger) hitlog.WriterOptions {
	policy := spool.DropOldest
	if h.SpoolFull == "drop_newest" {
		policy = spool.DropNewest
	}
	return hitlog.WriterOptions{
		BatchRows:     h.BatchRows,
		BatchInterval: time.Duration(h.BatchInterval),
		QueueRows:     h.QueueRows,
		SpoolDir:      spoolDir,
		SpoolMaxBytes: int64(h.SpoolMaxMB) << 20,
		SpoolPolicy:   policy,
		Registerer:    reg,
		Logger:        log,
	}
}

// retention is what the config says to keep.
func retention(cfg config.Config) hitlog.Retention {
	return hitlog.Retention{
		Hits:    time.Duration(cfg.Privacy.Retention),
		Clients: time.Duration(cfg.Privacy.Retention),
		Rollups: time.Duration(cfg.Hitlog.RollupRetention),
	}
}

// scanStore is the hit store a scan writes to, with a spool of its own
// that is removed once every hit is stored.
type scanStore struct {
	store    hitlog.Store
	w        *hitlog.Writer
	spoolDir string
	reg      *prometheus.Registry
}

func openScanStore(url string, cfg config.Config, stderr io.Writer) (*scanStore, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	store, _, err := openHitStore(ctx, url)
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "campusguard-scan-spool-")
	if err != nil {
		store.Close()
		return nil, err
	}
	reg := prometheus.NewRegistry()
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	w, err := hitlog.NewWriter(store, writerOptions(cfg.Hitlog, dir, reg, log))
	if err != nil {
		store.Close()
		os.RemoveAll(dir)
		return nil, err
	}
	return &scanStore{store: store, w: w, spoolDir: dir, reg: reg}, nil
}

// finish waits until every hit is in the store. Hits that cannot get there
// within the time stay in the spool, whose path the error names.
func (s *scanStore) finish(stderr io.Writer) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	err := s.w.Sync(ctx)
	if cerr := s.w.Close(ctx); err == nil {
		err = cerr
	}
	s.w = nil
	s.store.Close()
	if err != nil {
		return fmt.Errorf("hit store %s: %w; unsent hits are kept in %s", s.store.Describe(), err, s.spoolDir)
	}
	rows, _ := gatherValue(s.reg, "campusguard_hitlog_rows_written_total")
	fmt.Fprintf(stderr, "stored %d hits in %s\n", int64(rows), s.store.Describe())
	return os.RemoveAll(s.spoolDir)
}

// abort releases the store when the scan failed before finish.
func (s *scanStore) abort() {
	if s.w == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s.w.Close(ctx)
	s.store.Close()
}

// gatherValue reads one unlabelled counter or gauge from reg.
func gatherValue(reg prometheus.Gatherer, name string) (float64, bool) {
	mfs, err := reg.Gather()
	if err != nil {
		return 0, false
	}
	for _, mf := range mfs {
		if mf.GetName() != name || len(mf.GetMetric()) == 0 {
			continue
		}
		m := mf.GetMetric()[0]
		if m.Counter != nil {
			return m.Counter.GetValue(), true
		}
		if m.Gauge != nil {
			return m.Gauge.GetValue(), true
		}
	}
	return 0, false
}
