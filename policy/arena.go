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
	// termChunks and ptrChunks, when set, hand out the chunks: those of an
	// earlier conversion nothing references any more (see lazyInput).
	termChunks *chunkList[ast.Term]
	ptrChunks  *chunkList[*ast.Term]
}

const (
	termChunkSize = 64
	ptrChunkSize  = 32
)

// term returns a new term holding v.
func (e *encoder) term(v ast.Value) *ast.Term {
	if len(e.termChunk) == 0 {
		e.termChunk = e.termChunks.next(termChunkSize)
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
		e.ptrChunk = e.ptrChunks.next(ptrChunkSize)
	}
	s := e.ptrChunk[:n:n]
	e.ptrChunk = e.ptrChunk[n:]
	return s
}

// chunkList hands out chunks of Ts and keeps each one it made, to hand it
// out again once reset. A nil *chunkList makes a new chunk every time.
type chunkList[T any] struct {
	all  [][]T
	used int
}

// next returns a chunk of n Ts, all zero; a list is always asked for the
// same n.
func (c *chunkList[T]) next(n int) []T {
	if c == nil {
		return make([]T, n)
	}
	if c.used == len(c.all) {
		c.all = append(c.all, make([]T, n))
	}
	c.used++
	return c.all[c.used-1]
}

// reset zeroes the chunks handed out, which drops what they referenced,
// and makes them available again.
func (c *chunkList[T]) reset() {
	for _, ch := range c.all[:c.used] {
		clear(ch)
	}
	c.used = 0
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
