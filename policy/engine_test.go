package policy_test

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1alpha1 "github.com/faultline-dev/faultline/crds/v1alpha1"
	"github.com/faultline-dev/faultline/policy"
)

// Decisions run on the policy's plan (irvm); OPA's evaluator (topdown) is
// the reference. These tests compare the two on every library rule, the
// whole library and hand-written modules, so that running plans can never
// change a decision.

// richParams switch on what params leaves off: per-label limits, totals,
// overnight and scoped windows, scoped freezes, approval thresholds, allow
// lists, and an unrequired namespace.
const richParams = `{
  "maxDuration": {"max": "45m", "byLabel": [{"selector": {"env": "prod"}, "max": "5m"}]},
  "maxBlastRadius": {"maxPercent": 30, "maxTargets": 2, "maxTotalTargets": 3},
  "changeWindow": {"windows": [{"days": ["Sat","Sun"], "start": "22:00", "end": "06:00"}, {"days": ["Thu"], "start": "10:00", "end": "11:00"}], "selector": {"env": "prod"}},
  "freezePeriod": {"periods": [{"start": "2026-11-26T11:00:00Z", "end": "2026-11-26T13:00:00Z", "selector": {"env": "staging"}}]},
  "approvalRequired": {"selector": {}, "aboveBlastRadiusPercent": 20, "aboveTargets": 1, "group": "ops", "count": 2},
  "faultKinds": {"rules": [{"selector": {"env": "staging"}, "allow": ["network/*", "pod/kill"]}, {"selector": {}, "deny": ["host/*"]}]},
  "prodProbe": {"selector": {"tier": "critical"}},
  "protectedNamespaces": {"additional": ["team-shop"], "requireNamespace": false},
  "maxConcurrent": {"perCluster": 1, "perAgent": 0}
}`

