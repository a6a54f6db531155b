package policy_test

import (
	"fmt"
	"math"
	"strings"
	"testing"

	v1alpha1 "github.com/faultline-dev/faultline/crds/v1alpha1"
	"github.com/faultline-dev/faultline/policy"
)

// The documents irvm reads an input through hold, at every path, what the
// input converted whole holds: the same keys, lengths and values.
func TestLazyInputMatchesConversion(t *testing.T) {
	ins := append(edgeInputs(), distinctInputs(100)...)
	odd := baseline()
	odd.Experiment.Metadata.Labels = map[string]string{"bad\xffkey": "v"}
	odd.Experiment.Metadata.Annotations = map[string]string{"note": "bad\xffvalue"}
	odd.Source.Labels = map[string]string{"team": "shop"}
	odd.Experiment.Spec.Selector.Pods = map[string][]string{"shop": {"a", "b"}, "empty": nil}
	odd.ActiveExperiments.Clusters = map[string]int{"staging-eu": 2}
	odd.Approvals = []policy.ApprovalInput{{Name: "a", Approver: v1alpha1.UserIdentity{Username: "alice", Groups: []string{}}}}
	ins = append(ins, odd)
	for i, in := range ins {
		if err := policy.CheckLazyInput(in); err != nil {
			t.Fatalf("input %d: %v", i, err)
		}
	}
}

// A value that does not convert fails the decision when a policy reads
// it, with the conversion's error, as converting the input up front does.
func TestLazyInputConversionErrorFailsTheDecision(t *testing.T) {
	in := baseline()
	in.BlastRadius[0].Percent = math.NaN()
	set := policy.NewSet(library(t, ""))
	_, err := set.Decide(t.Context(), in)
	if err == nil || !strings.Contains(err.Error(), "converting policy input") || !strings.Contains(err.Error(), "NaN") {
		t.Fatalf("err = %v, want the conversion's error", err)
	}
	_, want := policy.OnTopdown(library(t, "")).Evaluate(t.Context(), in)
	if fmt.Sprint(want) != fmt.Sprint(err) {
		t.Fatalf("irvm fails with %v, topdown with %v", err, want)
	}
}
