package web

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/campusguard/campusguard/alerts/decision"
	"github.com/campusguard/campusguard/internal/browsertest"
	"github.com/campusguard/campusguard/internal/hitlog"
	"github.com/campusguard/campusguard/internal/hitlog/chdb"
	"github.com/campusguard/campusguard/internal/hitlog/chtest"
	"github.com/campusguard/campusguard/internal/moderation"
)

const (
	// axeVersion is what scripts/axe-core.sh fetches; bump both together.
	axeVersion = "4.14.1"
	// stepTimeout bounds every wait on the browser.
	stepTimeout = 10 * time.Second
)

// unavailable skips, or fails when CAMPUSGUARD_TEST_REQUIRE_SERVERS=1.
func unavailable(t *testing.T, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if chtest.Required() {
		t.Fatalf("%s (%s=1, so this fails instead of skipping)", msg, chtest.RequireEnv)
	}
	t.Skip(msg)
}

// axePath is where scripts/axe-core.sh puts axe.min.js.
func axePath() string {
	root := os.Getenv("CAMPUSGUARD_CACHE")
	if root == "" {
		cache := os.Getenv("XDG_CACHE_HOME")
		if cache == "" {
			home, _ := os.UserHomeDir()
			cache = filepath.Join(home, ".cache")
		}
		root = filepath.Join(cache, "campusguard")
	}
	return filepath.Join(root, "axe-core", axeVersion, "axe.min.js")
}

// optionalHits is the shared chDB store when libchdb.so is at hand (the
// overview then has charts to look at), else nil: the browser tests do not
// need a hit store.
func optionalHits(t *testing.T) *hitlog.Queries {
	if os.Getenv(chdb.LibEnv) == "" {
		p, err := chtest.DefaultLibPath()
		if err != nil {
			return nil
		}
		if _, err := os.Stat(p); err != nil {
			return nil
		}
	}
	q, _, _ := sharedHits(t)
	return q
}

type browser struct {
	t         *testing.T
	lapStart  time.Time
	ctx       context.Context
	base      string
	artifacts string
	axe       string
}

// newBrowser starts Debian's chromium headless with a fresh profile. The
// background-networking flags keep it from dialling out (refused here).
func newBrowser(t *testing.T, base string) *browser {
	t.Helper()
	if _, err := os.Stat(browsertest.ChromiumPath); err != nil {
		unavailable(t, "browser tests need %s (Debian package chromium; scripts/deps.sh installs it)", browsertest.ChromiumPath)
	}
	axe, err := os.ReadFile(axePath())
	if err != nil {
		unavailable(t, "axe-core: %v; run scripts/axe-core.sh", err)
	}
	ctx := browsertest.Start(t)
	b := &browser{t: t, ctx: ctx, base: base, artifacts: browsertest.Artifacts(t, ""), axe: string(axe), lapStart: time.Now()}
	// Record CSP violations from the first script of every document on.
	b.do(func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
		_, err := cdp.Call(ctx, tg, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{
			Source: `window.__csp = []; document.addEventListener('securitypolicyviolation', e => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));`})
		return chromedp.Void{}, err
	})
	return b
}

// do runs steps within stepTimeout.
func (b *browser) do(steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		b.t.Fatalf("browser: %v", err)
	}
}

func run[T any](b *browser, a chromedp.Action[T]) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		b.t.Fatalf("browser: %v", err)
	}
	return v
}

func (b *browser) eval(js string) string {
	b.t.Helper()
	return run(b, chromedp.Evaluate[string](js))
}

// wait polls a JavaScript predicate until it holds, within stepTimeout.
// Evaluation errors (the page navigating away, say) count as "not yet".
func (b *browser) wait(what, predicate string) {
	b.t.Helper()
	if ok, text, err := browsertest.WaitFor(b.ctx, predicate, stepTimeout); !ok {
		b.t.Fatalf("waiting for %s (%s): timed out (last error %v)\npage text: %.600s", what, predicate, err, text)
	}
}

