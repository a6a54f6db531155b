package irvm

import (
	"fmt"

	"github.com/open-policy-agent/opa/v1/ast"
)

// The planner builds every composite literal at run time: MakeArray, then
// one ArrayAppend per element, even for ["placement", "targets"] or the {}
// of object.get(x, "labels", {}). Building them costs most of an
// evaluation's allocations, so the loaded code is rewritten:
//
//   - a literal of constants that nothing mutates afterwards becomes one
//     constant, built at load time and shared by every evaluation;
//   - a literal of variables becomes one instruction that builds the whole
//     value at once.
//
// Sharing a constant is only sound if no statement ever mutates it. The
// planner only mutates composites it has just made; optimize checks that
// this holds for the whole plan (every mutated local is written by Make
// statements alone, and is not a parameter) and refuses the plan
// otherwise: mutating in place a value the plan did not make could change
// the input document, which other policies and goroutines share.
//
// Two more rewrites save work per evaluation: Make statements whose
// composite nothing can alias while it is empty start on a shared empty
// term (shareEmpty), and builtin calls on constants and the documents are
// computed once per evaluation (memoBuiltins).

// optimize rewrites the program's code in place.
func optimize(p *Program) error {
	codes := make([]*code, 0, len(p.funcs)+1)
	codes = append(codes, p.plan)
	for _, fn := range p.funcs {
		codes = append(codes, &fn.code)
	}
	params := map[*code][]int32{}
	for _, fn := range p.funcs {
		params[&fn.code] = fn.params
	}
	stats := make([]*localStats, len(codes))
	for i, c := range codes {
		stats[i] = collect(c)
		if !stats[i].mutationsOnlyOfMade(params[c]) {
			return fmt.Errorf("%w: the plan mutates values it did not make", ErrUnsupported)
		}
	}
	for i, c := range codes {
		for _, b := range c.blocks {
			rewrite(b, stats[i])
		}
	}
	for i, c := range codes {
		for _, b := range c.blocks {
			shareEmpty(b, stats[i])
		}
	}
	memoBuiltins(p, codes, params)
	return nil
}

// memoBuiltins gives builtin calls whose arguments are constants or the
// input or data document a memo slot, shared by every call of the same
// builtin on the same arguments: the library reads
// object.get(input, ["placement", "targets"], []) in every rule, and one
// evaluation needs it once. A With scope has its own memo table, as for
// functions.
func memoBuiltins(p *Program, codes []*code, params map[*code][]int32) {
	slots := map[string]int{}
	for _, c := range codes {
		stable := stableLocals(c, params[c], c == p.plan)
		if stable == nil {
			continue
		}
		var walk func(b *block)
		walk = func(b *block) {
			for i := range b.instrs {
				in := &b.instrs[i]
				for _, inner := range in.blocks {
					walk(inner)
				}
				if in.body != nil {
					walk(in.body)
				}
				if in.op != opCallBuiltin || in.bi.readsTime {
					continue
				}
				key, ok := in.bi.name+"(", true
				for _, a := range in.args {
					switch {
					case a.local < 0:
						key += "c" + a.c.String() + ","
					case stable[a.local] != "":
						key += stable[a.local] + ","
					default:
						ok = false
					}
				}
				if !ok {
					continue
				}
				slot, seen := slots[key]
				if !seen {
					slot = p.memoSlots
					p.memoSlots++
					slots[key] = slot
				}
				in.memo = slot + 1
			}
		}
		for _, b := range c.blocks {
			walk(b)
		}
	}
}

