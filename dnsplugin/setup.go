package dnsplugin

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/plugin"
	"github.com/miekg/dns"
)

const pluginName = "campusguard"

func init() { plugin.Register(pluginName, setup) }

// Defaults of the options; README.md documents them.
const (
	defaultReload     = time.Minute
	defaultTTL        = 60
	defaultQueue      = 4096
	defaultBatch      = 500
	defaultFlush      = time.Second
	defaultReportQ    = 10000
	defaultRetries    = 5
	maxQueue          = 1 << 20
	maxTTL            = 1<<31 - 1
	defaultGroupName  = "default"
	maxGroups         = 64
	maxSinkholeAddrs  = 8
	defaultReportWait = 10 * time.Second
)

// action says what a hit does to the query.
type action uint8

const (
	actionBlock   action = iota // every hit blocks
	actionMonitor               // hits are only reported and logged
	actionPack                  // do what the pack's action.network says: block blocks, the rest only report
)

// respKind is the answer a blocked query gets.
type respKind uint8

const (
	respNXDOMAIN respKind = iota
	respRefused
	respNODATA
	respNull
	respSinkhole
)

// policy is what the plugin does for a group of clients.
type policy struct {
	name   string
	nets   []netip.Prefix
	packs  []string // pack patterns; nil in a group: the top-level packs
	action action
	resp   respKind
	sink4  []netip.Addr
	sink6  []netip.Addr
	ttl    uint32
	ede    uint16 // dns.ExtendedErrorCodeBlocked or ...Filtered; 0: none
}

// reportConfig configures the HTTP forwarder of hits.
type reportConfig struct {
	url       string
	batch     int
	flush     time.Duration
	queue     int
	retries   int
	tokenFile string
	timeout   time.Duration
}

// config is a parsed campusguard block.
type config struct {
	def        policy
	groups     []*policy
	reload     time.Duration
	allow      []string
	allowFiles []string
	cnames     bool
	queue      int
	sensor     string
	logHits    bool
	report     *reportConfig
}

func setup(c *caddy.Controller) error {
	cfg, err := parse(c)
	if err != nil {
		return plugin.Error(pluginName, err)
	}
	h, err := handlerFor(cfg)
	if err != nil {
		return plugin.Error(pluginName, err)
	}
	c.OnStartup(h.start)
	c.OnShutdown(h.stop)
	dnsserver.GetConfig(c).AddPlugin(func(next plugin.Handler) plugin.Handler {
		h.Next = next
		return h
	})
	return nil
}

