package notify

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/campusguard/campusguard/alerts/decision"
)

// AlertName is the alertname label of every decision alert.
const AlertName = "CampusguardDecision"

// Payload is the webhook body: Alertmanager's webhook format, version 4,
// with one alert, the decision. Receivers written for Alertmanager read it
// as they are.
type Payload struct {
	Version           string  `json:"version"`  // "4"
	GroupKey          string  `json:"groupKey"` // {}:{policy="…", scope="…", value="…"}
	TruncatedAlerts   int     `json:"truncatedAlerts"`
	Status            Status  `json:"status"`   // firing or resolved
	Receiver          string  `json:"receiver"` // the webhook's name
	GroupLabels       KV      `json:"groupLabels"`
	CommonLabels      KV      `json:"commonLabels"`
	CommonAnnotations KV      `json:"commonAnnotations"`
	ExternalURL       string  `json:"externalURL"`
	Alerts            []Alert `json:"alerts"`
}

// Alert is one decision in Alertmanager's shape.
type Alert struct {
	Status       Status    `json:"status"`
	Labels       KV        `json:"labels"`
	Annotations  KV        `json:"annotations"`
	StartsAt     time.Time `json:"startsAt"` // the decision's creation
	EndsAt       time.Time `json:"endsAt"`   // zero while firing (as Alertmanager sends it); revocation or expiry when resolved
	GeneratorURL string    `json:"generatorURL"`
	Fingerprint  string    `json:"fingerprint"`
}

// KV is a label or annotation set.
type KV map[string]string

// String formats kv as Prometheus does: {a="1", b="2"}, names sorted,
// values Go-quoted.
func (kv KV) String() string {
	names := make([]string, 0, len(kv))
	for k := range kv {
		names = append(names, k)
	}
	slices.Sort(names)
	var b strings.Builder
	b.WriteByte('{')
	for i, k := range names {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(strconv.Quote(kv[k]))
	}
	b.WriteByte('}')
	return b.String()
}

// Fingerprint is Alertmanager's alert fingerprint of a label set: 64-bit
// FNV-1a over the label names in order, each name and value followed by a
// 0xff byte, printed as 16 hex digits. It is what prometheus/common's
// model.LabelSet.Fingerprint computes, so the same decision gets the same
// fingerprint here and in an Alertmanager, on every call and every run.
func Fingerprint(labels KV) string {
	const (
		offset64 = 14695981039346656037
		prime64  = 1099511628211
		sep      = 0xff
	)
	h := uint64(offset64)
	add := func(s string) {
		for i := 0; i < len(s); i++ {
			h ^= uint64(s[i])
			h *= prime64
		}
		h ^= sep
		h *= prime64
	}
	names := make([]string, 0, len(labels))
	for k := range labels {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, k := range names {
		add(k)
		add(labels[k])
	}
	return fmt.Sprintf("%016x", h)
}

// Labels are the alert labels of d. As in Prometheus, an empty value is no
// label: a manual decision has no policy label, a decision without a
// category no category label.
func Labels(d *decision.Decision) KV {
	kv := KV{
		"alertname": AlertName,
		"action":    string(d.Action),
		"scope":     string(d.Scope),
		"value":     d.Value,
		"category":  d.Category,
		"severity":  severityName(d.Severity),
		"policy":    d.Policy,
		"origin":    string(d.Origin),
		"dry_run":   strconv.FormatBool(d.DryRun),
	}
	for k, v := range kv {
		if v == "" {
			delete(kv, k)
		}
	}
	return kv
}

// groupLabels are what Alertmanager would group decisions by: the policy
// and the subject.
func groupLabels(labels KV) KV {
	g := KV{}
	for _, k := range []string{"policy", "scope", "value"} {
		if v, ok := labels[k]; ok {
			g[k] = v
		}
	}
	return g
}

// summary is a one-line description of the announcement.
func summary(it *item) string {
	d := &it.d
	var b strings.Builder
	if d.DryRun {
		b.WriteString("[dry run] ")
	}
	fmt.Fprintf(&b, "%s %s %s", d.Action, d.Scope, d.Value)
	switch it.why {
	case "revoked":
		b.WriteString(" revoked")
		if d.RevokedBy != "" {
			b.WriteString(" by " + d.RevokedBy)
		}
	case "expired":
		b.WriteString(" expired")
	default:
		if d.Action != decision.ActionNotify && d.Expires.After(d.Created) {
			fmt.Fprintf(&b, " for %s", d.Expires.Sub(d.Created))
		}
	}
	var why []string
	if d.Category != "" {
		why = append(why, d.Category)
	}
	if d.Strike > 1 {
		why = append(why, "strike "+strconv.Itoa(d.Strike))
	}
	if len(why) > 0 {
		b.WriteString(" (" + strings.Join(why, ", ") + ")")
	}
	return b.String()
}

// annotations are the alert annotations of it.
func annotations(it *item) KV {
	d := &it.d
	kv := KV{
		"summary":     summary(it),
		"description": d.Reason,
		"decision_id": strconv.FormatInt(d.ID, 10),
		"strike":      strconv.Itoa(d.Strike),
		"hits":        strconv.Itoa(it.hits),
		"actor":       d.Actor,
	}
	if d.Action != decision.ActionNotify && !d.Expires.IsZero() {
		kv["expires"] = d.Expires.UTC().Format(time.RFC3339)
	}
	if !d.Revoked.IsZero() {
		kv["revoked_by"] = d.RevokedBy
		kv["revoke_reason"] = d.RevokeReason
	}
	for k, v := range kv {
		if v == "" {
			delete(kv, k)
		}
	}
	return kv
}

// newPayload builds the webhook body for it, sent to receiver.
func newPayload(it *item, receiver, externalURL string) Payload {
	d := &it.d
	labels := Labels(d)
	ann := annotations(it)
	group := groupLabels(labels)
	a := Alert{
		Status:      it.status,
		Labels:      labels,
		Annotations: ann,
		StartsAt:    d.Created.UTC(),
		Fingerprint: Fingerprint(labels),
	}
	if it.status == StatusResolved {
		a.EndsAt = it.ended.UTC()
	}
	base := strings.TrimRight(externalURL, "/")
	if base != "" && d.ID != 0 {
		a.GeneratorURL = base + "/decisions/" + strconv.FormatInt(d.ID, 10)
	}
	return Payload{
		Version:           "4",
		GroupKey:          "{}:" + group.String(),
		Status:            it.status,
		Receiver:          receiver,
		GroupLabels:       group,
		CommonLabels:      labels,
		CommonAnnotations: ann,
		ExternalURL:       base,
		Alerts:            []Alert{a},
	}
}