// edgeInputs are inputs at the edges of what the library reads.
func edgeInputs() []*policy.Input {
	var out []*policy.Input
	add := func(mutate func(*policy.Input)) {
		in := baseline()
		mutate(in)
		out = append(out, in)
	}
	out = append(out, &policy.Input{}) // nothing at all
	add(func(*policy.Input) {})
	add(func(in *policy.Input) { in.Placement.Targets = nil; in.BlastRadius = nil })
	add(func(in *policy.Input) {
		in.Placement.Targets = []policy.TargetInput{{Kind: policy.KindMemberCluster, Name: "bare"}}
	})
	add(func(in *policy.Input) { in.Experiment.Spec.Duration = nil; in.Experiment.Spec.Value = "" })
	add(func(in *policy.Input) { in.Experiment.Spec.Selector = v1alpha1.PodSelector{} })
	add(func(in *policy.Input) {
		in.Experiment.Spec.Selector = v1alpha1.PodSelector{Pods: map[string][]string{"kube-system": {"coredns-0"}, "shop": {"a"}}}
	})
	add(func(in *policy.Input) {
		// Host-only: agents placed, no clusters, no namespaces.
		in.Experiment.Spec.Selector = v1alpha1.PodSelector{}
		in.Experiment.Spec.Placement = &v1alpha1.Placement{Agents: &metav1.LabelSelector{MatchLabels: map[string]string{"env": "prod"}}}
		in.Experiment.Spec.Fault = v1alpha1.FaultSpec{Host: &v1alpha1.HostFault{Action: v1alpha1.HostReboot}}
		in.Experiment.FaultKind = in.Experiment.Spec.Fault.Kind()
		in.Placement.Targets = []policy.TargetInput{{Kind: policy.KindHostAgent, Name: "db-1", Labels: map[string]string{"env": "prod"}}}
		in.BlastRadius = []policy.BlastRadius{{Kind: policy.KindHostAgent, Name: "db-1", Selected: 1, Matching: 1, Percent: 100}}
		in.ActiveExperiments.Agents = map[string]int{"db-1": 1}
	})
	add(func(in *policy.Input) {
		in.Experiment.Spec.Fault = v1alpha1.FaultSpec{Plugin: &v1alpha1.PluginFault{Name: "latency", URL: "http://x"}}
		in.Experiment.FaultKind = in.Experiment.Spec.Fault.Kind()
	})
	for _, zone := range []string{"Europe/Berlin", "America/New_York", "Asia/Kolkata", "Pacific/Chatham"} {
		loc, err := time.LoadLocation(zone)
		if err != nil {
			continue
		}
		for _, h := range []int{0, 5, 9, 10, 16, 17, 23} {
			add(func(in *policy.Input) { in.Now = policy.NewNow(time.Date(2026, 11, 28, h, 30, 0, 0, loc)) })
			add(func(in *policy.Input) { toProd(in); in.Now = policy.NewNow(time.Date(2026, 11, 26, h, 0, 0, 0, loc)) })
		}
	}
	add(func(in *policy.Input) { in.Now = policy.NewNow(time.Date(2026, 12, 20, 0, 0, 0, 0, time.UTC)) })
	add(func(in *policy.Input) { in.Now = policy.NewNow(time.Date(2027, 1, 4, 0, 0, 0, 0, time.UTC)) })
	add(func(in *policy.Input) {
		toProd(in)
		in.Approvals = []policy.ApprovalInput{
			{Name: "old", Approver: v1alpha1.UserIdentity{Username: "alice", Groups: []string{"sre"}}, Revision: "fedcba9"},
			{Name: "older", Approver: v1alpha1.UserIdentity{Username: "bob", Groups: []string{"ops", "sre"}}, Revision: "aaaaaaa"},
		}
	})
	add(func(in *policy.Input) {
		toProd(in)
		in.Approvals = []policy.ApprovalInput{
			{Name: "a", Approver: v1alpha1.UserIdentity{Username: "alice", Groups: []string{"ops"}}, Current: true},
			{Name: "b", Approver: v1alpha1.UserIdentity{Username: "alice", Groups: []string{"ops"}}, Current: true},
			{Name: "c", Approver: v1alpha1.UserIdentity{Username: "carol"}, Current: true},
		}
	})
	add(func(in *policy.Input) {
		toProd(in)
		in.Placement.Targets[0].Labels["tier"] = "critical"
		in.Experiment.Spec.Probes = []v1alpha1.Probe{{Name: "after", Mode: v1alpha1.ProbeAfter}}
		in.Experiment.Spec.AbortOnBreach = false
	})
	add(func(in *policy.Input) {
		in.Placement.Targets = append(in.Placement.Targets,
			policy.TargetInput{Kind: policy.KindMemberCluster, Name: "prod-us", Labels: map[string]string{"env": "prod", "tier": "critical"}},
			policy.TargetInput{Kind: policy.KindHostAgent, Name: "db-2", Labels: map[string]string{"env": "staging"}})
		in.BlastRadius = append(in.BlastRadius,
			policy.BlastRadius{Kind: policy.KindMemberCluster, Name: "prod-us", Selected: 4, Matching: 5, Percent: 80},
			policy.BlastRadius{Kind: policy.KindHostAgent, Name: "db-2", Selected: 1, Matching: 1, Percent: 100})
		in.ActiveExperiments.Clusters = map[string]int{"staging-eu": 1, "prod-us": 3}
		in.ActiveExperiments.Agents = map[string]int{"db-2": 2}
	})
	add(func(in *policy.Input) {
		in.Experiment.Spec.Selector.Namespaces = []string{"team-shop", "kube-public", "faultline-system"}
		in.Experiment.Metadata.Namespace = "kube-system"
	})
	add(func(in *policy.Input) {
		in.Experiment.Spec.Selector.Namespaces = nil
		in.Experiment.Metadata.Namespace = "team-shop"
	})
	return out
}

// requireSameDecision evaluates in on both engines and fails on any
// difference, errors included. It returns whether the decision said
// anything, so that callers can make sure their inputs do.
func requireSameDecision(t *testing.T, p *policy.Policy, in *policy.Input, what string) bool {
	t.Helper()
	ctx := context.Background()
	got, gotErr := p.Evaluate(ctx, in)
	want, wantErr := policy.OnTopdown(p).Evaluate(ctx, in)
	if fmt.Sprint(gotErr) != fmt.Sprint(wantErr) {
		t.Fatalf("%s: irvm error %v, topdown error %v", what, gotErr, wantErr)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%s: irvm decided\n%+v\ntopdown decided\n%+v", what, got, want)
	}
	return len(got.Denials)+len(got.ApprovalsRequired)+len(got.Warnings) > 0
}

