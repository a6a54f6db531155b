// Package irvm runs query plans of OPA's intermediate representation (the
// ir package, the planner's output that OPA compiles to Wasm) directly in
// Go, over OPA's own values, so that builtins are OPA's (or, for the
// commonest ones, native versions that answer exactly as OPA's do and hand
// OPA's every case they are not sure of; see natives.go).
//
// OPA's evaluator (topdown) unifies terms and keeps bindings for every
// step, which costs far more than the policy itself for short rules; a plan
// has already settled the order of evaluation, so running it is a loop over
// statements writing numbered local slots. A plan is loaded once (Load) into
// a Program, which checks that every statement and builtin is supported and
// resolves builtins, constants and functions then, and a Program then
// evaluates any number of inputs, concurrently, each evaluation on a pooled
// frame of its own.
package irvm

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/ir"
)

// Program is a loaded plan: immutable, safe for concurrent use.
type Program struct {
	plan    *code
	funcs   []*function
	dynamic map[string]*function // by Func.Path, for CallDynamic
	// memoSlots is the number of values one evaluation computes once:
	// functions of input and data alone (rules without arguments), and
	// builtin calls on constants and those documents (see memoBuiltins).
	// The count of the former
	// without arguments), whose value one evaluation computes once.
	memoSlots int
	// needsTime is set when a builtin reads the evaluation's clock.
	needsTime bool
	maxArgs   int
	frames    sync.Pool
}

// code is a plan or a function body: blocks over its own local slots.
type code struct {
	blocks  []*block
	nlocals int
}

type function struct {
	code
	name   string
	params []int32
	ret    int32
	memo   int // memo slot, or -1
}

type block struct{ instrs []instr }

type opcode uint8

const (
	opNop opcode = iota
	opAssignVar
	opAssignVarOnce
	opResetLocal
	opConst // MakeNull, MakeNumberInt/Ref, AssignInt: a precomputed constant
	opMakeArray
	opMakeObject
	opMakeSet
	opArrayAppend
	opObjectInsert
	opObjectInsertOnce
	opObjectMerge
	opSetAdd
	opDot
	opLen
	opEqual
	opNotEqual
	opIsArray
	opIsObject
	opIsSet
	opIsDefined
	opIsUndefined
	opBlock
	opBreak
	opNot
	opScan
	opWith
	opCall
	opCallBuiltin
	opCallDynamic
	opReturn
	opResultSetAdd
	// Made by optimize: a whole composite literal from args (objects:
	// key, value, key, value, ...).
	opBuildArray
	opBuildObject
	opBuildSet
)

// operand is a local slot, or a constant when local < 0.
type operand struct {
	local int32
	c     *ast.Term
}

// instr is one statement, flattened at load time so that execution is a
// switch over small integers with every constant already resolved.
type instr struct {
	op     opcode
	target int32
	a, b   operand // sources: value, key, comparands
	n      int     // break index, array capacity
	blocks []*block
	body   *block
	key    int32 // scan key slot
	val    int32 // scan value slot
	fn     *function
	bi     *builtin
	memo   int // builtin calls: memo slot + 1, or 0
	args   []operand
	dpath  []operand   // CallDynamic: the callee's path
	path   []*ast.Term // With: the path upserted
	loc    *ast.Location
	msg    string // AssignVarOnce: what a conflict means
}

// ErrUnsupported marks a plan that uses something this package does not run.
var ErrUnsupported = errors.New("unsupported")

