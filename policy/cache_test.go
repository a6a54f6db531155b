package policy_test

import (
	"testing"

	"github.com/faultline-dev/faultline/policy"
)

// A cached set must decide exactly as the uncached one, for every way the
// library can deny, and across inputs that differ only where no rule looks.
func TestCachedSetDecidesAsUncached(t *testing.T) {
	plain := policy.NewSet(library(t, ""))
	cached := plain.WithCache(64)
	inputs := []*policy.Input{baseline(), benchInput()}
	kube := baseline()
	kube.Experiment.Spec.Selector.Namespaces = []string{"kube-system"}
	renamed := baseline()
	renamed.Experiment.Metadata.Name = "another"
	prod := baseline()
	toProd(prod)
	inputs = append(inputs, kube, renamed, prod, kube, prod)
	for i, in := range inputs {
		want, err := plain.Decide(t.Context(), in)
		if err != nil {
			t.Fatal(err)
		}
		for range 2 { // a miss, then a hit
			got, err := cached.Decide(t.Context(), in)
			if err != nil {
				t.Fatal(err)
			}
			if got.Summary() != want.Summary() || len(got.Warnings) != len(want.Warnings) || got.Allowed != want.Allowed {
				t.Fatalf("input %d: cached %+v, uncached %+v", i, got, want)
			}
		}
	}
}

// A rule reading a field makes that field part of the key: two experiments
// with different names are told apart by a policy that reads names.
func TestCacheKeyHoldsWhatPoliciesRead(t *testing.T) {
	for name, src := range map[string]string{
		"path":       `deny contains "x" if input.experiment.metadata.name == "bad"`,
		"object.get": `deny contains "x" if object.get(input, ["experiment", "metadata", "name"], "") == "bad"`,
		"whole":      `deny contains "x" if { i := input; i.experiment.metadata.name == "bad" }`,
		"dynamic":    `deny contains "x" if { some k; input.experiment.metadata[k] == "bad" }`,
	} {
		t.Run(name, func(t *testing.T) {
			p, err := policy.Compile(t.Context(), policy.Spec{Name: "names", Modules: []policy.Module{{Name: "n.rego", Source: "package names\n\n" + src + "\n"}}})
			if err != nil {
				t.Fatal(err)
			}
			set := policy.NewSet(p).WithCache(16)
			good, bad := baseline(), baseline()
			bad.Experiment.Metadata.Name = "bad"
			for range 2 {
				if d, _ := set.Decide(t.Context(), good); !d.Allowed {
					t.Fatalf("good denied: %+v", d)
				}
				if d, _ := set.Decide(t.Context(), bad); d.Allowed {
					t.Fatal("bad allowed: its decision came from the other experiment's")
				}
			}
		})
	}
}

// A policy that reads the clock is never answered from the cache.
func TestCacheSkipsNonDeterministicPolicies(t *testing.T) {
	p, err := policy.Compile(t.Context(), policy.Spec{Name: "clock", Modules: []policy.Module{{Name: "c.rego",
		Source: "package clock\n\nwarn contains sprintf(\"%d\", [time.now_ns()]) if true\n"}}})
	if err != nil {
		t.Fatal(err)
	}
	set := policy.NewSet(p).WithCache(16)
	a, err := set.Decide(t.Context(), baseline())
	if err != nil {
		t.Fatal(err)
	}
	b, _ := set.Decide(t.Context(), baseline())
	if len(a.Warnings) != 1 || len(b.Warnings) != 1 || a.Warnings[0] == b.Warnings[0] {
		t.Fatalf("second decision reused the first: %q, %q", a.Warnings, b.Warnings)
	}
}
