package irvm

import (
	"cmp"
	"fmt"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/topdown"
)

// A block's outcome, as run returns it:
//
//	ctlEnd      every statement held: the block ran to its end
//	ctlReturn   a ReturnLocal ended the function
//	k >= 0      the block stopped (a statement was undefined: k = 0, or
//	            Break k) and k further enclosing blocks stop with it
//
// Blocks nest as they do in OPA's Wasm compiler, which defines the IR's
// control flow: the blocks of BlockStmt, NotStmt and WithStmt are one level
// each; the body of a ScanStmt is one level (leaving it moves to the next
// element) inside another (leaving that ends the scan).
const (
	ctlEnd    = -1
	ctlReturn = -2
	// ctlNext continues a scan with its next element.
	ctlNext = -3
)

// emptyObject and emptySet are the shared values of fresh composites; no
// statement ever mutates them (see opObjectInsert and opSetAdd).
var (
	emptyObject = ast.NewObject()
	emptySet    = ast.NewSet()

	emptyArrayTerm  = ast.NewTerm(ast.NewArray())
	emptyObjectTerm = ast.NewTerm(emptyObject)
	emptySetTerm    = ast.NewTerm(emptySet)
)

// get reads an operand as a value, a Lazy document converted (see Lazy);
// raw reads it as it is, for the statements that read a Lazy through its
// Doc or only pass it on.
func get(o operand, l []*ast.Term) *ast.Term {
	if o.local >= 0 {
		return materialize(l[o.local])
	}
	return o.c
}

func raw(o operand, l []*ast.Term) *ast.Term {
	if o.local >= 0 {
		return l[o.local]
	}
	return o.c
}

