package irvm

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/ir"
	"github.com/open-policy-agent/opa/v1/topdown"
)

// These tests run hand-written plans, for the statements whose control flow
// the planner's output rarely exercises in full.

// planner-free plan building: strings are interned into the policy's
// static strings on first use.
type plan struct {
	pol     *ir.Policy
	strings map[string]int
}

func newPlan() *plan {
	return &plan{pol: &ir.Policy{Static: &ir.Static{}, Plans: &ir.Plans{}, Funcs: &ir.Funcs{}}, strings: map[string]int{}}
}

func (p *plan) str(s string) ir.Operand {
	i, ok := p.strings[s]
	if !ok {
		i = len(p.pol.Static.Strings)
		p.strings[s] = i
		p.pol.Static.Strings = append(p.pol.Static.Strings, &ir.StringConst{Value: s})
	}
	return ir.Operand{Value: ir.StringIndex(i)}
}

func (p *plan) idx(s string) int { return int(p.str(s).Value.(ir.StringIndex)) }

func loc(l ir.Local) ir.Operand { return ir.Operand{Value: l} }

func blk(stmts ...ir.Stmt) *ir.Block { return &ir.Block{Stmts: stmts} }

func (p *plan) builtin(name string) {
	p.pol.Static.BuiltinFuncs = append(p.pol.Static.BuiltinFuncs, &ir.BuiltinFunc{Name: name, Decl: ast.BuiltinMap[name].Decl})
}

// run loads the plan made of blocks and evaluates it on input.
func (p *plan) run(t *testing.T, input string, blocks ...*ir.Block) ([]*ast.Term, error) {
	t.Helper()
	p.pol.Plans.Plans = []*ir.Plan{{Name: "eval", Blocks: blocks}}
	prog, err := Load(p.pol, "eval")
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	return prog.Eval(context.Background(), ast.MustParseTerm(input), ast.ObjectTerm(), nil)
}

func requireResults(t *testing.T, got []*ast.Term, err error, want ...string) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("results %v, want %v", got, want)
	}
	for i, w := range want {
		if ast.Compare(got[i].Value, ast.MustParseTerm(w).Value) != 0 {
			t.Fatalf("result %d = %v, want %s", i, got[i], w)
		}
	}
}

// An undefined statement ends its block only: the plan's next block runs.
func TestUndefinedEndsTheBlock(t *testing.T) {
	p := newPlan()
	rs, err := p.run(t, `{"a": 1}`,
		blk(&ir.DotStmt{Source: loc(0), Key: p.str("a"), Target: 2}, &ir.ResultSetAddStmt{Value: 2}),
		blk(&ir.DotStmt{Source: loc(0), Key: p.str("missing"), Target: 3}, &ir.ResultSetAddStmt{Value: 3}),
		blk(&ir.DotStmt{Source: p.str("a"), Key: p.str("a"), Target: 4}, &ir.ResultSetAddStmt{Value: 4}),
		blk(&ir.MakeNumberIntStmt{Value: 1, Target: 7}, &ir.EqualStmt{A: loc(2), B: loc(7)}, &ir.ResultSetAddStmt{Value: 0}),
		blk(&ir.NotEqualStmt{A: loc(2), B: loc(7)}, &ir.ResultSetAddStmt{Value: 2}),
		// A string is not a number.
		blk(&ir.EqualStmt{A: loc(2), B: p.str("1")}, &ir.ResultSetAddStmt{Value: 7}),
	)
	requireResults(t, rs, err, `1`, `{"a": 1}`)
}

// Break k leaves its block and k enclosing ones; execution goes on after
// the outermost block left.
func TestBreakLeavesEnclosingBlocks(t *testing.T) {
	p := newPlan()
	rs, err := p.run(t, `{}`, blk(
		&ir.MakeObjectStmt{Target: 2},
		&ir.BlockStmt{Blocks: []*ir.Block{blk(
			&ir.BlockStmt{Blocks: []*ir.Block{blk(
				&ir.BreakStmt{Index: 1},
				&ir.ObjectInsertStmt{Key: p.str("inner"), Value: p.str("x"), Object: 2},
			)}},
			&ir.ObjectInsertStmt{Key: p.str("middle"), Value: p.str("x"), Object: 2},
		)}},
		&ir.BlockStmt{Blocks: []*ir.Block{
			blk(&ir.BreakStmt{Index: 0}, &ir.ObjectInsertStmt{Key: p.str("first"), Value: p.str("x"), Object: 2}),
			blk(&ir.ObjectInsertStmt{Key: p.str("second"), Value: p.str("x"), Object: 2}),
		}},
		&ir.ObjectInsertStmt{Key: p.str("after"), Value: p.str("x"), Object: 2},
		&ir.ResultSetAddStmt{Value: 2},
	), blk(
		// Break 2 from two levels down leaves the plan's block too.
		&ir.BlockStmt{Blocks: []*ir.Block{blk(&ir.BlockStmt{Blocks: []*ir.Block{blk(&ir.BreakStmt{Index: 2})}})}},
		&ir.ResultSetAddStmt{Value: 0},
	))
	requireResults(t, rs, err, `{"second": "x", "after": "x"}`)
}

