package irvm

import (
	"unicode/utf8"

	"github.com/open-policy-agent/opa/v1/ast"
)

// value returns t's value as a T; false when t is undefined or another type.
func value[T ast.Value](t *ast.Term) (T, bool) {
	var zero T
	if t == nil {
		return zero, false
	}
	v, ok := t.Value.(T)
	return v, ok
}

// equal compares as Rego's == does: numbers by value, composites deeply.
func equal(a, b *ast.Term) bool {
	if a == b {
		return true
	}
	return ast.Compare(a.Value, b.Value) == 0
}

// dot looks key up in src as a reference does: an object's value, an
// array's element at an integer index, a set's element itself. Anything
// else, and a missing key, is undefined (nil).
func dot(src, key *ast.Term) *ast.Term {
	if src == nil || key == nil {
		return nil
	}
	switch v := src.Value.(type) {
	case *Lazy:
		return v.Doc.Get(key)
	case ast.Object:
		return v.Get(key)
	case *ast.Array:
		return v.Get(key)
	case ast.Set:
		if v.Contains(key) {
			return key
		}
	}
	return nil
}

// length is the number of elements of a collection, of characters of a
// string.
func length(t *ast.Term) (int, bool) {
	if t == nil {
		return 0, false
	}
	switch v := t.Value.(type) {
	case *Lazy:
		return v.Doc.Len(), true
	case *ast.Array:
		return v.Len(), true
	case ast.Object:
		return v.Len(), true
	case ast.Set:
		return v.Len(), true
	case ast.String:
		return utf8.RuneCountInString(string(v)), true
	}
	return 0, false
}

// isArray and isObject test a value's type; a Lazy's is its Doc's.
func isArray(t *ast.Term) bool {
	if lz, ok := lazyOf(t); ok {
		return lz.Doc.IsArray()
	}
	_, ok := value[*ast.Array](t)
	return ok
}

func isObject(t *ast.Term) bool {
	if lz, ok := lazyOf(t); ok {
		return !lz.Doc.IsArray()
	}
	_, ok := value[ast.Object](t)
	return ok
}

// upsert returns base with v at path, copying every object on the path so
// that base, which other evaluations may share, is never modified. A
// missing or non-object step becomes an empty object.
func upsert(base *ast.Term, path []*ast.Term, v *ast.Term) *ast.Term {
	root := shallowCopy(base)
	cur := root
	for _, k := range path[:len(path)-1] {
		next := shallowCopy(cur.Get(k))
		cur.Insert(k, ast.NewTerm(next))
		cur = next
	}
	cur.Insert(path[len(path)-1], v)
	return ast.NewTerm(root)
}

func shallowCopy(t *ast.Term) ast.Object {
	obj, ok := value[ast.Object](t)
	if !ok {
		return ast.NewObject()
	}
	cp := ast.NewObjectWithCapacity(obj.Len())
	obj.Foreach(func(k, v *ast.Term) { cp.Insert(k, v) })
	return cp
}

// build makes the composite of a fused literal (see optimize); nil when an
// element is undefined, which fails the statement as the original
// ArrayAppend, ObjectInsert or SetAdd would have.
func (f *frame) build(in *instr, l []*ast.Term) *ast.Term {
	n := len(in.args)
	switch in.op {
	case opBuildArray:
		elems := make([]*ast.Term, n)
		for i, a := range in.args {
			if elems[i] = get(a, l); elems[i] == nil {
				return nil
			}
		}
		return ast.NewTerm(ast.NewArray(elems...))
	case opBuildSet:
		s := ast.NewSetWithCapacity(n)
		for _, a := range in.args {
			t := get(a, l)
			if t == nil {
				return nil
			}
			s.Add(t)
		}
		return ast.NewTerm(s)
	}
	kvs := f.kvs[:0]
	distinct := true
	check := in.n != distinctConstKeys
	for i := 0; i+1 < n; i += 2 {
		k, v := get(in.args[i], l), get(in.args[i+1], l)
		if k == nil || v == nil {
			clear(kvs)
			f.kvs = kvs[:0]
			return nil
		}
		for _, kv := range kvs {
			if check && distinct && equal(kv[0], k) {
				distinct = false
			}
		}
		kvs = append(kvs, [2]*ast.Term{k, v})
	}
	var obj ast.Object
	if distinct {
		// One allocation for all elements; NewObject assumes distinct
		// keys.
		obj = ast.NewObject(kvs...)
	} else {
		// A later insert of a key replaces the earlier value, as the
		// ObjectInserts did.
		obj = ast.NewObjectWithCapacity(len(kvs))
		for _, kv := range kvs {
			obj.Insert(kv[0], kv[1])
		}
	}
	clear(kvs)
	f.kvs = kvs[:0]
	return ast.NewTerm(obj)
}
