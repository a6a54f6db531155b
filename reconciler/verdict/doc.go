// Package verdict decides whether a service held while a fault was on.
//
// Probes ([Evaluator]) measure the steady state: an instant PromQL query
// checked against a threshold range ([PrometheusProbe]) or an HTTP request
// checked for status, latency and body ([HTTPProbe]). A [Runner] evaluates
// one probe in its mode — before the fault (once: the steady state must hold
// or nothing is injected), during it (every interval; failureThreshold
// consecutive breaches fail the probe and, with abortOnBreach, call the abort
// callback at once), after it (every interval until it holds again or the
// deadline passes) — and records bounded evidence. [Set] runs an
// experiment's probes of one mode together, and [Compute] turns the evidence
// into the run's [v1alpha1.Verdict].
//
// Missing data is never a pass: a query that fails, returns nothing, several
// series or NaN is Inconclusive, and so is every verdict built on it.
//
// The lifecycle reconciler calls Set.Before before injecting, Set.During in
// a goroutine while the fault is on (its abort callback recovers every
// target), Set.After once targets are recovered, then Compute.
package verdict