func requireEngine(t *testing.T, p *policy.Policy, want string) {
	t.Helper()
	if got, why := policy.Engine(p); got != want {
		t.Fatalf("policy %s runs on %s (%v), want %s", p.Name(), got, why, want)
	}
}

func TestEnginesAgreeOnLibrary(t *testing.T) {
	edges, distinct := edgeInputs(), distinctInputs(1000)
	// fired collects the library rules that denied or asked for approval
	// somewhere, so that no rule's comparison is vacuous.
	fired := map[string]bool{}
	for _, ps := range []struct{ name, params string }{{"params", params}, {"defaults", `{}`}, {"rich", richParams}} {
		for _, rule := range append([]string{policy.LibraryAll}, policy.LibraryRules()...) {
			t.Run(ps.name+"/"+rule, func(t *testing.T) {
				for _, e := range []v1alpha1.Enforcement{v1alpha1.EnforcementEnforce, v1alpha1.EnforcementWarn} {
					p, err := policy.Compile(t.Context(), policy.Spec{Name: "lib", Library: []string{rule}, Parameters: []byte(ps.params), Enforcement: e})
					if err != nil {
						t.Fatal(err)
					}
					requireEngine(t, p, "irvm")
					ins := edges
					step := 1
					if rule != policy.LibraryAll || e != v1alpha1.EnforcementEnforce {
						step = 7 // every input for the library, a sample for the rest
					}
					for i := 0; i < len(distinct); i += step {
						ins = append(ins[:len(ins):len(ins)], distinct[i])
					}
					for i, in := range ins {
						requireSameDecision(t, p, in, fmt.Sprintf("%s input %d", e, i))
						if d, _ := p.Evaluate(t.Context(), in); rule != policy.LibraryAll {
							for _, x := range d.Denials {
								fired[x.Rule] = true
							}
							for _, x := range d.ApprovalsRequired {
								fired[x.Rule] = true
							}
						}
					}
				}
			})
		}
	}
	for _, rule := range policy.LibraryRules() {
		if !fired[rule] {
			t.Errorf("no input made %s deny or ask for approval", rule)
		}
	}
}