// Load prepares the named plan of policy for evaluation.
func Load(policy *ir.Policy, planName string) (*Program, error) {
	if policy == nil || policy.Static == nil || policy.Plans == nil {
		return nil, errors.New("irvm: incomplete plan")
	}
	l := &loader{
		p:       &Program{dynamic: map[string]*function{}},
		funcs:   map[string]*function{},
		strings: make([]*ast.Term, len(policy.Static.Strings)),
		files:   make([]string, len(policy.Static.Files)),
		locs:    map[locKey]*ast.Location{},
	}
	for i, s := range policy.Static.Strings {
		l.strings[i] = ast.StringTerm(s.Value)
	}
	for i, f := range policy.Static.Files {
		l.files[i] = f.Value
	}
	builtins := map[string]*builtin{}
	for _, b := range policy.Static.BuiltinFuncs {
		bi, err := resolveBuiltin(b.Name)
		if err != nil {
			return nil, err
		}
		builtins[b.Name] = bi
		l.p.needsTime = l.p.needsTime || bi.readsTime
	}
	l.builtins = builtins

	// Functions first, bodies second: bodies call functions by name.
	if policy.Funcs != nil {
		for _, f := range policy.Funcs.Funcs {
			fn := &function{name: f.Name, ret: int32(f.Return), memo: -1}
			for _, p := range f.Params {
				fn.params = append(fn.params, int32(p))
			}
			// Functions of input and data alone are rules without
			// arguments: their value is the same for the whole
			// evaluation (With starts a new memo scope).
			if len(f.Params) == 2 {
				fn.memo = l.p.memoSlots
				l.p.memoSlots++
			}
			if _, dup := l.funcs[f.Name]; dup {
				return nil, fmt.Errorf("irvm: function %s planned twice", f.Name)
			}
			l.funcs[f.Name] = fn
			l.p.funcs = append(l.p.funcs, fn)
			if len(f.Path) > 0 {
				l.p.dynamic[strings.Join(f.Path, "\x00")] = fn
			}
		}
		for _, f := range policy.Funcs.Funcs {
			fn := l.funcs[f.Name]
			l.conflict = conflictMessage(f.Name, len(f.Params))
			if err := l.code(&fn.code, f.Blocks, f.Params, f.Return); err != nil {
				return nil, fmt.Errorf("irvm: function %s: %w", f.Name, err)
			}
		}
	}
	var plan *ir.Plan
	for _, p := range policy.Plans.Plans {
		if p.Name == planName {
			plan = p
		}
	}
	if plan == nil {
		return nil, fmt.Errorf("irvm: no plan %q", planName)
	}
	l.p.plan = &code{}
	l.conflict = "complete rules must not produce multiple outputs"
	if err := l.code(l.p.plan, plan.Blocks, []ir.Local{ir.Input, ir.Data}, 0); err != nil {
		return nil, fmt.Errorf("irvm: plan %s: %w", planName, err)
	}
	if err := l.checkCalls(); err != nil {
		return nil, err
	}
	if err := optimize(l.p); err != nil {
		return nil, err
	}
	l.p.frames.New = func() any { return newFrame(l.p) }
	return l.p, nil
}

type loader struct {
	p        *Program
	funcs    map[string]*function
	builtins map[string]*builtin
	strings  []*ast.Term
	files    []string
	locs     map[locKey]*ast.Location
	max      int32 // highest local of the code being loaded
	badLocal bool
	// conflict is the message of an AssignVarOnce conflict in the code
	// being loaded.
	conflict string
}

// maxLocal bounds a plan's locals, so that a corrupt plan cannot make a
// frame allocate without limit.
const maxLocal = 1 << 20

func (l *loader) code(c *code, blocks []*ir.Block, params []ir.Local, ret ir.Local) error {
	l.max = int32(ret)
	for _, p := range params {
		l.max = max(l.max, int32(p))
	}
	var err error
	if c.blocks, err = l.blocks(blocks); err != nil {
		return err
	}
	c.nlocals = int(l.max) + 1
	return nil
}

