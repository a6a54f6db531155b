package policy

import (
	"context"
	"fmt"
	"maps"
	"slices"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage"
	"github.com/open-policy-agent/opa/v1/topdown"
)

// prepared is a policy's decision query, ready to run once per decision.
//
// It is built once per policy generation: partial evaluation folds into the
// query what does not depend on the input (the parameters, their defaults,
// helper rules), input-independent rules the partial evaluator leaves behind
// are computed once and inlined as constants, and every decision then runs
// the residual query on OPA's evaluator directly, reading the result as OPA
// values. The prepared query is immutable and safe for concurrent use.
type prepared struct {
	compiler *ast.Compiler
	store    storage.Store
	query    ast.Body
	// reads is what the query can read of the input.
	reads reads
}

// resultVar binds the decision object in the prepared query.
const resultVar = ast.Var("__faultline_decision__")

// prepare partially evaluates the aggregator rule against the parameters.
// A builtin error found here (a malformed duration in the parameters, say)
// is returned, so that a broken parameter fails at compile time.
func prepare(ctx context.Context, parsed map[string]*ast.Module, compiler *ast.Compiler, store storage.Store) (*prepared, error) {
	sources := slices.Collect(maps.Values(parsed))
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
			p.reads = findReads(sources, query)
		}
		return p, err
	}
	residual, support := pq.Queries[0], pq.Support
	rd := findReads(append(sources, support...), residual)

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
			p.reads = rd
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

// eval runs the prepared query on one input and returns the decision object.
func (p *prepared) eval(ctx context.Context, input ast.Value) (ast.Object, error) {
	txn, err := p.store.NewTransaction(ctx)
	if err != nil {
		return nil, err
	}
	defer p.store.Abort(ctx, txn)
	var result ast.Object
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
				result, _ = t.Value.(ast.Object)
			}
			return nil
		})
	if err != nil {
		return nil, err
	}
	if n != 1 || result == nil {
		// Every bound rule is a multi-value rule, defined (perhaps empty)
		// whenever its package compiles; anything else is a bug to surface.
		return nil, fmt.Errorf("%d results, want one object", n)
	}
	return result, nil
}