// customModules exercise what the library does not: every statement the
// planner emits for Rego v1's constructs, and builtins beyond the
// library's.
var customModules = map[string]string{
	// Parts of the input used as whole values (irvm converts them then),
	// beside parts read through their keys.
	"documents.rego": `package team.documents

deny contains sprintf("selector %v on %d targets", [input.experiment.spec.selector, count(input.placement.targets)]) if {
	is_object(input.experiment.spec)
	not is_array(input.experiment.spec)
	is_array(input.placement.targets)
}

deny contains sprintf("target %d is %s", [i, json.marshal(t)]) if {
	some i, t in input.placement.targets
}

deny contains sprintf("metadata keys %v", [object.keys(input.experiment.metadata)]) if {
	input.now == input.now
	input.experiment.metadata != {}
}

deny contains {"rule": "count", "message": sprintf("%d keys in now, %d in spec", [count(input.now), count(object.get(input, ["experiment", "spec"], {}))])} if true

deny contains sprintf("label %s", [k]) if {
	some k, v in input.experiment.metadata.labels
	v == "high"
}

deny contains sprintf("the first of %d blast radii is %v", [count(radii), radii[0]]) if {
	radii := object.get(input, "blastRadius", [])
	count(radii) > 0
}

renamed := input.experiment.metadata.name

deny contains sprintf("renamed %s, %v", [n, m]) if {
	n := renamed with input.experiment.metadata.name as "other"
	m := renamed with input as {"experiment": {"metadata": {"name": "mine"}}}
}

deny contains "labels are exactly risk=medium" if input.experiment.metadata.labels == {"risk": "medium"}

deny contains sprintf("first target %v", [t]) if {
	t := {"kind": input.placement.targets[0].kind, "name": input.placement.targets[0].name, "labels": input.placement.targets[0].labels}
	t == input.placement.targets[0]
}

deny contains sprintf("same targets %v", [x]) if {
	x := {t | some t in input.placement.targets}
	x == {t | some t in object.get(input, ["placement", "targets"], [])}
}
`,
	"iteration.rego": `package team.iteration

labels := object.get(input.experiment.metadata, "labels", {})

deny contains sprintf("label %s=%s", [k, v]) if {
	some k, v in labels
	startswith(k, "block")
}

deny contains sprintf("every namespace is long: %v", [ns]) if {
	ns := object.get(input.experiment.spec.selector, "namespaces", [])
	count(ns) > 0
	every n in ns { count(n) > 3 }
}

deny contains msg if {
	some i, t in input.placement.targets
	some k in object.keys(object.get(t, "labels", {}))
	k == "forbidden"
	msg := sprintf("target %d (%s) has label %s", [i, t.name, k])
}

names := {t.name | some t in input.placement.targets}
kinds := [t.kind | some t in input.placement.targets]
by_name := {t.name: count(object.get(t, "labels", {})) | some t in input.placement.targets}

warn contains sprintf("%d names, %d kinds, %v, %v", [count(names), count(kinds), by_name, sort(names)]) if count(names) > 1

warn contains sprintf("set member %s", [x]) if {
	some x in names
	x in {"prod-eu", "db-1"}
}
`,
	"functions.rego": `package team.functions

default level := "low"

level := "high" if input.experiment.metadata.labels.risk == "high"
else := "medium" if input.experiment.metadata.labels.risk == "medium"

size(x) := "none" if count(x) == 0
size(x) := "one" if count(x) == 1
size(x) := "many" if count(x) > 1

clamp(n, lo, _) := lo if n < lo
else := 10 if n > 10
else := n

deny contains sprintf("risk %s", [level]) if level != "low"

deny contains sprintf("%s targets, clamped %v", [size(input.placement.targets), clamp(count(input.placement.targets) * 7, 1, 10)]) if {
	count(input.placement.targets) != 1
}

approval contains {"group": "risk", "count": 1, "reason": concat(",", [upper(level), trim_space("  x "), replace("a-b", "-", "+")])} if level == "high"
`,
	"with.rego": `package team.with

is_prod if input.placement.targets[_].labels.env == "prod"

short if input.experiment.spec.duration in {"1m", "2m"}

deny contains "prod in staging's clothes" if {
	not is_prod with input.placement.targets as [{"labels": {"env": "staging"}}]
	is_prod
}

deny contains "would be short" if {
	short with input.experiment.spec.duration as "1m"
	not short
}

warn contains sprintf("abs %v round %v ceil %v floor %v %v %v", [abs(-3), round(2.5), ceil(1.2), floor(1.8), 7 % 3, 2 / 4]) if true

warn contains sprintf("%v %v %v", [to_number("1.5") + 1, format_int(255, 16), numbers.range(1, 3)]) if input.experiment.metadata.name != ""

warn contains x if {
	x := sprintf("%v", [{"a": [1, {"b": null}], "c": {1, 2}}])
	regex.match("^\\{", x)
}
`,
	// Partial evaluation turns rules with several values into
	// alternatives (no conflict): both engines must see the same.
	"alternatives.rego": `package team.alternatives

level := "a" if input.experiment.metadata.name != ""
level := "b" if input.experiment.metadata.namespace != ""

f(x) := "a" if x != ""
f(x) := "b" if x != "z"

obj[k] := v if { some k, v in {"a": input.experiment.metadata.name} }
obj[k] := v if { some k, v in {"a": input.experiment.metadata.namespace} }

deny contains level if true
deny contains f(input.experiment.metadata.name) if true
deny contains obj.a if true
`,
	"strict.rego": `package team.strict

deny contains "too long" if time.parse_duration_ns(input.experiment.metadata.name) > 1
`,
}