func (b *browser) open(path string) {
	b.t.Helper()
	b.do(chromedp.Navigate(b.base + path))
	b.wait("page load of "+path, `document.readyState === 'complete'`)
	if v := b.eval(`(window.__csp || []).join('; ')`); v != "" {
		b.t.Errorf("%s: CSP violations: %s", path, v)
	}
}

// clickNav clicks something that loads a new page and waits for it.
func (b *browser) clickNav(sel string) {
	b.t.Helper()
	b.do(chromedp.Evaluate[chromedp.Void](`window.__stale = true`))
	b.do(chromedp.Click(chromedp.CSS(sel)))
	b.wait("the page after clicking "+sel, `!window.__stale && document.readyState === 'complete'`)
}

func (b *browser) keys(k string) {
	b.t.Helper()
	b.do(chromedp.KeyEvent(k))
}

func (b *browser) login(name string) {
	b.t.Helper()
	b.open("/login")
	b.do(
		chromedp.SendKeys(chromedp.CSS("#name"), name),
		chromedp.SendKeys(chromedp.CSS("#password"), testPassword),
	)
	b.clickNav(`button[type="submit"]`)
	b.wait("the console after login", `!!document.querySelector('.sidebar nav')`)
}

// lap logs how long a stage took, with -v.
func (b *browser) lap(stage string) {
	if testing.Verbose() {
		b.t.Logf("%s: %v", stage, time.Since(b.lapStart).Round(time.Millisecond))
	}
	b.lapStart = time.Now()
}

