package policy

import (
	"context"
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
}

// NewSet collects policies, ordered by name.
func NewSet(policies ...*Policy) *Set {
	ps := slices.Clone(policies)
	sort.Slice(ps, func(i, j int) bool { return ps[i].name < ps[j].name })
	return &Set{policies: ps}
}

// Len returns how many policies the set holds.
func (s *Set) Len() int { return len(s.policies) }

// Decide judges an input with every policy whose scope covers it and merges
// their decisions. With no applicable policy the experiment is allowed: deny
// by default is a policy's to say (a ChaosPolicy with deny rules and an empty
// scope covers everything). Policies on irvm read the input on demand; those
// on topdown take it converted, once for all of them.
func (s *Set) Decide(ctx context.Context, in *Input) (Decision, error) {
	var d Decision
	var lazy *lazyInput
	var value ast.Value
	for _, p := range s.policies {
		if !p.Applies(in) {
			continue
		}
		var pd Decision
		var err error
		if p.readsLazily() {
			if lazy == nil {
				lazy = newLazyInput(in)
				defer lazy.release()
			}
			pd, err = p.evaluateLazy(ctx, lazy)
		} else {
			if value == nil {
				if value, err = in.Value(); err != nil {
					return Decision{}, err
				}
			}
			pd, err = p.EvaluateValue(ctx, value)
		}
		if err != nil {
			return Decision{}, err
		}
		d.merge(pd)
	}
	sortDecision(&d)
	d.settle()
	return d, nil
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
