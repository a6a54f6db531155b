package irvm

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/topdown"
	"github.com/open-policy-agent/opa/v1/topdown/builtins"
)

// frame is the state of one evaluation. Frames are pooled per Program, so
// that an evaluation reuses the local slots, memo tables and callbacks of an
// earlier one instead of allocating them.
type frame struct {
	p     *Program
	ctx   context.Context
	start time.Time
	bctx  topdown.BuiltinContext
	cache builtins.Cache

	// stack holds the local slots of the plan and of every active call;
	// sp is its top. A call takes the next nlocals slots and gives them
	// back when it returns.
	stack []*ast.Term
	sp    int

	// memo holds, for the current With scope, the values of functions of
	// input and data alone and of builtin calls on constants and those
	// documents (see memoBuiltins); memoStack the enclosing scopes'.
	memo      []*ast.Term
	memoStack [][]*ast.Term
	memoFree  [][]*ast.Term

	args    []*ast.Term // builtin arguments
	result  *ast.Term   // a builtin's result, set by iter
	iter    func(*ast.Term) error
	ret     *ast.Term // a ReturnLocal's value
	results []*ast.Term

	// scan is the object scan in progress, read by objStep, which Until
	// calls for each key: one callback bound per frame instead of a
	// closure allocated per scan.
	scan    scanState
	objStep func(k, v *ast.Term) bool
	keybuf  []byte
	kvs     [][2]*ast.Term // object literal scratch
	steps   int
}

type scanState struct {
	in  *instr
	l   []*ast.Term
	ctl int
	err error
}

// memoUndefined marks a memo slot whose value is undefined.
var memoUndefined = &ast.Term{Value: ast.Null{}}

func newFrame(p *Program) *frame {
	f := &frame{
		p:     p,
		cache: builtins.Cache{},
		args:  make([]*ast.Term, p.maxArgs),
		memo:  make([]*ast.Term, p.memoSlots),
	}
	f.iter = f.onResult
	f.objStep = f.stepObject
	f.bctx.Cache = f.cache
	return f
}

// Eval runs the plan with the input and data documents and appends the
// values the plan adds to its result set to dst. A builtin error, a
// conflict (a complete rule with two values) or ctx's cancellation ends
// the evaluation with an error.
func (p *Program) Eval(ctx context.Context, input, data *ast.Term, dst []*ast.Term) ([]*ast.Term, error) {
	if err := ctx.Err(); err != nil {
		return dst, err
	}
	f, ok := p.frames.Get().(*frame)
	if !ok {
		return dst, errors.New("irvm: frame pool corrupt")
	}
	defer f.release()
	f.ctx = ctx
	f.bctx.Context = ctx
	if p.needsTime {
		f.start = time.Now()
	}

	l := f.alloc(p.plan.nlocals)
	l[ir0Input], l[ir0Data] = input, data
	for _, b := range p.plan.blocks {
		ctl, err := f.run(b, l)
		if err != nil {
			return dst, err
		}
		if ctl > 0 || ctl == ctlReturn {
			break
		}
	}
	return append(dst, f.results...), nil
}

// Slots of the input and data documents in the plan's locals.
const (
	ir0Input = 0
	ir0Data  = 1
)

// release clears what the evaluation referenced, so that a pooled frame
// keeps no input alive, and returns the frame to its pool.
func (f *frame) release() {
	f.free(f.sp)
	clear(f.memo)
	for len(f.memoStack) > 0 {
		f.popMemo()
	}
	clear(f.results)
	f.results = f.results[:0]
	clear(f.args)
	clear(f.cache)
	f.bctx.Time, f.bctx.Location, f.bctx.Context = nil, nil, nil
	f.ctx, f.result, f.ret = nil, nil, nil
	f.scan = scanState{}
	f.steps = 0
	f.p.frames.Put(f)
}

// alloc takes n local slots, all undefined: slots above sp are always
// cleared (see free), so that a call costs one clear of its slots.
func (f *frame) alloc(n int) []*ast.Term {
	if f.sp+n > len(f.stack) {
		// The slots of active calls stay in the old stack: each call
		// only ever reads its own slice.
		f.stack = make([]*ast.Term, max(2*len(f.stack), f.sp+n, 256))
	}
	s := f.stack[f.sp : f.sp+n : f.sp+n]
	f.sp += n
	return s
}

// free gives back the top n slots, cleared, which also drops what they
// referenced.
func (f *frame) free(n int) {
	clear(f.stack[f.sp-n : f.sp])
	f.sp -= n
}

func (f *frame) pushMemo() {
	var m []*ast.Term
	if k := len(f.memoFree); k > 0 {
		m, f.memoFree = f.memoFree[k-1], f.memoFree[:k-1]
	} else {
		m = make([]*ast.Term, f.p.memoSlots)
	}
	f.memoStack = append(f.memoStack, f.memo)
	f.memo = m
}

func (f *frame) popMemo() {
	k := len(f.memoStack)
	clear(f.memo)
	f.memoFree = append(f.memoFree, f.memo)
	f.memo, f.memoStack = f.memoStack[k-1], f.memoStack[:k-1]
}

// cancelEvery is how many scan iterations run between checks of the
// context: often enough to stop a runaway loop quickly, rarely enough to
// cost nothing.
const cancelEvery = 256

func (f *frame) tick() error {
	f.steps++
	if f.steps%cancelEvery == 0 {
		return f.ctx.Err()
	}
	return nil
}

func jsonInt(n int64) json.Number { return json.Number(strconv.FormatInt(n, 10)) }
