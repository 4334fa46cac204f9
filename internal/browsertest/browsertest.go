// Package browsertest starts the headless Chromium the console's browser
// tests and the end-to-end test drive through chromedp: Debian's chromium,
// a fresh profile, no sandbox, no background connections (refused here).
// It is for tests only.
package browsertest

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// ChromiumPath is Debian's chromium (scripts/deps.sh installs it).
const ChromiumPath = "/usr/bin/chromium"

// Start launches Chromium with extra flags added to the common ones, waits
// at most 30 s for it, and stops it when t ends. Callers check that
// ChromiumPath exists first, to skip or fail as their test requires.
func Start(t *testing.T, extra ...chromedp.ExecAllocatorOption) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(ChromiumPath),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("lang", "en-US"),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1366, 900),
	)
	opts = append(opts, extra...)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
	})
	// The first run starts the browser, tied to ctx itself (a run on a
	// child context would end it with the child); a timer bounds it.
	watchdog := time.AfterFunc(30*time.Second, cancel)
	err := chromedp.Do(ctx)
	if !watchdog.Stop() {
		t.Fatal("chromium did not start within 30 s")
	}
	if err != nil {
		t.Fatalf("starting %s: %v", ChromiumPath, err)
	}
	return ctx
}

// Artifacts is where screenshots go: $CAMPUSGUARD_TEST_ARTIFACTS/sub when
// that is set (kept after the run), else a temporary directory.
func Artifacts(t *testing.T, sub string) string {
	t.Helper()
	dir := os.Getenv("CAMPUSGUARD_TEST_ARTIFACTS")
	if dir == "" {
		return t.TempDir()
	}
	dir = filepath.Join(dir, sub)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// WaitFor polls a JavaScript predicate in the browser of ctx every 50 ms
// until it holds or timeout passes. Evaluation errors (the page navigating
// away, say) count as "not yet". When it times out it returns false, the
// page's text and the last evaluation error, for the caller's failure.
func WaitFor(ctx context.Context, predicate string, timeout time.Duration) (ok bool, pageText string, lastErr error) {
	deadline := time.Now().Add(timeout)
	js := `(() => { try { return !!(` + predicate + `); } catch (e) { return false; } })()`
	for {
		c, cancel := context.WithTimeout(ctx, time.Second)
		ok, err := chromedp.Run(c, chromedp.Evaluate[bool](js))
		cancel()
		if err == nil && ok {
			return true, "", nil
		}
		if time.Now().After(deadline) {
			text, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ''`))
			return false, text, err
		}
		time.Sleep(50 * time.Millisecond)
	}
}
