// Package e2e holds the end-to-end test of the whole system (`make e2e`,
// part of `make test`): campusguard serve in a gateway network namespace,
// a client namespace that talks DNS, TLS and HTTP across a veth pair that
// serve captures and firewalls, a forum posting through the API, a
// ClickHouse server as the hit store, and the console in headless Chromium.
// See README.md. The package has no code of its own outside its tests.
package e2e
