// Package policy decides whether an experiment may run. It evaluates Rego
// modules (OPA, Rego v1) that the hub owns, never the repository they judge,
// against an input document describing the experiment, its source, where it
// would run and how much it would hit, and returns a Decision: allowed, the
// denials (each naming its policy, rule and offending field), the approvals
// still required, and warnings.
//
// A Policy is compiled once per generation: its modules are parsed and
// compiled, and one query collecting every deny, approval and warn rule is
// partially evaluated against its parameters; rules that partial evaluation
// leaves behind but that do not depend on the input are computed then too.
// The residual query is then planned into OPA's intermediate representation
// (the plan OPA compiles to Wasm), and a decision runs that plan on
// internal/irvm, a small interpreter over OPA's values that calls OPA's own
// builtins (the commonest, such as object.get, comparisons and the time
// functions, have Go versions for the cases they are sure of, which leave
// everything else, errors included, to OPA's). The plan reads the input
// on demand from the Go types (irvm.Doc, input_lazy.go): a value is
// converted when the plan reaches it, a whole object or array only where
// the plan uses it as a value, so a decision never builds the objects it
// only looks keys up in. Topdown takes the input converted up front
// instead (Input.Value).
// A query irvm cannot run (the planner refuses it, it calls a builtin such
// as http.send or walk, or its decision on an empty input differs from
// topdown's) runs on OPA's evaluator (topdown) instead; both give the same
// decisions, errors included, and topdown stays the reference the tests
// compare irvm with. Evaluate is safe for concurrent use.
//
// # Input
//
// The input document (see Input) looks like this:
//
//	{
//	  "experiment": {
//	    "metadata": {"name": "checkout-latency", "namespace": "shop", "labels": {...}, "annotations": {...}},
//	    "spec": {...},                      // v1alpha1.ExperimentSpec as JSON
//	    "faultKind": "network/delay"
//	  },
//	  "source": {"namespace": "shop", "name": "chaos", "labels": {...},
//	             "url": "https://...", "revision": "main@sha1:...", "author": "A <a@x>", "signer": "KEYID"},
//	  "placement": {"targets": [{"kind": "MemberCluster", "name": "prod-eu", "labels": {"env": "prod"}, "wave": "canary"}]},
//	  "blastRadius": [{"kind": "MemberCluster", "name": "prod-eu", "selected": 3, "matching": 12, "percent": 25}],
//	  "now": {"time": "2026-11-26T12:00:00+01:00", "ns": 1795690800000000000, "timeZone": "Europe/Berlin"},
//	  "approvals": [{"name": "a1", "approver": {"username": "alice", "groups": ["sre"]}, "revision": "3f2c1ab", "current": true}],
//	  "activeExperiments": {"clusters": {"prod-eu": 1}, "agents": {}}
//	}
//
// A policy's parameters (ChaosPolicy spec.data) are data.parameters.
//
// # Decision rules
//
// Modules report through three multi-value rules in any package:
//
//	deny contains {"rule": "...", "field": "spec...", "message": "..."} if { ... }
//	approval contains {"group": "sre", "count": 1, "reason": "..."} if { ... }
//	warn contains {"rule": "...", "field": "...", "message": "..."} if { ... }
//
// A bare string is accepted as a message; rule then defaults to the last
// segment of the package. Approvals are the ones still missing: a rule counts
// the current approvals of the input and asks for the rest.
//
// A built-in library of such rules lives in library/, each file with its
// tests beside it (LibraryRules, LibraryModules, RunTests).
package policy
