package policy_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/faultline-dev/faultline/policy"
)

// BenchmarkDecision is one decision of the whole built-in library on a
// production experiment (approval required and present), as Set.Decide
// makes it: from the Go input, which the plan reads on demand.
func BenchmarkDecision(b *testing.B) {
	set := benchSet(b)
	in := benchInput()
	measureCPU(b, func() error { return allowed(set.Decide(b.Context(), in)) })
}

// BenchmarkDecisionDistinctInputs is BenchmarkDecision over 1,000 distinct
// inputs in turn (namespaces, durations, shares, times and placements vary),
// so that no layer can answer from what it saw before: every iteration is a
// full evaluation of a different experiment.
func BenchmarkDecisionDistinctInputs(b *testing.B) {
	set := benchSet(b)
	ins := distinctInputs(1000)
	i := 0
	measureCPU(b, func() error {
		_, err := set.Decide(b.Context(), ins[i%len(ins)])
		i++
		return err
	})
}

func distinctInputs(n int) []*policyInput {
	ins := make([]*policyInput, n)
	for i := range ins {
		in := benchInput()
		if i%2 == 0 {
			in = baseline()
		}
		in.Experiment.Spec.Selector.Namespaces = []string{fmt.Sprintf("team-%d", i%50)}
		in.Experiment.Spec.Duration = &metav1.Duration{Duration: time.Duration(1+i%7) * time.Minute}
		in.BlastRadius[0].Selected = 1 + i%5
		in.BlastRadius[0].Percent = float64(in.BlastRadius[0].Selected) * 10
		in.Now = policy.NewNow(thursdayNoon.Add(time.Duration(i) * time.Second))
		ins[i] = in
	}
	return ins
}

// BenchmarkDecisionConvertedInput is the evaluation alone, on an input
// converted to OPA's value beforehand (as topdown takes it).
func BenchmarkDecisionConvertedInput(b *testing.B) {
	p := library(b, "")
	v, err := benchInput().Value()
	if err != nil {
		b.Fatal(err)
	}
	measureCPU(b, func() error { _, err := p.EvaluateValue(b.Context(), v); return err })
}

// BenchmarkDecisionTopdown is BenchmarkDecisionConvertedInput on OPA's
// evaluator (topdown) instead of the policy's plan, to keep the ratio of
// the two engines in sight.
func BenchmarkDecisionTopdown(b *testing.B) {
	p := policy.OnTopdown(library(b, ""))
	v, err := benchInput().Value()
	if err != nil {
		b.Fatal(err)
	}
	measureCPU(b, func() error { _, err := p.EvaluateValue(b.Context(), v); return err })
}

// BenchmarkCompileLibrary is the cost of one policy generation: parsing,
// compiling, partially evaluating and planning the whole library.
func BenchmarkCompileLibrary(b *testing.B) {
	measureCPU(b, func() error {
		_, err := policy.Compile(b.Context(), policy.Spec{Name: "x", Library: []string{policy.LibraryAll}, Parameters: []byte(params)})
		return err
	})
}

// BenchmarkInputValue is the conversion alone.
func BenchmarkInputValue(b *testing.B) {
	in := benchInput()
	measureCPU(b, func() error { _, err := in.Value(); return err })
}

func benchSet(b *testing.B) *policySet { return newPolicySet(library(b, "")) }

func benchInput() *policyInput {
	in := baseline()
	toProd(in)
	in.Approvals = []policyApproval{{Name: "ok", Current: true}}
	in.Approvals[0].Approver.Username = "alice"
	in.Approvals[0].Approver.Groups = []string{"sre"}
	return in
}

// BenchmarkLibraryRule is one decision per built-in rule alone, to see
// which rule costs what.
func BenchmarkLibraryRule(b *testing.B) {
	v, _ := benchInput().Value()
	for _, r := range policy.LibraryRules() {
		b.Run(r, func(b *testing.B) {
			p, err := policy.Compile(context.Background(), policy.Spec{Name: "x", Library: []string{r}, Parameters: []byte(params)})
			if err != nil {
				b.Fatal(err)
			}
			measureCPU(b, func() error { _, err := p.EvaluateValue(b.Context(), v); return err })
		})
	}
}

// measureCPU runs op b.N times and reports allocations and the thread CPU
// time per op beside wall time: on this shared machine CPU time is the
// steadier figure.
func measureCPU(b *testing.B, op func() error) {
	b.Helper()
	b.ReportAllocs()
	cpu := startThreadCPU(b)
	for b.Loop() {
		if err := op(); err != nil {
			b.Fatal(err)
		}
	}
	cpu.report(b)
}

// allowed turns a decision that is not Allowed into an error.
func allowed(d policy.Decision, err error) error {
	if err == nil && !d.Allowed {
		err = fmt.Errorf("decision not allowed: %+v", d)
	}
	return err
}
