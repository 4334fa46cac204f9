package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"

	"github.com/campusguard/campusguard/alerts"
	"github.com/campusguard/campusguard/alerts/decision"
	"github.com/campusguard/campusguard/alerts/firewall/dnsdecisions"
	"github.com/campusguard/campusguard/alerts/firewall/feeds"
	"github.com/campusguard/campusguard/alerts/firewall/nft"
	"github.com/campusguard/campusguard/alerts/firewall/stream"
	"github.com/campusguard/campusguard/alerts/notify"
	"github.com/campusguard/campusguard/capture"
	"github.com/campusguard/campusguard/dnsplugin"
	"github.com/campusguard/campusguard/dnsplugin/resolver"
	"github.com/campusguard/campusguard/internal/config"
	"github.com/campusguard/campusguard/internal/event"
	"github.com/campusguard/campusguard/internal/eventapi"
	"github.com/campusguard/campusguard/internal/hitlog"
	"github.com/campusguard/campusguard/internal/moderation"
	"github.com/campusguard/campusguard/internal/state"
	"github.com/campusguard/campusguard/internal/web"
	"github.com/campusguard/campusguard/matcher"
)

func runServe(args []string, _ io.Reader, stdout, stderr io.Writer) error {
	fs := newFlagSet("serve", "[--config FILE]", stderr)
	cfgPath := fs.String("config", "", "config file (default /etc/campusguard/campusguard.yaml if it exists)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return serve(ctx, cfg, stdout, stderr)
}

// hitQueue is the bounded hand-off from sources to the hit sink: a source
// never waits for it; what does not fit is counted and dropped.
type hitQueue struct {
	ch      chan *event.Event
	dropped prometheus.Counter
}

func newHitQueue(reg prometheus.Registerer, size int) *hitQueue {
	q := &hitQueue{ch: make(chan *event.Event, size), dropped: prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: "campusguard", Subsystem: "pipeline", Name: "dropped_events_total",
		Help: "Events dropped because the sink queue was full."})}
	reg.MustRegister(q.dropped)
	return q
}

func (q *hitQueue) put(ev *event.Event) {
	select {
	case q.ch <- ev:
	default:
		q.dropped.Inc()
	}
}