func (b *browser) screenshot(name string) {
	b.t.Helper()
	png := run(b, chromedp.FullScreenshot(100))
	if err := os.WriteFile(filepath.Join(b.artifacts, name+".png"), png, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

type axeViolation struct {
	ID     string   `json:"id"`
	Impact string   `json:"impact"`
	Help   string   `json:"help"`
	Nodes  []string `json:"nodes"`
}

// checkA11y runs axe-core on the page and fails on serious or critical
// violations. The bars inside a chart are left out (hundreds of aria-hidden
// shapes, slow to check); the chart itself, its name and its table are in.
func (b *browser) checkA11y(name string) {
	b.t.Helper()
	if b.eval(`typeof window.axe`) != "object" {
		b.do(chromedp.Evaluate[chromedp.Void](b.axe))
	}
	axeStart := time.Now()
	ctx, cancel := context.WithTimeout(b.ctx, 3*stepTimeout)
	defer cancel()
	vs, err := chromedp.Run(ctx, chromedp.Evaluate[[]axeViolation](`axe.run({exclude: [['svg.chart g']]}, {resultTypes: ['violations']}).then(r =>
		r.violations.filter(v => v.impact === 'serious' || v.impact === 'critical').map(v => ({
			id: v.id, impact: v.impact, help: v.help,
			nodes: v.nodes.slice(0, 5).map(n => n.target.join(' ') + ' — ' + (n.failureSummary || '').replace(/\s+/g, ' '))})))`,
		chromedp.EvalAwaitPromise))
	if err != nil {
		b.t.Fatalf("axe on %s: %v", name, err)
	}
	if testing.Verbose() {
		b.t.Logf("axe %s: %v", name, time.Since(axeStart).Round(time.Millisecond))
	}
	for _, v := range vs {
		b.t.Errorf("axe %s: %s (%s): %s\n  %s", name, v.ID, v.Impact, v.Help, strings.Join(v.Nodes, "\n  "))
	}
}

// The console in a real browser: keyboard triage, the language switch,
// the audit log, a viewer's limits, screenshots and axe-core.
func TestBrowser(t *testing.T) {
	start := time.Now()
	hits := optionalHits(t)
	f := newFixture(t, withEngine(t), func(o *Options) { o.Hits = hits; o.Gatherer = healthGatherer(t) })
	f.seedDecisions()
	t.Logf("fixture: %v", time.Since(start).Round(time.Millisecond))
	b := newBrowser(t, f.srv.URL)
	b.lap("browser start")

	b.login("mod")
	b.open("/queue")
	ids := strings.Fields(b.eval(`Array.from(document.querySelectorAll('tr[data-item]')).slice(0, 6).map(r => r.dataset.id).join(' ')`))
	if len(ids) < 6 {
		t.Fatalf("queue rows: %v", ids)
	}
	row := func(i int) string { return fmt.Sprintf(`document.querySelector('tr[data-id="%s"]')`, ids[i]) }
	stateOf := func(i int, st string) string { return row(i) + `.dataset.state === '` + st + `'` }

	// First post: j selects it, c claims, a approves.
	b.keys("j")
	b.wait("row 1 selected", row(0)+`.classList.contains('selected')`)
	b.keys("c")
	b.wait("claim", stateOf(0, "claimed")+` && `+row(0)+`.querySelector('[data-field=claimed]').textContent.includes('mod')`)
	b.keys("a")
	b.wait("approve", stateOf(0, "approved"))
	// Second: j, r asks for a reason (mandatory), Enter rejects.
	b.keys("j")
	b.keys("r")
	b.wait("reason dialog", `document.getElementById('reason-dialog').open`)
	b.keys(kb.Enter) // empty: the dialog refuses and stays open
	b.wait("dialog still open", `document.getElementById('reason-dialog').open`)
	b.keys("scam advertising")
	b.keys(kb.Enter)
	b.wait("reject", stateOf(1, "rejected"))
	// Third: j, k, j (back and forth), e escalates, u undoes it, e again.
	b.keys("j")
	b.keys("k")
	b.wait("k moves up", row(1)+`.classList.contains('selected')`)
	b.keys("j")
	b.keys("e")
	b.wait("escalate", stateOf(2, "escalated"))
	b.keys("u")
	b.wait("undo", stateOf(2, "pending"))
	b.keys("e")
	b.wait("escalate again", stateOf(2, "escalated"))
	// Bulk: x marks the fifth and sixth, a approves both.
	b.keys("jj")
	b.keys("x")
	b.keys("j")
	b.keys("x")
	b.wait("two rows checked", `document.querySelectorAll('tr.checked').length === 2`)
	b.keys("a")
	b.wait("bulk approve", stateOf(4, "approved")+` && `+stateOf(5, "approved")+` && document.querySelectorAll('tr.checked').length === 0`)
	b.keys("kkk")
	b.wait("back on the third", row(2)+`.classList.contains('selected')`)
	// ? shows the keys; Escape closes.
	b.keys("?")
	b.wait("help dialog", `document.getElementById('help-dialog').open`)
	b.keys(kb.Escape)
	b.wait("help closed", `!document.getElementById('help-dialog').open`)

	want := []moderation.State{moderation.StateApproved, moderation.StateRejected, moderation.StateEscalated, "", moderation.StateApproved, moderation.StateApproved}
	for i, st := range want {
		if st == "" {
			continue
		}
		var id int64
		fmt.Sscan(ids[i], &id)
		it := f.item(id)
		if it.State != st || it.DecidedBy != "mod" {
			t.Errorf("item %d: %s by %q, want %s by mod", id, it.State, it.DecidedBy, st)
		}
		if i == 1 && it.Reason != "scam advertising" {
			t.Errorf("reject reason %q", it.Reason)
		}
	}

	// A conflict: someone else claims the fourth item behind the page's
	// back; approving it shows the message and reloads its state.
	var id4 int64
	fmt.Sscan(ids[3], &id4)
	if _, err := f.queue.Claim(context.Background(), id4, f.item(id4).Version, "mod2"); err != nil {
		t.Fatal(err)
	}
	b.keys("j")
	b.wait("fourth selected", row(3)+`.classList.contains('selected')`)
	b.keys("a")
	b.wait("conflict message after reload", `document.querySelector('#flash .flash.err') && document.querySelector('#flash').textContent.includes('changed or claimed') && `+stateOf(3, "claimed"))
	if it := f.item(id4); it.State != moderation.StateClaimed || it.ClaimedBy != "mod2" {
		t.Errorf("conflicting approve changed the item: %+v", it)
	}

	// Buttons reach the same actions (a note and a release on the item page).
	b.open("/queue/" + ids[3])
	b.do(chromedp.SendKeys(chromedp.CSS("#note-text"), "asked mod2 about it"))
	b.do(chromedp.Click(chromedp.CSS(`form.note-form button[type="submit"]`)))
	b.wait("note added", `document.querySelector('ol.notes') && document.querySelector('ol.notes').textContent.includes('asked mod2')`)
	if n := len(f.item(id4).Notes); n != 1 {
		t.Errorf("notes: %d", n)
	}

	b.lap("keyboard triage")
	// Pages in English: screenshots and axe.
	pages := []struct{ name, path string }{
		{"overview", "/"}, {"queue", "/queue"}, {"item", "/queue/" + ids[1]}, {"hits", "/hits?search=1&range=1h"},
		{"rules", "/rules"}, {"decisions", "/decisions"}, {"subject", subjectURL("ip", "10.1.2.3")}, {"audit", "/audit"},
	}
	for _, p := range pages {
		b.open(p.path)
		b.screenshot(p.name + "-en")
		b.checkA11y(p.name + " (en)")
	}

	b.lap("English pages")
	// Switch to 简体中文 with the language menu.
	b.open("/queue")
	b.clickNav(`form.lang button[value="zh-CN"]`)
	if l := b.eval(`document.documentElement.lang`); l != "zh-CN" {
		t.Fatalf("lang after the switch: %q", l)
	}
	nav := b.eval(`document.querySelector('.sidebar nav').innerText`)
	for _, want := range []string{"总览", "审核队列", "命中查询", "规则", "审计日志"} {
		if !strings.Contains(nav, want) {
			t.Errorf("Chinese navigation lacks %q: %q", want, nav)
		}
	}
	ui := b.eval(`Array.from(document.querySelectorAll('h1, nav, th, button, label, .stat-label')).map(e => e.innerText).join(' | ')`)
	for _, en := range []string{"Moderation queue", "Approve", "Reject", "Claim", "Escalate", "Overview", "Severity", "Sign out"} {
		if strings.Contains(ui, en) {
			t.Errorf("English %q on the Chinese queue page", en)
		}
	}
	if !strings.Contains(ui, "通过") || !strings.Contains(ui, "驳回") {
		t.Errorf("Chinese buttons missing: %.300s", ui)
	}
	for _, p := range pages {
		b.open(p.path)
		b.screenshot(p.name + "-zh-CN")
		b.checkA11y(p.name + " (zh-CN)")
	}

	b.lap("Chinese pages")
	// The audit log lists the triage, in Chinese.
	b.open("/audit")
	acts := b.eval(`Array.from(document.querySelectorAll('tr')).filter(r => r.cells[2] && r.cells[2].innerText === 'mod').map(r => r.querySelector('.action').dataset.action + ' ' + r.cells[4].innerText).join('\n')`)
	for i, a := range []string{"queue.claim", "queue.approve", "queue.reject", "queue.escalate", "queue.undo", "queue.note", "queue.view", "login"} {
		if !strings.Contains(acts, a) {
			t.Errorf("audit page lacks %s (item %d): %s", a, i, acts)
		}
	}
	if txt := b.eval(`document.querySelector('.chain').innerText`); !strings.Contains(txt, "哈希链完整") {
		t.Errorf("chain status: %q", txt)
	}

	// Admin pages, and sign-in, in both languages.
	b.clickNav(`.account form[action="/logout"] button`)
	if p := b.eval(`location.pathname`); p != "/login" {
		t.Fatalf("after sign-out: %s", p)
	}
	b.screenshot("login-zh-CN")
	b.checkA11y("login (zh-CN)")
	b.open("/login?lang=en")
	b.screenshot("login-en")
	b.checkA11y("login (en)")
	b.login("alice")
	b.lap("sign-out and in")
	// An admin blocks an address from the form, finds it in the list and
	// on its subject's page, and revokes it there with a reason.
	b.open("/decisions")
	b.do(chromedp.Evaluate[chromedp.Void](`document.getElementById('f-duration').value = '2h'`),
		chromedp.SendKeys(chromedp.CSS("#f-value"), "10.9.8.7"),
		chromedp.SendKeys(chromedp.CSS("#f-reason"), "port scan from a lab PC"))
	b.clickNav(`form.decide-form button[type="submit"]`)
	newRow := `document.querySelector('tr[data-state="active"] a[href*="10.9.8.7"]')`
	b.wait("the new block in the list", `document.querySelector('#flash .flash.ok') && `+newRow)
	b.screenshot("decisions-admin-en")
	b.checkA11y("decisions (admin, en)")
	b.clickNav(`tr[data-state="active"] a[href*="10.9.8.7"]`)
	b.wait("the subject page", `document.querySelector('h1').textContent.includes('ip:10.9.8.7') && document.querySelector('form.revoke-form')`)
	b.do(chromedp.SendKeys(chromedp.CSS(`form.revoke-form input[name="reason"]`), "false positive: the lab's scanner"))
	b.screenshot("subject-admin-en")
	b.checkA11y("subject (admin, en)")
	b.clickNav(`form.revoke-form button[type="submit"]`)
	b.wait("revoked", `document.querySelector('article[data-state="revoked"]') && !document.querySelector('form.revoke-form') && document.querySelector('#flash .flash.ok')`)
	if ds, _ := f.engine().List(context.Background(), decision.Filter{Scope: decision.ScopeIP, Value: "10.9.8.7"}); len(ds) != 1 ||
		ds[0].Actor != "alice" || ds[0].Expires.Sub(ds[0].Created) != 2*time.Hour || ds[0].RevokedBy != "alice" || ds[0].RevokeReason != "false positive: the lab's scanner" {
		t.Errorf("the browser's decision: %+v", ds)
	}
	b.open("/audit")
	acts = b.eval(`Array.from(document.querySelectorAll('tr')).filter(r => r.cells[2] && r.cells[2].innerText === 'alice').map(r => r.querySelector('.action').dataset.action + ' ' + r.querySelector('.action').innerText).join('\n')`)
	for _, a := range []string{"decision.add recorded a decision", "decision.revoke revoked a decision"} {
		if !strings.Contains(acts, a) {
			t.Errorf("audit page lacks %q: %s", a, acts)
		}
	}
	b.lap("decisions")
	for _, lang := range []string{"en", "zh-CN"} {
		b.open("/users")
		b.clickNav(`form.lang button[value="` + lang + `"]`)
		for _, p := range []string{"users", "tokens"} {
			b.open("/" + p)
			b.screenshot(p + "-" + lang)
			b.checkA11y(p + " (" + lang + ")")
		}
	}
	b.clickNav(`.account form[action="/logout"] button`)

	b.lap("admin pages")
	// A viewer sees the queue but no actions, and keys do nothing.
	b.login("view")
	b.open("/queue")
	if n := b.eval(`String(document.querySelectorAll('form.row-actions, #bulk-form, input[type=checkbox], a.item-link').length)`); n != "0" {
		t.Errorf("viewer's queue page has %s action elements", n)
	}
	if n := b.eval(`String(document.querySelectorAll('tr[data-item]').length)`); n == "0" {
		t.Error("viewer sees no queue rows")
	}
	before := f.item(id4).Version
	b.keys("j")
	b.keys("a")
	b.keys("c")
	time.Sleep(300 * time.Millisecond)
	if f.item(id4).Version != before {
		t.Error("a viewer's keys changed an item")
	}
	b.screenshot("queue-viewer-en")
	b.checkA11y("queue as viewer")
	b.open("/queue/" + ids[0])
	if txt := b.eval(`document.body.innerText`); !strings.Contains(txt, "403") {
		t.Errorf("viewer opened an item: %.200s", txt)
	}
	t.Logf("browser test took %v; screenshots in %s", time.Since(start).Round(time.Millisecond), b.artifacts)
}
