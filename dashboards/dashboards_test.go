package dashboards

// Every ClickHouse query of the dashboards (panel targets and template
// variable queries) is expanded exactly as Grafana and the ClickHouse plugin
// would expand it, and run against seeded hits on the ClickHouse 18.16 server
// and on chDB; each panel's result is compared with what the seeded hits say
// it must show.
//
// The dashboards name the database `campusguard`, as every install does. On
// the server the test uses a database of that name (one test binary owns the
// shared server, so no other test can clash with it); chDB's database is
// always `campusguard`. The queries run unchanged.

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/campusguard/campusguard/internal/hitlog"
	"github.com/campusguard/campusguard/internal/hitlog/chdb"
	"github.com/campusguard/campusguard/internal/hitlog/chtest"
)

func TestMain(m *testing.M) { os.Exit(chtest.RunShared(m)) }

const (
	clickhouseType = "grafana-clickhouse-datasource"
	prometheusType = "prometheus"
)

// The parts of Grafana's dashboard JSON the tests read.
type dashboard struct {
	UID        string `json:"uid"`
	Title      string `json:"title"`
	Templating struct {
		List []variable `json:"list"`
	} `json:"templating"`
	Panels []panel `json:"panels"`
}

type dsRef struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

type panel struct {
	ID         int      `json:"id"`
	Type       string   `json:"type"`
	Title      string   `json:"title"`
	Datasource *dsRef   `json:"datasource"`
	Targets    []target `json:"targets"`
	Panels     []panel  `json:"panels"` // a row's collapsed panels
	GridPos    struct {
		X, Y, W, H int
	} `json:"gridPos"`
}

type target struct {
	RefID      string `json:"refId"`
	Datasource *dsRef `json:"datasource"`
	EditorType string `json:"editorType"`
	QueryType  string `json:"queryType"`
	Format     *int   `json:"format"`
	RawSQL     string `json:"rawSql"`
	Expr       string `json:"expr"`
}

type variable struct {
	Name       string          `json:"name"`
	Type       string          `json:"type"`
	Datasource *dsRef          `json:"datasource"`
	Query      json.RawMessage `json:"query"` // a string, or the data source's query object
	Multi      bool            `json:"multi"`
	IncludeAll bool            `json:"includeAll"`
	AllValue   string          `json:"allValue"`
	Current    struct {
		Value json.RawMessage `json:"value"`
	} `json:"current"`
}

// sqlQuery is a ClickHouse query variable's query object.
func (v variable) sqlQuery() (string, error) {
	var q struct {
		RawSQL string `json:"rawSql"`
	}
	if err := json.Unmarshal(v.Query, &q); err != nil {
		return "", fmt.Errorf("variable %s: query: %w", v.Name, err)
	}
	return q.RawSQL, nil
}

// loadDashboards parses grafana/*.json.
func loadDashboards(t *testing.T) map[string]dashboard {
	t.Helper()
	files, err := filepath.Glob("grafana/*.json")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 2 {
		t.Fatalf("grafana/*.json: %d dashboards, want at least the hits and operations ones", len(files))
	}
	out := map[string]dashboard{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var d dashboard
		dec := json.NewDecoder(strings.NewReader(string(b)))
		if err := dec.Decode(&d); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		out[filepath.Base(f)] = d
	}
	return out
}

// allPanels flattens rows.
func allPanels(ps []panel) []panel {
	var out []panel
	for _, p := range ps {
		out = append(out, p)
		out = append(out, allPanels(p.Panels)...)
	}
	return out
}

// TestDashboardsStructure checks what Grafana needs to import the JSON
// anywhere and what the design asks of the queries, without a database.
func TestDashboardsStructure(t *testing.T) {
	uids, titles := map[string]bool{}, map[string]bool{}
	for file, d := range loadDashboards(t) {
		t.Run(file, func(t *testing.T) {
			if d.UID == "" || uids[d.UID] || d.Title == "" || titles[d.Title] {
				t.Errorf("uid %q, title %q: want both set and unique across dashboards", d.UID, d.Title)
			}
			uids[d.UID], titles[d.Title] = true, true
			// The data source is a template variable, so the JSON imports into
			// any Grafana whatever its data sources are called.
			dsType := ""
			for _, v := range d.Templating.List {
				if v.Name == "datasource" && v.Type == "datasource" {
					if err := json.Unmarshal(v.Query, &dsType); err != nil {
						t.Errorf("datasource variable: query %s: %v", v.Query, err)
					}
				}
			}
			if dsType != clickhouseType && dsType != prometheusType {
				t.Fatalf("no datasource variable of type %s or %s (found %q)", clickhouseType, prometheusType, dsType)
			}
			for _, v := range d.Templating.List {
				if v.Type == "query" && (v.Datasource == nil || v.Datasource.Type != dsType || v.Datasource.UID != "${datasource}") {
					t.Errorf("variable %s: datasource %+v, want {%s ${datasource}}", v.Name, v.Datasource, dsType)
				}
				if v.Type == "query" && dsType == clickhouseType {
					sql, err := v.sqlQuery()
					if err != nil {
						t.Error(err)
					}
					checkSlimRollup(t, "variable "+v.Name, sql)
				}
			}
			ids := map[int]bool{}
			for _, p := range allPanels(d.Panels) {
				if ids[p.ID] || p.ID == 0 {
					t.Errorf("panel %q: id %d missing or used twice", p.Title, p.ID)
				}
				ids[p.ID] = true
				if p.GridPos.W <= 0 || p.GridPos.H <= 0 || p.GridPos.X+p.GridPos.W > 24 {
					t.Errorf("panel %q: gridPos %+v outside the 24-column grid", p.Title, p.GridPos)
				}
				if p.Type == "row" {
					continue
				}
				if p.Datasource == nil || p.Datasource.Type != dsType || p.Datasource.UID != "${datasource}" {
					t.Errorf("panel %q: datasource %+v, want {%s ${datasource}}", p.Title, p.Datasource, dsType)
				}
				if len(p.Targets) == 0 {
					t.Errorf("panel %q has no query", p.Title)
				}
				for _, tg := range p.Targets {
					if tg.Datasource == nil || *tg.Datasource != *p.Datasource {
						t.Errorf("panel %q query %s: datasource %+v, want the panel's", p.Title, tg.RefID, tg.Datasource)
					}
					switch dsType {
					case prometheusType:
						if tg.Expr == "" {
							t.Errorf("panel %q query %s: no expr", p.Title, tg.RefID)
						}
					case clickhouseType:
						checkClickHouseTarget(t, p, tg)
					}
				}
			}
		})
	}
}

