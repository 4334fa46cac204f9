package notify

import (
	"context"
	"crypto/tls"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/campusguard/campusguard/alerts/decision"
)

func newSyslog(t *testing.T, cfg SyslogConfig) *Syslog {
	t.Helper()
	if cfg.Name == "" {
		cfg.Name = "siem"
	}
	if cfg.Hostname == "" {
		cfg.Hostname = "sensor-1"
	}
	if cfg.ReconnectBackoff == 0 {
		cfg.ReconnectBackoff, cfg.MaxReconnectBackoff = 20*time.Millisecond, 100*time.Millisecond
	}
	s, err := NewSyslog(cfg, Options{Logger: quiet(), Now: fixedNow, Version: "1.2.3"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = s.Close(ctx)
	})
	return s
}

func mustParse(t *testing.T, raw string) syslogMsg {
	t.Helper()
	m, err := parseSyslog(raw)
	if err != nil {
		t.Fatalf("%v\nmessage: %q", err, raw)
	}
	return m
}

func ms(t time.Time) string { return strconv.FormatInt(t.UnixMilli(), 10) }

func TestSyslogUDP(t *testing.T) {
	srv := newUDPServer(t)
	s := newSyslog(t, SyslogConfig{Network: "udp", Address: srv.addr(), Facility: "local4"})
	s.Notify(block(42))
	raw := srv.next(t)

	pid := strconv.Itoa(os.Getpid())
	wantStart := "<163>1 2026-11-26T12:05:00.000000Z sensor-1 campusguard " + pid + " decision-block - " +
		"CEF:0|campusguard|campusguard|1.2.3|decision-block|block ip (phishing)|8|rt=" + ms(created) + " act=block src=10.1.2.3 "
	if !strings.HasPrefix(raw, wantStart) {
		t.Errorf("message\n%s\nwant it to start with\n%s", raw, wantStart)
	}
	m := mustParse(t, raw)
	if m.pri != 20*8+3 || !m.ts.Equal(testNow) || m.host != "sensor-1" || m.app != "campusguard" || m.procid != pid || m.msgid != "decision-block" || m.sd != "-" {
		t.Errorf("header %+v", m)
	}
	wantHeader := []string{"CEF:0", "campusguard", "campusguard", "1.2.3", "decision-block", "block ip (phishing)", "8"}
	if strings.Join(m.header, "|") != strings.Join(wantHeader, "|") {
		t.Errorf("CEF header %q, want %q", m.header, wantHeader)
	}
	want := map[string]string{
		"rt": ms(created), "act": "block", "src": "10.1.2.3", "externalId": "42", "cat": "phishing",
		"cs1Label": "policy", "cs1": "phishing-clients",
		"cs2Label": "category", "cs2": "phishing",
		"cs3Label": "status", "cs3": "firing",
		"cs4Label": "subject", "cs4": "ip:10.1.2.3",
		"cs5Label": "origin", "cs5": "policy",
		"cn1Label": "strike", "cn1": "2",
		"cnt":              "3",
		"flexString1Label": "dryRun",
		"flexString1":      "false",
		"start":            ms(created),
		"end":              ms(created.Add(time.Hour)),
		"suser":            "system",
		"msg":              "block ip 10.1.2.3 for 1h0m0s (phishing, strike 2)",
		"reason":           "12 lookups of phishing domains in 10m",
	}
	diffExt(t, m.ext, want)
	within(t, 5*time.Second, "the message counted as sent", func() bool { return testutil.ToFloat64(s.m.ok) == 1 })
}

func diffExt(t *testing.T, got, want map[string]string) {
	t.Helper()
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			t.Errorf("%s = %q (present %v), want %q", k, g, ok, v)
		}
	}
	for k, v := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("unexpected %s=%q", k, v)
		}
	}
}