func (l *loader) blocks(bs []*ir.Block) ([]*block, error) {
	out := make([]*block, len(bs))
	for i, b := range bs {
		var err error
		if out[i], err = l.block(b); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (l *loader) block(b *ir.Block) (*block, error) {
	if b == nil {
		return nil, errors.New("nil block")
	}
	out := &block{instrs: make([]instr, 0, len(b.Stmts))}
	for _, s := range b.Stmts {
		in, err := l.stmt(s)
		if err != nil {
			return nil, err
		}
		out.instrs = append(out.instrs, in)
	}
	return out, nil
}

func (l *loader) local(x ir.Local) int32 {
	if x < 0 || x > maxLocal {
		// Never produced by the planner; stmt rejects the plan rather
		// than index out of range at run time.
		l.badLocal = true
		return 0
	}
	l.max = max(l.max, int32(x))
	return int32(x)
}

func (l *loader) operand(o ir.Operand) (operand, error) {
	switch v := o.Value.(type) {
	case ir.Local:
		return operand{local: l.local(v)}, nil
	case ir.StringIndex:
		if int(v) < 0 || int(v) >= len(l.strings) {
			return operand{}, fmt.Errorf("string index %d out of range", v)
		}
		return operand{local: -1, c: l.strings[v]}, nil
	case ir.Bool:
		return operand{local: -1, c: ast.InternedTerm(bool(v))}, nil
	default:
		return operand{}, fmt.Errorf("%w operand %T", ErrUnsupported, o.Value)
	}
}

// location turns a statement's location into the one topdown reports for
// the same expression, so that builtin errors read the same.
func (l *loader) location(loc *ir.Location) *ast.Location {
	if loc == nil || (loc.Row == 0 && loc.File == 0 && len(loc.Text) == 0) {
		return nil
	}
	k := locKey{loc.File, loc.Row, loc.Col, string(loc.Text)}
	if x, ok := l.locs[k]; ok {
		return x
	}
	x := &ast.Location{Row: loc.Row, Col: loc.Col, Text: []byte(loc.Text)}
	if loc.File >= 0 && loc.File < len(l.files) {
		x.File = l.files[loc.File]
	}
	l.locs[k] = x
	return x
}

// locKey identifies a location, so that statements of one expression share
// one *ast.Location.
type locKey struct {
	file, row, col int
	text           string
}

func (l *loader) stmt(s ir.Stmt) (instr, error) {
	in := instr{loc: l.location(s.GetLocation())}
	var err error
	two := func(a, b ir.Operand) {
		if in.a, err = l.operand(a); err == nil {
			in.b, err = l.operand(b)
		}
	}
	switch s := s.(type) {
	case *ir.NopStmt:
		in.op = opNop
	case *ir.AssignVarStmt:
		in.op, in.target = opAssignVar, l.local(s.Target)
		in.a, err = l.operand(s.Source)
	case *ir.AssignVarOnceStmt:
		in.op, in.target = opAssignVarOnce, l.local(s.Target)
		in.a, err = l.operand(s.Source)
		in.msg = l.conflict
	case *ir.ResetLocalStmt:
		in.op, in.target = opResetLocal, l.local(s.Target)
	case *ir.MakeNullStmt:
		in.op, in.target = opConst, l.local(s.Target)
		in.a = operand{local: -1, c: ast.InternedNullTerm}
	case *ir.MakeNumberIntStmt:
		in.op, in.target = opConst, l.local(s.Target)
		in.a = operand{local: -1, c: intTerm(s.Value)}
	case *ir.AssignIntStmt:
		in.op, in.target = opConst, l.local(s.Target)
		in.a = operand{local: -1, c: intTerm(s.Value)}
	case *ir.MakeNumberRefStmt:
		if s.Index < 0 || s.Index >= len(l.strings) {
			return in, fmt.Errorf("number index %d out of range", s.Index)
		}
		str := string(l.strings[s.Index].Value.(ast.String))
		in.op, in.target = opConst, l.local(s.Target)
		in.a = operand{local: -1, c: ast.NumberTerm(json.Number(str))}
	case *ir.MakeArrayStmt:
		in.op, in.target, in.n = opMakeArray, l.local(s.Target), max(int(s.Capacity), 0)
	case *ir.MakeObjectStmt:
		in.op, in.target = opMakeObject, l.local(s.Target)
	case *ir.MakeSetStmt:
		in.op, in.target = opMakeSet, l.local(s.Target)
	case *ir.ArrayAppendStmt:
		in.op, in.target = opArrayAppend, l.local(s.Array)
		in.a, err = l.operand(s.Value)
	case *ir.ObjectInsertStmt:
		in.op, in.target = opObjectInsert, l.local(s.Object)
		two(s.Key, s.Value)
	case *ir.ObjectInsertOnceStmt:
		in.op, in.target = opObjectInsertOnce, l.local(s.Object)
		two(s.Key, s.Value)
	case *ir.ObjectMergeStmt:
		in.op, in.target = opObjectMerge, l.local(s.Target)
		in.a = operand{local: l.local(s.A)}
		in.b = operand{local: l.local(s.B)}
	case *ir.SetAddStmt:
		in.op, in.target = opSetAdd, l.local(s.Set)
		in.a, err = l.operand(s.Value)
	case *ir.DotStmt:
		in.op, in.target = opDot, l.local(s.Target)
		two(s.Source, s.Key)
	case *ir.LenStmt:
		in.op, in.target = opLen, l.local(s.Target)
		in.a, err = l.operand(s.Source)
	case *ir.EqualStmt:
		in.op = opEqual
		two(s.A, s.B)
	case *ir.NotEqualStmt:
		in.op = opNotEqual
		two(s.A, s.B)
	case *ir.IsArrayStmt:
		in.op = opIsArray
		in.a, err = l.operand(s.Source)
	case *ir.IsObjectStmt:
		in.op = opIsObject
		in.a, err = l.operand(s.Source)
	case *ir.IsSetStmt:
		in.op = opIsSet
		in.a, err = l.operand(s.Source)
	case *ir.IsDefinedStmt:
		in.op = opIsDefined
		in.a = operand{local: l.local(s.Source)}
	case *ir.IsUndefinedStmt:
		in.op = opIsUndefined
		in.a = operand{local: l.local(s.Source)}
	case *ir.BlockStmt:
		in.op = opBlock
		in.blocks, err = l.blocks(s.Blocks)
	case *ir.BreakStmt:
		in.op, in.n = opBreak, int(s.Index)
	case *ir.NotStmt:
		in.op = opNot
		in.body, err = l.block(s.Block)
	case *ir.ScanStmt:
		in.op = opScan
		in.a = operand{local: l.local(s.Source)}
		in.key, in.val = l.local(s.Key), l.local(s.Value)
		in.body, err = l.block(s.Block)
	case *ir.WithStmt:
		in.op, in.target = opWith, l.local(s.Local)
		for _, i := range s.Path {
			if i < 0 || i >= len(l.strings) {
				return in, fmt.Errorf("with path index %d out of range", i)
			}
			in.path = append(in.path, l.strings[i])
		}
		if in.a, err = l.operand(s.Value); err == nil {
			in.body, err = l.block(s.Block)
		}
	case *ir.CallStmt:
		in.target = l.local(s.Result)
		in.args = make([]operand, len(s.Args))
		for i, a := range s.Args {
			if in.args[i], err = l.operand(a); err != nil {
				return in, err
			}
		}
		if fn, ok := l.funcs[s.Func]; ok {
			in.op, in.fn = opCall, fn
			if len(in.args) != len(fn.params) {
				return in, fmt.Errorf("call of %s with %d arguments, want %d", s.Func, len(in.args), len(fn.params))
			}
		} else if bi, ok := l.builtins[s.Func]; ok {
			in.op, in.bi = opCallBuiltin, bi
			l.p.maxArgs = max(l.p.maxArgs, len(in.args))
		} else {
			return in, fmt.Errorf("%w: call of unknown function %s", ErrUnsupported, s.Func)
		}
	case *ir.CallDynamicStmt:
		in.op, in.target = opCallDynamic, l.local(s.Result)
		for _, a := range s.Args {
			in.args = append(in.args, operand{local: l.local(a)})
		}
		for _, p := range s.Path {
			o, err := l.operand(p)
			if err != nil {
				return in, err
			}
			in.dpath = append(in.dpath, o)
		}
	case *ir.ReturnLocalStmt:
		in.op = opReturn
		in.a = operand{local: l.local(s.Source)}
	case *ir.ResultSetAddStmt:
		in.op = opResultSetAdd
		in.a = operand{local: l.local(s.Value)}
	default:
		return in, fmt.Errorf("%w statement %T", ErrUnsupported, s)
	}
	if l.badLocal {
		return in, fmt.Errorf("local out of range in %T", s)
	}
	return in, err
}

// checkCalls rejects recursion, which Rego forbids and the planner never
// produces, so that evaluation can never loop forever through calls.
func (l *loader) checkCalls() error {
	const (
		unvisited = iota
		visiting
		done
	)
	state := map[*function]int{}
	var visit func(fn *function) error
	var walk func(bs []*block) error
	walk = func(bs []*block) error {
		for _, b := range bs {
			for i := range b.instrs {
				in := &b.instrs[i]
				if in.fn != nil {
					if err := visit(in.fn); err != nil {
						return err
					}
				}
				if in.op == opCallDynamic {
					// The callee is only known at run time: any function
					// with a path may be called from here.
					for _, fn := range l.p.dynamic {
						if err := visit(fn); err != nil {
							return err
						}
					}
				}
				if err := walk(in.blocks); err != nil {
					return err
				}
				if in.body != nil {
					if err := walk([]*block{in.body}); err != nil {
						return err
					}
				}
			}
		}
		return nil
	}
	visit = func(fn *function) error {
		switch state[fn] {
		case visiting:
			return fmt.Errorf("%w: recursive call of %s", ErrUnsupported, fn.name)
		case done:
			return nil
		}
		state[fn] = visiting
		if err := walk(fn.blocks); err != nil {
			return err
		}
		state[fn] = done
		return nil
	}
	for _, fn := range l.p.funcs {
		if err := visit(fn); err != nil {
			return err
		}
	}
	return walk(l.p.plan.blocks)
}

// conflictMessage says, as topdown does, which rule or function produced
// two values: the planner names a rule's function g<N>.data.<path>, and a
// function of input and data alone is a rule without arguments.
func conflictMessage(fn string, params int) string {
	path := fn
	if i := strings.Index(fn, ".data."); i >= 0 && strings.HasPrefix(fn, "g") {
		path = fn[i+1:]
	}
	if params > 2 {
		return "function " + path + " produced conflicting values for the same inputs"
	}
	return "rule " + path + " produced conflicting values"
}

func intTerm(v int64) *ast.Term {
	if v == int64(int(v)) {
		return ast.InternedTerm(int(v))
	}
	return ast.NumberTerm(json.Number(strconv.FormatInt(v, 10)))
}
