package plan

import (
	"encoding/json"
	"fmt"
	"sync"

	v1alpha1 "github.com/faultline-dev/faultline/crds/v1alpha1"
	"github.com/faultline-dev/faultline/federation"
	"github.com/faultline-dev/faultline/policy"
)

// placements resolves each distinct placement of a plan once. Experiments
// of a repository share a handful of placements (and the source's default
// one): resolving selectors against every member, and converting the
// placed targets for the policies, is per placement, not per experiment.
type placements struct {
	members []federation.Member
	sizes   map[string]int
	def     *v1alpha1.Placement

	mu      sync.Mutex
	entries map[string]*resolved
}

// resolved is one placement's waves, its targets as the policy input lists
// them, and their workload sizes. Every experiment with the placement shares
// the slices.
type resolved struct {
	once    sync.Once
	waves   []Wave
	targets []policy.TargetInput
	sizes   []int
	err     error
}

func newPlacements(opts *Options) *placements {
	p := &placements{members: make([]federation.Member, len(opts.Members)), sizes: make(map[string]int, len(opts.Members)),
		def: opts.DefaultPlacement, entries: map[string]*resolved{}}
	for i, m := range opts.Members {
		p.members[i] = m.Member
		kind := m.Kind
		if kind == "" {
			kind = federation.KindMemberCluster
		}
		p.sizes[kind+"/"+m.Name] = m.Targets
	}
	return p
}

// resolve returns the resolution of an experiment's placement (the
// default one when it declares none).
func (p *placements) resolve(placement *v1alpha1.Placement) (*resolved, error) {
	if placement == nil {
		placement = p.def
	}
	key := "" // no placement, or the default one
	if placement != p.def {
		raw, err := json.Marshal(placement)
		if err != nil {
			return nil, fmt.Errorf("placement: %w", err)
		}
		key = "=" + string(raw)
	}
	p.mu.Lock()
	r, ok := p.entries[key]
	if !ok {
		r = &resolved{}
		p.entries[key] = r
	}
	p.mu.Unlock()
	r.once.Do(func() { r.resolve(placement, p.members, p.sizes) })
	return r, r.err
}

func (r *resolved) resolve(placement *v1alpha1.Placement, members []federation.Member, sizes map[string]int) {
	waves, err := federation.ResolvePlacement(placement, members)
	if err != nil {
		r.err = fmt.Errorf("spec.%w", err)
		return
	}
	for _, w := range waves {
		pw := Wave{Name: w.Name}
		for _, lists := range [][]federation.Member{w.Clusters, w.Agents} {
			for _, m := range lists {
				r.targets = append(r.targets, policy.TargetInput{Kind: m.Kind, Name: m.Name, Labels: m.Labels, Wave: w.Name})
				r.sizes = append(r.sizes, sizes[m.Kind+"/"+m.Name])
				if m.Kind == federation.KindHostAgent {
					pw.Agents = append(pw.Agents, m.Name)
				} else {
					pw.Clusters = append(pw.Clusters, m.Name)
				}
			}
		}
		r.waves = append(r.waves, pw)
	}
}
