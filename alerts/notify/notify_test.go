package notify

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/campusguard/campusguard/alerts/decision"
)

func TestStatusOf(t *testing.T) {
	revoked := block(1)
	revoked.Revoked = created.Add(time.Minute)
	expired := block(1)
	expired.Expires = testNow // expiry is exclusive: at Expires it is over
	notice := block(1)
	notice.Action, notice.Expires = decision.ActionNotify, notice.Created
	revokedNotice := notice
	revokedNotice.Revoked = created.Add(time.Minute)
	dry := block(1)
	dry.DryRun = true
	for _, tc := range []struct {
		name   string
		d      decision.Decision
		status Status
		why    string
	}{
		{"active block", block(1), StatusFiring, ""},
		{"revoked", revoked, StatusResolved, "revoked"},
		{"expired", expired, StatusResolved, "expired"},
		{"notice", notice, StatusFiring, ""},
		{"revoked notice", revokedNotice, StatusResolved, "revoked"},
		{"dry run", dry, StatusFiring, ""},
	} {
		if s, _, why := statusOf(&tc.d, testNow); s != tc.status || why != tc.why {
			t.Errorf("%s: %s %q, want %s %q", tc.name, s, why, tc.status, tc.why)
		}
	}
}

func TestNewAndMulti(t *testing.T) {
	hook := newHookServer(t, nil)
	udp := newUDPServer(t)
	reg := prometheus.NewPedanticRegistry()
	m, err := New(Config{
		Webhooks: []WebhookConfig{
			{Name: "soc", URL: hook.URL, Secret: secret},
			{Name: "blocks-only", URL: hook.URL, Secret: secret, Filter: Filter{MinAction: decision.ActionBlock}},
		},
		Syslog: []SyslogConfig{{Name: "siem", Network: "udp", Address: udp.conn.LocalAddr().String()}},
	}, Options{Registerer: reg, Logger: quiet(), Now: fixedNow})
	if err != nil {
		t.Fatal(err)
	}
	warn := block(1)
	warn.Action = decision.ActionWarn
	m.Notify(warn)
	m.Notify(block(2))
	if msg := mustParse(t, udp.next(t)); msg.ext["externalId"] != "1" {
		t.Errorf("syslog got %v", msg.ext)
	}
	if msg := mustParse(t, udp.next(t)); msg.ext["externalId"] != "2" {
		t.Errorf("syslog got %v", msg.ext)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := m.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if n := hook.count(); n != 3 { // soc: both; blocks-only: the block
		t.Errorf("%d webhook requests, want 3", n)
	}

	problems, err := testutil.GatherAndLint(reg)
	if err != nil || len(problems) != 0 {
		t.Errorf("metrics lint: %v %v", err, problems)
	}
	want := `
# HELP campusguard_notify_sent_total Announcements finished, by output and result: ok (delivered), failed (given up: refused, out of attempts or time, or abandoned at shutdown).
# TYPE campusguard_notify_sent_total counter
campusguard_notify_sent_total{output="blocks-only",result="failed"} 0
campusguard_notify_sent_total{output="blocks-only",result="ok"} 1
campusguard_notify_sent_total{output="siem",result="failed"} 0
campusguard_notify_sent_total{output="siem",result="ok"} 2
campusguard_notify_sent_total{output="soc",result="failed"} 0
campusguard_notify_sent_total{output="soc",result="ok"} 2
# HELP campusguard_notify_skipped_total Decisions an output did not announce, by reason: filtered (min_action, categories) or duplicate (already announced with that status).
# TYPE campusguard_notify_skipped_total counter
campusguard_notify_skipped_total{output="blocks-only",reason="duplicate"} 0
campusguard_notify_skipped_total{output="blocks-only",reason="filtered"} 1
campusguard_notify_skipped_total{output="siem",reason="duplicate"} 0
campusguard_notify_skipped_total{output="siem",reason="filtered"} 0
campusguard_notify_skipped_total{output="soc",reason="duplicate"} 0
campusguard_notify_skipped_total{output="soc",reason="filtered"} 0
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "campusguard_notify_sent_total", "campusguard_notify_skipped_total"); err != nil {
		t.Error(err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	series := map[string]int{}
	for _, mf := range mfs {
		series[mf.GetName()] = len(mf.GetMetric())
	}
	for _, name := range []string{"campusguard_notify_retries_total", "campusguard_notify_dropped_total", "campusguard_notify_queue_length"} {
		if series[name] != 3 {
			t.Errorf("%s: %d series, want one per output", name, series[name])
		}
	}
}