// run executes a block over the locals l.
func (f *frame) run(b *block, l []*ast.Term) (int, error) {
	for i := range b.instrs {
		in := &b.instrs[i]
		switch in.op {
		case opNop:
		case opAssignVar:
			l[in.target] = raw(in.a, l)
		case opAssignVarOnce:
			v := raw(in.a, l)
			if v == nil {
				return 0, nil
			}
			if cur := l[in.target]; cur != nil && !equal(materialize(cur), materialize(v)) {
				return 0, conflict(in.loc, fmt.Sprintf("%s: %v, %v", in.msg, cur, v))
			}
			l[in.target] = v
		case opResetLocal:
			l[in.target] = nil
		case opConst:
			l[in.target] = in.a.c
		case opMakeArray:
			if in.n == sharedTerm {
				l[in.target] = emptyArrayTerm
			} else {
				l[in.target] = ast.NewTerm(ast.NewArrayWithCapacity(in.n))
			}
		case opMakeObject:
			// Most objects and sets the planner makes stay empty (a
			// rule's set of denials, usually): they share one empty
			// value until the first insert gives them their own, and
			// share the empty term too when nothing can alias them
			// while empty (see shareEmpty).
			if in.n == sharedTerm {
				l[in.target] = emptyObjectTerm
			} else {
				l[in.target] = &ast.Term{Value: emptyObject}
			}
		case opMakeSet:
			if in.n == sharedTerm {
				l[in.target] = emptySetTerm
			} else {
				l[in.target] = &ast.Term{Value: emptySet}
			}
		case opBuildArray, opBuildObject, opBuildSet:
			t := f.build(in, l)
			if t == nil {
				return 0, nil
			}
			l[in.target] = t
		case opArrayAppend:
			t, v := l[in.target], get(in.a, l)
			arr, ok := value[*ast.Array](t)
			if !ok || v == nil {
				return 0, nil
			}
			// Arrays are built in place, as in the Wasm runtime: the
			// term was made by MakeArray of this evaluation, or is the
			// shared empty one, which the local leaves for its own.
			if t == emptyArrayTerm {
				l[in.target] = &ast.Term{Value: arr.Append(v)}
			} else {
				t.Value = arr.Append(v)
			}
		case opObjectInsert, opObjectInsertOnce:
			t := l[in.target]
			obj, ok := value[ast.Object](t)
			k, v := get(in.a, l), get(in.b, l)
			if !ok || k == nil || v == nil {
				return 0, nil
			}
			if obj == emptyObject {
				obj = ast.NewObject()
				if t == emptyObjectTerm {
					l[in.target] = &ast.Term{Value: obj}
				} else {
					t.Value = obj
				}
			}
			if in.op == opObjectInsertOnce {
				if cur := obj.Get(k); cur != nil {
					if !equal(cur, v) {
						return 0, conflict(in.loc, "object keys must be unique")
					}
					continue
				}
			}
			obj.Insert(k, v)
		case opObjectMerge:
			a, okA := value[ast.Object](get(in.a, l))
			b, okB := value[ast.Object](get(in.b, l))
			if !okA || !okB {
				return 0, conflict(in.loc, "cannot merge a non-object value")
			}
			m, ok := a.Merge(b)
			if !ok {
				return 0, conflict(in.loc, "merge conflict")
			}
			l[in.target] = ast.NewTerm(m)
		case opSetAdd:
			t := l[in.target]
			s, ok := value[ast.Set](t)
			v := get(in.a, l)
			if !ok || v == nil {
				return 0, nil
			}
			if s == emptySet {
				s = ast.NewSet()
				if t == emptySetTerm {
					l[in.target] = &ast.Term{Value: s}
				} else {
					t.Value = s
				}
			}
			s.Add(v)
		case opDot:
			v := dot(raw(in.a, l), get(in.b, l))
			if v == nil {
				return 0, nil
			}
			l[in.target] = v
		case opLen:
			n, ok := length(raw(in.a, l))
			if !ok {
				return 0, nil
			}
			l[in.target] = ast.InternedTerm(n)
		case opEqual, opNotEqual:
			a, b := get(in.a, l), get(in.b, l)
			if a == nil || b == nil || equal(a, b) != (in.op == opEqual) {
				return 0, nil
			}
		case opIsArray:
			if !isArray(raw(in.a, l)) {
				return 0, nil
			}
		case opIsObject:
			if !isObject(raw(in.a, l)) {
				return 0, nil
			}
		case opIsSet:
			if _, ok := value[ast.Set](get(in.a, l)); !ok {
				return 0, nil
			}
		case opIsDefined:
			if l[in.a.local] == nil {
				return 0, nil
			}
		case opIsUndefined:
			if l[in.a.local] != nil {
				return 0, nil
			}
		case opBreak:
			return in.n, nil
		case opBlock:
			for _, inner := range in.blocks {
				ctl, err := f.run(inner, l)
				if err != nil || ctl == ctlReturn {
					return ctl, err
				}
				if ctl > 0 {
					return ctl - 1, nil
				}
			}
		case opNot:
			ctl, err := f.run(in.body, l)
			switch {
			case err != nil || ctl == ctlReturn:
				return ctl, err
			case ctl == ctlEnd:
				// The negated block held, so the negation does not.
				return 0, nil
			case ctl > 0:
				return ctl - 1, nil
			}
		case opScan:
			ctl, err := f.scanStmt(in, l)
			if err != nil || ctl != ctlEnd {
				return ctl, err
			}
		case opWith:
			ctl, err := f.with(in, l)
			if err != nil || ctl != ctlEnd {
				return ctl, err
			}
		case opCall:
			r, err := f.invoke(in.fn, in.args, l)
			if err != nil || r == nil {
				return 0, err
			}
			l[in.target] = r
		case opCallDynamic:
			fn := f.dynamic(in, l)
			if fn == nil || len(fn.params) != len(in.args) {
				return 0, nil
			}
			r, err := f.invoke(fn, in.args, l)
			if err != nil || r == nil {
				return 0, err
			}
			l[in.target] = r
		case opCallBuiltin:
			if in.memo > 0 {
				if m := f.memo[in.memo-1]; m != nil && defined(in.args, l) {
					if m == memoUndefined {
						return 0, nil
					}
					l[in.target] = m
					continue
				}
			}
			r, called, err := f.callBuiltin(in, l)
			if err != nil {
				return 0, err
			}
			if in.memo > 0 && called {
				f.memo[in.memo-1] = cmp.Or(r, memoUndefined)
			}
			if r == nil {
				return 0, nil
			}
			l[in.target] = r
		case opReturn:
			f.ret = l[in.a.local]
			return ctlReturn, nil
		case opResultSetAdd:
			v := materialize(l[in.a.local])
			if v == nil {
				return 0, nil
			}
			f.addResult(v)
		}
	}
	return ctlEnd, nil
}

