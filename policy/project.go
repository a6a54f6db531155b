package policy

import (
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/open-policy-agent/opa/v1/ast"
)

// projection is the part of the input document a set of policies can read,
// as a tree of object keys. A nil *projection stands for a whole value: the
// value at that path is read as a whole (or through keys only known during
// evaluation), so it is converted entirely. Converting only the projection
// gives every policy of the set exactly the values it could read at every
// path it reads, and the same decision, for much less work: the library
// never looks at the source or the metadata's labels, say.
type projection struct {
	// children are sorted by key.
	children []projChild
}

type projChild struct {
	key     string
	keyTerm *ast.Term
	node    *projection
}

// child returns the projection under key, and whether key is part of it.
func (p *projection) child(key string) (*projection, bool) {
	if p == nil {
		return nil, true
	}
	for i := range p.children {
		if p.children[i].key == key {
			return p.children[i].node, true
		}
	}
	return nil, false
}

// projectionOf is the union of what the policies on topdown read, nil
// (everything) when one of them reads the input as a whole. A broken
// policy reads nothing, and one on irvm reads the input on demand.
func projectionOf(policies []*Policy) *projection {
	root := &projection{}
	for _, p := range policies {
		if p.query == nil || p.readsLazily() {
			continue
		}
		if p.query.reads.all {
			return nil
		}
		for _, path := range p.query.reads.paths {
			if root = root.with(path); root == nil {
				return nil
			}
		}
	}
	return root
}

// with returns p with the value at path read whole.
func (p *projection) with(path ast.Ref) *projection {
	if p == nil || len(path) == 0 {
		return nil
	}
	s, ok := path[0].Value.(ast.String)
	if !ok {
		// inputPrefix keeps string keys only; were it ever otherwise, the
		// value here is read through a key unknown until evaluation.
		return nil
	}
	key := string(s)
	j, found := slices.BinarySearchFunc(p.children, key, func(c projChild, k string) int { return strings.Compare(c.key, k) })
	if found {
		p.children[j].node = p.children[j].node.with(path[1:])
		return p
	}
	p.children = slices.Insert(p.children, j, projChild{key: key, keyTerm: ast.StringTerm(key), node: (&projection{}).with(path[1:])})
	return p
}

// projectValue converts v, of a type without a hand-written converter,
// keeping only what p selects. It descends into pointers and plain structs
// without converting the fields left out; anything else (maps, types with
// their own marshalers) is converted whole and then cut down, which gives
// the same value.
func (e *encoder) projectValue(v reflect.Value, p *projection) (ast.Value, error) {
	t := v.Type()
	if p != nil {
		switch t.Kind() {
		case reflect.Pointer, reflect.Interface:
			if hasMarshaler(t) {
				break
			}
			if v.IsNil() {
				return ast.Null{}, nil
			}
			return e.projectValue(v.Elem(), p)
		case reflect.Struct:
			info := structInfoOf(t)
			if !info.projectable {
				break
			}
			var o objectBuilder
			for _, c := range p.children {
				i, ok := info.byName[c.key]
				if !ok {
					continue
				}
				f := &info.fields[i]
				fv := v.Field(f.index)
				if f.omitted(fv) {
					continue
				}
				x, err := e.projectValue(fv, c.node)
				if err != nil {
					return nil, err
				}
				o.add(f.name, e.term(x))
			}
			return o.object(), nil
		}
	}
	x, err := typeEncoder(t)(e, v)
	if err != nil {
		return nil, err
	}
	return e.projectAST(x, p), nil
}

// projectAST cuts a converted value down to what p selects.
func (e *encoder) projectAST(x ast.Value, p *projection) ast.Value {
	obj, ok := x.(ast.Object)
	if p == nil || !ok {
		// A value that is not an object ends every path through it: it is
		// read whole.
		return x
	}
	var o objectBuilder
	for _, c := range p.children {
		if t := obj.Get(c.keyTerm); t != nil {
			o.add(c.keyTerm, e.term(e.projectAST(t.Value, c.node)))
		}
	}
	return o.object()
}

// structInfo is what projecting a struct type needs: its JSON fields by
// name, and whether the full encoder treats it as a plain struct (no
// marshaler, no shape left to encoding/json, no two fields of one name).
type structInfo struct {
	fields []encField
	byName map[string]int
	// names are the fields' names in order, for a scan that beats the map
	// on structs of a few dozen fields.
	names       []string
	projectable bool
	// lazy holds each field's lazyType once a lazyDoc has read it.
	lazy []atomic.Pointer[lazyType]
}

// field returns the index of the field named name.
func (info *structInfo) field(name string) (int, bool) {
	for i, n := range info.names {
		if n == name {
			return i, true
		}
	}
	return 0, false
}

var structInfos sync.Map // reflect.Type -> *structInfo

func structInfoOf(t reflect.Type) *structInfo {
	if i, ok := structInfos.Load(t); ok {
		return i.(*structInfo)
	}
	fields, ok := structFields(t)
	info := &structInfo{fields: fields, byName: make(map[string]int, len(fields)),
		projectable: ok && t != durationType && !hasMarshaler(t), lazy: make([]atomic.Pointer[lazyType], len(fields))}
	for i, f := range fields {
		name := string(f.name.Value.(ast.String))
		if _, dup := info.byName[name]; dup {
			info.projectable = false
		}
		info.byName[name] = i
		info.names = append(info.names, name)
	}
	i, _ := structInfos.LoadOrStore(t, info)
	return i.(*structInfo)
}
