package policy

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"sync"

	"github.com/open-policy-agent/opa/v1/ast"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// Set is an immutable collection of compiled policies that decide together.
type Set struct {
	policies []*Policy
	// caches, when set, hold each policy's decisions (see WithCache).
	caches []*decisionCache
	// reads is the part of the input the policies can read (nil: all of
	// it); Decide converts only that.
	reads *projection
}

// NewSet collects policies, ordered by name.
func NewSet(policies ...*Policy) *Set {
	ps := slices.Clone(policies)
	sort.Slice(ps, func(i, j int) bool { return ps[i].name < ps[j].name })
	return &Set{policies: ps, reads: projectionOf(ps)}
}

// WithCache returns a set of the same policies that remembers up to size
// decisions per policy, keyed by the parts of the input the policy can
// read (found in its Rego, see findReads): two experiments that differ only
// where no rule looks, such as their names, share one evaluation. Policies
// that call non-deterministic builtins (time.now_ns, http.send) are never
// cached. The cache lives as long as the returned set, which suits one
// `faultline plan` run; a new policy generation is a new set, so a cached
// decision never outlives the policy (digest) that made it.
func (s *Set) WithCache(size int) *Set {
	caches := make([]*decisionCache, len(s.policies))
	for i, p := range s.policies {
		if p.query != nil && p.query.reads.cacheable && size > 0 {
			caches[i] = newDecisionCache(size)
		}
	}
	return &Set{policies: s.policies, caches: caches, reads: s.reads}
}

// Len returns how many policies the set holds.
func (s *Set) Len() int { return len(s.policies) }

// Decide judges an input with every policy whose scope covers it and merges
// their decisions. With no applicable policy the experiment is allowed: deny
// by default is a policy's to say (a ChaosPolicy with deny rules and an empty
// scope covers everything). Only the parts of the input some policy of the
// set can read are converted for OPA.
func (s *Set) Decide(ctx context.Context, in *Input) (Decision, error) {
	return s.decide(ctx, in, nil)
}

// decide is Decide converting the input with shared, the parts converted
// for other inputs of a Batch (nil: none).
func (s *Set) decide(ctx context.Context, in *Input, shared *sharedParts) (Decision, error) {
	var d Decision
	var value ast.Value // the projected conversion, made once if needed
	var lazy *lazyInput
	for i, p := range s.policies {
		if !p.Applies(in) {
			continue
		}
		if p.readsLazily() && (s.caches == nil || s.caches[i] == nil) {
			if lazy == nil {
				lazy = newLazyInput(in)
				defer lazy.release()
			}
			pd, err := p.evaluateLazy(ctx, lazy)
			if err != nil {
				return Decision{}, err
			}
			d.merge(pd)
			continue
		}
		if value == nil {
			v, err := s.convert(in, shared)
			if err != nil {
				return Decision{}, err
			}
			value = v
		}
		var cache *decisionCache
		var key *ast.Array
		if s.caches != nil && s.caches[i] != nil {
			cache, key = s.caches[i], p.query.reads.key(value)
			if pd, ok := cache.get(key); ok {
				d.merge(pd)
				continue
			}
		}
		pd, err := p.EvaluateValue(ctx, value)
		if err != nil {
			return Decision{}, err
		}
		if cache != nil {
			cache.put(key, pd)
		}
		d.merge(pd)
	}
	sortDecision(&d)
	d.settle()
	return d, nil
}

// convert converts what the set's policies can read of in (see
// projection), once for all of them, taking the parts a Batch has converted
// already from shared (nil: none).
func (s *Set) convert(in *Input, shared *sharedParts) (ast.Value, error) {
	e := &encoder{shared: shared}
	v, err := e.input(in, s.reads)
	if err != nil {
		return nil, fmt.Errorf("converting policy input: %w", err)
	}
	return v, nil
}

// Applies reports whether the policy's scope covers the input's experiment.
// Within a scope, namespaces, sources and the source selector must each
// match when set.
func (p *Policy) Applies(in *Input) bool {
	sc := p.scope
	if sc == nil {
		return true
	}
	if len(sc.Namespaces) > 0 && !slices.Contains(sc.Namespaces, in.Experiment.Metadata.Namespace) {
		return false
	}
	if len(sc.Sources) > 0 && !slices.Contains(sc.Sources, in.Source.Namespace+"/"+in.Source.Name) {
		return false
	}
	if sc.SourceSelector != nil {
		sel, err := metav1.LabelSelectorAsSelector(sc.SourceSelector)
		// An invalid selector selects nothing rather than everything.
		if err != nil || !sel.Matches(labels.Set(in.Source.Labels)) {
			return false
		}
	}
	return true
}

// Registry holds the current compiled policy of each ChaosPolicy and hands
// out immutable snapshots, so that decisions never see a policy half-updated.
type Registry struct {
	mu       sync.Mutex
	policies map[string]*Policy
	snapshot *Set
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	return &Registry{policies: map[string]*Policy{}, snapshot: NewSet()}
}

// Put adds or replaces the policy under its name.
func (r *Registry) Put(p *Policy) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.policies[p.name] = p
	r.rebuild()
}

// Delete removes the named policy.
func (r *Registry) Delete(name string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.policies, name)
	r.rebuild()
}

// Get returns the named policy, if registered.
func (r *Registry) Get(name string) (*Policy, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	p, ok := r.policies[name]
	return p, ok
}

// Set returns the current policies.
func (r *Registry) Set() *Set {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.snapshot
}

func (r *Registry) rebuild() {
	ps := make([]*Policy, 0, len(r.policies))
	for _, p := range r.policies {
		ps = append(ps, p)
	}
	r.snapshot = NewSet(ps...)
}