func TestSyslogTCPOctetCounting(t *testing.T) {
	srv := newStreamServer(t, "127.0.0.1:0", nil)
	s := newSyslog(t, SyslogConfig{Network: "tcp", Address: srv.addr()})
	multi := block(3)
	multi.Reason = "line one\nline two\r\nline three" // one frame, whatever it holds
	for _, d := range []decision.Decision{block(1), block(2), multi} {
		s.Notify(d)
	}
	for i := 1; i <= 3; i++ {
		m := mustParse(t, srv.next(t))
		if m.ext["externalId"] != strconv.Itoa(i) {
			t.Errorf("frame %d: externalId %s", i, m.ext["externalId"])
		}
		if m.pri != 16*8+3 {
			t.Errorf("frame %d: PRI %d, want local0.err (131)", i, m.pri)
		}
		if i == 3 && m.ext["reason"] != multi.Reason {
			t.Errorf("reason %q, want %q", m.ext["reason"], multi.Reason)
		}
	}
}

func TestCEFNastyValues(t *testing.T) {
	srv := newStreamServer(t, "127.0.0.1:0", nil)
	s, err := NewSyslog(SyslogConfig{Name: "siem", Network: "tcp", Address: srv.addr(), Hostname: "h"},
		Options{Logger: quiet(), Now: fixedNow, Version: `1.0|beta\`})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(context.Background())

	d := block(9)
	d.Scope, d.Value = decision.ScopeDomain, "xn--fiqs8s.xn--55qx5d"
	d.Category = `诈骗|fraud\`
	d.Policy = `p=1 | x\y`
	d.Reason = "刷单|校园贷 = 诈骗\n第二行\r\\end=\\ cs1=forged act=allow\x00\u2028\xff"
	d.Revoked, d.RevokedBy, d.RevokeReason = created.Add(time.Minute), "李雷 = admin", `a=b c=d\`
	s.Notify(d)

	raw := srv.next(t)
	if strings.ContainsAny(raw, "\n\r\x00") || !utf8.ValidString(raw) {
		t.Errorf("raw message has a newline, NUL or bad UTF-8: %q", raw)
	}
	m := mustParse(t, raw)
	if m.header[3] != `1.0|beta\` {
		t.Errorf("version %q", m.header[3])
	}
	if want := `block revoked: domain (诈骗|fraud\)`; m.header[5] != want {
		t.Errorf("name %q, want %q", m.header[5], want)
	}
	if m.header[4] != "decision-block-revoked" || m.header[6] != "1" || m.msgid != "decision-block-revoked" || m.pri != 16*8+6 {
		t.Errorf("signature %q severity %q msgid %q pri %d", m.header[4], m.header[6], m.msgid, m.pri)
	}
	wantReason := "刷单|校园贷 = 诈骗\n第二行\r\\end=\\ cs1=forged act=allow  \uFFFD"
	for k, want := range map[string]string{
		"reason": wantReason,
		"cs1":    `p=1 | x\y`,
		"cs2":    `诈骗|fraud\`,
		"cat":    `诈骗|fraud\`,
		"cs3":    "revoked",
		"cs6":    `a=b c=d\`,
		"suser":  "李雷 = admin",
		"dhost":  "xn--fiqs8s.xn--55qx5d",
		"act":    "block",
		"rt":     ms(d.Revoked),
	} {
		if m.ext[k] != want {
			t.Errorf("%s = %q, want %q", k, m.ext[k], want)
		}
	}
	if _, ok := m.ext["src"]; ok {
		t.Error("a domain decision has src")
	}
}

func TestSyslogUDPTruncation(t *testing.T) {
	srv := newUDPServer(t)
	s := newSyslog(t, SyslogConfig{Network: "udp", Address: srv.addr(), MaxMessageBytes: 600})
	d := block(5)
	d.Reason = strings.Repeat("刷单诈骗\\=|", 100)
	s.Notify(d)
	raw := srv.next(t)
	if len(raw) > 600 || len(raw) < 597 {
		t.Errorf("datagram of %d bytes; want 597 to 600 (cut at a character or escape)", len(raw))
	}
	if !utf8.ValidString(raw) {
		t.Errorf("truncated message is not valid UTF-8: %q", raw)
	}
	m := mustParse(t, raw)
	r, ok := m.ext["reason"]
	if !ok || r == "" || !strings.HasPrefix(d.Reason, r) {
		t.Errorf("reason %q: want a non-empty prefix of the original", r)
	}
	if m.ext["externalId"] != "5" || m.ext["act"] != "block" {
		t.Errorf("the structured fields before the reason are lost: %v", m.ext)
	}
}

// TestFormatCutsCleanly cuts one message at every size from too small for
// the CEF header to big enough for all of it.
func TestFormatCutsCleanly(t *testing.T) {
	d := block(5)
	d.Reason = "é刷\\=\n|" + strings.Repeat("単\\", 40)
	it := newItem(d, testNow)
	s := &Syslog{cfg: SyslogConfig{AppName: "campusguard", MaxMessageBytes: 1 << 20}, opts: Options{Version: `v|\`}, facility: 16, hostname: "h", procid: "1"}
	full := string(s.format(&it))
	// Where the extension starts: after the CEF header's seventh unescaped pipe.
	extStart := strings.Index(full, "|8|rt=") + len("|8|")
	if extStart < len("|8|") {
		t.Fatalf("no severity 8 in %q", full)
	}
	for max := 60; max <= len(full)+1; max++ {
		s.cfg.MaxMessageBytes = max
		got := string(s.format(&it))
		if len(got) > max || !utf8.ValidString(got) || !strings.HasPrefix(full, got) {
			t.Fatalf("max %d: %d bytes, valid UTF-8 %v, a prefix of the whole %v: %q", max, len(got), utf8.ValidString(got), strings.HasPrefix(full, got), got)
		}
		if max >= len(full) && got != full {
			t.Fatalf("max %d: cut a message of %d bytes", max, len(full))
		}
		if len(got) >= extStart {
			if _, err := parseSyslog(got); err != nil {
				t.Fatalf("max %d: %v", max, err)
			}
		}
	}
}

func TestSyslogTCPReconnect(t *testing.T) {
	srv := newStreamServer(t, "127.0.0.1:0", nil)
	addr := srv.addr()
	s := newSyslog(t, SyslogConfig{Network: "tcp", Address: addr})
	s.Notify(block(1))
	if m := mustParse(t, srv.next(t)); m.ext["externalId"] != "1" {
		t.Fatalf("first message %v", m.ext)
	}

	// The collector restarts: the next message goes to the new one, not
	// into the closed connection.
	srv.close()
	srv = newStreamServer(t, addr, nil)
	s.Notify(block(2))
	if m := mustParse(t, srv.next(t)); m.ext["externalId"] != "2" {
		t.Fatalf("after a restart: %v", m.ext)
	}

	// The collector is down for a while: the message waits and goes out
	// once it is back.
	srv.close()
	s.Notify(block(3))
	within(t, 5*time.Second, "retries while the collector is down", func() bool { return testutil.ToFloat64(s.m.retries) >= 2 })
	srv = newStreamServer(t, addr, nil)
	if m := mustParse(t, srv.next(t)); m.ext["externalId"] != "3" {
		t.Fatalf("after an outage: %v", m.ext)
	}
	// The collector may read the frame before Write returns to the sender.
	within(t, 5*time.Second, "3 messages counted as sent", func() bool { return testutil.ToFloat64(s.m.ok) == 3 })
	if failed := testutil.ToFloat64(s.m.failed); failed != 0 {
		t.Errorf("failed %v, want 0", failed)
	}
}

func TestSyslogTLS(t *testing.T) {
	cert, caFile := selfSigned(t)
	srv := newStreamServer(t, "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})

	s := newSyslog(t, SyslogConfig{Network: "tls", Address: srv.addr(), CACertFile: caFile})
	s.Notify(block(1))
	if m := mustParse(t, srv.next(t)); m.ext["externalId"] != "1" {
		t.Fatalf("over TLS: %v", m.ext)
	}

	// Without the CA, the collector is not trusted and nothing is sent.
	untrusting := newSyslog(t, SyslogConfig{Name: "siem2", Network: "tls", Address: srv.addr()})
	untrusting.Notify(block(2))
	within(t, 5*time.Second, "failed handshakes counted as retries", func() bool { return testutil.ToFloat64(untrusting.m.retries) >= 1 })
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := untrusting.Close(ctx); err == nil || !strings.Contains(err.Error(), "1 announcements abandoned") {
		t.Errorf("Close = %v, want 1 abandoned", err)
	}
	select {
	case m := <-srv.msgs:
		t.Errorf("an untrusted collector got %q", m)
	default:
	}
}

func TestSyslogQueueFullAndClose(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens: every dial is refused
	s := newSyslog(t, SyslogConfig{Network: "tcp", Address: addr, QueueSize: 2})
	s.Notify(block(1))
	within(t, 5*time.Second, "the first message taken and retried", func() bool { return testutil.ToFloat64(s.m.retries) >= 1 })
	for id := int64(2); id <= 10; id++ {
		s.Notify(block(id))
	}
	if d, q := testutil.ToFloat64(s.m.dropped), testutil.ToFloat64(s.m.queue); d != 7 || q != 2 {
		t.Errorf("dropped %v queued %v, want 7 and 2", d, q)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	if err := s.Close(ctx); err == nil || !strings.Contains(err.Error(), "3 announcements abandoned") {
		t.Errorf("Close = %v, want 3 abandoned", err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("Close took %s with a 100ms context", took)
	}
	if f, q := testutil.ToFloat64(s.m.failed), testutil.ToFloat64(s.m.queue); f != 3 || q != 0 {
		t.Errorf("failed %v queued %v, want 3 and 0", f, q)
	}
}

func TestSeverityMapping(t *testing.T) {
	for _, tc := range []struct {
		severity        int
		resolved        bool
		cef, syslog     int
		webhookSeverity string
	}{
		{1, false, 3, 5, "low"},
		{2, false, 5, 4, "medium"},
		{3, false, 8, 3, "high"},
		{4, false, 10, 2, "critical"},
		{4, true, 1, 6, "critical"},
		{1, true, 1, 6, "low"},
	} {
		d := block(1)
		d.Severity = tc.severity
		if tc.resolved {
			d.Revoked = created.Add(time.Minute)
		}
		it := newItem(d, testNow)
		if c, s, w := cefSeverity(&it), syslogSeverity(&it), Labels(&d)["severity"]; c != tc.cef || s != tc.syslog || w != tc.webhookSeverity {
			t.Errorf("severity %d resolved %v: CEF %d syslog %d label %s, want %d %d %s", tc.severity, tc.resolved, c, s, w, tc.cef, tc.syslog, tc.webhookSeverity)
		}
	}
}

func TestCEFFieldsByScope(t *testing.T) {
	s := &Syslog{cfg: SyslogConfig{AppName: "campusguard", MaxMessageBytes: 8192}, opts: Options{Version: "1"}, facility: 16, hostname: "h", procid: "1"}
	ext := func(d decision.Decision) map[string]string {
		t.Helper()
		it := newItem(d, testNow)
		return mustParse(t, string(s.format(&it))).ext
	}
	v6 := block(1)
	v6.Value = "2001:db8::5"
	if e := ext(v6); e["c6a2"] != "2001:db8::5" || e["c6a2Label"] != "Source IPv6 Address" || e["src"] != "" {
		t.Errorf("IPv6: %v", e)
	}
	rng := block(1)
	rng.Scope, rng.Value = decision.ScopeRange, "10.1.0.0/16"
	if e := ext(rng); e["cs4"] != "range:10.1.0.0/16" || e["src"] != "" || e["c6a2"] != "" || e["dhost"] != "" {
		t.Errorf("range: %v", e)
	}
	dry := block(1)
	dry.DryRun = true
	if e := ext(dry); e["flexString1"] != "true" {
		t.Errorf("dry run: %v", e)
	}
	notice := block(1)
	notice.Action, notice.Expires, notice.Category, notice.Policy = decision.ActionNotify, notice.Created, "", ""
	e := ext(notice)
	for _, k := range []string{"end", "cat", "cs2", "cs2Label", "cs1", "cs1Label"} {
		if v, ok := e[k]; ok {
			t.Errorf("notice without category or policy has %s=%q", k, v)
		}
	}
	expired := block(1)
	expired.Expires = created.Add(time.Minute)
	if e := ext(expired); e["cs3"] != "expired" || e["rt"] != ms(expired.Expires) || e["suser"] != "system" {
		t.Errorf("expired: %v", e)
	}
}