// serve runs the components the config enables until ctx ends, starting
// them in order and stopping them in reverse. Hits go to the hit store.
func serve(ctx context.Context, cfg config.Config, stdout, stderr io.Writer) error {
	log := slog.New(slog.NewTextHandler(stderr, nil))
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	mopts := matcherOptions(cfg, nil, stderr)
	mopts.Reload = time.Duration(cfg.Rules.Reload)
	mopts.Registerer = reg
	mopts.Logger = log
	m, rep, err := matcher.New(mopts)
	if err != nil {
		return usageErrorf("%w", err)
	}
	for _, e := range rep.Failed {
		log.Error("rule pack", "err", e)
	}
	if err := m.Start(ctx); err != nil {
		return err
	}
	defer m.Stop()

	db, err := state.Open(ctx, cfg.State.Path)
	if err != nil {
		return usageErrorf("state.path: %w", err)
	}
	defer db.Close()

	// The hit store comes first: an unreachable server or a refused login
	// stops serve here, with the reason, before anything captures.
	store, from, err := openHitStore(ctx, cfg.Hitlog.URL)
	if err != nil {
		return err
	}
	defer store.Close()
	log.Info("hit store", "store", store.Describe(), "schema_from", from, "schema", hitlog.LatestVersion())
	writer, err := hitlog.NewWriter(store, writerOptions(cfg.Hitlog, cfg.Hitlog.SpoolDir, reg, log))
	if err != nil {
		return usageErrorf("hitlog.spool_dir: %w", err)
	}
	defer func() {
		// Hits the store cannot take in time stay in the spool for the
		// next start.
		flush, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := writer.Close(flush); err != nil {
			log.Warn("hit store: not every hit was written; the rest waits in the spool", "err", err, "spool", cfg.Hitlog.SpoolDir)
		}
	}()
	retentionDone := make(chan struct{})
	go func() {
		defer close(retentionDone)
		hitlog.RetentionLoop(ctx, store, retention(cfg), time.Hour, func(err error) { log.Error("hit store retention", "err", err) })
	}()

	engine, outs, err := newEngine(ctx, cfg, db, reg, log)
	if err != nil {
		return err
	}
	defer outs.close(log) // after the engine stops
	if err := engine.Start(ctx); err != nil {
		return err
	}
	defer engine.Stop()

	queue := newHitQueue(reg, 65536)
	sinkDone := make(chan struct{})
	go func() {
		defer close(sinkDone)
		for ev := range queue.ch {
			writer.Write(ev)
			engine.Submit(ev)
		}
	}()

	opts := capture.Options{
		Sensor: cfg.Sensor.Name,
		Rules:  m.Set,
		Flows:  capture.FlowLimits{Memory: int64(cfg.Capture.FlowMemoryMB) << 20, Idle: int64(cfg.Capture.FlowIdle)},
		Emit:   queue.put,
	}
	if cfg.Privacy.Pseudonymize {
		p, err := capture.LoadPseudonymizer(cfg.Privacy.KeyFile)
		if err != nil {
			return usageErrorf("%w", err)
		}
		opts.Pseudonyms = p
	}
	met := capture.NewMetrics(reg)

	var live *capture.Live
	if len(cfg.Capture.Interfaces) > 0 {
		live, err = capture.NewLive(capture.LiveConfig{Interfaces: cfg.Capture.Interfaces, Workers: cfg.Capture.Workers, BPF: cfg.Capture.BPF}, opts, met)
		if err != nil {
			return usageErrorf("%w", err)
		}
		if err := live.Start(ctx); err != nil {
			return err
		}
		log.Info("capturing", "interfaces", cfg.Capture.Interfaces, "workers", cfg.Capture.Workers)
	}

	var replay sync.WaitGroup
	if len(cfg.Capture.Files) > 0 {
		replay.Add(1)
		go func() {
			defer replay.Done()
			w := capture.NewWorker(opts, met)
			for _, f := range cfg.Capture.Files {
				if ctx.Err() != nil {
					return
				}
				if err := capture.ReadFile(f, w, nil); err != nil {
					log.Error("capture file", "err", err)
				}
			}
			st := w.Stats()
			log.Info("capture files read", "files", len(cfg.Capture.Files), "summary", st.Summary())
		}()
	}

	if cfg.DNS.Corefile != "" {
		stopDNS, err := startDNS(cfg.DNS.Corefile, queue, outs.dns)
		if err != nil {
			return usageErrorf("dns.corefile: %w", err)
		}
		defer stopDNS()
		log.Info("DNS serving", "corefile", cfg.DNS.Corefile)
	}

	ln, err := net.Listen("tcp", cfg.HTTP.Listen)
	if err != nil {
		return usageErrorf("http.listen: %w", err)
	}
	mux := http.NewServeMux()
	// The DNS plugin registers on the default registry, as CoreDNS plugins do.
	gather := prometheus.Gatherers{reg, dnsMetrics{}}
	mux.Handle("GET /metrics", promhttp.HandlerFor(gather, promhttp.HandlerOpts{Registry: reg}))
	mod, err := moderation.New(db, moderation.Options{Rules: m.Set, Sink: queue.put, Sensor: cfg.Sensor.Name, Registerer: reg, Logger: log,
		ClaimTTL: time.Duration(cfg.Moderation.ClaimTTL), UndoWindow: time.Duration(cfg.Moderation.UndoWindow),
		WebhookURL: cfg.Moderation.WebhookURL, WebhookSecret: cfg.Moderation.WebhookSecret})
	if err != nil {
		return usageErrorf("moderation queue: %w", err)
	}
	if err := mod.Start(ctx); err != nil {
		return err
	}
	defer mod.Stop() // before db.Close: it hands back the writer's connection
	// A token is checked against the state database once per 10 s, not
	// per post; a revoked token works for at most that long.
	mux.Handle("/api/v1/posts", mod.IngestHandler(moderation.CacheAuth(web.TokenAuth(db, state.ScopeIngest), 10*time.Second)))
	console, err := web.New(web.Options{DB: db, Queue: mod, Hits: hitlog.NewQueries(store, cfg.Hitlog.Cluster), Matcher: m,
		Decisions: engine, Gatherer: gather, Logger: log, Registerer: reg})
	if err != nil {
		return usageErrorf("console: %w", err)
	}
	// The console's own routes, and everything not named here.
	mux.Handle("/", console.Handler())
	mux.Handle("/api/v1/events", eventapi.Handler(eventapi.Options{Auth: web.TokenAuth(db, state.ScopeIngest), Sink: queue.put, Registerer: reg}))
	if err := mountDecisionOutputs(mux, cfg.Firewall.Feeds, engine.Store(), db, reg, log); err != nil {
		return usageErrorf("%w", err)
	}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if len(m.Set().Packs()) == 0 {
			http.Error(w, "no rule packs loaded", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("http", "err", err)
		}
	}()
	log.Info("serving", "http", ln.Addr().String(), "packs", len(m.Set().Packs()))

	<-ctx.Done()
	log.Info("stopping")
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(shutdown)
	if live != nil {
		live.Stop()
	}
	replay.Wait()
	close(queue.ch)
	<-sinkDone
	<-retentionDone
	return nil
}

// newEngine builds the alert engine from alerts.* and its outputs from
// firewall.* and alerts.notify.
// outputs are what the engine hands decisions to, besides the resolver.
type outputs struct {
	dns    *dnsdecisions.Set
	notify *notify.Multi
	nft    *nft.Firewall // nil unless firewall.nftables.enabled
}

// close ends the outputs after the engine has stopped. The nftables
// table stays: its elements expire on their own, and the next start
// reconciles it.
func (o outputs) close(log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if o.notify != nil {
		if err := o.notify.Close(ctx); err != nil {
			log.Warn("alerts: announcements still queued at shutdown were dropped", "err", err)
		}
	}
	if o.nft != nil {
		o.nft.Close()
	}
}

