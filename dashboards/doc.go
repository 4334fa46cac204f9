// Package dashboards holds no Go code: it is the home of campusguard's
// Grafana dashboards (grafana/*.json), their provisioning files
// (provisioning/) and the Prometheus alert rules (prometheus/), and of the
// tests that keep them working. Those tests run every ClickHouse panel query,
// with its Grafana variables and ClickHouse plugin macros expanded, against
// seeded hits on the ClickHouse 18.16 server and on chDB; run promtool on the
// rules; and type-check each dashboard against Grafana's published
// dashboard types (npm @grafana/schema). cmd/campusguard's tests check that
// every metric a panel or rule names is exported by a running serve.
//
// Nothing here may know campusguard's internals beyond the hit store schema
// (internal/hitlog/migrate.go) and the metric names: the dashboards are
// read by Grafana, not by campusguard.
package dashboards
