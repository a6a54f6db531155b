package irvm

import (
	"github.com/open-policy-agent/opa/v1/ast"
)

// invoke calls a planned function with args read from the caller's locals
// and returns its value, nil when undefined.
func (f *frame) invoke(fn *function, args []operand, l []*ast.Term) (*ast.Term, error) {
	if fn.memo >= 0 {
		if m := f.memo[fn.memo]; m != nil {
			if m == memoUndefined {
				return nil, nil
			}
			return m, nil
		}
	}
	cl := f.alloc(fn.nlocals)
	for i, p := range fn.params {
		v := raw(args[i], l)
		if v == nil {
			f.free(fn.nlocals)
			return nil, nil
		}
		cl[p] = v
	}
	r, err := f.call(fn, cl)
	f.free(fn.nlocals)
	if err != nil {
		return nil, err
	}
	if fn.memo >= 0 {
		if r == nil {
			f.memo[fn.memo] = memoUndefined
		} else {
			f.memo[fn.memo] = r
		}
	}
	return r, nil
}

func (f *frame) call(fn *function, l []*ast.Term) (*ast.Term, error) {
	for _, b := range fn.blocks {
		ctl, err := f.run(b, l)
		if err != nil {
			return nil, err
		}
		if ctl == ctlReturn {
			r := f.ret
			f.ret = nil
			return r, nil
		}
		if ctl > 0 {
			break
		}
	}
	return l[fn.ret], nil
}

// dynamic finds the function a CallDynamic names by its path; nil when no
// function has that path (the planner then reads the document instead).
func (f *frame) dynamic(in *instr, l []*ast.Term) *function {
	b := f.keybuf[:0]
	for i, o := range in.dpath {
		t := get(o, l)
		if t == nil {
			return nil
		}
		s, ok := t.Value.(ast.String)
		if !ok {
			return nil
		}
		if i > 0 {
			b = append(b, 0)
		}
		b = append(b, s...)
	}
	f.keybuf = b
	return f.p.dynamic[string(b)]
}
