package policy_test

import (
	"maps"
	"reflect"
	"slices"
	"sync"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/faultline-dev/faultline/policy"
)

// A batch decides as the set does, also when its inputs share placements,
// sources and counts, from many goroutines at once, for policies on topdown
// (which take converted inputs) as on irvm.
func TestBatchDecidesAsSet(t *testing.T) {
	for _, set := range []*policy.Set{policy.NewSet(policy.OnTopdown(library(t, ""))), policy.NewSet(library(t, ""))} {
		batchDecidesAsSet(t, set)
	}
}

func batchDecidesAsSet(t *testing.T, set *policy.Set) {
	ins := append(distinctInputs(400), testInputs()...)
	// Two placements and one count map, shared as `faultline plan` shares
	// them.
	staging, prod := ins[0].Placement.Targets, slices.Clone(ins[1].Placement.Targets)
	active := policy.ActiveExperiments{Clusters: map[string]int{"staging-eu": 1}}
	for i, in := range ins {
		if len(in.Placement.Targets) == 1 {
			if in.Placement.Targets[0].Name == "prod-eu" {
				in.Placement.Targets = prod
			} else {
				in.Placement.Targets = staging
			}
		}
		if i%3 == 0 {
			in.ActiveExperiments = active
		}
	}
	batch := set.Batch()
	var wg sync.WaitGroup
	got := make([]policy.Decision, len(ins))
	errs := make([]error, len(ins))
	for w := range 4 {
		wg.Go(func() {
			for i := w; i < len(ins); i += 4 {
				got[i], errs[i] = batch.Decide(t.Context(), ins[i])
			}
		})
	}
	wg.Wait()
	for i, in := range ins {
		want, err := set.Decide(t.Context(), in)
		if err != nil || errs[i] != nil {
			t.Fatal(err, errs[i])
		}
		if !reflect.DeepEqual(got[i], want) {
			t.Fatalf("input %d:\nbatch %+v\n  set %+v", i, got[i], want)
		}
	}
}

// Inputs holding the same targets share one converted placement; inputs
// with other targets, even equal ones, get their own.
func TestBatchSharesPartsByIdentity(t *testing.T) {
	batch := policy.NewSet(policy.OnTopdown(library(t, ""))).Batch()
	a, b, c := benchInput(), benchInput(), benchInput()
	b.Placement.Targets = a.Placement.Targets
	c.Placement.Targets[0].Labels = maps.Clone(c.Placement.Targets[0].Labels)
	c.Placement.Targets[0].Labels["env"] = "staging"
	placement := func(in *policy.Input) *ast.Term {
		v, err := policy.BatchInputValue(batch, in)
		if err != nil {
			t.Fatal(err)
		}
		return v.(ast.Object).Get(ast.StringTerm("placement"))
	}
	pa, pb, pc := placement(a), placement(b), placement(c)
	if pa != pb {
		t.Error("two inputs with the same targets converted them twice")
	}
	if pa == pc || pa.Equal(pc) {
		t.Errorf("an input with other targets got the placement of another: %v", pc)
	}
}
