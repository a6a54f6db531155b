package policy_test

import (
	"fmt"
	"math"
	"runtime"
	"strings"
	"testing"
	"time"

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

// The memory a decision reads its input with is recycled, zeroed: after a
// decision nothing of the policy package (pooled documents, the
// interpreter's pooled frames) keeps the input alive, so that one garbage
// collection frees it.
func TestDecisionKeepsNoInputAlive(t *testing.T) {
	set := policy.NewSet(library(t, ""))
	freed := make(chan struct{})
	func() {
		in := benchInput()
		runtime.AddCleanup(in, func(ch chan struct{}) { close(ch) }, freed)
		if _, err := set.Decide(t.Context(), in); err != nil {
			t.Fatal(err)
		}
		if _, err := set.Decide(t.Context(), baseline()); err != nil {
			t.Fatal(err)
		}
	}()
	// One collection only: a sync.Pool keeps what it holds through one.
	runtime.GC()
	select {
	case <-freed:
	case <-time.After(5 * time.Second):
		t.Fatal("the input is still referenced after its decision")
	}
}
