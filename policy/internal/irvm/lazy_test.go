package irvm

import (
	"context"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/ir"
)

// termDoc is a Doc over a value already converted, counting whole
// conversions, so that tests see which statements read a document through
// its keys and which convert it.
type termDoc struct {
	v         ast.Value
	converted *int
}

func lazyTerm(v ast.Value, converted *int) *ast.Term {
	return ast.NewTerm(&Lazy{Doc: &termDoc{v: v, converted: converted}})
}

func (d *termDoc) Get(key *ast.Term) *ast.Term {
	var t *ast.Term
	switch v := d.v.(type) {
	case ast.Object:
		t = v.Get(key)
	case *ast.Array:
		t = v.Get(key)
	}
	if t == nil {
		return nil
	}
	switch t.Value.(type) {
	case ast.Object, *ast.Array:
		return lazyTerm(t.Value, d.converted)
	}
	return t
}

func (d *termDoc) Len() int {
	if a, ok := d.v.(*ast.Array); ok {
		return a.Len()
	}
	return d.v.(ast.Object).Len()
}

func (d *termDoc) IsArray() bool { _, ok := d.v.(*ast.Array); return ok }

func (d *termDoc) Value() ast.Value { *d.converted++; return d.v }

// resultsOf is a block adding each local to the result set, in order.
func resultsOf(locals ...ir.Local) *ir.Block {
	b := &ir.Block{}
	for _, l := range locals {
		b.Stmts = append(b.Stmts, &ir.ResultSetAddStmt{Value: l})
	}
	return b
}

// runLazy is plan.run with the input as a document.
func (p *plan) runLazy(t *testing.T, input string, converted *int, blocks ...*ir.Block) ([]*ast.Term, error) {
	t.Helper()
	p.pol.Plans.Plans = []*ir.Plan{{Name: "eval", Blocks: blocks}}
	prog, err := Load(p.pol, "eval")
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	return prog.Eval(context.Background(), lazyTerm(ast.MustParseTerm(input).Value, converted), ast.ObjectTerm(), nil)
}

const lazyInput = `{"exp": {"spec": {"probes": [{"mode": "during"}, {"mode": "after"}], "n": 3, "tags": ["a", "b"]}, "labels": {"env": "prod"}}}`

// Reading through keys, counting, testing types, iterating an array,
// membership in an array and object.get never convert the input; the scalars they reach are the
// values themselves.
func TestLazyInputIsReadThroughKeys(t *testing.T) {
	p := newPlan()
	p.builtin("object.get")
	p.builtin("count")
	p.builtin("internal.member_2")
	converted := 0
	rs, err := p.runLazy(t, lazyInput, &converted, blk(
		&ir.DotStmt{Source: loc(0), Key: p.str("exp"), Target: 2},
		&ir.DotStmt{Source: loc(2), Key: p.str("spec"), Target: 3},
		&ir.IsObjectStmt{Source: loc(3)},
		&ir.DotStmt{Source: loc(3), Key: p.str("probes"), Target: 4},
		&ir.IsArrayStmt{Source: loc(4)},
		&ir.LenStmt{Source: loc(4), Target: 5},
		&ir.CallStmt{Func: "count", Args: []ir.Operand{loc(3)}, Result: 6},
		&ir.MakeArrayStmt{Target: 7},
		&ir.ScanStmt{Source: 4, Key: 10, Value: 11, Block: blk(
			&ir.DotStmt{Source: loc(11), Key: p.str("mode"), Target: 12},
			&ir.ArrayAppendStmt{Value: loc(12), Array: 7},
		)},
		&ir.DotStmt{Source: loc(3), Key: p.str("tags"), Target: 13},
		&ir.CallStmt{Func: "internal.member_2", Args: []ir.Operand{p.str("b"), loc(13)}, Result: 14},
		&ir.CallStmt{Func: "internal.member_2", Args: []ir.Operand{p.str("c"), loc(13)}, Result: 15},
		&ir.CallStmt{Func: "object.get", Args: []ir.Operand{loc(0), p.str("exp"), p.str("none")}, Result: 16},
		&ir.CallStmt{Func: "object.get", Args: []ir.Operand{loc(16), p.str("labels"), p.str("none")}, Result: 17},
		&ir.CallStmt{Func: "object.get", Args: []ir.Operand{loc(17), p.str("env"), p.str("none")}, Result: 18},
		&ir.CallStmt{Func: "object.get", Args: []ir.Operand{loc(17), p.str("tier"), p.str("none")}, Result: 19},
	), resultsOf(5, 6, 7, 14, 15, 18, 19))
	requireResults(t, rs, err, `2`, `3`, `["during", "after"]`, `true`, `false`, `"prod"`, `"none"`)
	if converted != 0 {
		t.Fatalf("the input was converted %d times, want none", converted)
	}
}

// Everywhere else a document goes it arrives converted: into results,
// composites, comparisons and builtins, and a scanned object is scanned
// converted.
func TestLazyInputIsConvertedWhereUsedAsValue(t *testing.T) {
	p := newPlan()
	p.builtin("json.marshal")
	converted := 0
	rs, err := p.runLazy(t, lazyInput, &converted, blk(
		&ir.DotStmt{Source: loc(0), Key: p.str("exp"), Target: 2},
		&ir.DotStmt{Source: loc(2), Key: p.str("labels"), Target: 3},
		// A plain copy passes it on as it is.
		&ir.AssignVarStmt{Source: loc(3), Target: 4},
		&ir.ResultSetAddStmt{Value: 4},
		&ir.MakeArrayStmt{Target: 5},
		&ir.ArrayAppendStmt{Value: loc(4), Array: 5},
		&ir.ResultSetAddStmt{Value: 5},
		&ir.CallStmt{Func: "json.marshal", Args: []ir.Operand{loc(3)}, Result: 6},
		&ir.ResultSetAddStmt{Value: 6},
		&ir.MakeArrayStmt{Target: 7},
		&ir.ScanStmt{Source: 3, Key: 10, Value: 11, Block: blk(&ir.ArrayAppendStmt{Value: loc(10), Array: 7})},
		&ir.ResultSetAddStmt{Value: 7},
	), blk(
		// Compared with an equal object: the block holds.
		&ir.DotStmt{Source: loc(0), Key: p.str("exp"), Target: 2},
		&ir.DotStmt{Source: loc(2), Key: p.str("labels"), Target: 3},
		&ir.MakeObjectStmt{Target: 20},
		&ir.ObjectInsertStmt{Key: p.str("env"), Value: p.str("prod"), Object: 20},
		&ir.EqualStmt{A: loc(3), B: loc(20)},
		&ir.ResultSetAddStmt{Value: 0},
	))
	requireResults(t, rs, err,
		`{"env": "prod"}`,
		`[{"env": "prod"}]`,
		`"{\"env\":\"prod\"}"`,
		`["env"]`,
		lazyInput,
	)
	for i, r := range rs {
		if _, ok := lazyOf(r); ok {
			t.Fatalf("result %d is a document, not a value", i)
		}
	}
	if converted == 0 {
		t.Fatal("nothing was converted")
	}
}
