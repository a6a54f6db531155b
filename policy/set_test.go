package policy_test

import (
	"reflect"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1alpha1 "github.com/faultline-dev/faultline/crds/v1alpha1"
	"github.com/faultline-dev/faultline/policy"
)

// Set.Decide reads the input on demand for policies on irvm, and converts
// it with the hand-written converters for those on topdown. Either way the
// decisions must be those of the input converted through JSON, for the
// library over the benchmark's 1,000 distinct inputs and the tests'
// inputs, and for custom policies that read the input whole, through
// object.get, or parts the library leaves alone.
func TestSetDecisionsEqualFull(t *testing.T) {
	custom := func(name, src string) *policy.Policy {
		t.Helper()
		p, err := policy.Compile(t.Context(), policy.Spec{Name: name, Modules: []policy.Module{{Name: name + ".rego", Source: "package " + name + "\n\n" + src + "\n"}}})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	lib := library(t, "")
	whole := custom("whole", `deny contains sprintf("%d keys, source %v", [count(i), i.source]) if { i := input; i.experiment.metadata.name == "checkout-latency" }`)
	objectGet := custom("objectget", `spec := object.get(input.experiment, "spec", {})

deny contains sprintf("mode %s on %v", [spec.mode, object.get(input, ["source", "labels"], {})]) if spec.mode == "fixed-percent"

warn contains sprintf("owner %v", [object.get(input.experiment.metadata, ["labels", "owner"], "none")]) if true`)
	paths := custom("paths", `warn contains sprintf("%s from %s at %s", [input.experiment.metadata.name, input.source.url, input.now.time]) if true

deny contains "no author" if not input.source.author`)
	dynamic := custom("dynamic", `warn contains k if { some k; input.experiment.metadata.annotations[k] == "x" }`)

	inputs := append(distinctInputs(1000), testInputs()...)
	for _, tc := range []struct {
		name     string
		policies []*policy.Policy
	}{
		{"library", []*policy.Policy{lib}},
		{"reads input whole", []*policy.Policy{lib, whole}},
		{"object.get", []*policy.Policy{objectGet}},
		{"library and object.get", []*policy.Policy{lib, objectGet}},
		{"paths", []*policy.Policy{paths, dynamic}},
		{"everything", []*policy.Policy{lib, objectGet, paths, dynamic, whole}},
	} {
		onTopdown := make([]*policy.Policy, len(tc.policies))
		for i, p := range tc.policies {
			onTopdown[i] = policy.OnTopdown(p)
		}
		for engine, set := range map[string]*policy.Set{"irvm": policy.NewSet(tc.policies...), "topdown": policy.NewSet(onTopdown...)} {
			t.Run(tc.name+" on "+engine, func(t *testing.T) {
				findings := 0
				for i, in := range inputs {
					want, err := policy.DecideFull(t.Context(), set, in)
					if err != nil {
						t.Fatal(err)
					}
					got, err := set.Decide(t.Context(), in)
					if err != nil {
						t.Fatal(err)
					}
					if !reflect.DeepEqual(got, want) {
						t.Fatalf("input %d:\n    set %+v\n   JSON %+v", i, got, want)
					}
					findings += len(got.Denials) + len(got.Warnings) + len(got.ApprovalsRequired)
				}
				if findings == 0 {
					t.Fatal("no input drew a finding: equal decisions prove nothing")
				}
			})
		}
	}
}

// testInputs are the inputs of policy_test.go: the baseline broken in one
// way per library rule, production with and without approvals.
func testInputs() []*policy.Input {
	var out []*policy.Input
	add := func(mutate func(*policy.Input)) {
		in := baseline()
		mutate(in)
		out = append(out, in)
	}
	add(func(*policy.Input) {})
	add(func(in *policy.Input) { in.Experiment.Spec.Selector.Namespaces = []string{"shop", "kube-system"} })
	add(func(in *policy.Input) { in.Experiment.Spec.Selector.Namespaces = nil })
	add(func(in *policy.Input) { in.Experiment.Spec.Duration = &metav1.Duration{Duration: 2 * time.Hour} })
	add(func(in *policy.Input) { in.Experiment.Spec.Duration = nil })
	add(func(in *policy.Input) {
		in.Experiment.Spec.Value = "80"
		in.BlastRadius[0] = policy.EstimateBlastRadius(&in.Experiment.Spec, "MemberCluster", "staging-eu", 8)
	})
	add(func(in *policy.Input) {
		in.Experiment.Spec.Fault = v1alpha1.FaultSpec{Host: &v1alpha1.HostFault{Action: v1alpha1.HostReboot}}
		in.Experiment.FaultKind = in.Experiment.Spec.Fault.Kind()
		in.Placement.Targets = append(in.Placement.Targets, policy.TargetInput{Kind: policy.KindHostAgent, Name: "db-1", Labels: map[string]string{"env": "prod"}})
	})
	add(func(in *policy.Input) { in.Now = policy.NewNow(time.Date(2026, 11, 26, 16, 30, 0, 0, time.UTC)) })
	add(func(in *policy.Input) { in.Now = policy.NewNow(time.Date(2026, 12, 22, 12, 0, 0, 0, time.UTC)) })
	add(func(in *policy.Input) { in.ActiveExperiments.Clusters = map[string]int{"staging-eu": 2} })
	add(func(in *policy.Input) {
		toProd(in)
		in.Experiment.Spec.AbortOnBreach = false
		in.Approvals = []policy.ApprovalInput{{Name: "ok", Approver: v1alpha1.UserIdentity{Username: "alice", Groups: []string{"sre"}}, Current: true}}
	})
	add(toProd)
	add(func(in *policy.Input) {
		toProd(in)
		in.Approvals = []policy.ApprovalInput{{Name: "old", Approver: v1alpha1.UserIdentity{Username: "alice", Groups: []string{"sre"}}, Revision: "fedcba9"}}
	})
	add(func(in *policy.Input) {
		in.Experiment.Metadata.Name = "another"
		in.Experiment.Metadata.Labels = map[string]string{"owner": "shop"}
		in.Experiment.Metadata.Annotations = map[string]string{"note": "x"}
		in.Source.Labels = map[string]string{"team": "shop"}
		in.Source.Author = "A <a@x>"
	})
	return out
}
