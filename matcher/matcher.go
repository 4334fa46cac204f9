// Package matcher loads rule packs and matches events against them: domain
// rules for hostnames, keywords, regexes and PII detectors for text. It is the
// heart every source runs through, so its hot paths do not allocate, and a
// reload builds the new rule set off the hot path and swaps it atomically.
// It knows nothing about where events come from or where hits go.
package matcher

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Options configures a Matcher.
type Options struct {
	// Packs are pack files or globs; "builtin" loads every example pack
	// shipped in the binary and "builtin:NAME" one of them.
	Packs []string
	// Builtin holds the shipped example packs (rules.FS); nil disables them.
	Builtin fs.FS
	// TraditionalToSimplified folds traditional Chinese characters to
	// simplified ones before keyword matching.
	TraditionalToSimplified bool
	// MaxHitsPerText caps the hits one text produces (default 256).
	MaxHitsPerText int
	// Reload is the interval of the background reload in Start; 0 turns it off.
	Reload time.Duration
	// Registerer receives the matcher's metrics; nil skips them.
	Registerer prometheus.Registerer
	Logger     *slog.Logger
}

// Matcher holds the current Set and replaces it on reload.
type Matcher struct {
	opts    Options
	fold    *foldTable
	current atomic.Pointer[Set]
	last    atomic.Pointer[ReloadReport]
	metrics *metrics
	log     *slog.Logger

	reloadMu sync.Mutex // serializes reloads; never taken on the match path
	loaded   map[string]*loadedPack

	runMu sync.Mutex // Start and Stop
	stop  chan struct{}
	done  chan struct{}
}

// loadedPack remembers what a pack was built from, to reuse it when nothing
// changed and to keep it in force when its new version fails.
type loadedPack struct {
	pack  *compiledPack
	stamp []fileStamp
}

type fileStamp struct {
	name  string
	size  int64
	mtime time.Time
}

// ReloadReport says what a (re)load did.
type ReloadReport struct {
	Loaded   []string    // packs built from their files
	Reused   []string    // unchanged packs kept as they were
	Kept     []string    // packs whose new version failed; the previous one stays
	Failed   []error     // packs that failed, with file and reason
	Problems []LineError // bad lines, skipped
	Duration time.Duration
	At       time.Time // when the reload began
}

// LastReport is the report of the latest reload, for the console's rules
// page; callers must not modify it.
func (m *Matcher) LastReport() *ReloadReport { return m.last.Load() }

// Err joins the fatal pack errors, or returns nil.
func (r *ReloadReport) Err() error { return errors.Join(r.Failed...) }