// parse reads the campusguard directive. Relative pack and list paths are
// resolved against the server block's root (the root plugin) if there is one.
func parse(c *caddy.Controller) (*config, error) {
	root := dnsserver.GetConfig(c).Root
	cfg := &config{
		def:    policy{name: defaultGroupName, ttl: defaultTTL, ede: dns.ExtendedErrorCodeBlocked},
		reload: defaultReload,
		cnames: true,
		queue:  defaultQueue,
	}
	seen := false
	for c.Next() {
		if seen {
			return nil, c.Err("campusguard is given twice in this server block; use groups for different clients")
		}
		seen = true
		for _, a := range c.RemainingArgs() {
			p, err := packArg(c, root, a)
			if err != nil {
				return nil, err
			}
			cfg.def.packs = append(cfg.def.packs, p)
		}
		for c.NextBlock() {
			opt := c.Val()
			args := c.RemainingArgs()
			handled, err := parsePolicyOption(c, root, opt, args, &cfg.def)
			if err != nil {
				return nil, err
			}
			if handled {
				continue
			}
			switch opt {
			case "reload":
				if len(args) != 1 {
					return nil, c.ArgErr()
				}
				d, err := time.ParseDuration(args[0])
				if err != nil || d < 0 {
					return nil, c.Errf("reload: %q is not a duration (like 30s or 5m; 0 turns reload off)", args[0])
				}
				if d > 0 && d < time.Second {
					return nil, c.Errf("reload: %s is too short (at least 1s)", d)
				}
				cfg.reload = d
			case "allow":
				if len(args) == 0 {
					return nil, c.ArgErr()
				}
				for _, a := range args {
					n, ok := normalizeAllow(a)
					if !ok {
						return nil, c.Errf("allow: %q is not a domain name", a)
					}
					cfg.allow = append(cfg.allow, n)
				}
			case "allowlist":
				if len(args) == 0 {
					return nil, c.ArgErr()
				}
				for _, a := range args {
					p := resolvePath(root, a)
					if _, err := os.Stat(p); err != nil {
						return nil, c.Errf("allowlist: %v", err)
					}
					cfg.allowFiles = append(cfg.allowFiles, p)
				}
			case "cnames":
				if len(args) != 1 || (args[0] != "on" && args[0] != "off") {
					return nil, c.Errf("cnames: want on or off")
				}
				cfg.cnames = args[0] == "on"
			case "queue":
				n, err := intArg(c, opt, args, 1, maxQueue)
				if err != nil {
					return nil, err
				}
				cfg.queue = n
			case "sensor":
				if len(args) != 1 {
					return nil, c.ArgErr()
				}
				cfg.sensor = args[0]
			case "log_hits":
				if len(args) != 0 {
					return nil, c.ArgErr()
				}
				cfg.logHits = true
			case "group":
				g, err := parseGroup(c, root, args, cfg)
				if err != nil {
					return nil, err
				}
				cfg.groups = append(cfg.groups, g)
			case "report":
				r, err := parseReport(c, args)
				if err != nil {
					return nil, err
				}
				if cfg.report != nil {
					return nil, c.Err("report is given twice")
				}
				cfg.report = r
			default:
				return nil, c.Errf("unknown option %q", opt)
			}
		}
	}
	if len(cfg.def.packs) == 0 {
		return nil, c.Err("no rule packs: give pack files after campusguard or in a packs line")
	}
	return cfg, nil
}

// parsePolicyOption handles the options a group shares with the top level.
func parsePolicyOption(c *caddy.Controller, root, opt string, args []string, p *policy) (bool, error) {
	switch opt {
	case "packs":
		if len(args) == 0 {
			return true, c.ArgErr()
		}
		for _, a := range args {
			pk, err := packArg(c, root, a)
			if err != nil {
				return true, err
			}
			p.packs = append(p.packs, pk)
		}
	case "action":
		if len(args) != 1 {
			return true, c.ArgErr()
		}
		switch args[0] {
		case "block":
			p.action = actionBlock
		case "monitor":
			p.action = actionMonitor
		case "pack":
			p.action = actionPack
		default:
			return true, c.Errf("action: %q is not block, monitor or pack", args[0])
		}
	case "response":
		if len(args) == 0 {
			return true, c.ArgErr()
		}
		p.sink4, p.sink6 = nil, nil
		switch args[0] {
		case "nxdomain":
			p.resp = respNXDOMAIN
		case "refused":
			p.resp = respRefused
		case "nodata":
			p.resp = respNODATA
		case "null":
			p.resp = respNull
		case "sinkhole":
			p.resp = respSinkhole
			if len(args) < 2 || len(args) > 1+maxSinkholeAddrs {
				return true, c.Errf("response sinkhole: want 1 to %d addresses", maxSinkholeAddrs)
			}
			for _, a := range args[1:] {
				ip, err := netip.ParseAddr(a)
				if err != nil || ip.Zone() != "" {
					return true, c.Errf("response sinkhole: %q is not an IP address", a)
				}
				if ip.Is4() || ip.Is4In6() {
					p.sink4 = append(p.sink4, ip.Unmap())
				} else {
					p.sink6 = append(p.sink6, ip)
				}
			}
			return true, nil
		default:
			return true, c.Errf("response: %q is not nxdomain, refused, nodata, null or sinkhole", args[0])
		}
		if len(args) != 1 {
			return true, c.Errf("response %s takes no arguments", args[0])
		}
	case "ttl":
		n, err := intArg(c, opt, args, 0, maxTTL)
		if err != nil {
			return true, err
		}
		p.ttl = uint32(n)
	case "ede":
		if len(args) != 1 {
			return true, c.ArgErr()
		}
		switch args[0] {
		case "blocked":
			p.ede = dns.ExtendedErrorCodeBlocked
		case "filtered":
			p.ede = dns.ExtendedErrorCodeFiltered
		case "off":
			p.ede = 0
		default:
			return true, c.Errf("ede: %q is not blocked, filtered or off", args[0])
		}
	default:
		return false, nil
	}
	return true, nil
}

