package policy

import (
	"fmt"

	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/faultline-dev/faultline/policy/internal/irvm"
)

// CheckLazyInput walks the documents a plan would read of in (see
// lazyInput) beside the input converted whole, and reports the first path
// where they differ: a key one has and the other lacks, a value, a length
// or a type. Every document is also converted whole and compared.
func CheckLazyInput(in *Input) error {
	full, err := in.Value()
	if err != nil {
		return err
	}
	li := newLazyInput(in)
	defer li.release()
	if err := sameDoc(&li.root.term, ast.NewTerm(full), "input"); err != nil {
		return err
	}
	return li.err
}

func sameDoc(got, want *ast.Term, path string) error {
	if got == nil || want == nil {
		if got != want {
			return fmt.Errorf("%s: got %v, want %v", path, got, want)
		}
		return nil
	}
	lz, ok := got.Value.(*irvm.Lazy)
	if !ok {
		if ast.Compare(got.Value, want.Value) != 0 {
			return fmt.Errorf("%s: got %v, want %v", path, got, want)
		}
		return nil
	}
	whole := lz.Doc.Value()
	if whole == nil || ast.Compare(whole, want.Value) != 0 {
		return fmt.Errorf("%s: converted whole to %v, want %v", path, whole, want)
	}
	switch w := want.Value.(type) {
	case ast.Object:
		if lz.Doc.IsArray() || lz.Doc.Len() != w.Len() {
			return fmt.Errorf("%s: array %v of length %d, want an object of %d keys", path, lz.Doc.IsArray(), lz.Doc.Len(), w.Len())
		}
		if err := w.Iter(func(k, v *ast.Term) error { return sameDoc(lz.Doc.Get(k), v, path+"."+k.String()) }); err != nil {
			return err
		}
		probes := []*ast.Term{ast.StringTerm("no-such-key"), ast.InternedTerm(0)}
		if d, ok := lz.Doc.(*lazyDoc); ok && d.lt.shape == shapeStruct {
			// Every field's name: those encoding/json omits are absent.
			for _, f := range d.lt.info.fields {
				probes = append(probes, f.name)
			}
		}
		for _, k := range probes {
			if w.Get(k) == nil && lz.Doc.Get(k) != nil {
				return fmt.Errorf("%s: has key %v", path, k)
			}
		}
	case *ast.Array:
		if !lz.Doc.IsArray() || lz.Doc.Len() != w.Len() {
			return fmt.Errorf("%s: array %v of length %d, want an array of %d", path, lz.Doc.IsArray(), lz.Doc.Len(), w.Len())
		}
		for i := range w.Len() {
			if err := sameDoc(lz.Doc.Get(ast.InternedTerm(i)), w.Elem(i), fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
		for _, k := range []*ast.Term{ast.InternedTerm(w.Len()), ast.InternedTerm(-1), ast.StringTerm("0"), ast.NumberTerm("0.5")} {
			if lz.Doc.Get(k) != nil {
				return fmt.Errorf("%s: has element %v", path, k)
			}
		}
	default:
		return fmt.Errorf("%s: a document, want %v", path, want)
	}
	return nil
}