func TestEnginesAgreeOnCustomModules(t *testing.T) {
	ins := edgeInputs()
	ins = append(ins, distinctInputs(50)...)
	for _, in := range ins[:5] {
		in.Experiment.Metadata.Labels = map[string]string{"risk": "high", "blocked": "yes"}
		in.Placement.Targets = append(in.Placement.Targets, policy.TargetInput{Kind: policy.KindHostAgent, Name: "db-1", Labels: map[string]string{"forbidden": "1"}})
	}
	for _, in := range ins[5:10] {
		in.Experiment.Metadata.Labels = map[string]string{"risk": "medium"}
	}
	for name, src := range customModules {
		if name == "strict.rego" {
			continue
		}
		t.Run(name, func(t *testing.T) {
			p, err := policy.Compile(t.Context(), policy.Spec{Name: "team", Modules: []policy.Module{{Name: name, Source: src}}})
			if err != nil {
				t.Fatal(err)
			}
			requireEngine(t, p, "irvm")
			said := 0
			for i, in := range ins {
				if requireSameDecision(t, p, in, fmt.Sprintf("input %d", i)) {
					said++
				}
			}
			if said == 0 {
				t.Fatal("no input drew a finding")
			}
		})
	}
}

// A builtin error fails the decision, never makes a rule undefined, and
// reads the same on both engines.
func TestEnginesFailAlikeOnBuiltinErrors(t *testing.T) {
	p, err := policy.Compile(t.Context(), policy.Spec{Name: "team", Modules: []policy.Module{{Name: "strict.rego", Source: customModules["strict.rego"]}}})
	if err != nil {
		t.Fatal(err)
	}
	requireEngine(t, p, "irvm")
	in := baseline()
	in.Experiment.Metadata.Name = "bogus"
	_, err = p.Evaluate(t.Context(), in)
	if err == nil || !strings.Contains(err.Error(), "eval_builtin_error: time.parse_duration_ns") || !strings.Contains(err.Error(), `"bogus"`) {
		t.Fatalf("err = %v, want time.parse_duration_ns's error", err)
	}
	requireSameDecision(t, p, in, "bogus duration")
	in.Experiment.Metadata.Name = "2h"
	requireSameDecision(t, p, in, "valid duration")
}

// A complete rule or function with two values fails the decision on both
// engines, at the same place, naming the rule.
func TestEnginesFailAlikeOnConflicts(t *testing.T) {
	for name, src := range map[string]string{
		"rule": `package team.c

level := "a" if input.experiment.metadata.name != "" else := "c"
level := "b" if input.experiment.metadata.namespace != ""

deny contains level if true
`,
		"function": `package team.c

f(x) := "a" if x != "" else := "c"
f(x) := "b" if x != "z"

deny contains f(input.experiment.metadata.name) if true
`,
	} {
		t.Run(name, func(t *testing.T) {
			p, err := policy.Compile(t.Context(), policy.Spec{Name: "team", Modules: []policy.Module{{Name: "c.rego", Source: src}}})
			if err != nil {
				t.Fatal(err)
			}
			requireEngine(t, p, "irvm")
			_, err = p.Evaluate(t.Context(), baseline())
			_, tdErr := policy.OnTopdown(p).Evaluate(t.Context(), baseline())
			if err == nil || tdErr == nil {
				t.Fatalf("irvm: %v, topdown: %v; want both to fail", err, tdErr)
			}
			// topdown goes on to list each value's rule; the first line
			// names the rule and where.
			head := strings.TrimSuffix(strings.SplitN(tdErr.Error(), "\n", 2)[0], ":")
			if !strings.Contains(head, "eval_conflict_error: ") || !strings.HasPrefix(err.Error(), head) {
				t.Fatalf("irvm: %v\ntopdown: %v", err, tdErr)
			}
			in := baseline()
			in.Experiment.Metadata.Name, in.Experiment.Metadata.Namespace = "z", ""
			if !requireSameDecision(t, p, in, "one value") {
				t.Fatal("no denial with one value")
			}
		})
	}
}

