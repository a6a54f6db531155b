package policy

import (
	"context"
	"reflect"
	"sync"

	"github.com/open-policy-agent/opa/v1/ast"
)

// Batch decides many inputs with one Set, as `faultline plan` does, and
// converts the parts the inputs share once: the placement when inputs hold
// the same Targets slice, the source and the active-experiment counts when
// they hold the same maps (and equal strings), and equal times. Converting
// an input costs about as much as a fast decision; in a plan most of it is
// the same for every experiment. This serves the policies on topdown,
// which take the input converted up front; those on irvm read each input
// on demand instead (see irvm.Doc).
//
// The shared parts must not change while the batch is in use. A Batch is
// safe for concurrent use; it keeps what it converted, and the parts it was
// converted from, until it is dropped.
type Batch struct {
	set    *Set
	shared sharedParts
}

// Batch returns a batch deciding with s.
func (s *Set) Batch() *Batch { return &Batch{set: s} }

// Decide is Set.Decide, sharing converted parts with the batch's other
// inputs.
func (b *Batch) Decide(ctx context.Context, in *Input) (Decision, error) {
	return b.set.decide(ctx, in, &b.shared)
}

// sharedParts memoises converted input parts by identity. Each entry keeps
// the Go value it was converted from alive, so that its address, part of
// the key, cannot be reused for other content while the batch lives. A nil
// *sharedParts converts every time.
type sharedParts struct {
	placements memo[placementKey]
	sources    memo[sourceKey]
	nows       memo[NowInput]
	actives    memo[activeKey]
}

type placementKey struct {
	first *TargetInput
	n     int
}

type sourceKey struct {
	namespace, name, url, revision, author, signer string
	labels                                         uintptr
}

type activeKey struct{ clusters, agents uintptr }

// memo maps keys to converted terms. A typed map under a read lock: a
// sync.Map would box every key it looks up.
type memo[K comparable] struct {
	mu sync.RWMutex
	m  map[K]sharedTerm
}

type sharedTerm struct {
	term *ast.Term
	// from keeps the converted slice or maps alive.
	from any
}

// get returns the term stored under key, else stores and returns the one
// convert makes, with the value it was made from.
func (c *memo[K]) get(key K, convert func() (*ast.Term, any)) *ast.Term {
	c.mu.RLock()
	t, ok := c.m[key]
	c.mu.RUnlock()
	if ok {
		return t.term
	}
	term, from := convert()
	c.mu.Lock()
	defer c.mu.Unlock()
	if t, ok := c.m[key]; ok {
		return t.term // converted meanwhile by another decision
	}
	if c.m == nil {
		c.m = map[K]sharedTerm{}
	}
	c.m[key] = sharedTerm{term: term, from: from}
	return term
}

func (s *sharedParts) placement(p *PlacementInput, convert func() *ast.Term) *ast.Term {
	if s == nil || len(p.Targets) == 0 {
		return convert()
	}
	return s.placements.get(placementKey{&p.Targets[0], len(p.Targets)}, func() (*ast.Term, any) { return convert(), p.Targets })
}

func (s *sharedParts) source(src *SourceInput, convert func() *ast.Term) *ast.Term {
	if s == nil {
		return convert()
	}
	key := sourceKey{src.Namespace, src.Name, src.URL, src.Revision, src.Author, src.Signer, mapAddress(src.Labels)}
	return s.sources.get(key, func() (*ast.Term, any) { return convert(), src.Labels })
}

func (s *sharedParts) now(n *NowInput, convert func() *ast.Term) *ast.Term {
	if s == nil {
		return convert()
	}
	return s.nows.get(*n, func() (*ast.Term, any) { return convert(), nil })
}

func (s *sharedParts) active(a *ActiveExperiments, convert func() *ast.Term) *ast.Term {
	if s == nil {
		return convert()
	}
	return s.actives.get(activeKey{mapAddress(a.Clusters), mapAddress(a.Agents)}, func() (*ast.Term, any) {
		return convert(), [2]any{a.Clusters, a.Agents}
	})
}

// mapAddress identifies a map; 0 for nil.
func mapAddress[M ~map[K]V, K comparable, V any](m M) uintptr {
	if m == nil {
		return 0
	}
	return reflect.ValueOf(m).Pointer()
}
