package policy

import (
	"reflect"
	"sync"
	"sync/atomic"
	"unicode/utf8"

	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/faultline-dev/faultline/policy/internal/irvm"
)

// lazyInput is an input that a plan on irvm reads on demand (see
// irvm.Doc): its objects and arrays are documents over the Go values,
// which convert a value only when the plan reaches it, and convert a
// document whole only when the plan uses it as a value. What they give is
// what the reflective encoder gives for the same Go value, which equals
// encoding/json's (encode.go); the engine tests compare decisions made
// this way with topdown's on the JSON route.
//
// A lazyInput serves one decision, on one goroutine. Its memory is
// recycled (see release): nothing of a decision references its terms
// once the decision is read, since a Decision holds Go strings only.
type lazyInput struct {
	enc encoder
	// err is the first conversion that failed; the decision fails with it.
	err  error
	root *lazyDoc
	// free is what is left of the chunk the next documents are taken
	// from: a plan reaches a dozen or two of them.
	free []lazyDoc
	// The chunks of documents, terms and term slices the decision took.
	docs  chunkList[lazyDoc]
	terms chunkList[ast.Term]
	ptrs  chunkList[*ast.Term]
}

const docChunkSize = 8

var lazyInputs = sync.Pool{New: func() any { return new(lazyInput) }}

// newLazyInput returns a lazyInput of in; release it when its decisions
// are read.
func newLazyInput(in *Input) *lazyInput {
	li, _ := lazyInputs.Get().(*lazyInput)
	if li == nil {
		li = new(lazyInput)
	}
	li.enc = encoder{termChunks: &li.terms, ptrChunks: &li.ptrs}
	// Addressable, as in json.Marshal(&input): pointer-receiver marshalers
	// apply.
	li.root = li.doc(reflect.ValueOf(in).Elem(), lazyTypeOf(reflect.TypeFor[Input]()))
	return li
}

// release zeroes what the decision used, so that the pool keeps no input
// alive, and returns li to the pool.
func (li *lazyInput) release() {
	li.docs.reset()
	li.terms.reset()
	li.ptrs.reset()
	li.enc = encoder{}
	li.err, li.root, li.free = nil, nil, nil
	lazyInputs.Put(li)
}

// value is the input as irvm takes it.
func (li *lazyInput) value() ast.Value { return &li.root.lazy }

// lazyDoc is one object or array of a lazyInput: a plain struct, a slice
// or a map with string keys (lt.shape says which).
type lazyDoc struct {
	lazy irvm.Lazy
	term ast.Term
	li   *lazyInput
	v    reflect.Value
	lt   *lazyType
	// kids are the values handed out, by field or element index, so that a
	// plan reading input.now twice converts it once.
	kids []*ast.Term
}

func (li *lazyInput) doc(v reflect.Value, lt *lazyType) *lazyDoc {
	if len(li.free) == 0 {
		li.free = li.docs.next(docChunkSize)
	}
	d := &li.free[0]
	li.free = li.free[1:]
	*d = lazyDoc{li: li, v: v, lt: lt}
	d.lazy.Doc = d
	d.term.Value = &d.lazy
	return d
}

// child is v's term: a document for a plain struct, a slice or a map
// with string keys, else v converted now. It follows the reflective
// encoder's recursion, so that the values are the same.
func (li *lazyInput) child(v reflect.Value, lt *lazyType) *ast.Term {
	switch lt.shape {
	case shapeIndirect:
		if v.IsNil() {
			return ast.InternedNullTerm
		}
		e := v.Elem()
		if v.Kind() == reflect.Pointer {
			return li.child(e, lt.kid(0, e.Type()))
		}
		return li.child(e, lazyTypeOf(e.Type()))
	case shapeStruct:
		return &li.doc(v, lt).term
	case shapeSlice, shapeMap:
		if v.IsNil() {
			return ast.InternedNullTerm
		}
		if lt.shape == shapeSlice || validKeys(v, lt) {
			return &li.doc(v, lt).term
		}
	}
	x, err := lt.enc(&li.enc, v)
	if err != nil {
		li.fail(err)
		return nil
	}
	return li.enc.term(x)
}

// validKeys reports whether every key of the map v is valid UTF-8; when
// one is not, the map is converted whole, since encoding/json may merge
// such keys.
func validKeys(v reflect.Value, lt *lazyType) bool {
	if lt.labels {
		for k := range v.Interface().(map[string]string) {
			if !utf8.ValidString(k) {
				return false
			}
		}
		return true
	}
	for it := v.MapRange(); it.Next(); {
		if !utf8.ValidString(it.Key().String()) {
			return false
		}
	}
	return true
}

// lazyType is how child treats values of one type, found once per type.
type lazyType struct {
	shape shape
	info  *structInfo // shapeStruct
	enc   encoderFunc
	// labels is set for map[string]string: looked up without reflection.
	labels bool
	// kids hold, once read, the lazyTypes of a struct's fields, or of a
	// pointer's, slice's or map's elements (kid 0).
	kids []atomic.Pointer[lazyType]
}