// stableLocals gives each local of c that holds the same value whenever
// it is defined during one evaluation (in one With scope) a key naming that
// value: "$0" and "$1" for the input and data documents and copies of
// them, "c" and the constant for locals only ever set to one constant.
// Other locals get "". It returns nil when c writes the documents' slots
// at all (With included, conservatively), or its first parameters are not
// the documents.
func stableLocals(c *code, params []int32, plan bool) []string {
	if !plan && (len(params) < 2 || params[0] != 0 || params[1] != 1) {
		return nil
	}
	writes := map[int32][]*instr{}
	eachInstr(c.blocks, func(in *instr) {
		for _, t := range writtenLocals(in) {
			writes[t] = append(writes[t], in)
		}
	})
	if len(params) > 2 {
		for _, p := range params[2:] {
			writes[p] = append(writes[p], nil) // a parameter: anything
		}
	}
	if len(writes[0]) > 0 || len(writes[1]) > 0 {
		return nil
	}
	keys := make([]string, c.nlocals)
	keys[0], keys[1] = "$0", "$1"
	// A local written once, by a constant or a copy of a stable local,
	// is stable too; copies of copies are found by repeating.
	for changed := true; changed; {
		changed = false
		for x, ws := range writes {
			if keys[x] != "" || len(ws) != 1 || ws[0] == nil {
				continue
			}
			switch w := ws[0]; {
			case w.op == opConst:
				keys[x], changed = "c"+w.a.c.String(), true
			case w.op == opAssignVar && w.a.local < 0:
				keys[x], changed = "c"+w.a.c.String(), true
			case w.op == opAssignVar && keys[w.a.local] != "":
				keys[x], changed = keys[w.a.local], true
			}
		}
	}
	return keys
}

// writtenLocals are the locals in writes, With's replaced one included.
func writtenLocals(in *instr) []int32 {
	switch in.op {
	case opAssignVar, opAssignVarOnce, opResetLocal, opConst, opMakeArray, opMakeObject, opMakeSet,
		opArrayAppend, opObjectInsert, opObjectInsertOnce, opObjectMerge, opSetAdd, opDot, opLen,
		opCall, opCallBuiltin, opCallDynamic, opWith, opBuildArray, opBuildObject, opBuildSet:
		return []int32{in.target}
	case opScan:
		return []int32{in.key, in.val}
	}
	return nil
}

// shareEmpty lets a Make statement start its local on a shared empty term
// instead of a fresh one when nothing can take an alias of the local while
// it is empty: no statement reads the local between the Make and its last
// mutation, and every mutation of the local follows the Make in its block.
// The first mutation then gives the local a term of
// its own (see opArrayAppend, opObjectInsert, opSetAdd); most sets the
// planner makes (a rule's denials) never get one.
func shareEmpty(b *block, s *localStats) {
	for i := range b.instrs {
		in := &b.instrs[i]
		for _, inner := range in.blocks {
			shareEmpty(inner, s)
		}
		if in.body != nil {
			shareEmpty(in.body, s)
		}
		if !isMake(in.op) {
			continue
		}
		x := in.target
		last, n := -1, 0
		for j := i + 1; j < len(b.instrs); j++ {
			if k := countMutations(&b.instrs[j], x); k > 0 {
				last, n = j, n+k
			}
		}
		ok := n == s.mutations[x]
		for j := i + 1; j <= last && ok; j++ {
			ok = !readsDeep(&b.instrs[j], x)
		}
		if ok {
			in.n = sharedTerm
		}
	}
}

// sharedTerm marks a Make statement whose local starts on the shared empty
// term (its capacity hint, for arrays, is then unused).
const sharedTerm = -1

// countMutations counts the mutations of x in and under in.
func countMutations(in *instr, x int32) int {
	n := 0
	switch in.op {
	case opArrayAppend, opObjectInsert, opObjectInsertOnce, opSetAdd:
		if in.target == x {
			n++
		}
	}
	for _, b := range in.blocks {
		for j := range b.instrs {
			n += countMutations(&b.instrs[j], x)
		}
	}
	if in.body != nil {
		for j := range in.body.instrs {
			n += countMutations(&in.body.instrs[j], x)
		}
	}
	return n
}

