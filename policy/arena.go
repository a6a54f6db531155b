package policy

import "github.com/open-policy-agent/opa/v1/ast"

// encoder is the state of one conversion to an OPA value. It hands out
// terms and array element slices from chunks, so that a value of a hundred
// terms costs a few allocations instead of a hundred: the objects and arrays
// OPA builds around them cost enough already (ast.NewObject allocates five
// times per object).
type encoder struct {
	termChunk []ast.Term
	ptrChunk  []*ast.Term
	// recycled, when set, hands out the chunks instead of make: those of
	// an earlier conversion nothing references any more (see lazyInput).
	recycled *chunks
}

const (
	termChunkSize = 64
	ptrChunkSize  = 32
)

// term returns a new term holding v.
func (e *encoder) term(v ast.Value) *ast.Term {
	if len(e.termChunk) == 0 {
		e.termChunk = e.recycled.termChunk()
	}
	t := &e.termChunk[0]
	e.termChunk = e.termChunk[1:]
	t.Value = v
	return t
}

// terms returns a slice of n term pointers for an array's elements. Its
// capacity is its length, so that appending to the array never writes into
// the chunk.
func (e *encoder) terms(n int) []*ast.Term {
	if n > ptrChunkSize/2 {
		return make([]*ast.Term, n)
	}
	if len(e.ptrChunk) < n {
		e.ptrChunk = e.recycled.ptrChunk()
	}
	s := e.ptrChunk[:n:n]
	e.ptrChunk = e.ptrChunk[n:]
	return s
}

// chunks keeps every chunk an encoder took, for the next conversion to
// take again once reset. A nil *chunks makes new ones.
type chunks struct {
	terms  [][]ast.Term
	ptrs   [][]*ast.Term
	nterms int
	nptrs  int
}

func (c *chunks) termChunk() []ast.Term {
	if c == nil {
		return make([]ast.Term, termChunkSize)
	}
	if c.nterms == len(c.terms) {
		c.terms = append(c.terms, make([]ast.Term, termChunkSize))
	}
	c.nterms++
	return c.terms[c.nterms-1]
}

func (c *chunks) ptrChunk() []*ast.Term {
	if c == nil {
		return make([]*ast.Term, ptrChunkSize)
	}
	if c.nptrs == len(c.ptrs) {
		c.ptrs = append(c.ptrs, make([]*ast.Term, ptrChunkSize))
	}
	c.nptrs++
	return c.ptrs[c.nptrs-1]
}

// reset zeroes the chunks handed out, which drops what they referenced,
// and makes them available again.
func (c *chunks) reset() {
	for _, t := range c.terms[:c.nterms] {
		clear(t)
	}
	for _, p := range c.ptrs[:c.nptrs] {
		clear(p)
	}
	c.nterms, c.nptrs = 0, 0
}

// objectBuilder collects an object's pairs before ast.NewObject copies
// them; up to 16 stay on the stack.
type objectBuilder struct {
	n     int
	small [16][2]*ast.Term
	more  [][2]*ast.Term
}

// init prepares for n pairs.
func (o *objectBuilder) init(n int) {
	if n > len(o.small) {
		o.more = make([][2]*ast.Term, 0, n)
	}
}

func (o *objectBuilder) add(k, v *ast.Term) {
	if o.more != nil {
		o.more = append(o.more, [2]*ast.Term{k, v})
		return
	}
	if o.n == len(o.small) {
		o.more = append(make([][2]*ast.Term, 0, 2*len(o.small)), o.small[:]...)
		o.more = append(o.more, [2]*ast.Term{k, v})
		return
	}
	o.small[o.n] = [2]*ast.Term{k, v}
	o.n++
}

func (o *objectBuilder) object() ast.Object {
	if o.more != nil {
		return ast.NewObject(o.more...)
	}
	return ast.NewObject(o.small[:o.n]...)
}