var rawHitsTable = regexp.MustCompile(`campusguard\.hits\b([^_]|$)`)
var limitClause = regexp.MustCompile(`(?m)^LIMIT (\d+)\s*$`)

// hits_cat_1h holds hits_1h's counts without pack and rule, in a fraction
// of its rows: only a query that groups or filters by pack or rule reads
// hits_1h.
var (
	wideHourly = regexp.MustCompile(`campusguard\.hits_1h\b`)
	packOrRule = regexp.MustCompile(`(?m)^\s*(GROUP BY|WHERE|AND)\b.*\b(pack|rule)\b`)
)

func checkSlimRollup(t *testing.T, what, sql string) {
	t.Helper()
	if wideHourly.MatchString(sql) && !packOrRule.MatchString(sql) {
		t.Errorf("%s reads campusguard.hits_1h but neither groups nor filters by pack or rule: read hits_cat_1h", what)
	}
}

func checkClickHouseTarget(t *testing.T, p panel, tg target) {
	t.Helper()
	// Saved as the plugin's SQL editor saves: format 0 is a time series,
	// 1 a table (the plugin's mapQueryTypeToGrafanaFormat).
	wantFormat := map[string]int{"timeseries": 0, "table": 1}
	f, ok := wantFormat[tg.QueryType]
	if tg.EditorType != "sql" || !ok || tg.Format == nil || *tg.Format != f || tg.RawSQL == "" {
		t.Errorf("panel %q query %s: editorType %q, queryType %q, format %v: want a SQL query of type table (format 1) or timeseries (format 0)",
			p.Title, tg.RefID, tg.EditorType, tg.QueryType, tg.Format)
	}
	if (p.Type == "timeseries") != (tg.QueryType == "timeseries") {
		t.Errorf("panel %q (%s): query type %q", p.Title, p.Type, tg.QueryType)
	}
	checkSlimRollup(t, fmt.Sprintf("panel %q", p.Title), tg.RawSQL)
	// Counts come from the rollups; only a bounded list may read hits.
	if rawHitsTable.MatchString(tg.RawSQL) {
		m := limitClause.FindStringSubmatch(tg.RawSQL)
		if m == nil {
			t.Errorf("panel %q reads campusguard.hits without a LIMIT", p.Title)
		} else if n, _ := strconv.Atoi(m[1]); n > 1000 {
			t.Errorf("panel %q reads campusguard.hits with LIMIT %d, want at most 1000", p.Title, n)
		}
		if strings.Contains(tg.RawSQL, "GROUP BY") || strings.Contains(tg.RawSQL, "count(") {
			t.Errorf("panel %q counts on campusguard.hits; counts read the rollups", p.Title)
		}
	}
	// ClickHouse 18.16 has no toStartOfInterval, which $__timeInterval and
	// $__timeGroup expand to.
	for _, m := range []string{"$__timeInterval", "$__timeGroup", "$__timeFilter_ms", "$__fromTime_ms", "$__toTime_ms"} {
		if strings.Contains(tg.RawSQL, m) {
			t.Errorf("panel %q uses %s, which ClickHouse 18.16 cannot run", p.Title, m)
		}
	}
}

// ---------------------------------------------------------------------------
// Expansion: what Grafana and the ClickHouse data source plugin do to a
// query's text before ClickHouse sees it. Three passes, in this order, as in
// the plugin (grafana/clickhouse-datasource 4.x):
//
//  1. $__conditionalAll(condition, $var) — in the browser, before variables
//     (src/data/CHDatasource.ts applyConditionalAll; documented in
//     docs/sources/template-variables.md, "Using the All option with
//     $__conditionalAll"): the condition, or 1=1 when $var is All or empty.
//  2. Template variables — Grafana's templateSrv.replace with the plugin's
//     format function (CHDatasource.ts replace/format; Grafana docs
//     "Variable syntax"): $var, ${var}, [[var]] and ${var:format}. Without a
//     format a multi-value variable becomes 'a','b' and a single value is
//     inserted raw; :singlequote quotes each value, escaping ' as \'. All,
//     when the variable has a custom all value, is that value unformatted;
//     otherwise it is every option.
//  3. Macros — in the plugin backend (pkg/macros/macros.go; table in
//     docs/sources/query-editor.md, "Macros"): $__timeFilter(c) is
//     `c >= toDateTime(from) AND c <= toDateTime(to)` in Unix seconds,
//     $__fromTime/$__toTime are toDateTime(from/to), $__interval_s the
//     panel interval in whole seconds (at least 1), and so on.
//
// The expander errs where Grafana would silently leave text in place (an
// unknown variable or macro), so a typo fails the test instead of reaching
// ClickHouse as `$kindd`.

// varValue is a variable's state for one expansion.
type varValue struct {
	values   []string // the selection; {"$__all"} for All
	multi    bool
	allValue string   // the variable's custom all value, if any
	options  []string // every option, what All means without a custom all value
}

