package irvm

import (
	"github.com/open-policy-agent/opa/v1/ast"
)

// Doc is an object or array of the input document that its host converts
// to OPA's values on demand, key by key. A plan reads most of its input
// through references with constant keys (input.now.ns,
// object.get(input, ["placement", "targets"], [])), so building every
// object on the way, which costs more than the rest of a decision, is
// mostly wasted: a Doc hands out only the values the plan reaches.
//
// A Doc is used by one evaluation at a time.
type Doc interface {
	// Get returns the value under key, an object's key or an array's
	// index, as Object.Get and Array.Get would: nil when there is none.
	// Composite values may come back as Lazy terms themselves.
	Get(key *ast.Term) *ast.Term
	// Len is the number of keys or elements.
	Len() int
	// IsArray tells an array from an object.
	IsArray() bool
	// Value converts the whole document. On failure it returns nil and the
	// host remembers why; the host then fails the decision, whatever the
	// plan made of the value being undefined.
	Value() ast.Value
}

// Lazy is the value of a Doc in a term. The interpreter reads it through
// the Doc where it only looks a key up, iterates an array, counts or tests
// the type (dot, scan, count, object.get, is_object), and converts it
// whole (materialize) wherever else a value goes: into comparisons,
// builtins, composites and results. Nothing outside the interpreter ever
// sees a Lazy, but its ast.Value methods answer as the converted value
// would, in case.
type Lazy struct {
	Doc  Doc
	full *ast.Term
}

// Term returns the converted document, converting it on first use; nil
// when the conversion failed.
func (lz *Lazy) Term() *ast.Term {
	if lz.full == nil {
		if v := lz.Doc.Value(); v != nil {
			lz.full = ast.NewTerm(v)
		}
	}
	return lz.full
}

func (lz *Lazy) value() ast.Value {
	if t := lz.Term(); t != nil {
		return t.Value
	}
	return ast.Null{}
}

// Compare compares as the converted value.
func (lz *Lazy) Compare(other ast.Value) int {
	if o, ok := other.(*Lazy); ok {
		other = o.value()
	}
	return ast.Compare(lz.value(), other)
}

// Find finds as the converted value.
func (lz *Lazy) Find(path ast.Ref) (ast.Value, error) { return lz.value().Find(path) }

// Hash hashes as the converted value.
func (lz *Lazy) Hash() int { return lz.value().Hash() }

// IsGround is true: input is ground.
func (*Lazy) IsGround() bool { return true }

// String prints the converted value.
func (lz *Lazy) String() string { return lz.value().String() }

// StringLength is the converted value's.
func (lz *Lazy) StringLength() int { return lz.value().StringLength() }

// materialize returns t with a Lazy value converted; anything else as it
// is.
func materialize(t *ast.Term) *ast.Term {
	if t != nil {
		if lz, ok := t.Value.(*Lazy); ok {
			return lz.Term()
		}
	}
	return t
}

// lazyOf returns t's Lazy value, if it has one.
func lazyOf(t *ast.Term) (*Lazy, bool) {
	if t == nil {
		return nil, false
	}
	lz, ok := t.Value.(*Lazy)
	return lz, ok
}