// kid returns the lazyType of lt's kid i, of type t.
func (lt *lazyType) kid(i int, t reflect.Type) *lazyType {
	if k := lt.kids[i].Load(); k != nil {
		return k
	}
	k := lazyTypeOf(t)
	lt.kids[i].Store(k)
	return k
}

type shape uint8

const (
	// shapeValue is converted at once.
	shapeValue shape = iota
	// shapeIndirect is a pointer or interface without marshalers: its
	// element's shape counts.
	shapeIndirect
	shapeStruct
	shapeSlice
	shapeMap
)

var lazyTypes sync.Map // reflect.Type -> *lazyType

func lazyTypeOf(t reflect.Type) *lazyType {
	if lt, ok := lazyTypes.Load(t); ok {
		return lt.(*lazyType)
	}
	lt := &lazyType{shape: shapeValue, enc: typeEncoder(t), labels: t == stringMapType}
	if !hasMarshaler(t) {
		switch t.Kind() {
		case reflect.Pointer, reflect.Interface:
			lt.shape = shapeIndirect
		case reflect.Struct:
			if info := structInfoOf(t); info.plain {
				lt.shape, lt.info = shapeStruct, info
			}
		case reflect.Slice:
			if t.Elem().Kind() != reflect.Uint8 {
				lt.shape = shapeSlice
			}
		case reflect.Map:
			if t.Key().Kind() == reflect.String && !t.Key().Implements(textMarshalerType) {
				lt.shape = shapeMap
			}
		}
	}
	n := 1
	if lt.info != nil {
		n = len(lt.info.fields)
	}
	lt.kids = make([]atomic.Pointer[lazyType], n)
	x, _ := lazyTypes.LoadOrStore(t, lt)
	return x.(*lazyType)
}

func (li *lazyInput) fail(err error) {
	if li.err == nil {
		li.err = err
	}
}

// Get implements irvm.Doc.
func (d *lazyDoc) Get(key *ast.Term) *ast.Term {
	switch d.lt.shape {
	case shapeStruct:
		s, ok := key.Value.(ast.String)
		if !ok {
			return nil
		}
		i, ok := d.lt.info.field(string(s))
		if !ok {
			return nil
		}
		return d.field(i)
	case shapeSlice:
		n, ok := key.Value.(ast.Number)
		if !ok {
			return nil
		}
		i, ok := n.Int()
		if !ok || i < 0 || i >= d.v.Len() {
			return nil
		}
		k := d.kid(i, d.v.Len())
		if *k == nil {
			e := d.v.Index(i)
			*k = d.li.child(e, d.lt.kid(0, e.Type()))
		}
		return *k
	default:
		s, ok := key.Value.(ast.String)
		if !ok {
			return nil
		}
		if d.lt.labels {
			if x, ok := d.v.Interface().(map[string]string)[string(s)]; ok {
				return d.li.enc.str(x)
			}
			return nil
		}
		x := d.v.MapIndex(reflect.ValueOf(string(s)).Convert(d.v.Type().Key()))
		if !x.IsValid() {
			return nil
		}
		return d.li.child(x, d.lt.kid(0, x.Type()))
	}
}

// field is the struct field's term, nil when encoding/json omits it.
func (d *lazyDoc) field(i int) *ast.Term {
	k := d.kid(i, len(d.lt.info.fields))
	if *k == nil {
		f := &d.lt.info.fields[i]
		fv := d.v.Field(f.index)
		if f.omitted(fv) {
			*k = omitted
		} else {
			*k = d.li.child(fv, d.lt.kid(i, fv.Type()))
		}
	}
	if *k == omitted {
		return nil
	}
	return *k
}

// omitted marks a field encoding/json leaves out in lazyDoc.kids.
var omitted = &ast.Term{Value: ast.Null{}}

// kid returns the slot of kid i of n.
func (d *lazyDoc) kid(i, n int) **ast.Term {
	if d.kids == nil {
		d.kids = d.li.enc.terms(n)
	}
	return &d.kids[i]
}

// Len implements irvm.Doc.
func (d *lazyDoc) Len() int {
	if d.lt.shape != shapeStruct {
		return d.v.Len()
	}
	n := 0
	for i := range d.lt.info.fields {
		f := &d.lt.info.fields[i]
		if !f.omitted(d.v.Field(f.index)) {
			n++
		}
	}
	return n
}

// IsArray implements irvm.Doc.
func (d *lazyDoc) IsArray() bool { return d.lt.shape == shapeSlice }

// Value implements irvm.Doc.
func (d *lazyDoc) Value() ast.Value {
	x, err := d.lt.enc(&d.li.enc, d.v)
	if err != nil {
		d.li.fail(err)
		return nil
	}
	return x
}
