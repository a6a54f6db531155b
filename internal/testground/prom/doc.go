// Package prom runs Debian's Prometheus (/usr/bin/prometheus, package
// `prometheus`) for a test: on a free loopback port, with a generated
// configuration that scrapes targets on loopback every second, and storage
// in a t.TempDir. It also provides Service, a small instrumented HTTP
// service whose request latency a test can raise with a switch, so verdict
// probes are evaluated against metrics a real Prometheus scraped.
package prom
