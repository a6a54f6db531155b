package federation

import (
	"fmt"
	"slices"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	v1alpha1 "github.com/faultline-dev/faultline/crds/v1alpha1"
)

// Member kinds, as in TargetSummary.Kind.
const (
	KindMemberCluster = "MemberCluster"
	KindHostAgent     = "HostAgent"
)

// Member is a member cluster or host agent as placement sees it: a name,
// a kind and labels.
type Member struct {
	Name string `json:"name"`
	// Kind is MemberCluster or HostAgent; empty means MemberCluster.
	Kind   string            `json:"kind,omitempty"`
	Labels map[string]string `json:"labels,omitempty"`
}

// WaveTargets is one rollout wave and the members it reaches.
type WaveTargets struct {
	// Name of the wave: its own, or wave-N from its position (from 1).
	Name string
	// Clusters and Agents of the wave, sorted by name.
	Clusters []Member
	Agents   []Member
	// MaxParallel and Pause come from the wave's spec.
	MaxParallel *int32
	Pause       *metav1.Duration
}

// ResolvePlacement decides which members an experiment reaches, wave by
// wave. Placement.Clusters and .Agents select among members of their kind
// (nil selects none, {} selects all); each wave narrows that set with its
// own selectors, and a member belongs to the first wave that selects it.
// Without waves every placed member is one wave, wave-1. A nil placement, or
// one that selects nothing, yields no waves. Errors name the offending field.
func ResolvePlacement(p *v1alpha1.Placement, members []Member) ([]WaveTargets, error) {
	if p == nil {
		return nil, nil
	}
	for _, m := range members {
		if m.Kind != "" && m.Kind != KindMemberCluster && m.Kind != KindHostAgent {
			return nil, fmt.Errorf("member %s: kind %q is neither %s nor %s", m.Name, m.Kind, KindMemberCluster, KindHostAgent)
		}
	}
	clusters, err := selectMembers(p.Clusters, KindMemberCluster, members, "placement.clusters")
	if err != nil {
		return nil, err
	}
	agents, err := selectMembers(p.Agents, KindHostAgent, members, "placement.agents")
	if err != nil {
		return nil, err
	}
	if len(clusters) == 0 && len(agents) == 0 {
		return nil, nil
	}
	if len(p.Waves) == 0 {
		return []WaveTargets{{Name: "wave-1", Clusters: clusters, Agents: agents}}, nil
	}

	taken := map[string]bool{}
	out := make([]WaveTargets, 0, len(p.Waves))
	for i, w := range p.Waves {
		field := fmt.Sprintf("placement.waves[%d]", i)
		name := w.Name
		if name == "" {
			name = fmt.Sprintf("wave-%d", i+1)
		}
		wc, err := selectMembers(w.Clusters, KindMemberCluster, clusters, field+".clusters")
		if err != nil {
			return nil, err
		}
		wa, err := selectMembers(w.Agents, KindHostAgent, agents, field+".agents")
		if err != nil {
			return nil, err
		}
		wt := WaveTargets{Name: name, MaxParallel: w.MaxParallel, Pause: w.Pause}
		wt.Clusters = untaken(wc, taken)
		wt.Agents = untaken(wa, taken)
		out = append(out, wt)
	}
	return out, nil
}

// selectMembers returns the members of kind that sel selects, sorted by name.
func selectMembers(sel *metav1.LabelSelector, kind string, members []Member, field string) ([]Member, error) {
	if sel == nil {
		return nil, nil
	}
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", field, err)
	}
	var out []Member
	for _, m := range members {
		k := m.Kind
		if k == "" {
			k = KindMemberCluster
		}
		if k == kind && s.Matches(labels.Set(m.Labels)) {
			m.Kind = k
			out = append(out, m)
		}
	}
	slices.SortFunc(out, func(a, b Member) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

func untaken(ms []Member, taken map[string]bool) []Member {
	var out []Member
	for _, m := range ms {
		key := m.Kind + "/" + m.Name
		if !taken[key] {
			taken[key] = true
			out = append(out, m)
		}
	}
	return out
}
