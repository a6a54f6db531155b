package policy

import (
	"context"
	"fmt"
	"maps"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage"
	"github.com/open-policy-agent/opa/v1/topdown"

	"github.com/faultline-dev/faultline/policy/internal/irvm"
)

// prepared is a policy's decision query, ready to run once per decision.
//
// It is built once per policy generation: partial evaluation folds into the
// query what does not depend on the input (the parameters, their defaults,
// helper rules), input-independent rules the partial evaluator leaves behind
// are computed once and inlined as constants, and the residual query is
// planned into OPA's intermediate representation, which every decision runs
// on the irvm interpreter, reading the result as OPA values. A query the
// interpreter cannot run stays on OPA's evaluator (topdown). The prepared
// query is immutable and safe for concurrent use.
type prepared struct {
	compiler *ast.Compiler
	store    storage.Store
	query    ast.Body

	// program is the query's plan, nil when decisions run on topdown;
	// data is the data document it reads (the parameters).
	program *irvm.Program
	data    *ast.Term
	// fallback says why decisions run on topdown when program is nil.
	fallback error
}

// resultVar binds the decision object in the prepared query.
const resultVar = ast.Var("__faultline_decision__")

// prepare partially evaluates the aggregator rule against the parameters.
// A builtin error found here (a malformed duration in the parameters, say)
// is returned, so that a broken parameter fails at compile time.
func prepare(ctx context.Context, compiler *ast.Compiler, store storage.Store) (*prepared, error) {
	query := ast.NewBody(ast.Equality.Expr(ast.NewTerm(resultVar), ast.NewTerm(aggregatorRef)))
	pq, err := rego.New(
		rego.Compiler(compiler),
		rego.Store(store),
		rego.ParsedQuery(query),
		// A builtin error must fail, not make a rule silently undefined.
		rego.StrictBuiltinErrors(true),
		// Rules computed from the input once and used many times stay
		// rules, evaluated once per decision, instead of being inlined.
		rego.DisableInlining(noInline),
	).Partial(ctx)
	if err != nil {
		return nil, err
	}
	if len(pq.Queries) != 1 {
		// The aggregator is one complete rule that is always defined, so
		// partial evaluation yields one query; if it ever does not, evaluate
		// the rules as written.
		p, err := finishPrepare(compiler.Modules, store, query)
		if err == nil {
			p.plan(ctx, query)
		}
		return p, err
	}
	residual, support := pq.Queries[0], pq.Support

	// Candidates from the most to the least optimised: folding and inlining
	// are optimisations, so should their output not compile, the partial
	// evaluator's own output is used, and its errors are the ones reported.
	type candidate struct {
		query   ast.Body
		support []*ast.Module
	}
	var candidates []candidate
	best := candidate{residual, support}
	f, folded := foldConstants(ctx, compiler, store, residual, support)
	if folded {
		best = candidate(f)
	}
	if q, ok := inlineSets(best.query, best.support); ok {
		candidates = append(candidates, candidate{q, best.support})
	}
	candidates = append(candidates, best)
	if folded {
		candidates = append(candidates, candidate{residual, support})
	}
	var p *prepared
	for _, c := range candidates {
		if p, err = finishPrepare(compilerModules(compiler, c.support), store, c.query); err == nil {
			p.plan(ctx, c.query)
			return p, nil
		}
	}
	return nil, err
}

func compilerModules(compiler *ast.Compiler, support []*ast.Module) map[string]*ast.Module {
	mods := maps.Clone(compiler.Modules)
	for i, m := range support {
		mods[fmt.Sprintf("__faultline_support_%d__", i)] = m
	}
	return mods
}

func finishPrepare(modules map[string]*ast.Module, store storage.Store, query ast.Body) (*prepared, error) {
	c := ast.NewCompiler().WithDefaultRegoVersion(ast.RegoV1)
	if c.Compile(modules); c.Failed() {
		return nil, c.Errors
	}
	q, err := c.QueryCompiler().Compile(query)
	if err != nil {
		return nil, err
	}
	return &prepared{compiler: c, store: store, query: q}, nil
}

// planName is the name rego gives the plan of a query.
const planName = "eval"

