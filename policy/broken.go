package policy

import (
	"context"

	"github.com/open-policy-agent/opa/v1/ast"

	v1alpha1 "github.com/faultline-dev/faultline/crds/v1alpha1"
)

// RuleCompileFailed names the denial of a policy that does not compile.
const RuleCompileFailed = "policy-compile"

// Broken returns a policy standing in for one that does not compile: it
// denies every experiment in its scope with err, so that a typo in a policy
// fails closed instead of silently admitting what the policy was meant to
// stop. Its enforcement is the broken policy's own: a broken warn or dry-run
// policy still only warns.
func Broken(name string, enforcement v1alpha1.Enforcement, scope *v1alpha1.PolicyScope, err error) *Policy {
	if enforcement == "" {
		enforcement = v1alpha1.EnforcementEnforce
	}
	return &Policy{name: name, enforcement: enforcement, scope: scope, broken: err}
}

// Broken returns the compile error a Broken policy stands for, else nil.
func (p *Policy) Broken() error { return p.broken }

func (p *Policy) evaluateBroken(_ context.Context, _ ast.Value) (Decision, error) {
	var d Decision
	d.addDenial(p, binding{pkgRule: RuleCompileFailed}, ast.NewObject(ast.Item(ast.InternedTerm("message"),
		ast.StringTerm("the policy does not compile, so it admits nothing: "+p.broken.Error()))))
	return d, nil
}