func (v varValue) isAll() bool { return len(v.values) == 1 && v.values[0] == "$__all" }

// queryContext is what the plugin backend gets with a query.
type queryContext struct {
	from, to time.Time
	interval time.Duration
}

func expandQuery(sql string, vars map[string]varValue, qc queryContext) (string, error) {
	s, err := conditionalAll(sql, vars)
	if err != nil {
		return "", err
	}
	if s, err = replaceVariables(s, vars); err != nil {
		return "", err
	}
	return expandMacros(s, qc)
}

var conditionalVar = regexp.MustCompile(`^\$\{(\w+)\}|^\$(\w+)`)

// conditionalAll ports CHDatasource.applyConditionalAll: innermost (last)
// macro first; the second argument names the variable; the condition is
// kept unless the variable's value, joined as JavaScript's toString joins
// an array, is "" or "$__all".
func conditionalAll(s string, vars map[string]varValue) (string, error) {
	const macro = "$__conditionalAll("
	for {
		i := strings.LastIndex(s, macro)
		if i < 0 {
			return s, nil
		}
		args, end, ok := macroArgs(s, i+len(macro)-1)
		if !ok || len(args) != 2 {
			return "", fmt.Errorf("$__conditionalAll at %d: want two arguments in balanced parentheses", i)
		}
		m := conditionalVar.FindStringSubmatch(strings.TrimSpace(args[1]))
		if m == nil {
			return "", fmt.Errorf("$__conditionalAll(%s,%s): the second argument must be a plain $variable", args[0], args[1])
		}
		name := m[1] + m[2]
		v, ok := vars[name]
		if !ok {
			return "", fmt.Errorf("$__conditionalAll: unknown variable %q", name)
		}
		phrase := args[0]
		if j := strings.Join(v.values, ","); j == "" || j == "$__all" {
			phrase = "1=1"
		}
		s = s[:i] + phrase + s[end:]
	}
}

// macroArgs splits the arguments of the call whose "(" is at open, on
// commas outside nested parentheses; end is just past the closing ")".
func macroArgs(s string, open int) (args []string, end int, ok bool) {
	depth, last := 0, open+1
	for i := open; i < len(s); i++ {
		switch s[i] {
		case '(':
			depth++
		case ')':
			depth--
			if depth == 0 {
				return append(args, s[last:i]), i + 1, true
			}
		case ',':
			if depth == 1 {
				args = append(args, s[last:i])
				last = i + 1
			}
		}
	}
	return nil, 0, false
}

// Grafana's variable pattern (public/app/features/templating/template_srv:
// variableRegex).
var variablePattern = regexp.MustCompile(`\$(\w+)|\[\[(\w+?)(?::(\w+))?\]\]|\$\{(\w+)(?:\.([^:^\}]+))?(?::([^\}]+))?\}`)

// pluginMacros are the macro names the plugin backend expands; Grafana's
// frontend leaves them alone because no variable has their name.
var pluginMacros = map[string]bool{
	"timeFilter": true, "timeFilter_ms": true, "timeFrom": true, "timeTo": true, "fromTime": true, "toTime": true,
	"fromTime_ms": true, "toTime_ms": true, "dateFilter": true, "dateTimeFilter": true, "dt": true,
	"timeInterval": true, "timeInterval_ms": true, "timeGroup": true, "interval_s": true,
}

func replaceVariables(s string, vars map[string]varValue) (string, error) {
	var err error
	out := variablePattern.ReplaceAllStringFunc(s, func(match string) string {
		m := variablePattern.FindStringSubmatch(match)
		name := m[1] + m[2] + m[4]
		format := m[3] + m[6]
		if m[5] != "" {
			err = fmt.Errorf("%s: field paths are not modelled", match)
			return match
		}
		v, ok := vars[name]
		if !ok {
			if strings.HasPrefix(name, "__") && pluginMacros[name[2:]] {
				return match // the backend's
			}
			err = fmt.Errorf("%s: no such variable (Grafana would leave it in the query)", match)
			return match
		}
		vals, isArray := v.values, v.multi
		if v.isAll() {
			if v.allValue != "" && format != "text" && format != "percentencode" {
				return v.allValue
			}
			vals, isArray = v.options, true
		}
		switch format {
		case "": // the plugin's format function
			if isArray {
				return "'" + strings.Join(vals, "','") + "'"
			}
			return strings.Join(vals, ",")
		case "singlequote":
			q := make([]string, len(vals))
			for i, x := range vals {
				q[i] = "'" + strings.ReplaceAll(x, "'", `\'`) + "'"
			}
			return strings.Join(q, ",")
		case "sqlstring":
			q := make([]string, len(vals))
			for i, x := range vals {
				q[i] = "'" + strings.ReplaceAll(x, "'", "''") + "'"
			}
			return strings.Join(q, ",")
		case "raw":
			return strings.Join(vals, ",")
		}
		err = fmt.Errorf("%s: format %q is not modelled", match, format)
		return match
	})
	return out, err
}

var macroPattern = regexp.MustCompile(`\$__(\w+)`)