// plan compiles the query into OPA's intermediate representation for irvm.
// Anything that keeps it from running there (the planner refuses the query,
// the plan uses a builtin or statement irvm does not run, or its decision on
// an empty input is not topdown's) leaves the policy on topdown, with the
// reason in fallback.
func (p *prepared) plan(ctx context.Context, query ast.Body) {
	if err := p.loadProgram(ctx, query); err != nil {
		p.program, p.data, p.fallback = nil, nil, err
	}
}

func (p *prepared) loadProgram(ctx context.Context, query ast.Body) error {
	// The planner reads the modules topdown runs. Planning switches the
	// compiler to IR mode, which only matters to queries compiled later
	// (topdown would lose their comprehension indices), so it is switched
	// back: the prepared query was compiled before.
	policy, err := irvm.Plan(ctx, p.compiler, p.store, query)
	p.compiler.WithEvalMode(ast.EvalModeTopdown)
	if err != nil {
		return err
	}
	prog, err := irvm.Load(policy, planName)
	if err != nil {
		return err
	}
	txn, err := p.store.NewTransaction(ctx)
	if err != nil {
		return err
	}
	defer p.store.Abort(ctx, txn)
	doc, err := p.store.Read(ctx, txn, storage.RootPath)
	if err != nil {
		return fmt.Errorf("reading data: %w", err)
	}
	data, err := ast.InterfaceToValue(doc)
	if err != nil {
		return fmt.Errorf("reading data: %w", err)
	}
	p.program, p.data = prog, ast.NewTerm(data)
	return p.smokeCheck(ctx)
}

// smokeCheck is cheap insurance against a gap in the interpreter: the
// decision on an empty input must be topdown's, results and errors alike.
func (p *prepared) smokeCheck(ctx context.Context) error {
	empty := ast.NewObject()
	want, wantErr := p.evalTopdown(ctx, empty)
	got, gotErr := p.evalProgram(ctx, empty)
	switch {
	case (wantErr == nil) != (gotErr == nil):
		return fmt.Errorf("smoke check: topdown says %v, irvm %v", wantErr, gotErr)
	case wantErr != nil && wantErr.Error() != gotErr.Error():
		return fmt.Errorf("smoke check: topdown fails with %q, irvm with %q", wantErr, gotErr)
	case wantErr == nil && ast.Compare(want, got) != 0:
		return fmt.Errorf("smoke check: topdown decides %v, irvm %v", want, got)
	}
	return nil
}

// eval runs the prepared query on one input and returns the decision object.
func (p *prepared) eval(ctx context.Context, input ast.Value) (*ast.Array, error) {
	if p.program != nil {
		return p.evalProgram(ctx, input)
	}
	return p.evalTopdown(ctx, input)
}

// evalProgram runs the query's plan on irvm.
func (p *prepared) evalProgram(ctx context.Context, input ast.Value) (*ast.Array, error) {
	var buf [1]*ast.Term
	rs, err := p.program.Eval(ctx, ast.NewTerm(input), p.data, buf[:0])
	if err != nil {
		return nil, err
	}
	var result *ast.Array
	if len(rs) == 1 {
		if obj, ok := rs[0].Value.(ast.Object); ok {
			result, _ = get(obj, string(resultVar)).(*ast.Array)
		}
	}
	if len(rs) != 1 || result == nil {
		return nil, fmt.Errorf("%d results, want one array", len(rs))
	}
	return result, nil
}

// evalTopdown runs the query on OPA's evaluator.
func (p *prepared) evalTopdown(ctx context.Context, input ast.Value) (*ast.Array, error) {
	txn, err := p.store.NewTransaction(ctx)
	if err != nil {
		return nil, err
	}
	defer p.store.Abort(ctx, txn)
	var result *ast.Array
	n := 0
	err = topdown.NewQuery(p.query).
		WithCompiler(p.compiler).
		WithStore(p.store).
		WithTransaction(txn).
		WithInput(ast.NewTerm(input)).
		WithStrictBuiltinErrors(true).
		Iter(ctx, func(qr topdown.QueryResult) error {
			n++
			if t := qr[resultVar]; t != nil {
				result, _ = t.Value.(*ast.Array)
			}
			return nil
		})
	if err != nil {
		return nil, err
	}
	if n != 1 || result == nil {
		// Every bound rule is a multi-value rule, defined (perhaps empty)
		// whenever its package compiles; anything else is a bug to surface.
		return nil, fmt.Errorf("%d results, want one array", n)
	}
	return result, nil
}