// A scan visits arrays by index, objects and sets in sorted order, and
// nothing of a scalar; Break 1 in its body ends the scan, Break 0 (or an
// undefined statement) moves to the next element.
func TestScan(t *testing.T) {
	p := newPlan()
	p.builtin("gt")
	collect := func(src ir.Local, out ir.Local, extra ...ir.Stmt) ir.Stmt {
		body := append(extra,
			&ir.MakeArrayStmt{Capacity: 2, Target: 20},
			&ir.ArrayAppendStmt{Value: loc(10), Array: 20},
			&ir.ArrayAppendStmt{Value: loc(11), Array: 20},
			&ir.ArrayAppendStmt{Value: loc(20), Array: out},
		)
		return &ir.ScanStmt{Source: src, Key: 10, Value: 11, Block: blk(body...)}
	}
	rs, err := p.run(t, `{"arr": ["x", "y", "z"], "obj": {"b": 2, "d": 4, "a": 1, "c": 3}, "set": ["q", "p"], "n": 3}`, blk(
		&ir.DotStmt{Source: loc(0), Key: p.str("arr"), Target: 2},
		&ir.DotStmt{Source: loc(0), Key: p.str("obj"), Target: 3},
		&ir.DotStmt{Source: loc(0), Key: p.str("n"), Target: 5},
		&ir.DotStmt{Source: loc(0), Key: p.str("set"), Target: 6},
		&ir.MakeSetStmt{Target: 4},
		&ir.ScanStmt{Source: 6, Key: 10, Value: 11, Block: blk(&ir.SetAddStmt{Value: loc(11), Set: 4})},
		&ir.MakeArrayStmt{Target: 30}, collect(2, 30), &ir.ResultSetAddStmt{Value: 30},
		&ir.MakeArrayStmt{Target: 31}, collect(3, 31), &ir.ResultSetAddStmt{Value: 31},
		&ir.MakeArrayStmt{Target: 32}, collect(4, 32), &ir.ResultSetAddStmt{Value: 32},
		&ir.MakeArrayStmt{Target: 33}, collect(5, 33), &ir.ResultSetAddStmt{Value: 33},
		// Skip "b" (Break 1 from a block in the body: the next
		// element), stop at "c" (Break 2: out of the scan).
		&ir.MakeArrayStmt{Target: 34},
		collect(3, 34,
			&ir.BlockStmt{Blocks: []*ir.Block{blk(&ir.EqualStmt{A: loc(10), B: p.str("b")}, &ir.BreakStmt{Index: 1})}},
			&ir.BlockStmt{Blocks: []*ir.Block{blk(&ir.EqualStmt{A: loc(10), B: p.str("c")}, &ir.BreakStmt{Index: 2})}},
		),
		&ir.ResultSetAddStmt{Value: 34},
		// Break 0 in the body itself: no element collected.
		&ir.MakeArrayStmt{Target: 35}, collect(3, 35, &ir.BreakStmt{Index: 0}), &ir.ResultSetAddStmt{Value: 35},
	))
	requireResults(t, rs, err,
		`[[0, "x"], [1, "y"], [2, "z"]]`,
		`[["a", 1], ["b", 2], ["c", 3], ["d", 4]]`,
		`[["p", "p"], ["q", "q"]]`,
		`[]`,
		`[["a", 1]]`,
	)
}