// Policies irvm cannot run stay on topdown, and still decide.
func TestUnplannablePolicyFallsBack(t *testing.T) {
	for name, src := range map[string]string{
		// walk is a relation: many results per call.
		"walk.rego": `package team.walk

deny contains sprintf("%v", [p]) if {
	walk(input.experiment.metadata, [p, v])
	v == "forbidden"
}
`,
		// http.send keeps caches irvm does not have (and is never called
		// here: the condition before it fails).
		"http.rego": `package team.http

deny contains "unreachable" if {
	input.experiment.metadata.name == "never"
	http.send({"method": "GET", "url": "http://127.0.0.1:1"}).status_code != 200
}
`,
	} {
		t.Run(name, func(t *testing.T) {
			p, err := policy.Compile(t.Context(), policy.Spec{Name: "team", Modules: []policy.Module{{Name: name, Source: src}}})
			if err != nil {
				t.Fatal(err)
			}
			engine, why := policy.Engine(p)
			if engine != "topdown" || why == nil {
				t.Fatalf("engine %s (%v), want topdown with a reason", engine, why)
			}
			in := baseline()
			in.Experiment.Metadata.Labels = map[string]string{"x": "forbidden"}
			d, err := p.Evaluate(t.Context(), in)
			if err != nil {
				t.Fatal(err)
			}
			if name == "walk.rego" && (len(d.Denials) != 1 || d.Denials[0].Message != `["labels", "x"]`) {
				t.Fatalf("denials %+v, want the path of the forbidden label", d.Denials)
			}
		})
	}
}