func newEngine(ctx context.Context, cfg config.Config, db *state.DB, reg prometheus.Registerer, log *slog.Logger) (*alerts.Engine, outputs, error) {
	var out outputs
	policies, err := alerts.ParsePolicies(cfg.Alerts.Policies, cfg.Alerts.DryRun)
	if err != nil {
		return nil, out, usageErrorf("%w", err)
	}
	allow, err := alerts.ParseAllowlist(cfg.Alerts.Allowlist)
	if err != nil {
		return nil, out, usageErrorf("%w", err)
	}
	var nc notify.Config
	if err := alerts.DecodeYAML(cfg.Alerts.Notify, &nc); err != nil {
		return nil, out, usageErrorf("alerts.notify: %w", err)
	}
	if err := nc.Validate(); err != nil {
		return nil, out, usageErrorf("alerts.notify: %w", err)
	}
	out.notify, err = notify.New(nc, notify.Options{Registerer: reg, Logger: log, Version: version, ExternalURL: cfg.HTTP.ExternalURL})
	if err != nil {
		return nil, out, usageErrorf("alerts.notify: %w", err)
	}
	// The in-process resolver enforces domain decisions and warnings.
	out.dns = dnsdecisions.New(nil)
	enforcers := map[string]alerts.Enforcer{"dns": out.dns}
	if cfg.Firewall.NFTables.Enabled {
		out.nft, err = openFirewall(ctx, cfg.Firewall.NFTables.Table, nft.Options{Registerer: reg, Logger: log})
		if err != nil {
			out.close(log)
			return nil, out, usageErrorf("%w", err)
		}
		enforcers["nftables"] = nft.Enforcer{F: out.nft}
		log.Info("nftables", "table", "inet "+out.nft.Table())
	}
	engine, err := alerts.New(ctx, db, alerts.Options{Policies: policies, Allowlist: allow, Enforcers: enforcers,
		Notifiers: []alerts.Notifier{out.notify}, Registerer: reg, Logger: log})
	if err != nil {
		out.close(log)
		return nil, out, fmt.Errorf("alerts: %w", err)
	}
	log.Info("alerts", "policies", len(policies), "dry_run_default", cfg.Alerts.DryRun,
		"webhooks", len(nc.Webhooks), "syslog", len(nc.Syslog))
	return engine, out, nil
}

// mountDecisionOutputs serves the decisions to external enforcement
// points: the plain-text feeds (firewall.feeds) and the bouncer stream.
func mountDecisionOutputs(mux *http.ServeMux, fc config.Feeds, store *decision.Store, db *state.DB, reg prometheus.Registerer, log *slog.Logger) error {
	st, err := stream.New(stream.Options{Store: store, Auth: stream.TokenAuth(db), Registerer: reg, Logger: log})
	if err != nil {
		return fmt.Errorf("decision stream: %w", err)
	}
	mux.Handle(stream.Path, st)
	if !fc.Enabled {
		return nil
	}
	conf := feeds.Config{AllowAnonymous: !fc.RequireToken, Subdomains: feeds.SubdomainsWildcard,
		MaxEntries: feeds.Limits{Domains: fc.MaxDomains, IPs: fc.MaxIPs, URLs: fc.MaxURLs}}
	if !fc.Wildcards {
		conf.Subdomains = feeds.SubdomainsExact
	}
	f, err := feeds.New(feeds.Options{Store: store, Config: conf, Auth: feeds.TokenAuth(db), Registerer: reg, Logger: log})
	if err != nil {
		return fmt.Errorf("firewall.feeds: %w", err)
	}
	mux.Handle(feeds.Prefix, f)
	return nil
}

// startDNS runs the Corefile's servers in this process, with the
// campusguard plugin's hits joining the pipeline's queue.
func startDNS(path string, queue *hitQueue, decisions dnsplugin.Decisions) (func(), error) {
	corefile, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	dnsplugin.SetSink(dnsplugin.SinkFunc(queue.put))
	dnsplugin.SetDecisions(decisions)
	inst, err := resolver.Start(path, corefile)
	if err != nil {
		dnsplugin.SetSink(nil)
		dnsplugin.SetDecisions(nil)
		return nil, err
	}
	return func() {
		resolver.Stop(inst)
		dnsplugin.SetSink(nil)
		dnsplugin.SetDecisions(nil)
	}, nil
}

// dnsMetrics gathers the campusguard_dns_* families from the default
// registry (where CoreDNS plugins register), leaving out what serve's own
// registry already has.
type dnsMetrics struct{}

func (dnsMetrics) Gather() ([]*dto.MetricFamily, error) {
	all, err := prometheus.DefaultGatherer.Gather()
	var out []*dto.MetricFamily
	for _, mf := range all {
		if strings.HasPrefix(mf.GetName(), "campusguard_dns_") || strings.HasPrefix(mf.GetName(), "coredns_") {
			out = append(out, mf)
		}
	}
	return out, err
}
