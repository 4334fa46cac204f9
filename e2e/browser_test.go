package e2e

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/campusguard/campusguard/internal/browsertest"
)

const (
	// stepTimeout bounds every wait on the browser.
	stepTimeout = 15 * time.Second
)

// browser is Debian's Chromium, headless, on the console.
type browser struct {
	t         *testing.T
	ctx       context.Context
	base      string
	artifacts string
}

// newBrowser starts Chromium with a fresh profile. It reaches the console
// over the management link directly: no proxy, whatever the environment
// says, and no background connections.
func newBrowser(t *testing.T, base string) *browser {
	t.Helper()
	if _, err := os.Stat(browsertest.ChromiumPath); err != nil {
		unavailable(t, "the end-to-end test needs %s (Debian package chromium; scripts/deps.sh installs it)", browsertest.ChromiumPath)
	}
	// The console is reached over the management link directly: no
	// proxy, whatever the environment says.
	ctx := browsertest.Start(t, chromedp.Flag("no-proxy-server", true))
	artifacts := browsertest.Artifacts(t, "e2e")
	return &browser{t: t, ctx: ctx, base: base, artifacts: artifacts}
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

func (b *browser) eval(js string) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[string](js))
	if err != nil {
		b.t.Fatalf("browser: %s: %v", js, err)
	}
	return v
}

// wait polls a JavaScript predicate until it holds, within stepTimeout.
// Evaluation errors (the page navigating away, say) count as "not yet".
func (b *browser) wait(what, predicate string) {
	b.t.Helper()
	if ok, text, err := browsertest.WaitFor(b.ctx, predicate, stepTimeout); !ok {
		b.screenshot("failed")
		b.t.Fatalf("browser: waiting for %s (%s): timed out (last error %v)\npage text: %.1500s", what, predicate, err, text)
	}
}

func (b *browser) open(path string) {
	b.t.Helper()
	b.do(chromedp.Navigate(b.base + path))
	b.wait("page load of "+path, `document.readyState === 'complete'`)
}

func (b *browser) login(name, password string) {
	b.t.Helper()
	b.open("/login?lang=en")
	b.do(
		chromedp.SendKeys(chromedp.CSS("#name"), name),
		chromedp.SendKeys(chromedp.CSS("#password"), password),
	)
	b.do(chromedp.Evaluate[chromedp.Void](`window.__stale = true`))
	b.do(chromedp.Click(chromedp.CSS(`button[type="submit"]`)))
	b.wait("the console after login", `!window.__stale && document.readyState === 'complete' && !!document.querySelector('.sidebar nav')`)
}

func (b *browser) screenshot(name string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Errorf("screenshot %s: %v", name, err)
		return
	}
	if err := os.WriteFile(filepath.Join(b.artifacts, name+".png"), png, 0o644); err != nil {
		b.t.Error(err)
	}
}
