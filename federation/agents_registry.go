package federation

import (
	"slices"
	"sync"
	"time"

	"github.com/faultline-dev/faultline/crds/v1alpha1"
)

// agentState is what the hub holds in memory about one agent. Heartbeats
// only touch this; HostAgent status is written from it by the status loop.
type agentState struct {
	credHash      []byte
	registered    time.Time
	lastSeq       uint64
	lastHeartbeat time.Time
	leaseExpires  time.Time
	desired       []v1alpha1.Injection
	observed      []v1alpha1.Injection
	selfRecovered []string

	// What the HostAgent status last said, to write only on change.
	written       time.Time
	writtenActive int32
	writtenReady  bool
	dirty         bool
}

// registry is the in-memory side of AgentServer.
type registry struct {
	mu     sync.Mutex
	agents map[string]*agentState
}

func (r *registry) state(agent string) *agentState {
	if r.agents == nil {
		r.agents = map[string]*agentState{}
	}
	s, ok := r.agents[agent]
	if !ok {
		s = &agentState{}
		r.agents[agent] = s
	}
	return s
}

// SetDesired replaces the injections the hub wants agent to run; the agent
// gets them in its next heartbeat answer. Injections dropped from the list
// are recovered by the agent.
func (s *AgentServer) SetDesired(agent string, injs []v1alpha1.Injection) {
	cp := make([]v1alpha1.Injection, len(injs))
	for i := range injs {
		injs[i].DeepCopyInto(&cp[i])
		cp[i].Spec.Agent = agent
	}
	s.reg.mu.Lock()
	defer s.reg.mu.Unlock()
	s.reg.state(agent).desired = cp
}

// Desired returns a copy of the injections the hub wants agent to run.
func (s *AgentServer) Desired(agent string) []v1alpha1.Injection {
	s.reg.mu.Lock()
	defer s.reg.mu.Unlock()
	st, ok := s.reg.agents[agent]
	if !ok {
		return nil
	}
	return deepCopyInjections(st.desired)
}

// Observed returns the injections agent reported in its last heartbeat, with
// their per-target status, and whether the agent is reachable (heartbeated
// within the grace period).
func (s *AgentServer) Observed(agent string) ([]v1alpha1.Injection, bool) {
	s.reg.mu.Lock()
	defer s.reg.mu.Unlock()
	st, ok := s.reg.agents[agent]
	if !ok {
		return nil, false
	}
	reachable := !st.lastHeartbeat.IsZero() && s.now().Sub(st.lastHeartbeat) <= s.grace()
	return deepCopyInjections(st.observed), reachable
}

// Forget drops one injection from agent's desired and observed lists, once
// the caller has seen it recovered (or gave up on it).
func (s *AgentServer) Forget(agent, injectionName string) {
	s.reg.mu.Lock()
	defer s.reg.mu.Unlock()
	st, ok := s.reg.agents[agent]
	if !ok {
		return
	}
	drop := func(i v1alpha1.Injection) bool { return i.Name == injectionName }
	st.desired = slices.DeleteFunc(st.desired, drop)
	st.observed = slices.DeleteFunc(st.observed, drop)
}

// SelfRecovered returns, and clears, the injections agent reported it
// recovered on its own when the hub's lease lapsed.
func (s *AgentServer) SelfRecovered(agent string) []string {
	s.reg.mu.Lock()
	defer s.reg.mu.Unlock()
	st, ok := s.reg.agents[agent]
	if !ok {
		return nil
	}
	out := st.selfRecovered
	st.selfRecovered = nil
	return out
}

func deepCopyInjections(in []v1alpha1.Injection) []v1alpha1.Injection {
	if in == nil {
		return nil
	}
	out := make([]v1alpha1.Injection, len(in))
	for i := range in {
		in[i].DeepCopyInto(&out[i])
	}
	return out
}