// parseGroup reads `group NAME CIDR... [{ options }]`. Options a group does
// not set are inherited from the top level (policy.inherit), wherever in the
// block the top-level lines are.
func parseGroup(c *caddy.Controller, root string, args []string, cfg *config) (*policy, error) {
	if len(args) < 2 {
		return nil, c.Err("group: want a name and at least one CIDR")
	}
	if len(cfg.groups) >= maxGroups {
		return nil, c.Errf("group: at most %d groups", maxGroups)
	}
	g := &policy{name: args[0]}
	if !validGroupName(g.name) || g.name == defaultGroupName {
		return nil, c.Errf("group: %q is not a usable name ([a-z0-9_-], not %q)", g.name, defaultGroupName)
	}
	for _, o := range cfg.groups {
		if o.name == g.name {
			return nil, c.Errf("group %s is defined twice", g.name)
		}
	}
	for _, a := range args[1:] {
		pfx, err := netip.ParsePrefix(a)
		if err != nil {
			ip, err2 := netip.ParseAddr(a)
			if err2 != nil {
				return nil, c.Errf("group %s: %q is not a CIDR", g.name, a)
			}
			pfx = netip.PrefixFrom(ip, ip.BitLen())
		}
		if pfx.Addr().Is4In6() {
			pfx = netip.PrefixFrom(pfx.Addr().Unmap(), pfx.Bits()-96)
		}
		g.nets = append(g.nets, pfx.Masked())
	}
	g.ttl = ^uint32(0) // unset markers, filled from the top level in newHandler
	g.ede = ^uint16(0)
	g.action = ^action(0)
	g.resp = ^respKind(0)
	if !hasBlock(c) {
		return g, nil
	}
	for c.NextBlock() {
		opt := c.Val()
		oargs := c.RemainingArgs()
		handled, err := parsePolicyOption(c, root, opt, oargs, g)
		if err != nil {
			return nil, err
		}
		if !handled {
			return nil, c.Errf("group %s: unknown option %q (want packs, action, response, ttl or ede)", g.name, opt)
		}
	}
	return g, nil
}

func parseReport(c *caddy.Controller, args []string) (*reportConfig, error) {
	if len(args) != 1 {
		return nil, c.Err("report: want one URL")
	}
	if !strings.HasPrefix(args[0], "http://") && !strings.HasPrefix(args[0], "https://") {
		return nil, c.Errf("report: %q is not an http:// or https:// URL", args[0])
	}
	r := &reportConfig{url: args[0], batch: defaultBatch, flush: defaultFlush, queue: defaultReportQ,
		retries: defaultRetries, timeout: defaultReportWait}
	if !hasBlock(c) {
		return r, nil
	}
	for c.NextBlock() {
		opt := c.Val()
		oargs := c.RemainingArgs()
		var err error
		switch opt {
		case "batch":
			r.batch, err = intArg(c, "report batch", oargs, 1, 100000)
		case "queue":
			r.queue, err = intArg(c, "report queue", oargs, 1, maxQueue)
		case "retries":
			r.retries, err = intArg(c, "report retries", oargs, 0, 100)
		case "flush", "timeout":
			if len(oargs) != 1 {
				return nil, c.ArgErr()
			}
			d, perr := time.ParseDuration(oargs[0])
			if perr != nil || d <= 0 {
				return nil, c.Errf("report %s: %q is not a positive duration", opt, oargs[0])
			}
			if opt == "flush" {
				r.flush = d
			} else {
				r.timeout = d
			}
		case "token_file":
			if len(oargs) != 1 {
				return nil, c.ArgErr()
			}
			if _, serr := os.Stat(oargs[0]); serr != nil {
				return nil, c.Errf("report token_file: %v", serr)
			}
			r.tokenFile = oargs[0]
		default:
			return nil, c.Errf("report: unknown option %q (want batch, flush, queue, retries, timeout or token_file)", opt)
		}
		if err != nil {
			return nil, err
		}
	}
	return r, nil
}

