package nft

import (
	"context"
	"time"

	"github.com/campusguard/campusguard/alerts/decision"
)

// Enforcer is the firewall as the alert engine drives it (alerts.Enforcer):
// the engine wants only errors, so what each update changed goes to the
// firewall's log — at debug level, but a reconcile that had to add or
// delete (drift, or decisions that ended between reconciles) at info.
type Enforcer struct{ F *Firewall }

func (e Enforcer) Apply(ctx context.Context, ds []decision.Decision, now time.Time) error {
	c, err := e.F.Apply(ctx, ds, now)
	e.F.log.Debug("nftables apply", "changes", c)
	return err
}

func (e Enforcer) Remove(ctx context.Context, ds []decision.Decision) error {
	c, err := e.F.Remove(ctx, ds)
	e.F.log.Debug("nftables remove", "changes", c)
	return err
}

func (e Enforcer) Reconcile(ctx context.Context, active []decision.Decision, now time.Time) error {
	c, err := e.F.Reconcile(ctx, active, now)
	if c.Added+c.Deleted > 0 {
		e.F.log.Info("nftables reconciled", "added", c.Added, "deleted", c.Deleted, "refreshed", c.Refreshed)
	}
	return err
}
