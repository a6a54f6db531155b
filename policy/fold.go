package policy

import (
	"context"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/storage"
	"github.com/open-policy-agent/opa/v1/topdown"
)

// folded is partial evaluation's output with input-independent rule
// references replaced by their values.
type folded struct {
	query   ast.Body
	support []*ast.Module
}

// foldConstants replaces references to rules that do not depend on the input
// by their values, computed once here instead of in every decision.
//
// OPA's partial evaluator already does this for most rules, but it keeps a
// reference, evaluated per decision, to rules it cannot inline: rules with
// else (such as the library's params helper and change_window.tz) and rules
// used inside comprehensions. A rule is folded only when neither it nor any
// rule it depends on reads the input, uses with, or calls a
// non-deterministic builtin (time.now_ns, http.send, rand.*), so the value
// computed here is the value every decision would compute. A rule that fails
// or is undefined here is left to the decision, which then fails or sees it
// undefined exactly as before.
func foldConstants(ctx context.Context, c *ast.Compiler, store storage.Store, query ast.Body, support []*ast.Module) (folded, bool) {
	f := &folder{ctx: ctx, c: c, store: store, tainted: map[*ast.Rule]bool{}, values: map[string]ast.Value{}}
	out := folded{query: query.Copy(), support: make([]*ast.Module, len(support))}
	if x, err := ast.TransformRefs(out.query, f.fold); err == nil {
		out.query, _ = x.(ast.Body)
	}
	for i, m := range support {
		m = m.Copy()
		for j, r := range m.Rules {
			if x, err := ast.TransformRefs(r, f.fold); err == nil {
				if nr, ok := x.(*ast.Rule); ok {
					m.Rules[j] = nr
				}
			}
		}
		out.support[i] = m
	}
	return out, f.count > 0 && out.query != nil
}

type folder struct {
	ctx     context.Context
	c       *ast.Compiler
	store   storage.Store
	tainted map[*ast.Rule]bool
	values  map[string]ast.Value
	count   int
}

// fold returns the value of ref when it is a constant, else ref itself.
func (f *folder) fold(ref ast.Ref) (ast.Value, error) {
	if len(ref) < 2 || !ref[0].Equal(ast.DefaultRootDocument) || !ref.IsGround() {
		return ref, nil
	}
	key := ref.String()
	if v, ok := f.values[key]; ok {
		if v == nil {
			return ref, nil
		}
		f.count++
		return v, nil
	}
	v := f.evalConstant(ref)
	f.values[key] = v
	if v == nil {
		return ref, nil
	}
	f.count++
	return v, nil
}

// evalConstant evaluates ref once when only input-independent,
// deterministic rules define it; nil otherwise.
func (f *folder) evalConstant(ref ast.Ref) ast.Value {
	rules := f.c.GetRules(ref)
	if len(rules) == 0 {
		// Base documents (the parameters) are already folded by partial
		// evaluation; anything else is not ours to resolve.
		return nil
	}
	for _, r := range rules {
		if len(r.Head.Args) > 0 || f.isTainted(r, 0) {
			return nil
		}
	}
	q, err := f.c.QueryCompiler().Compile(ast.NewBody(ast.Equality.Expr(ast.NewTerm(resultVar), ast.NewTerm(ref))))
	if err != nil {
		return nil
	}
	txn, err := f.store.NewTransaction(f.ctx)
	if err != nil {
		return nil
	}
	defer f.store.Abort(f.ctx, txn)
	var v ast.Value
	n := 0
	err = topdown.NewQuery(q).WithCompiler(f.c).WithStore(f.store).WithTransaction(txn).WithStrictBuiltinErrors(true).
		Iter(f.ctx, func(qr topdown.QueryResult) error {
			n++
			if t := qr[resultVar]; t != nil {
				v = t.Value
			}
			return nil
		})
	if err != nil || n != 1 {
		return nil
	}
	return v
}

// isTainted reports whether a rule, its else branches or any rule they
// depend on reads the input, uses with, or calls a non-deterministic builtin.
func (f *folder) isTainted(r *ast.Rule, depth int) bool {
	if t, ok := f.tainted[r]; ok {
		return t
	}
	// Rego forbids recursion; a deep chain is treated as tainted rather
	// than followed forever.
	if depth > 64 {
		return true
	}
	f.tainted[r] = true // while visiting: a cycle counts as tainted
	t := false
	for x := r; x != nil && !t; x = x.Else {
		t = directlyTainted(x)
		for dep := range f.c.Graph.Dependencies(x) {
			if t {
				break
			}
			if d, ok := dep.(*ast.Rule); ok {
				t = f.isTainted(d, depth+1)
			}
		}
	}
	f.tainted[r] = t
	return t
}

func directlyTainted(r *ast.Rule) bool {
	found := false
	ast.WalkTerms(r, func(t *ast.Term) bool {
		if v, ok := t.Value.(ast.Var); ok && v.Equal(ast.InputRootDocument.Value) {
			found = true
		}
		return found
	})
	ast.WalkExprs(r, func(e *ast.Expr) bool {
		if len(e.With) > 0 {
			found = true
		}
		if e.IsCall() {
			if b, ok := ast.BuiltinMap[e.Operator().String()]; ok && b.Nondeterministic {
				found = true
			}
		}
		return found
	})
	return found
}

// inlineSets replaces the query's references to multi-value rules of the
// partial evaluator's output by set comprehensions of their bodies, united:
// a decision then evaluates each body as a comprehension instead of looking
// up, evaluating and caching each rule as a virtual document, which costs
// more than the bodies themselves for the library's short rules. A rule's
// set is the union of what its bodies produce, which is what the union of
// the comprehensions is.
func inlineSets(query ast.Body, support []*ast.Module) (ast.Body, bool) {
	rules := map[string][]*ast.Rule{}
	for _, m := range support {
		for _, r := range m.Rules {
			k := m.Package.Path.String() + "." + r.Head.Ref().String()
			rules[k] = append(rules[k], r)
		}
	}
	n := 0
	x, err := ast.TransformRefs(query.Copy(), func(ref ast.Ref) (ast.Value, error) {
		rs := rules[ref.String()]
		if len(rs) == 0 {
			return ref, nil
		}
		var terms []*ast.Term
		for _, r := range rs {
			if r.Head.RuleKind() != ast.MultiValue || len(r.Head.Args) > 0 || r.Else != nil || r.Default || r.Head.Key == nil {
				return ref, nil
			}
			terms = append(terms, ast.SetComprehensionTerm(r.Head.Key.Copy(), r.Body.Copy()))
		}
		n++
		t := terms[0]
		for _, u := range terms[1:] {
			t = ast.CallTerm(ast.NewTerm(ast.Or.Ref()), t, u)
		}
		return t.Value, nil
	})
	body, ok := x.(ast.Body)
	return body, err == nil && ok && n > 0
}