// readsDeep reports whether in, or any statement nested in it, reads the
// local x other than as the target of a mutation.
func readsDeep(in *instr, x int32) bool {
	uses := func(o operand) bool { return o.local == x }
	switch in.op {
	case opNop, opResetLocal, opConst, opMakeArray, opMakeObject, opMakeSet, opBreak, opBlock, opNot:
	case opArrayAppend, opSetAdd, opAssignVar, opAssignVarOnce, opLen, opIsArray, opIsObject, opIsSet,
		opIsDefined, opIsUndefined, opReturn, opResultSetAdd, opScan, opWith:
		if uses(in.a) {
			return true
		}
	case opObjectInsert, opObjectInsertOnce, opDot, opEqual, opNotEqual, opObjectMerge:
		if uses(in.a) || uses(in.b) {
			return true
		}
	default:
		// Calls and fused literals read their arguments; anything else
		// is assumed to read x.
		if in.op != opCall && in.op != opCallBuiltin && in.op != opCallDynamic &&
			in.op != opBuildArray && in.op != opBuildObject && in.op != opBuildSet {
			return true
		}
	}
	for _, a := range in.args {
		if uses(a) {
			return true
		}
	}
	for _, a := range in.dpath {
		if uses(a) {
			return true
		}
	}
	if in.op == opWith && in.target == x {
		return true
	}
	for _, b := range in.blocks {
		for j := range b.instrs {
			if readsDeep(&b.instrs[j], x) {
				return true
			}
		}
	}
	if in.body != nil {
		for j := range in.body.instrs {
			if readsDeep(&in.body.instrs[j], x) {
				return true
			}
		}
	}
	return false
}

// localStats counts, per local of one code, how it is written.
type localStats struct {
	makes     map[int32]int // Make statements
	mutations map[int32]int // ArrayAppend, ObjectInsert(Once), SetAdd
	others    map[int32]int // any other write
}

func collect(c *code) *localStats {
	s := &localStats{makes: map[int32]int{}, mutations: map[int32]int{}, others: map[int32]int{}}
	eachInstr(c.blocks, func(in *instr) {
		switch in.op {
		case opMakeArray, opMakeObject, opMakeSet:
			s.makes[in.target]++
		case opArrayAppend, opObjectInsert, opObjectInsertOnce, opSetAdd:
			s.mutations[in.target]++
		case opAssignVar, opAssignVarOnce, opResetLocal, opConst, opObjectMerge,
			opDot, opLen, opCall, opCallBuiltin, opCallDynamic, opWith:
			s.others[in.target]++
		case opScan:
			s.others[in.key]++
			s.others[in.val]++
		}
	})
	return s
}

// eachInstr calls fn on every instruction of blocks, each before the
// blocks nested in it.
func eachInstr(blocks []*block, fn func(*instr)) {
	for _, b := range blocks {
		for i := range b.instrs {
			in := &b.instrs[i]
			fn(in)
			eachInstr(in.blocks, fn)
			if in.body != nil {
				eachInstr([]*block{in.body}, fn)
			}
		}
	}
}

// mutationsOnlyOfMade reports whether every local the code mutates holds
// only composites the code made itself.
func (s *localStats) mutationsOnlyOfMade(params []int32) bool {
	for x := range s.mutations {
		if s.others[x] > 0 || s.makes[x] == 0 {
			return false
		}
		for _, p := range params {
			if p == x {
				return false
			}
		}
	}
	return true
}

func isMake(op opcode) bool { return op == opMakeArray || op == opMakeObject || op == opMakeSet }

// mutates reports whether in is a mutation of the local x that fusion and
// folding may absorb (ObjectInsertOnce keeps its conflict check).
func mutates(in *instr, x int32) bool {
	switch in.op {
	case opArrayAppend, opSetAdd, opObjectInsert:
		return in.target == x
	}
	return false
}

