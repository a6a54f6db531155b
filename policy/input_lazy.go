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
	// docs is the chunk the next documents are taken from: a plan reaches
	// a dozen or two of them. docChunks are all the chunks, ndocs how many
	// are in use.
	docs      []lazyDoc
	docChunks [][]lazyDoc
	ndocs     int
	chunks    chunks
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
	li.enc.recycled = &li.chunks
	// Addressable, as in json.Marshal(&input): pointer-receiver marshalers
	// apply.
	li.root = li.structDoc(reflect.ValueOf(in).Elem(), lazyTypeOf(reflect.TypeFor[Input]()))
	return li
}

// release zeroes what the decision used, so that the pool keeps no input
// alive, and returns li to the pool.
func (li *lazyInput) release() {
	for _, c := range li.docChunks[:li.ndocs] {
		clear(c)
	}
	li.chunks.reset()
	li.ndocs, li.docs = 0, nil
	li.enc = encoder{}
	li.err, li.root = nil, nil
	lazyInputs.Put(li)
}

// value is the input as irvm takes it.
func (li *lazyInput) value() ast.Value { return &li.root.lazy }

type docKind uint8

const (
	docStruct docKind = iota
	docSlice
	docMap
)

// lazyDoc is one object or array of a lazyInput: a plain struct, a slice
// or a map with string keys.
type lazyDoc struct {
	lazy irvm.Lazy
	term ast.Term
	li   *lazyInput
	v    reflect.Value
	// lt is v's type's: its fields' (docStruct) or elements' (docSlice).
	lt *lazyType
	// kids are the values handed out, by field or element index, so that a
	// plan reading input.now twice converts it once.
	kids []*ast.Term
	kind docKind
	// labels is set when v is a map[string]string: no reflection per
	// lookup.
	labels bool
}

func (li *lazyInput) doc(v reflect.Value, kind docKind) *lazyDoc {
	if len(li.docs) == 0 {
		if li.ndocs == len(li.docChunks) {
			li.docChunks = append(li.docChunks, make([]lazyDoc, docChunkSize))
		}
		li.docs = li.docChunks[li.ndocs]
		li.ndocs++
	}
	d := &li.docs[0]
	li.docs = li.docs[1:]
	*d = lazyDoc{li: li, v: v, kind: kind}
	d.lazy.Doc = d
	d.term.Value = &d.lazy
	return d
}

func (li *lazyInput) structDoc(v reflect.Value, lt *lazyType) *lazyDoc {
	d := li.doc(v, docStruct)
	d.lt = lt
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
			return li.child(e, lt.elemType(e.Type()))
		}
		return li.child(e, lazyTypeOf(e.Type()))
	case shapeStruct:
		return &li.structDoc(v, lt).term
	case shapeSlice:
		if v.IsNil() {
			return ast.InternedNullTerm
		}
		d := li.doc(v, docSlice)
		d.lt = lt
		return &d.term
	case shapeMap:
		if v.IsNil() {
			return ast.InternedNullTerm
		}
		if d, ok := li.mapDoc(v); ok {
			return &d.term
		}
	}
	x, err := lt.enc(&li.enc, v)
	if err != nil {
		li.fail(err)
		return nil
	}
	return li.enc.term(x)
}

// lazyType is how child treats values of one type, found once per type.
type lazyType struct {
	shape shape
	info  *structInfo // shapeStruct
	enc   encoderFunc // everything else
	// elem is the element type's, once read, of pointers and slices.
	elem atomic.Pointer[lazyType]
}

// elemType returns lt's element lazyType, t.
func (lt *lazyType) elemType(t reflect.Type) *lazyType {
	if e := lt.elem.Load(); e != nil {
		return e
	}
	e := lazyTypeOf(t)
	lt.elem.Store(e)
	return e
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
	lt := &lazyType{shape: shapeValue, enc: typeEncoder(t)}
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
	x, _ := lazyTypes.LoadOrStore(t, lt)
	return x.(*lazyType)
}

// mapDoc is a document over a map, unless a key is not valid UTF-8:
// encoding/json may merge such keys, so the map is converted whole.
func (li *lazyInput) mapDoc(v reflect.Value) (*lazyDoc, bool) {
	if v.Type() == stringMapType {
		m := v.Interface().(map[string]string)
		for k := range m {
			if !utf8.ValidString(k) {
				return nil, false
			}
		}
		d := li.doc(v, docMap)
		d.labels = true
		return d, true
	}
	for it := v.MapRange(); it.Next(); {
		if !utf8.ValidString(it.Key().String()) {
			return nil, false
		}
	}
	return li.doc(v, docMap), true
}

func (li *lazyInput) fail(err error) {
	if li.err == nil {
		li.err = err
	}
}

// Get implements irvm.Doc.
func (d *lazyDoc) Get(key *ast.Term) *ast.Term {
	switch d.kind {
	case docStruct:
		s, ok := key.Value.(ast.String)
		if !ok {
			return nil
		}
		i, ok := d.lt.info.field(string(s))
		if !ok {
			return nil
		}
		return d.field(i)
	case docSlice:
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
			*k = d.li.child(e, d.lt.elemType(e.Type()))
		}
		return *k
	default:
		s, ok := key.Value.(ast.String)
		if !ok {
			return nil
		}
		if d.labels {
			if x, ok := d.v.Interface().(map[string]string)[string(s)]; ok {
				return d.li.enc.str(x)
			}
			return nil
		}
		x := d.v.MapIndex(reflect.ValueOf(string(s)).Convert(d.v.Type().Key()))
		if !x.IsValid() {
			return nil
		}
		return d.li.child(x, lazyTypeOf(x.Type()))
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
			lt := d.lt.info.lazy[i].Load()
			if lt == nil {
				lt = lazyTypeOf(fv.Type())
				d.lt.info.lazy[i].Store(lt)
			}
			*k = d.li.child(fv, lt)
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
	if d.kind != docStruct {
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
func (d *lazyDoc) IsArray() bool { return d.kind == docSlice }

// Value implements irvm.Doc.
func (d *lazyDoc) Value() ast.Value {
	x, err := typeEncoder(d.v.Type())(&d.li.enc, d.v)
	if err != nil {
		d.li.fail(err)
		return nil
	}
	return x
}
