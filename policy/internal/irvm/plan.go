package irvm

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/ir"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage"
)

// target names the rego evaluation target under which the planner's output
// is handed to us. OPA plans a query for a target plugin with the same
// compiler, query compiler and variable rewriting it uses for topdown, and
// passes the resulting *ir.Policy to the plugin: that is the one public
// entry point to its planner for a query (the compile package plans whole
// bundles by entrypoint), so we register a plugin that only captures it.
const target = "faultline-irvm-capture"

var register sync.Once

// capturePlugin receives the plan rego prepares for our target and stores
// it in the capture slot carried by the context, so that concurrent
// Plan calls never share state.
type capturePlugin struct{}

type captureKey struct{}

type capture struct{ policy *ir.Policy }

func (capturePlugin) IsTarget(t string) bool { return t == target }

func (capturePlugin) PrepareForEval(ctx context.Context, p *ir.Policy, _ ...rego.PrepareOption) (rego.TargetPluginEval, error) {
	c, ok := ctx.Value(captureKey{}).(*capture)
	if !ok {
		return nil, errors.New("irvm: plan requested outside irvm.Plan")
	}
	c.policy = p
	return noEval{}, nil
}

// noEval refuses to evaluate: plans are run by Program, never through rego.
type noEval struct{}

func (noEval) Eval(context.Context, *rego.EvalContext, ast.Value) (ast.Value, error) {
	return nil, errors.New("irvm: the capture target does not evaluate")
}

// Plan compiles query against the modules of compiler into OPA's
// intermediate representation. rego switches compiler to IR mode
// (ast.EvalModeIR), in which queries compiled afterwards get no
// comprehension indices; callers that go on compiling queries for topdown
// with it switch it back.
func Plan(ctx context.Context, compiler *ast.Compiler, store storage.Store, query ast.Body) (*ir.Policy, error) {
	register.Do(func() { rego.RegisterPlugin(target, capturePlugin{}) })
	c := &capture{}
	ctx = context.WithValue(ctx, captureKey{}, c)
	_, err := rego.New(
		rego.Compiler(compiler),
		rego.Store(store),
		rego.ParsedQuery(query),
		rego.Target(target),
	).PrepareForEval(ctx)
	if err != nil {
		return nil, fmt.Errorf("planning: %w", err)
	}
	if c.policy == nil {
		return nil, errors.New("planning: no plan was produced")
	}
	return c.policy, nil
}