// New creates a Matcher and loads its packs once. It fails only when the
// options are unusable; pack problems are in the report.
func New(opts Options) (*Matcher, *ReloadReport, error) {
	if opts.MaxHitsPerText <= 0 {
		opts.MaxHitsPerText = 256
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	fold, err := getFoldTable(opts.TraditionalToSimplified)
	if err != nil {
		return nil, nil, err
	}
	m := &Matcher{opts: opts, fold: fold, log: opts.Logger, loaded: map[string]*loadedPack{}}
	if opts.Registerer != nil {
		m.metrics = newMetrics(opts.Registerer)
	}
	rep := m.Reload()
	return m, rep, nil
}

// Set returns the rule set in force. Callers keep using the Set they got for
// one event; a reload does not disturb them.
func (m *Matcher) Set() *Set { return m.current.Load() }

// testHookBeforeSwap, set only by benchmarks, runs in Reload when the new
// Set is built and the old one is still in force: both are live then.
var testHookBeforeSwap func()

// Reload rereads every pack. Unchanged packs are reused, a pack that fails
// keeps its previous version in force, and the new Set replaces the old one
// atomically.
func (m *Matcher) Reload() *ReloadReport {
	m.reloadMu.Lock()
	defer m.reloadMu.Unlock()
	began := time.Now()
	rep := &ReloadReport{}
	specs, err := m.expand()
	if err != nil {
		rep.Failed = append(rep.Failed, err)
	}
	next := map[string]*loadedPack{}
	byName := map[string]string{}
	var packs []*compiledPack
	for _, sp := range specs {
		lp := m.loadOne(sp, rep)
		if lp == nil {
			continue
		}
		if other, dup := byName[lp.pack.info.Name]; dup {
			rep.Failed = append(rep.Failed, fmt.Errorf("%s: pack name %q is already used by %s", sp.key, lp.pack.info.Name, other))
			continue
		}
		byName[lp.pack.info.Name] = sp.key
		next[sp.key] = lp
		packs = append(packs, lp.pack)
		rep.Problems = append(rep.Problems, lp.pack.info.Problems...)
	}
	set := newSet(packs, m.fold, m.opts.MaxHitsPerText)
	if testHookBeforeSwap != nil {
		testHookBeforeSwap()
	}
	m.current.Store(set)
	m.loaded = next
	rep.Duration = time.Since(began)
	rep.At = began
	m.last.Store(rep)
	m.metrics.observe(rep, set)
	for _, e := range rep.Failed {
		m.log.Error("rule pack failed", "err", e)
	}
	for _, pr := range rep.Problems {
		m.log.Warn("rule problem", "where", fmt.Sprintf("%s:%d", pr.File, pr.Line), "reason", pr.Reason)
	}
	return rep
}

// packSpec is one pack file to load: a filesystem and a path inside it.
type packSpec struct {
	key  string // display name and identity: the OS path or builtin:NAME
	fsys fs.FS
	name string
}

// expand turns the configured pack patterns into pack files.
func (m *Matcher) expand() ([]packSpec, error) {
	var specs []packSpec
	var errs []error
	seen := map[string]bool{}
	add := func(s packSpec) {
		if !seen[s.key] {
			seen[s.key] = true
			specs = append(specs, s)
		}
	}
	for _, pat := range m.opts.Packs {
		if pat == "builtin" || strings.HasPrefix(pat, "builtin:") {
			if m.opts.Builtin == nil {
				errs = append(errs, fmt.Errorf("%s: this build has no built-in packs", pat))
				continue
			}
			want := strings.TrimPrefix(strings.TrimPrefix(pat, "builtin"), ":")
			matches, _ := fs.Glob(m.opts.Builtin, "*.yaml")
			found := false
			for _, name := range matches {
				if want == "" || strings.TrimSuffix(name, ".yaml") == want {
					add(packSpec{key: "builtin:" + name, fsys: m.opts.Builtin, name: name})
					found = true
				}
			}
			if !found {
				errs = append(errs, fmt.Errorf("%s: no such built-in pack", pat))
			}
			continue
		}
		abs, err := filepath.Abs(pat)
		if err != nil {
			errs = append(errs, fmt.Errorf("pack %s: %w", pat, err))
			continue
		}
		matches, err := filepath.Glob(abs)
		if err != nil {
			errs = append(errs, fmt.Errorf("pack pattern %s: %w", pat, err))
			continue
		}
		if len(matches) == 0 && !strings.ContainsAny(pat, "*?[") {
			errs = append(errs, fmt.Errorf("pack %s: no such file", pat))
		}
		sort.Strings(matches)
		for _, f := range matches {
			add(packSpec{key: f, fsys: os.DirFS("/"), name: strings.TrimPrefix(filepath.ToSlash(f), "/")})
		}
	}
	return specs, errors.Join(errs...)
}

// loadOne loads a pack or decides to reuse or keep its previous version.
func (m *Matcher) loadOne(sp packSpec, rep *ReloadReport) *loadedPack {
	prev := m.loaded[sp.key]
	if prev != nil && stampsUnchanged(sp.fsys, prev.stamp) {
		rep.Reused = append(rep.Reused, sp.key)
		return prev
	}
	opt := loadOptions{fold: m.fold}
	if prev != nil {
		opt.domainHint = prev.pack.info.Domains // loadPack also counts the lines
	}
	tracked := &statFS{FS: sp.fsys}
	p, err := loadPack(tracked, sp.name, opt)
	if err != nil {
		err = errors.New(renamePack(err.Error(), sp.name, sp.key))
		rep.Failed = append(rep.Failed, err)
		if prev != nil {
			rep.Kept = append(rep.Kept, sp.key)
			return prev
		}
		return nil
	}
	p.info.Source = sp.key
	for i := range p.info.Problems {
		if p.info.Problems[i].File == sp.name {
			p.info.Problems[i].File = sp.key
		}
	}
	rep.Loaded = append(rep.Loaded, sp.key)
	return &loadedPack{pack: p, stamp: tracked.stamps}
}

// statFS records the size and modification time of every file opened
// through it, so the next reload can tell whether a pack changed.
type statFS struct {
	fs.FS
	stamps []fileStamp
}

func (s *statFS) Open(name string) (fs.File, error) {
	f, err := s.FS.Open(name)
	if err != nil {
		return nil, err
	}
	if st, err := f.Stat(); err == nil {
		s.stamps = append(s.stamps, fileStamp{name: name, size: st.Size(), mtime: st.ModTime()})
	}
	return f, nil
}

// renamePack puts the pack's name as the operator gave it (key) where
// loadPack's error names it by its path in the file system (name): at the
// start of every line of the error, and nowhere else (a list file's name
// may contain the pack's).
func renamePack(msg, name, key string) string {
	lines := strings.Split(msg, "\n")
	for i, l := range lines {
		if rest, ok := strings.CutPrefix(l, name); ok {
			lines[i] = key + rest
		}
	}
	return strings.Join(lines, "\n")
}

func stampsUnchanged(fsys fs.FS, stamps []fileStamp) bool {
	for _, st := range stamps {
		info, err := fs.Stat(fsys, st.name)
		if err != nil || info.Size() != st.size || !info.ModTime().Equal(st.mtime) {
			return false
		}
	}
	return len(stamps) > 0
}

// Start reloads the packs every Options.Reload until Stop or ctx ends. It
// is an error to start a Matcher whose reloads are running.
func (m *Matcher) Start(ctx context.Context) error {
	if m.opts.Reload <= 0 {
		return nil
	}
	m.runMu.Lock()
	defer m.runMu.Unlock()
	if m.stop != nil {
		select {
		case <-m.done: // ended with its context
		default:
			return errors.New("matcher: already started")
		}
	}
	stop, done := make(chan struct{}), make(chan struct{})
	m.stop, m.done = stop, done
	go func() {
		defer close(done)
		t := time.NewTicker(m.opts.Reload)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-stop:
				return
			case <-t.C:
				m.Reload()
			}
		}
	}()
	return nil
}

// Stop ends the background reload.
func (m *Matcher) Stop() {
	m.runMu.Lock()
	defer m.runMu.Unlock()
	if m.stop != nil {
		close(m.stop)
		<-m.done
		m.stop, m.done = nil, nil
	}
}
