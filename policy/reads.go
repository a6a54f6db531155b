package policy

import (
	"slices"

	"github.com/open-policy-agent/opa/v1/ast"
)

// reads is what a policy can read of its input, found by looking at every
// reference to input in its modules and in partial evaluation's output.
// Two inputs that agree on these parts get the same decision from the
// policy, which is what lets Set.Decide convert only those parts for a
// policy on topdown (see projection).
type reads struct {
	// all is true when some rule reads the input in a way not narrowed to a
	// path (input as a whole, input[x], an import of input).
	all   bool
	paths []ast.Ref
}

// findReads analyses modules and other nodes (queries) before compilation,
// while `object.get(input, ...)` still reads as written.
func findReads(modules []*ast.Module, others ...any) reads {
	var r reads
	seen := map[string]bool{}
	add := func(path ast.Ref) {
		if len(path) == 0 {
			r.all = true
			return
		}
		if k := path.String(); !seen[k] {
			seen[k] = true
			r.paths = append(r.paths, path)
		}
	}
	nodes := make([]any, 0, len(modules)+len(others))
	for _, m := range modules {
		for _, imp := range m.Imports {
			if ref, ok := imp.Path.Value.(ast.Ref); ok && ref.HasPrefix(ast.InputRootRef) {
				r.all = true
			}
		}
		nodes = append(nodes, m)
	}
	nodes = append(nodes, others...)

	for _, n := range nodes {
		// object.get(input..., key, default) reads input...key alone.
		narrowed := map[*ast.Term]bool{}
		objectGet := func(args []*ast.Term) {
			if len(args) < 2 {
				return
			}
			base, ok := inputPrefix(args[0])
			if !ok {
				return
			}
			switch k := args[1].Value.(type) {
			case ast.String:
				base = append(base, ast.NewTerm(k))
			case *ast.Array:
				for i := range k.Len() {
					s, ok := k.Elem(i).Value.(ast.String)
					if !ok {
						return
					}
					base = append(base, ast.NewTerm(s))
				}
			default:
				return
			}
			narrowed[args[0]] = true
			add(base)
		}
		ast.NewGenericVisitor(func(x any) bool {
			switch x := x.(type) {
			case *ast.Expr:
				if x.IsCall() {
					if op := x.Operator(); op.Equal(ast.ObjectGet.Ref()) {
						objectGet(x.Operands())
					}
				}
			case ast.Call:
				if len(x) > 0 {
					if op, ok := x[0].Value.(ast.Ref); ok {
						if op.Equal(ast.ObjectGet.Ref()) {
							objectGet(x[1:])
						}
					}
				}
			}
			return false
		}).Walk(n)

		heads := map[*ast.Term]bool{}
		ast.WalkTerms(n, func(t *ast.Term) bool {
			switch v := t.Value.(type) {
			case ast.Ref:
				if v[0].Equal(ast.InputRootDocument) {
					heads[v[0]] = true
					if !narrowed[t] {
						p, _ := inputPrefix(t)
						add(p)
					}
				}
			case ast.Var:
				if t.Equal(ast.InputRootDocument) && !heads[t] && !narrowed[t] {
					r.all = true
				}
			}
			return false
		})
	}
	// A path under another read path adds nothing to the key.
	all := slices.Clone(r.paths)
	r.paths = slices.DeleteFunc(r.paths, func(p ast.Ref) bool {
		for _, q := range all {
			if len(q) < len(p) && p.HasPrefix(q) {
				return true
			}
		}
		return false
	})
	slices.SortFunc(r.paths, func(a, b ast.Ref) int { return a.Compare(b) })
	if r.all {
		r.paths = nil
	}
	return r
}

// inputPrefix returns the constant path a term reads under input: input
// itself is the empty path, input.a.b[x] is a.b.
func inputPrefix(t *ast.Term) (ast.Ref, bool) {
	switch v := t.Value.(type) {
	case ast.Var:
		return ast.Ref{}, t.Equal(ast.InputRootDocument)
	case ast.Ref:
		if !v[0].Equal(ast.InputRootDocument) {
			return nil, false
		}
		var out ast.Ref
		for _, e := range v[1:] {
			if _, ok := e.Value.(ast.String); !ok {
				break
			}
			out = append(out, e)
		}
		return out, true
	}
	return nil, false
}
