package plan_test

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1alpha1 "github.com/faultline-dev/faultline/crds/v1alpha1"
	"github.com/faultline-dev/faultline/policy"
	"github.com/faultline-dev/faultline/policy/plan"
)

// A plan must not depend on how many decisions run at once: the results of
// one worker and of many are the same, in the experiments' order, whether
// the policies run on irvm or on topdown (walk keeps a policy there).
func TestPlanParallelEqualsSerial(t *testing.T) {
	exps := varied()[:3000]
	walker, err := policy.Compile(t.Context(), policy.Spec{Name: "walker", Modules: []policy.Module{{Name: "w.rego",
		Source: "package walker\n\ndeny contains sprintf(\"%v selects kube-system\", [p]) if {\n\twalk(input.experiment.spec.selector, [p, \"kube-system\"])\n}\n"}}})
	if err != nil {
		t.Fatal(err)
	}
	for engine, set := range map[string]*policy.Set{"irvm": librarySet(t), "irvm and topdown": policy.NewSet(libraryPolicy(t), walker)} {
		opts := plan.Options{Policies: set, Members: members, Source: policy.SourceInput{Revision: revision}, Parallel: 1,
			Active: policy.ActiveExperiments{Clusters: map[string]int{"prod-us": 2}}}
		serial, err := plan.Plan(t.Context(), exps, opts)
		if err != nil {
			t.Fatal(err)
		}
		opts.Parallel = 8
		parallel, err := plan.Plan(t.Context(), exps, opts)
		if err != nil {
			t.Fatal(err)
		}
		verdicts := map[plan.Verdict]int{}
		for i := range serial {
			if !reflect.DeepEqual(serial[i], parallel[i]) {
				t.Fatalf("%s: experiment %d:\n  serial %+v\nparallel %+v", engine, i, serial[i], parallel[i])
			}
			if serial[i].Name != exps[i].Name {
				t.Fatalf("result %d is %s, want %s", i, serial[i].Name, exps[i].Name)
			}
			verdicts[serial[i].Verdict]++
		}
		if len(verdicts) != 3 {
			t.Fatalf("verdicts %v: want all three kinds, or the comparison proves little", verdicts)
		}
	}
}

// The error a plan reports is the first failing experiment's in order,
// whichever worker met which failure first: here a later experiment's bad
// placement fails at once, an earlier one fails only once evaluated.
func TestPlanErrorNamesFirstFailingExperiment(t *testing.T) {
	failing, err := policy.Compile(t.Context(), policy.Spec{Name: "strict", Modules: []policy.Module{{Name: "s.rego",
		Source: "package strict\n\ndeny contains \"x\" if to_number(trim_prefix(input.experiment.spec.value, \"1\")) > 100\n"}}})
	if err != nil {
		t.Fatal(err)
	}
	exps := threeKinds()
	exps[100].Spec.Value = "1x"
	for _, i := range []int{160, 5000} {
		exps[i].Spec.Placement = &v1alpha1.Placement{Clusters: &metav1.LabelSelector{
			MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "env", Operator: "Near"}}}}
	}
	check := func(want string) {
		t.Helper()
		for _, parallel := range []int{1, 2, 8} {
			for range 3 {
				_, err := plan.Plan(t.Context(), exps, plan.Options{Policies: policy.NewSet(failing), Members: members, Parallel: parallel})
				if err == nil || !strings.HasPrefix(err.Error(), want) {
					t.Fatalf("parallel %d: err = %v, want it to start with %q", parallel, err, want)
				}
			}
		}
	}
	check("team/e100: evaluating policy strict")
	exps[100].Spec.Value = "10"
	check("team/e160: spec.placement.clusters")
}

// Experiments with the same placement share its resolution; experiments
// with different ones must not.
func TestPlanResolvesEachPlacementForItself(t *testing.T) {
	var exps []v1alpha1.Experiment
	for i := range 60 {
		env := []string{"staging", "prod", "nowhere"}[i%3]
		exps = append(exps, experiment(fmt.Sprintf("e%d", i), env, "shop"))
	}
	exps[59].Spec.Placement = nil
	def := &v1alpha1.Placement{Agents: &metav1.LabelSelector{}}
	rs, err := plan.Plan(t.Context(), exps, plan.Options{Policies: librarySet(t), Members: members, DefaultPlacement: def})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"staging": "[{wave-1 [staging-eu] []}]", "prod": "[{wave-1 [prod-eu prod-us] []}]", "nowhere": "[]"}
	for i, r := range rs[:59] {
		if got := fmt.Sprint(r.Waves); got != want[[]string{"staging", "prod", "nowhere"}[i%3]] {
			t.Errorf("%s: waves %s", r.Name, got)
		}
	}
	if got := fmt.Sprint(rs[59].Waves); got != "[{wave-1 [] [db-1]}]" {
		t.Errorf("default placement: waves %s", got)
	}
}