// expandMacros ports pkg/macros: each $__name or $__name(args).
func expandMacros(s string, qc queryContext) (string, error) {
	dt := func(t time.Time) string { return fmt.Sprintf("toDateTime(%d)", t.Unix()) }
	secs := int(math.Max(qc.interval.Seconds(), 1))
	var b strings.Builder
	for {
		loc := macroPattern.FindStringSubmatchIndex(s)
		if loc == nil {
			b.WriteString(s)
			return b.String(), nil
		}
		name := s[loc[2]:loc[3]]
		end := loc[1]
		var args []string
		if end < len(s) && s[end] == '(' {
			a, e, ok := macroArgs(s, end)
			if !ok {
				return "", fmt.Errorf("$__%s: unbalanced parentheses", name)
			}
			for _, x := range a {
				args = append(args, strings.TrimSpace(x))
			}
			end = e
		}
		want := map[string]int{"timeFilter": 1, "timeFrom": 1, "timeTo": 1, "fromTime": 0, "toTime": 0, "interval_s": 0, "dateFilter": 1, "timeInterval": 1}
		n, known := want[name]
		if !known {
			return "", fmt.Errorf("$__%s: macro not modelled by this test (see the plugin's pkg/macros)", name)
		}
		if len(args) != n {
			return "", fmt.Errorf("$__%s: %d arguments, want %d", name, len(args), n)
		}
		var r string
		switch name {
		case "timeFilter":
			r = fmt.Sprintf("%s >= %s AND %s <= %s", args[0], dt(qc.from), args[0], dt(qc.to))
		case "timeFrom":
			r = fmt.Sprintf("%s >= %s", args[0], dt(qc.from))
		case "timeTo":
			r = fmt.Sprintf("%s <= %s", args[0], dt(qc.to))
		case "fromTime":
			r = dt(qc.from)
		case "toTime":
			r = dt(qc.to)
		case "interval_s":
			r = strconv.Itoa(secs)
		case "dateFilter":
			d := func(t time.Time) string { return fmt.Sprintf("toDate('%s')", t.Format("2006-01-02")) }
			r = fmt.Sprintf("%s >= %s AND %s <= %s", args[0], d(qc.from), args[0], d(qc.to))
		case "timeInterval":
			r = fmt.Sprintf("toStartOfInterval(toDateTime(%s), INTERVAL %d second)", args[0], secs)
		}
		b.WriteString(s[:loc[0]])
		b.WriteString(r)
		s = s[end:]
	}
}