func TestConcurrentDecisionsOnBothEngines(t *testing.T) {
	p := library(t, "")
	requireEngine(t, p, "irvm")
	ins := distinctInputs(64)
	want := make([]policy.Decision, len(ins))
	for i, in := range ins {
		d, err := policy.OnTopdown(p).Evaluate(t.Context(), in)
		if err != nil {
			t.Fatal(err)
		}
		want[i] = d
	}
	errs := make(chan error, 8)
	for g := range 8 {
		go func() {
			for r := range 20 {
				i := (g*7 + r*13) % len(ins)
				d, err := p.Evaluate(context.Background(), ins[i])
				if err == nil && !reflect.DeepEqual(d, want[i]) {
					err = fmt.Errorf("input %d: %+v, want %+v", i, d, want[i])
				}
				if err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}

func TestCancelledDecisionFails(t *testing.T) {
	p := library(t, "")
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := p.Evaluate(ctx, baseline()); err == nil {
		t.Fatal("a cancelled context still decided")
	}
}

// nativesModule calls every builtin irvm implements natively on values of
// the input, where the natives must answer as OPA does and leave to OPA
// what they do not handle: type errors, big and floating-point numbers,
// durations and zones they do not parse, missing keys and paths through
// non-objects. The labels choose the case, so that each error has an input
// of its own.
const nativesModule = `package team.natives

l := object.get(input.experiment.metadata, "labels", {})

now := [input.now.ns, input.now.timeZone]

deny contains sprintf("clock %v weekday %s date %v %v", [time.clock(now), time.weekday(now), time.date(input.now.ns), time.date(now)]) if l.case == "time"

deny contains sprintf("duration %v", [time.parse_duration_ns(l.d)]) if l.d

deny contains sprintf("rfc3339 %v", [time.parse_rfc3339_ns(l.t)]) if l.t

deny contains sprintf("get %v %v %v", [
	object.get(input, ["experiment", "metadata", "name", "x"], "d"),
	object.get(input, ["placement", "targets", 0, "name"], "none"),
	object.get(input.experiment.metadata, l.key, "missing"),
]) if l.key

deny contains sprintf("get %v", [object.get(input.experiment.metadata.name, "x", "d")]) if l.case == "get error"

deny contains sprintf("arith %v %v %v %v %v", [input.now.ns * 1000, input.now.ns + 1, b.percent + 1, b.selected * 2, b.matching - b.selected]) if {
	some b in input.blastRadius
	l.case == "arith"
}

deny contains sprintf("div %v %v", [b.selected / b.matching, b.matching % to_number(l.mod)]) if {
	some b in input.blastRadius
	l.mod
}

deny contains sprintf("cmp %v", [[b.percent > 10, b.percent >= b.selected, b.selected < 1.5, input.now.ns <= 1e30, b.kind != "x", b == b]]) if {
	some b in input.blastRadius
	l.case == "cmp"
}

deny contains sprintf("str %v %v %v %v %v %v", [lower(l.s), substring(l.s, 1, 3), startswith(l.s, "A"), endswith(l.s, "z"), count(l.s), l.s in {"ABz"}]) if l.s

deny contains concat("+", [l.s, input.experiment.metadata.name]) if l.s

deny contains sprintf("union %v", [{l.s} | {input.experiment.metadata.name}]) if l.s

deny contains sprintf("count %v", [count(input.now.ns)]) if l.case == "count error"

deny contains sprintf("lower %v", [lower(input.now.ns)]) if l.case == "lower error"

deny contains sprintf("plus %v", [input.now.timeZone + 1]) if l.case == "plus error"

deny contains sprintf("substring %v", [substring(l.case, -1, 2)]) if startswith(l.case, "substring")
`

func TestEnginesAgreeOnNativeBuiltins(t *testing.T) {
	p, err := policy.Compile(t.Context(), policy.Spec{Name: "team", Modules: []policy.Module{{Name: "natives.rego", Source: nativesModule}}})
	if err != nil {
		t.Fatal(err)
	}
	requireEngine(t, p, "irvm")
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Skip("no time zone data")
	}
	type tc struct {
		labels  map[string]string
		now     time.Time
		zone    string
		wantErr bool
	}
	cases := []tc{
		{labels: map[string]string{"case": "time"}, now: thursdayNoon.In(berlin)},
		{labels: map[string]string{"case": "time"}, now: time.Date(1969, 12, 31, 23, 0, 0, 0, time.UTC)},
		{labels: map[string]string{"case": "time"}, now: thursdayNoon, zone: "Mars/Olympus", wantErr: true},
		{labels: map[string]string{"case": "time"}, now: thursdayNoon, zone: "Local"},
		{labels: map[string]string{"d": "-10m"}},
		{labels: map[string]string{"d": "1h30m0.5s"}},
		{labels: map[string]string{"d": "2d"}},
		{labels: map[string]string{"d": "1x"}, wantErr: true},
		{labels: map[string]string{"t": "2026-11-26T12:00:00+01:00"}},
		{labels: map[string]string{"t": "2026-11-26"}, wantErr: true},
		{labels: map[string]string{"key": "name"}},
		{labels: map[string]string{"key": "nothing"}},
		{labels: map[string]string{"case": "get error"}, wantErr: true},
		{labels: map[string]string{"case": "arith"}},
		{labels: map[string]string{"mod": "3"}},
		{labels: map[string]string{"mod": "0"}, wantErr: true},
		{labels: map[string]string{"mod": "1.5"}, wantErr: true},
		{labels: map[string]string{"case": "cmp"}},
		{labels: map[string]string{"s": "ABz"}},
		{labels: map[string]string{"s": "Ärger"}},
		{labels: map[string]string{"s": ""}},
		{labels: map[string]string{"case": "count error"}, wantErr: true},
		{labels: map[string]string{"case": "lower error"}, wantErr: true},
		{labels: map[string]string{"case": "plus error"}, wantErr: true},
		{labels: map[string]string{"case": "substring"}, wantErr: true},
	}
	for i, c := range cases {
		in := baseline()
		in.Experiment.Metadata.Labels = c.labels
		if !c.now.IsZero() {
			in.Now = policy.NewNow(c.now)
		}
		if c.zone != "" {
			in.Now.TimeZone = c.zone
		}
		what := fmt.Sprintf("case %d %v", i, c.labels)
		said := requireSameDecision(t, p, in, what)
		_, err := p.Evaluate(t.Context(), in)
		if (err != nil) != c.wantErr {
			t.Errorf("%s: error %v, want an error: %v", what, err, c.wantErr)
		}
		if err == nil && !said {
			t.Errorf("%s: no finding", what)
		}
	}
}