// scanStmt runs a scan's body for each element of its source; scalars and
// undefined sources have none. It returns ctlEnd to go on after the scan.
func (f *frame) scanStmt(in *instr, l []*ast.Term) (int, error) {
	src := l[in.a.local]
	if src == nil {
		return ctlEnd, nil
	}
	if lz, ok := lazyOf(src); ok {
		if lz.Doc.IsArray() {
			return f.scanDoc(in, l, lz.Doc)
		}
		// Objects are scanned converted: the body reads every key.
		if src = lz.Term(); src == nil {
			return ctlEnd, nil
		}
	}
	switch v := src.Value.(type) {
	case *ast.Array:
		for i := range v.Len() {
			l[in.key], l[in.val] = ast.InternedTerm(i), v.Elem(i)
			if ctl, err := f.iteration(in, l); ctl != ctlNext || err != nil {
				return ctl, err
			}
		}
	case ast.Set:
		// Slice is the set's own sorted element list, the order topdown
		// iterates in.
		for _, e := range v.Slice() {
			l[in.key], l[in.val] = e, e
			if ctl, err := f.iteration(in, l); ctl != ctlNext || err != nil {
				return ctl, err
			}
		}
	case ast.Object:
		saved := f.scan
		f.scan = scanState{in: in, l: l, ctl: ctlNext}
		v.Until(f.objStep)
		s := f.scan
		f.scan = saved
		if s.ctl != ctlNext || s.err != nil {
			return s.ctl, s.err
		}
	}
	return ctlEnd, nil
}

// scanDoc is scanStmt over a Lazy array, element by element.
func (f *frame) scanDoc(in *instr, l []*ast.Term, d Doc) (int, error) {
	for i := range d.Len() {
		k := ast.InternedTerm(i)
		l[in.key], l[in.val] = k, d.Get(k)
		if ctl, err := f.iteration(in, l); ctl != ctlNext || err != nil {
			return ctl, err
		}
	}
	return ctlEnd, nil
}

// stepObject is one iteration of the object scan in f.scan; it returns
// true to stop.
func (f *frame) stepObject(k, v *ast.Term) bool {
	in, l := f.scan.in, f.scan.l
	l[in.key], l[in.val] = k, v
	ctl, err := f.iteration(in, l)
	if ctl == ctlNext && err == nil {
		return false
	}
	// Nested scans restored f.scan before returning, so this is ours.
	f.scan.ctl, f.scan.err = ctl, err
	return true
}

// iteration runs a scan's body once: ctlNext to go on with the next
// element, ctlEnd to leave the scan, else what the enclosing block returns.
func (f *frame) iteration(in *instr, l []*ast.Term) (int, error) {
	if err := f.tick(); err != nil {
		return 0, err
	}
	ctl, err := f.run(in.body, l)
	switch {
	case err != nil || ctl == ctlReturn:
		return ctl, err
	case ctl == ctlEnd || ctl == 0:
		return ctlNext, nil
	case ctl == 1:
		return ctlEnd, nil
	default:
		return ctl - 2, nil
	}
}

// with runs its block with a local (the input or data document) replaced,
// or with a value upserted at a path inside it, and new memo tables: what
// functions computed from the old documents does not hold inside.
func (f *frame) with(in *instr, l []*ast.Term) (int, error) {
	v := get(in.a, l)
	if v == nil {
		return 0, nil
	}
	saved := l[in.target]
	if len(in.path) == 0 {
		l[in.target] = v
	} else {
		l[in.target] = upsert(materialize(saved), in.path, v)
	}
	f.pushMemo()
	ctl, err := f.run(in.body, l)
	f.popMemo()
	l[in.target] = saved
	switch {
	case err != nil || ctl == ctlReturn || ctl == ctlEnd:
		return ctl, err
	case ctl == 0:
		return 0, nil
	default:
		return ctl - 1, nil
	}
}

// defined reports whether every argument is defined.
func defined(args []operand, l []*ast.Term) bool {
	for _, a := range args {
		if a.local >= 0 && l[a.local] == nil {
			return false
		}
	}
	return true
}

func (f *frame) addResult(v *ast.Term) {
	for _, r := range f.results {
		if equal(r, v) {
			return
		}
	}
	f.results = append(f.results, v)
}

func conflict(loc *ast.Location, msg string) error {
	return &topdown.Error{Code: topdown.ConflictErr, Message: msg, Location: loc}
}
