// Package promreg registers a component's Prometheus collectors as one:
// all of them or none.
package promreg

import "github.com/prometheus/client_golang/prometheus"

// Register registers every collector with reg. When one cannot be
// registered, the ones before it are unregistered again and its error is
// returned, so a component that fails to start leaves the registry as it
// found it (and can be started again with the same registry).
func Register(reg prometheus.Registerer, cs ...prometheus.Collector) error {
	for i, c := range cs {
		if err := reg.Register(c); err != nil {
			for _, done := range cs[:i] {
				reg.Unregister(done)
			}
			return err
		}
	}
	return nil
}