// With replaces a document inside its block only, and what functions of
// input and data computed outside does not leak in, nor out.
func TestWithRestoresAndScopesMemo(t *testing.T) {
	p := newPlan()
	p.pol.Funcs.Funcs = []*ir.Func{{
		Name: "g0.data.x", Params: []ir.Local{0, 1}, Return: 2, Path: []string{"g0", "x"},
		Blocks: []*ir.Block{
			blk(&ir.DotStmt{Source: loc(0), Key: p.str("x"), Target: 3}, &ir.AssignVarOnceStmt{Source: loc(3), Target: 2}),
			blk(&ir.ReturnLocalStmt{Source: 2}),
		},
	}}
	call := func(target ir.Local) ir.Stmt {
		return &ir.CallStmt{Func: "g0.data.x", Args: []ir.Operand{loc(0), loc(1)}, Result: target}
	}
	rs, err := p.run(t, `{"x": "old", "y": {"z": 1}}`, blk(
		call(2),
		&ir.WithStmt{Local: 0, Path: []int{0}, Value: p.str("new"), Block: blk(
			call(3),
			&ir.DotStmt{Source: loc(0), Key: p.str("y"), Target: 4},
		)},
		&ir.WithStmt{Local: 0, Path: []int{p.idx("y"), p.idx("z")}, Value: p.str("deep"), Block: blk(
			&ir.DotStmt{Source: loc(0), Key: p.str("y"), Target: 6},
		)},
		call(5),
		&ir.MakeArrayStmt{Target: 9},
		&ir.ArrayAppendStmt{Value: loc(2), Array: 9},
		&ir.ArrayAppendStmt{Value: loc(3), Array: 9},
		&ir.ArrayAppendStmt{Value: loc(5), Array: 9},
		&ir.ArrayAppendStmt{Value: loc(4), Array: 9},
		&ir.ArrayAppendStmt{Value: loc(6), Array: 9},
		&ir.ArrayAppendStmt{Value: loc(0), Array: 9},
		&ir.ResultSetAddStmt{Value: 9},
	), blk(
		// An undefined With block makes the With undefined.
		&ir.WithStmt{Local: 0, Value: p.str("scalar"), Block: blk(&ir.DotStmt{Source: loc(0), Key: p.str("x"), Target: 2})},
		&ir.ResultSetAddStmt{Value: 0},
	))
	requireResults(t, rs, err, `["old", "new", "old", {"z": 1}, {"z": "deep"}, {"x": "old", "y": {"z": 1}}]`)
}

func TestNot(t *testing.T) {
	p := newPlan()
	rs, err := p.run(t, `{"a": 1}`,
		blk(&ir.NotStmt{Block: blk(&ir.DotStmt{Source: loc(0), Key: p.str("missing"), Target: 2})}, &ir.ResultSetAddStmt{Value: 0}),
		blk(&ir.NotStmt{Block: blk(&ir.DotStmt{Source: loc(0), Key: p.str("a"), Target: 2})}, &ir.ResultSetAddStmt{Value: 2}),
	)
	requireResults(t, rs, err, `{"a": 1}`)
}

func TestConflicts(t *testing.T) {
	for name, stmts := range map[string]func(p *plan) []ir.Stmt{
		"assign once": func(p *plan) []ir.Stmt {
			return []ir.Stmt{&ir.AssignVarOnceStmt{Source: p.str("a"), Target: 2}, &ir.AssignVarOnceStmt{Source: p.str("b"), Target: 2}}
		},
		"insert once": func(p *plan) []ir.Stmt {
			return []ir.Stmt{&ir.MakeObjectStmt{Target: 2},
				&ir.ObjectInsertOnceStmt{Key: p.str("k"), Value: p.str("a"), Object: 2},
				&ir.ObjectInsertOnceStmt{Key: p.str("k"), Value: p.str("b"), Object: 2}}
		},
	} {
		t.Run(name, func(t *testing.T) {
			p := newPlan()
			_, err := p.run(t, `{}`, blk(stmts(p)...))
			var te *topdown.Error
			if !errors.As(err, &te) || te.Code != topdown.ConflictErr {
				t.Fatalf("err = %v, want a conflict", err)
			}
		})
	}
	// The same value twice is no conflict.
	p := newPlan()
	rs, err := p.run(t, `{}`, blk(&ir.AssignVarOnceStmt{Source: p.str("a"), Target: 2}, &ir.AssignVarOnceStmt{Source: p.str("a"), Target: 2}, &ir.ResultSetAddStmt{Value: 2}))
	requireResults(t, rs, err, `"a"`)
}

// A builtin error ends the evaluation with topdown's error; it does not
// make the call undefined.
func TestBuiltinError(t *testing.T) {
	p := newPlan()
	p.builtin("time.parse_duration_ns")
	_, err := p.run(t, `{}`,
		blk(&ir.CallStmt{Func: "time.parse_duration_ns", Args: []ir.Operand{p.str("bogus")}, Result: 2}),
		blk(&ir.ResultSetAddStmt{Value: 0}),
	)
	var te *topdown.Error
	if !errors.As(err, &te) || te.Code != topdown.BuiltinErr || !strings.Contains(te.Message, `time.parse_duration_ns: time: invalid duration "bogus"`) {
		t.Fatalf("err = %v, want the builtin's error", err)
	}
}

