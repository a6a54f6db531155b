package policy_test

import (
	"context"
	"testing"

	"github.com/faultline-dev/faultline/policy"
)

// BenchmarkDecision is one decision of the whole built-in library on a
// production experiment (approval required and present), input conversion
// included.
func BenchmarkDecision(b *testing.B) {
	set := benchSet(b)
	in := benchInput()
	b.ReportAllocs()
	cpu := startThreadCPU(b)
	for b.Loop() {
		d, err := set.Decide(b.Context(), in)
		if err != nil || !d.Allowed {
			b.Fatalf("decision = %+v, %v", d, err)
		}
	}
	cpu.report(b)
}

// BenchmarkDecisionConvertedInput leaves out the conversion of the input to
// OPA's value, which Set.Decide does once for all policies.
func BenchmarkDecisionConvertedInput(b *testing.B) {
	p := library(b, "")
	v, err := benchInput().Value()
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	cpu := startThreadCPU(b)
	for b.Loop() {
		if _, err := p.EvaluateValue(b.Context(), v); err != nil {
			b.Fatal(err)
		}
	}
	cpu.report(b)
}

// BenchmarkInputValue is the conversion alone.
func BenchmarkInputValue(b *testing.B) {
	in := benchInput()
	b.ReportAllocs()
	cpu := startThreadCPU(b)
	for b.Loop() {
		if _, err := in.Value(); err != nil {
			b.Fatal(err)
		}
	}
	cpu.report(b)
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
			b.ReportAllocs()
			cpu := startThreadCPU(b)
			for b.Loop() {
				if _, err := p.EvaluateValue(b.Context(), v); err != nil {
					b.Fatal(err)
				}
			}
			cpu.report(b)
		})
	}
}