func rewrite(b *block, s *localStats) {
	out := make([]instr, 0, len(b.instrs))
	for i := 0; i < len(b.instrs); i++ {
		in := b.instrs[i]
		for _, inner := range in.blocks {
			rewrite(inner, s)
		}
		if in.body != nil {
			rewrite(in.body, s)
		}
		if !isMake(in.op) {
			out = append(out, in)
			continue
		}
		x := in.target
		if s.makes[x] == 1 {
			// A constant literal: Make followed by every mutation of x,
			// all of constants.
			j := i + 1
			for j < len(b.instrs) && mutates(&b.instrs[j], x) && constOperands(&b.instrs[j]) {
				j++
			}
			if j-i-1 == s.mutations[x] {
				out = append(out, instr{op: opConst, target: x, a: operand{local: -1, c: literal(in.op, b.instrs[i+1:j])}, loc: in.loc})
				i = j - 1
				continue
			}
		}
		// A literal of variables: Make, then mutations of x, with
		// only constant assignments to other locals in between (the
		// planner builds nested constant literals there, folded above).
		// Those move before the build, which reads every element at
		// the end of the run: so the run ends before a constant
		// assignment to a local an earlier element read.
		var elems, between []instr
		read := map[int32]bool{}
		j := i + 1
	run:
		for ; j < len(b.instrs); j++ {
			next := b.instrs[j]
			switch {
			case mutates(&next, x):
				if next.a.local == x || (next.op == opObjectInsert && next.b.local == x) {
					break run
				}
				if next.a.local >= 0 {
					read[next.a.local] = true
				}
				if next.op == opObjectInsert && next.b.local >= 0 {
					read[next.b.local] = true
				}
				elems = append(elems, next)
			case next.op == opConst && next.target != x && !read[next.target]:
				between = append(between, next)
			default:
				break run
			}
		}
		if len(elems) == 0 {
			out = append(out, in)
			continue
		}
		out = append(out, between...)
		out = append(out, build(in, elems))
		i = j - 1
	}
	b.instrs = out
}

func constOperands(in *instr) bool {
	if in.a.local >= 0 {
		return false
	}
	if in.op == opObjectInsert && in.b.local >= 0 {
		return false
	}
	return true
}

// literal builds the constant a Make statement and its mutations make.
func literal(op opcode, muts []instr) *ast.Term {
	switch op {
	case opMakeArray:
		elems := make([]*ast.Term, len(muts))
		for i, m := range muts {
			elems[i] = m.a.c
		}
		return ast.NewTerm(ast.NewArray(elems...))
	case opMakeSet:
		s := ast.NewSetWithCapacity(len(muts))
		for _, m := range muts {
			s.Add(m.a.c)
		}
		return ast.NewTerm(s)
	default:
		obj := ast.NewObjectWithCapacity(len(muts))
		for _, m := range muts {
			obj.Insert(m.a.c, m.b.c)
		}
		return ast.NewTerm(obj)
	}
}

// distinctConstKeys marks an object literal whose keys are constants, all
// different: build need not compare them.
const distinctConstKeys = 1

// build is one instruction making x with all its elements.
func build(mk instr, elems []instr) instr {
	in := instr{target: mk.target, loc: mk.loc}
	switch mk.op {
	case opMakeArray:
		in.op = opBuildArray
	case opMakeSet:
		in.op = opBuildSet
	default:
		in.op = opBuildObject
	}
	for _, e := range elems {
		in.args = append(in.args, e.a)
		if in.op == opBuildObject {
			in.args = append(in.args, e.b)
		}
	}
	if in.op == opBuildObject {
		in.n = distinctConstKeys
		for i := 0; i < len(in.args); i += 2 {
			k := in.args[i]
			if k.local >= 0 {
				in.n = 0
				break
			}
			for j := 0; j < i; j += 2 {
				if equal(in.args[j].c, k.c) {
					in.n = 0
				}
			}
		}
	}
	return in
}