func TestCallDynamic(t *testing.T) {
	p := newPlan()
	p.pol.Funcs.Funcs = []*ir.Func{{
		Name: "g0.data.a.b", Params: []ir.Local{0, 1}, Return: 2, Path: []string{"g0", "a", "b"},
		Blocks: []*ir.Block{blk(&ir.AssignVarStmt{Source: p.str("called"), Target: 2}), blk(&ir.ReturnLocalStmt{Source: 2})},
	}}
	rs, err := p.run(t, `{"which": "b", "other": "c"}`,
		blk(&ir.DotStmt{Source: loc(0), Key: p.str("which"), Target: 3},
			&ir.CallDynamicStmt{Args: []ir.Local{0, 1}, Path: []ir.Operand{p.str("g0"), p.str("a"), loc(3)}, Result: 4},
			&ir.ResultSetAddStmt{Value: 4}),
		blk(&ir.DotStmt{Source: loc(0), Key: p.str("other"), Target: 3},
			&ir.CallDynamicStmt{Args: []ir.Local{0, 1}, Path: []ir.Operand{p.str("g0"), p.str("a"), loc(3)}, Result: 4},
			&ir.ResultSetAddStmt{Value: 0}),
	)
	requireResults(t, rs, err, `"called"`)
}

// Literals folded into constants at load time are shared by evaluations:
// one that is mutated later must not be folded.
func TestFoldedLiteralsAreNeverMutated(t *testing.T) {
	p := newPlan()
	p.pol.Plans.Plans = []*ir.Plan{{Name: "eval", Blocks: []*ir.Block{blk(
		&ir.MakeArrayStmt{Target: 2}, // all constant: folded
		&ir.ArrayAppendStmt{Value: p.str("a"), Array: 2},
		&ir.MakeArrayStmt{Target: 3}, // appended to later: not folded
		&ir.ArrayAppendStmt{Value: p.str("a"), Array: 3},
		&ir.DotStmt{Source: loc(0), Key: p.str("xs"), Target: 4},
		&ir.ScanStmt{Source: 4, Key: 5, Value: 6, Block: blk(&ir.ArrayAppendStmt{Value: loc(6), Array: 3})},
		&ir.MakeArrayStmt{Target: 7},
		&ir.ArrayAppendStmt{Value: loc(2), Array: 7},
		&ir.ArrayAppendStmt{Value: loc(3), Array: 7},
		&ir.ResultSetAddStmt{Value: 7},
	)}}}
	prog, err := Load(p.pol, "eval")
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		rs, err := prog.Eval(context.Background(), ast.MustParseTerm(`{"xs": [1, 2]}`), ast.ObjectTerm(), nil)
		requireResults(t, rs, err, `[["a"], ["a", 1, 2]]`)
	}
}

// countdown reports cancellation after a number of checks.
type countdown struct {
	context.Context
	left atomic.Int64
}

func (c *countdown) Err() error {
	if c.left.Add(-1) < 0 {
		return context.Canceled
	}
	return nil
}

func TestScanHonoursCancellation(t *testing.T) {
	p := newPlan()
	elems := make([]*ast.Term, 10*cancelEvery)
	for i := range elems {
		elems[i] = ast.InternedTerm(i)
	}
	p.pol.Plans.Plans = []*ir.Plan{{Name: "eval", Blocks: []*ir.Block{blk(
		&ir.ScanStmt{Source: 0, Key: 2, Value: 3, Block: blk()},
		&ir.ResultSetAddStmt{Value: 0},
	)}}}
	prog, err := Load(p.pol, "eval")
	if err != nil {
		t.Fatal(err)
	}
	ctx := &countdown{Context: context.Background()}
	ctx.left.Store(3) // Eval's own check, then two in the scan
	_, err = prog.Eval(ctx, ast.ArrayTerm(elems...), ast.ObjectTerm(), nil)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want cancellation", err)
	}
	if left := ctx.left.Load(); left != -1 {
		t.Fatalf("context checked %d times, want 4", 3-left)
	}
}

type oddStmt struct{ ir.Location }

