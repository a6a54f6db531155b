package policy

import (
	"context"
	"strings"
	"testing"
)

// The smoke check at compile time catches a plan whose decision is not
// topdown's: here, another policy's plan.
func TestSmokeCheckCatchesAWrongPlan(t *testing.T) {
	ctx := context.Background()
	compile := func(src string) *Policy {
		p, err := Compile(ctx, Spec{Name: "team", Modules: []Module{{Name: "m.rego", Source: src}}})
		if err != nil {
			t.Fatal(err)
		}
		if p.query.program == nil {
			t.Fatalf("no plan: %v", p.query.fallback)
		}
		return p
	}
	a := compile("package team.a\n\ndeny contains \"a\" if not input.experiment\n")
	b := compile("package team.a\n\ndeny contains \"b\" if not input.experiment\n")
	if err := a.query.smokeCheck(ctx); err != nil {
		t.Fatalf("a's own plan: %v", err)
	}
	q := *a.query
	q.program = b.query.program
	if err := q.smokeCheck(ctx); err == nil || !strings.Contains(err.Error(), "smoke check") {
		t.Fatalf("err = %v, want the smoke check to refuse b's plan for a", err)
	}
}