// The expander against the examples in the plugin's documentation and the
// behaviour of Grafana's template service.
func TestExpandQuery(t *testing.T) {
	qc := queryContext{from: time.Unix(1415792726, 0), to: time.Unix(1447328726, 0), interval: 20 * time.Second}
	vars := map[string]varValue{
		"kind":  {values: []string{"dns", "tls"}, multi: true},
		"one":   {values: []string{"dns"}, multi: true},
		"all":   {values: []string{"$__all"}, multi: true, options: []string{"a", "b"}},
		"star":  {values: []string{"$__all"}, multi: true, allValue: ".*"},
		"top":   {values: []string{"10"}},
		"quote": {values: []string{"o'brien"}},
	}
	for _, c := range []struct{ in, want, err string }{
		{in: "WHERE $__timeFilter(time)", want: "WHERE time >= toDateTime(1415792726) AND time <= toDateTime(1447328726)"},
		{in: "$__fromTime, $__toTime, $__interval_s", want: "toDateTime(1415792726), toDateTime(1447328726), 20"},
		{in: "$__timeInterval(ts)", want: "toStartOfInterval(toDateTime(ts), INTERVAL 20 second)"},
		{in: "$__conditionalAll(kind IN (${kind:singlequote}), $kind)", want: "kind IN ('dns','tls')"},
		{in: "$__conditionalAll(kind IN (${all:singlequote}), $all)", want: "1=1"},
		{in: "$__conditionalAll(x IN ($all), ${all}) AND $__conditionalAll(k IN ($one), $one)", want: "1=1 AND k IN ('dns')"},
		{in: "x IN ($all) AND y = '$star' LIMIT $top", want: "x IN ('a','b') AND y = '.*' LIMIT 10"},
		{in: "name = ${quote:singlequote} OR name = ${quote:sqlstring}", want: `name = 'o\'brien' OR name = 'o''brien'`},
		{in: "x = [[top]] AND y = ${top}", want: "x = 10 AND y = 10"},
		{in: "kind = $kindd", err: "no such variable"},
		{in: "$__timeFilter(a, b)", err: "2 arguments"},
		{in: "$__unknownMacro", err: "no such variable"},
		{in: "$__dt(d, t)", err: "not modelled"},
		{in: "$__conditionalAll(kind = 'dns')", err: "two arguments"},
	} {
		got, err := expandQuery(c.in, vars, qc)
		switch {
		case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
			t.Errorf("expand(%q) = %q, %v; want an error with %q", c.in, got, err, c.err)
		case c.err == "" && (err != nil || got != c.want):
			t.Errorf("expand(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
}

// ---------------------------------------------------------------------------
// Seeded hits and what each panel must show of them.

// seedHit is one row as the test generates it.
type seedHit struct {
	hitlog.Row
	seq uint32
}

// A rule the seed draws from: its pack, category, severity and action, and
// the kinds and names it hits.
type seedRule struct {
	pack, category, rule, action string
	severity                     uint8
	kinds, names                 []string
	weight                       int
}

var seedRules = []seedRule{
	{"phishing-example", "phishing", "phishing.txt:12", "block", 3, []string{"dns", "tls", "http", "quic"}, []string{"login-verify.example", "a.netid-verify.test", "mail-reset.example"}, 30},
	{"phishing-example", "phishing", "phishing.txt:40", "alert", 2, []string{"dns", "tls"}, []string{"secure-portal.example"}, 9},
	{"malware-example", "malware", "c2.txt:3", "block", 4, []string{"dns", "tls", "quic"}, []string{"c2.botnet.test", "update-check.botnet.test"}, 14},
	{"anti-fraud-example", "fraud", "fraud-domains.txt:7", "alert", 3, []string{"dns", "http"}, []string{"fast-campus-loan.test"}, 11},
	{"anti-fraud-example", "fraud", "keywords:刷单", "hold", 3, []string{"post"}, []string{"second-hand", "jobs"}, 8},
	{"gambling-spam-example", "gambling", "gambling.txt:5", "log", 1, []string{"dns", "tls", "http"}, []string{"lucky-casino.test", "bet-now.test"}, 17},
	{"pii-example", "privacy", "regex:id-card", "hold", 2, []string{"post"}, []string{"jobs", "lost-and-found"}, 6},
	{"harassment-example", "harassment", "keywords:harassment", "hold", 2, []string{"post"}, []string{"general"}, 4},
	{"info-example", "info", "watch.txt:1", "log", 0, []string{"dns"}, []string{"static.example.org"}, 3},
}

var seedStart = time.Date(2026, 1, 10, 0, 0, 0, 0, time.UTC)

// seedHits makes n deterministic hits, one every 7 s plus 123 ms from
// seedStart, so that no hit falls on a whole-minute boundary second used by
// the scenarios below.
func seedHits(n int) []seedHit {
	r := rand.New(rand.NewPCG(9, 26))
	total := 0
	for _, sr := range seedRules {
		total += sr.weight
	}
	hits := make([]seedHit, n)
	for i := range hits {
		w := r.IntN(total)
		var sr seedRule
		for _, sr = range seedRules {
			if w < sr.weight {
				break
			}
			w -= sr.weight
		}
		kind := sr.kinds[r.IntN(len(sr.kinds))]
		name := sr.names[r.IntN(len(sr.names))]
		client := fmt.Sprintf("anon-%04x", r.IntN(r.IntN(60)+1)*2654435761%65536) // skewed: low numbers are busy
		sensor := "core-1"
		if r.IntN(4) == 0 {
			sensor = "core-2"
		}
		if kind == "post" {
			sensor = "forum"
		}
		ts := seedStart.Add(time.Duration(i)*7*time.Second + 123*time.Millisecond)
		hits[i] = seedHit{seq: uint32(i), Row: hitlog.Row{
			Time: ts, Sensor: sensor, Kind: kind, Client: client, Server: "192.0.2.10", Port: 443,
			Name: name, URL: "/p/" + strconv.Itoa(i), Pack: sr.pack, Rule: sr.rule, Category: sr.category,
			Severity: sr.severity, Action: sr.action, Field: "name", Match: name, MatchStart: 0, MatchEnd: uint32(len(name)),
		}}
	}
	return hits
}

// scenario is one state of the dashboard: a time range, the panel interval
// Grafana would pick, and the variables' selections.
type scenario struct {
	name     string
	qc       queryContext
	sensor   []string // nil: All
	kind     []string
	category []string
	minSev   int
	top      int
}

var seedScenarios = []scenario{
	{name: "all_12h_1m", qc: queryContext{from: seedStart, to: seedStart.Add(12 * time.Hour), interval: time.Minute}, top: 10},
	{name: "all_2d_1h", qc: queryContext{from: seedStart.Add(-24 * time.Hour), to: seedStart.Add(24 * time.Hour), interval: time.Hour}, top: 25},
	{name: "filtered_2h_5m", qc: queryContext{from: seedStart.Add(2*time.Hour + 30*time.Second), to: seedStart.Add(4*time.Hour + 30*time.Second), interval: 5 * time.Minute},
		sensor: []string{"core-1", "forum"}, kind: []string{"dns", "tls", "post"}, category: []string{"phishing", "fraud", "gambling"}, minSev: 2, top: 5},
}

func (sc scenario) vars(options map[string][]string) map[string]varValue {
	sel := func(name string, v []string) varValue {
		if v == nil {
			return varValue{values: []string{"$__all"}, multi: true, options: options[name]}
		}
		return varValue{values: v, multi: true, options: options[name]}
	}
	return map[string]varValue{
		"sensor":       sel("sensor", sc.sensor),
		"kind":         sel("kind", sc.kind),
		"category":     sel("category", sc.category),
		"min_severity": {values: []string{strconv.Itoa(sc.minSev)}},
		"top":          {values: []string{strconv.Itoa(sc.top)}},
	}
}

// Which filters a panel's table can apply, and at what time granularity.
type reads struct {
	sensor, kind, category, severity bool
	bucket                           time.Duration // 0: the raw hits table
}

var (
	fullFilter = reads{sensor: true, kind: true, category: true, severity: true}
	nameFilter = reads{kind: true, category: true, bucket: time.Hour}
	clientOnly = reads{category: true, bucket: time.Hour}
)

func in(v string, set []string) bool { return set == nil || slices.Contains(set, v) }

// selectHits is what a panel reading table granularity rd sees of hits:
// rollups keep a bucket if it starts at or after the start of the bucket
// holding from, and at or before to (the dashboards' bucket-widened time
// condition); the raw table keeps from <= ts <= to ($__timeFilter).
func (sc scenario) selectHits(hits []seedHit, rd reads) []seedHit {
	var out []seedHit
	for _, h := range hits {
		if rd.bucket == 0 {
			if h.Time.Before(sc.qc.from) || h.Time.After(sc.qc.to) {
				continue
			}
		} else {
			t := h.Time.Truncate(rd.bucket)
			if t.Before(sc.qc.from.Truncate(rd.bucket)) || t.After(sc.qc.to) {
				continue
			}
		}
		if rd.sensor && !in(h.Sensor, sc.sensor) || rd.kind && !in(h.Kind, sc.kind) ||
			rd.category && !in(h.Category, sc.category) || rd.severity && int(h.Severity) < sc.minSev {
			continue
		}
		out = append(out, h)
	}
	return out
}

// rangeBucket is the rollup a whole-range count reads.
func (sc scenario) rangeBucket() time.Duration {
	if sc.qc.to.Sub(sc.qc.from) <= 24*time.Hour {
		return time.Minute
	}
	return time.Hour
}

// stepBucket is the rollup a per-step series reads.
func (sc scenario) stepBucket() time.Duration {
	if sc.qc.interval < time.Hour {
		return time.Minute
	}
	return time.Hour
}

const chTime = "2006-01-02 15:04:05"

// count groups hits by key and orders the groups as `ORDER BY hits DESC,
// key` (byCount) or by key.
func count(hits []seedHit, key func(seedHit) []string, byCount bool, limit int) [][]string {
	n := map[string]int{}
	keys := map[string][]string{}
	for _, h := range hits {
		k := key(h)
		j := strings.Join(k, "\x00")
		n[j]++
		keys[j] = k
	}
	var order []string
	for j := range n {
		order = append(order, j)
	}
	sort.Slice(order, func(a, b int) bool {
		if byCount && n[order[a]] != n[order[b]] {
			return n[order[a]] > n[order[b]]
		}
		return order[a] < order[b]
	})
	if limit > 0 && len(order) > limit {
		order = order[:limit]
	}
	out := [][]string{}
	for _, j := range order {
		out = append(out, append(slices.Clone(keys[j]), strconv.Itoa(n[j])))
	}
	return out
}

var severityNames = []string{"info", "low", "medium", "high", "critical"}

// expectation says what one query returns for a scenario: its columns and
// rows. truncateTime compares the first column to the second only (the
// server stores seconds, chDB milliseconds).
type expectation struct {
	cols         []string
	rows         func(sc scenario, hits []seedHit) [][]string
	truncateTime bool
}

func one(v int) [][]string { return [][]string{{strconv.Itoa(v)}} }

func uniq(hits []seedHit, f func(seedHit) string) int {
	s := map[string]bool{}
	for _, h := range hits {
		s[f(h)] = true
	}
	return len(s)
}

func overTime(dim func(seedHit) string) func(scenario, []seedHit) [][]string {
	return func(sc scenario, hits []seedHit) [][]string {
		b := sc.stepBucket()
		step := int64(max(sc.qc.interval/time.Second, 1))
		return count(sc.selectHits(hits, reads{sensor: true, kind: true, category: true, severity: true, bucket: b}), func(h seedHit) []string {
			t := h.Time.Truncate(b).Unix() / step * step
			return []string{time.Unix(t, 0).UTC().Format(chTime), dim(h)}
		}, false, 0)
	}
}

func rangeHits(sc scenario, hits []seedHit) []seedHit {
	rd := fullFilter
	rd.bucket = sc.rangeBucket()
	return sc.selectHits(hits, rd)
}

// expectations, by dashboard file and panel title (variables: "var NAME").
// Every ClickHouse query must have one: a new panel comes with its check.
var expectations = map[string]map[string]expectation{
	"campusguard-hits.json": {
		"var sensor": {cols: []string{"sensor"}, rows: func(sc scenario, hits []seedHit) [][]string {
			return keysOnly(count(sc.selectHits(hits, reads{bucket: time.Hour}), func(h seedHit) []string { return []string{h.Sensor} }, false, 0))
		}},
		"var kind": {cols: []string{"kind"}, rows: func(sc scenario, hits []seedHit) [][]string {
			return keysOnly(count(sc.selectHits(hits, reads{bucket: time.Hour}), func(h seedHit) []string { return []string{h.Kind} }, false, 0))
		}},
		"var category": {cols: []string{"category"}, rows: func(sc scenario, hits []seedHit) [][]string {
			return keysOnly(count(sc.selectHits(hits, reads{bucket: time.Hour}), func(h seedHit) []string { return []string{h.Category} }, false, 0))
		}},
		"Hits": {cols: []string{"hits"}, rows: func(sc scenario, hits []seedHit) [][]string {
			return one(len(rangeHits(sc, hits)))
		}},
		"Clients with hits": {cols: []string{"clients"}, rows: func(sc scenario, hits []seedHit) [][]string {
			return one(uniq(sc.selectHits(hits, clientOnly), func(h seedHit) string { return h.Client }))
		}},
		"Names with hits": {cols: []string{"names"}, rows: func(sc scenario, hits []seedHit) [][]string {
			return one(uniq(sc.selectHits(hits, nameFilter), func(h seedHit) string { return h.Name }))
		}},
		"Hits over time by category": {cols: []string{"time", "category", "hits"}, rows: overTime(func(h seedHit) string { return h.Category })},
		"Hits over time by kind":     {cols: []string{"time", "kind", "hits"}, rows: overTime(func(h seedHit) string { return h.Kind })},
		"Top packs": {cols: []string{"pack", "hits"}, rows: func(sc scenario, hits []seedHit) [][]string {
			return count(rangeHits(sc, hits), func(h seedHit) []string { return []string{h.Pack} }, true, sc.top)
		}},
		"Hits by severity": {cols: []string{"level", "hits"}, rows: func(sc scenario, hits []seedHit) [][]string {
			// ORDER BY severity: the names in severity order.
			rows := count(rangeHits(sc, hits), func(h seedHit) []string { return []string{strconv.Itoa(int(h.Severity))} }, false, 0)
			for _, r := range rows {
				n, _ := strconv.Atoi(r[0])
				r[0] = severityNames[n]
			}
			return rows
		}},
		"Hits by action": {cols: []string{"action", "hits"}, rows: func(sc scenario, hits []seedHit) [][]string {
			return count(rangeHits(sc, hits), func(h seedHit) []string { return []string{h.Action} }, true, 0)
		}},
		"Top rules": {cols: []string{"pack", "rule", "category", "hits"}, rows: func(sc scenario, hits []seedHit) [][]string {
			return count(rangeHits(sc, hits), func(h seedHit) []string { return []string{h.Pack, h.Rule, h.Category} }, true, sc.top)
		}},
		"Top names": {cols: []string{"name", "kinds", "hits"}, rows: func(sc scenario, hits []seedHit) [][]string {
			sel := sc.selectHits(hits, nameFilter)
			kinds := map[string][]string{}
			for _, h := range sel {
				if !slices.Contains(kinds[h.Name], h.Kind) {
					kinds[h.Name] = append(kinds[h.Name], h.Kind)
				}
			}
			rows := count(sel, func(h seedHit) []string { return []string{h.Name} }, true, sc.top)
			for i, r := range rows {
				k := kinds[r[0]]
				slices.Sort(k)
				rows[i] = []string{r[0], strings.Join(k, ", "), r[1]}
			}
			return rows
		}},
		"Top clients": {cols: []string{"client", "hits"}, rows: func(sc scenario, hits []seedHit) [][]string {
			return count(sc.selectHits(hits, clientOnly), func(h seedHit) []string { return []string{h.Client} }, true, sc.top)
		}},
		"Hits by sensor": {cols: []string{"sensor", "hits"}, rows: func(sc scenario, hits []seedHit) [][]string {
			return count(rangeHits(sc, hits), func(h seedHit) []string { return []string{h.Sensor} }, true, 0)
		}},
		"Latest hits": {
			cols:         []string{"time", "sensor", "kind", "client", "name", "url", "pack", "rule", "category", "level", "action", "field", "match"},
			truncateTime: true,
			rows: func(sc scenario, hits []seedHit) [][]string {
				sel := sc.selectHits(hits, fullFilter)
				// ORDER BY ts DESC, batch DESC, seq DESC LIMIT 200; one batch.
				slices.SortFunc(sel, func(a, b seedHit) int {
					if c := b.Time.Compare(a.Time); c != 0 {
						return c
					}
					return int(b.seq) - int(a.seq)
				})
				sel = sel[:min(len(sel), 200)]
				out := [][]string{}
				for _, h := range sel {
					out = append(out, []string{h.Time.Truncate(time.Second).Format(chTime), h.Sensor, h.Kind, h.Client, h.Name, h.URL,
						h.Pack, h.Rule, h.Category, severityNames[h.Severity], h.Action, h.Field, h.Match})
				}
				return out
			}},
	},
}

func keysOnly(rows [][]string) [][]string {
	for i, r := range rows {
		rows[i] = r[:len(r)-1]
	}
	return rows
}

// chQuery is one ClickHouse query of a dashboard.
type chQuery struct {
	key  string // panel title, or "var NAME"
	sql  string
	isTS bool
}

func clickhouseQueries(t *testing.T, d dashboard) []chQuery {
	t.Helper()
	var qs []chQuery
	for _, v := range d.Templating.List {
		if v.Type == "query" && v.Datasource != nil && v.Datasource.Type == clickhouseType {
			sql, err := v.sqlQuery()
			if err != nil {
				t.Fatal(err)
			}
			qs = append(qs, chQuery{key: "var " + v.Name, sql: sql})
		}
	}
	for _, p := range allPanels(d.Panels) {
		for _, tg := range p.Targets {
			if tg.Datasource != nil && tg.Datasource.Type == clickhouseType {
				if len(p.Targets) != 1 {
					t.Fatalf("panel %q: %d ClickHouse queries; the expectations assume one", p.Title, len(p.Targets))
				}
				qs = append(qs, chQuery{key: p.Title, sql: tg.RawSQL, isTS: tg.QueryType == "timeseries"})
			}
		}
	}
	return qs
}

// TestDashboardsClickHouse runs every ClickHouse query of every dashboard
// against seeded hits on the ClickHouse 18.16 server and on chDB.
func TestDashboardsClickHouse(t *testing.T) {
	dashboards := loadDashboards(t)
	hits := seedHits(3000)
	// No hit may fall in the second a scenario ends, or the server
	// (seconds: ts <= to holds) and chDB (milliseconds: it does not) would
	// disagree about it.
	for _, sc := range seedScenarios {
		for _, h := range hits {
			if h.Time.Truncate(time.Second).Equal(sc.qc.to) {
				t.Fatalf("scenario %s: a hit at %v falls on a boundary second", sc.name, h.Time)
			}
		}
	}
	stores := []struct {
		name string
		open func(t *testing.T) hitlog.Store
	}{{"server", openServer}, {"chdb", openChDB}}
	for _, st := range stores {
		t.Run(st.name, func(t *testing.T) {
			s := st.open(t)
			seed(t, s, hits)
			for file, d := range dashboards {
				qs := clickhouseQueries(t, d)
				if len(qs) == 0 {
					continue
				}
				exp, ok := expectations[file]
				if !ok {
					t.Fatalf("%s: ClickHouse queries but no expectations in this test", file)
				}
				for _, q := range qs {
					if _, ok := exp[q.key]; !ok {
						t.Errorf("%s: %q has no expectation in this test; add one", file, q.key)
					}
				}
				for _, sc := range seedScenarios {
					t.Run(strings.TrimSuffix(file, ".json")+"/"+sc.name, func(t *testing.T) {
						runScenario(t, s, qs, exp, sc, hits)
					})
				}
			}
		})
	}
}

func runScenario(t *testing.T, s hitlog.Store, qs []chQuery, exp map[string]expectation, sc scenario, hits []seedHit) {
	ctx := context.Background()
	// Variables first, as Grafana loads them: their results are the options
	// that All stands for.
	options := map[string][]string{}
	vars := sc.vars(nil)
	for _, q := range qs {
		if !strings.HasPrefix(q.key, "var ") {
			continue
		}
		rows := runChecked(t, ctx, s, q, vars, sc, exp[q.key], hits)
		for _, r := range rows {
			options[strings.TrimPrefix(q.key, "var ")] = append(options[strings.TrimPrefix(q.key, "var ")], r[0])
		}
	}
	vars = sc.vars(options)
	totals := map[string]int{}
	for _, q := range qs {
		if strings.HasPrefix(q.key, "var ") {
			continue
		}
		rows := runChecked(t, ctx, s, q, vars, sc, exp[q.key], hits)
		// Over-time panels add up to the Hits stat.
		if q.isTS {
			for _, r := range rows {
				n, _ := strconv.Atoi(r[len(r)-1])
				totals[q.key] += n
			}
		}
	}
	want := len(rangeHits(sc, hits))
	if sc.rangeBucket() != sc.stepBucket() {
		return // different rollups, different edges
	}
	for k, n := range totals {
		if n != want {
			t.Errorf("%s adds up to %d hits, the Hits stat says %d", k, n, want)
		}
	}
}

// runChecked expands q, runs it, and compares the result with the
// expectation; it returns the rows.
func runChecked(t *testing.T, ctx context.Context, s hitlog.Store, q chQuery, vars map[string]varValue, sc scenario, e expectation, hits []seedHit) [][]string {
	t.Helper()
	sql, err := expandQuery(q.sql, vars, sc.qc)
	if err != nil {
		t.Errorf("%s: expand: %v", q.key, err)
		return nil
	}
	if strings.Contains(sql, "$") {
		t.Errorf("%s: expanded query still holds a $:\n%s", q.key, sql)
	}
	if e.rows == nil {
		return nil
	}
	got, err := queryStrings(ctx, s, sql, len(e.cols))
	if err != nil {
		t.Errorf("%s: %v\nquery:\n%s", q.key, err, sql)
		return nil
	}
	// The columns are named as the panel's field config and transformations
	// expect: select them by name from the query.
	named, err := queryStrings(ctx, s, "SELECT "+strings.Join(e.cols, ", ")+" FROM (\n"+sql+"\n)", len(e.cols))
	if err != nil {
		t.Errorf("%s: columns %v: %v", q.key, e.cols, err)
	} else if diff := cmp.Diff(got, named); diff != "" {
		t.Errorf("%s: the columns are not named %v (-query +by name):\n%s", q.key, e.cols, diff)
	}
	if q.isTS {
		// Grafana needs a DateTime time field, in ascending order.
		typ, err := queryStrings(ctx, s, "SELECT DISTINCT toTypeName(time) FROM (\n"+sql+"\n)", 1)
		if err != nil || len(typ) > 1 || len(typ) == 1 && typ[0][0] != "DateTime" {
			t.Errorf("%s: time column type %v, %v; want DateTime", q.key, typ, err)
		}
	}
	want := e.rows(sc, hits)
	if len(want) == 0 {
		t.Errorf("%s: the scenario selects no hits; it proves nothing", q.key)
	}
	cmpGot := got
	if e.truncateTime {
		cmpGot = make([][]string, len(got))
		for i, r := range got {
			r = slices.Clone(r)
			if len(r[0]) > len(chTime) {
				r[0] = r[0][:len(chTime)]
			}
			cmpGot[i] = r
		}
	}
	if diff := cmp.Diff(want, cmpGot); diff != "" {
		t.Errorf("%s (%d rows): result differs from the seeded hits (-want +got):\n%s\nquery:\n%s", q.key, len(got), diff, sql)
	}
	return got
}

// queryStrings runs a query and returns every cell as a string.
func queryStrings(ctx context.Context, s hitlog.Store, sql string, cols int) ([][]string, error) {
	rows, err := s.Query(ctx, sql)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := [][]string{}
	for rows.Next() {
		r := make([]string, cols)
		dest := make([]any, cols)
		for i := range r {
			dest[i] = &r[i]
		}
		if err := rows.Scan(dest...); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

func openServer(t *testing.T) hitlog.Store {
	srv := chtest.SharedServer(t)
	srv.Client(t, "CREATE DATABASE IF NOT EXISTS campusguard")
	t.Cleanup(func() { srv.Client(t, "DROP DATABASE IF EXISTS campusguard") })
	return openStore(t, srv.URL("campusguard"))
}

// openChDB opens the one chDB directory this process may have.
func openChDB(t *testing.T) hitlog.Store {
	if os.Getenv(chdb.LibEnv) == "" {
		os.Setenv(chdb.LibEnv, chtest.LibPath(t))
	}
	return openStore(t, "chdb://"+t.TempDir())
}

func openStore(t *testing.T, url string) hitlog.Store {
	t.Helper()
	ctx := context.Background()
	s, err := hitlog.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if _, err := hitlog.Migrate(ctx, s); err != nil {
		t.Fatal(err)
	}
	if s.Database() != "campusguard" {
		t.Fatalf("store database %q, the dashboards read campusguard", s.Database())
	}
	return s
}

// seed inserts the hits as one batch; the materialized views fill the
// rollups on the way in.
func seed(t *testing.T, s hitlog.Store, hits []seedHit) {
	t.Helper()
	b := &hitlog.Batch{ID: 7, Created: time.Now()}
	for _, h := range hits {
		b.Rows = append(b.Rows, h.Row)
	}
	if err := s.Insert(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	var n uint64
	rows, err := s.Query(context.Background(), "SELECT sum(hits) FROM campusguard.hits_1h")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	if !rows.Next() || rows.Scan(&n) != nil || n != uint64(len(hits)) {
		t.Fatalf("hits_1h counts %d hits after inserting %d", n, len(hits))
	}
}