func TestUnsupportedPlansAreRejected(t *testing.T) {
	for name, pol := range map[string]func(p *plan) *ir.Block{
		"relation": func(p *plan) *ir.Block {
			p.builtin("walk")
			return blk(&ir.CallStmt{Func: "walk", Args: []ir.Operand{loc(0)}, Result: 2})
		},
		"non-deterministic": func(p *plan) *ir.Block {
			p.builtin("rand.intn")
			return blk(&ir.CallStmt{Func: "rand.intn", Args: []ir.Operand{p.str("x"), loc(0)}, Result: 2})
		},
		"statement": func(*plan) *ir.Block { return blk(&oddStmt{}) },
		"recursion": func(p *plan) *ir.Block {
			p.pol.Funcs.Funcs = []*ir.Func{{Name: "f", Params: []ir.Local{0, 1}, Return: 2,
				Blocks: []*ir.Block{blk(&ir.CallStmt{Func: "f", Args: []ir.Operand{loc(0), loc(1)}, Result: 2})}}}
			return blk(&ir.CallStmt{Func: "f", Args: []ir.Operand{loc(0), loc(1)}, Result: 2})
		},
	} {
		t.Run(name, func(t *testing.T) {
			p := newPlan()
			b := pol(p)
			p.pol.Plans.Plans = []*ir.Plan{{Name: "eval", Blocks: []*ir.Block{b}}}
			if _, err := Load(p.pol, "eval"); !errors.Is(err, ErrUnsupported) {
				t.Fatalf("err = %v, want ErrUnsupported", err)
			}
		})
	}
}

// Builtin calls on constants and the documents are computed once per
// evaluation, per With scope: a function calling one inside a With sees
// the replaced input, and the value outside is the original's again.
func TestBuiltinMemoFollowsWithScopes(t *testing.T) {
	p := newPlan()
	p.builtin("object.get")
	p.pol.Funcs.Funcs = []*ir.Func{{
		// Three parameters: not memoized itself, its builtin call is.
		Name: "g0.data.f", Params: []ir.Local{0, 1, 2}, Return: 3,
		Blocks: []*ir.Block{
			blk(&ir.AssignVarStmt{Source: loc(0), Target: 4},
				&ir.CallStmt{Func: "object.get", Args: []ir.Operand{loc(4), p.str("x"), p.str("default")}, Result: 5},
				&ir.AssignVarStmt{Source: loc(5), Target: 3}),
			blk(&ir.ReturnLocalStmt{Source: 3}),
		},
	}}
	call := func(target ir.Local) ir.Stmt {
		return &ir.CallStmt{Func: "g0.data.f", Args: []ir.Operand{loc(0), loc(1), p.str("arg")}, Result: target}
	}
	p.pol.Plans.Plans = []*ir.Plan{{Name: "eval", Blocks: []*ir.Block{blk(
		call(2),
		&ir.WithStmt{Local: 0, Path: []int{p.idx("x")}, Value: p.str("new"), Block: blk(call(3))},
		&ir.MakeObjectStmt{Target: 7},
		&ir.WithStmt{Local: 0, Value: loc(7), Block: blk(call(6))},
		call(4),
		&ir.MakeArrayStmt{Target: 9},
		&ir.ArrayAppendStmt{Value: loc(2), Array: 9},
		&ir.ArrayAppendStmt{Value: loc(3), Array: 9},
		&ir.ArrayAppendStmt{Value: loc(4), Array: 9},
		&ir.ArrayAppendStmt{Value: loc(6), Array: 9},
		&ir.ResultSetAddStmt{Value: 9},
	)}}}
	prog, err := Load(p.pol, "eval")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ input, want string }{
		{`{"x": "old"}`, `["old", "new", "old", "default"]`},
		{`{"x": "other"}`, `["other", "new", "other", "default"]`},
	} {
		rs, err := prog.Eval(context.Background(), ast.MustParseTerm(tc.input), ast.ObjectTerm(), nil)
		requireResults(t, rs, err, tc.want)
	}
}

// A plan that would mutate a value it did not make (here, a sub-object of
// the input, which evaluations share) is refused.
func TestMutatingForeignValuesIsRefused(t *testing.T) {
	p := newPlan()
	p.pol.Plans.Plans = []*ir.Plan{{Name: "eval", Blocks: []*ir.Block{blk(
		&ir.DotStmt{Source: loc(0), Key: p.str("obj"), Target: 2},
		&ir.ObjectInsertStmt{Key: p.str("k"), Value: p.str("v"), Object: 2},
		&ir.ResultSetAddStmt{Value: 2},
	)}}}
	if _, err := Load(p.pol, "eval"); !errors.Is(err, ErrUnsupported) {
		t.Fatalf("err = %v, want ErrUnsupported", err)
	}
}