// hasBlock reports whether a nested block opens at the end of the current
// line. Inside a block, NextBlock would otherwise take the next line's
// option for the first line of a nested block.
func hasBlock(c *caddy.Controller) bool {
	saved := c.Dispenser
	open := c.NextArg() && c.Val() == "{"
	c.Dispenser = saved
	return open
}

func intArg(c *caddy.Controller, opt string, args []string, lo, hi int) (int, error) {
	if len(args) != 1 {
		return 0, c.ArgErr()
	}
	n, err := strconv.Atoi(args[0])
	if err != nil || n < lo || n > hi {
		return 0, c.Errf("%s: %q is not a number from %d to %d", opt, args[0], lo, hi)
	}
	return n, nil
}

// packArg checks a pack argument: builtin, builtin:NAME, a glob, or a file
// that must exist.
func packArg(c *caddy.Controller, root, a string) (string, error) {
	if a == "{" || a == "}" {
		return "", c.Errf("unexpected %q", a)
	}
	if a == "builtin" || strings.HasPrefix(a, "builtin:") {
		return a, nil
	}
	p := resolvePath(root, a)
	if strings.ContainsAny(a, "*?[") {
		if _, err := filepath.Match(p, ""); err != nil {
			return "", c.Errf("pack pattern %q: %v", a, err)
		}
		return p, nil
	}
	st, err := os.Stat(p)
	if err != nil {
		return "", c.Errf("pack %s: %v", a, err)
	}
	if st.IsDir() {
		return "", c.Errf("pack %s is a directory; give the pack files (%s/*.yaml)", a, a)
	}
	return p, nil
}

func resolvePath(root, p string) string {
	if root != "" && !filepath.IsAbs(p) {
		p = filepath.Join(root, p)
	}
	if abs, err := filepath.Abs(p); err == nil {
		return abs
	}
	return p
}

func validGroupName(s string) bool {
	if s == "" || len(s) > 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		b := s[i]
		if !(b >= 'a' && b <= 'z' || b >= '0' && b <= '9' || b == '_' || b == '-') {
			return false
		}
	}
	return true
}

// inherit fills the group's unset settings from the top level.
func (g *policy) inherit(def *policy) {
	if g.packs == nil {
		g.packs = def.packs
	}
	if g.ttl == ^uint32(0) {
		g.ttl = def.ttl
	}
	if g.ede == ^uint16(0) {
		g.ede = def.ede
	}
	if g.action == ^action(0) {
		g.action = def.action
	}
	if g.resp == ^respKind(0) {
		g.resp, g.sink4, g.sink6 = def.resp, def.sink4, def.sink6
	}
}

// key identifies a configuration: server blocks with equal keys share an engine.
func (c *config) key() string {
	var b strings.Builder
	pol := func(p *policy) {
		fmt.Fprintf(&b, "{%s %v %q %d %d %v %v %d %d}", p.name, p.nets, p.packs, p.action, p.resp, p.sink4, p.sink6, p.ttl, p.ede)
	}
	pol(&c.def)
	for _, g := range c.groups {
		pol(g)
	}
	fmt.Fprintf(&b, "%v %q %q %v %d %q %v", c.reload, c.allow, c.allowFiles, c.cnames, c.queue, c.sensor, c.logHits)
	if c.report != nil {
		fmt.Fprintf(&b, " %+v", *c.report)
	}
	return b.String()
}

func (a action) String() string {
	switch a {
	case actionBlock:
		return "block"
	case actionMonitor:
		return "monitor"
	case actionPack:
		return "pack"
	}
	return fmt.Sprintf("action(%d)", uint8(a))
}

// packSelected reports whether a loaded pack (its matcher Source: an
// absolute path or builtin:FILE) comes from one of the patterns.
func packSelected(patterns []string, source string) bool {
	for _, p := range patterns {
		switch {
		case p == "builtin":
			if strings.HasPrefix(source, "builtin:") {
				return true
			}
		case strings.HasPrefix(p, "builtin:"):
			if source == p+".yaml" || source == p {
				return true
			}
		default:
			if ok, _ := filepath.Match(p, source); ok {
				return true
			}
		}
	}
	return false
}
