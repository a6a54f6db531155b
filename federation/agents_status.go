package federation

import (
	"context"
	"encoding/hex"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/fluxcd/pkg/apis/meta"
	"github.com/fluxcd/pkg/runtime/conditions"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/faultline-dev/faultline/crds/v1alpha1"
)

// Reasons of HostAgent conditions.
const (
	ReasonHeartbeating  = "Heartbeating"
	ReasonHeartbeatLost = "HeartbeatLost"
)

// Start runs the status loop until ctx ends: it writes HostAgent status
// from the in-memory heartbeats on change or every StatusInterval, never
// more than StatusWriteQPS writes a second, and marks
// agents Ready=False, Lost=True once they stop heartbeating past Grace. It
// fits manager.Runnable. Agents known only from the API server (the hub
// restarted) get Grace from Start to heartbeat before they are Lost.
func (s *AgentServer) Start(ctx context.Context) error {
	started := s.now()
	var list v1alpha1.HostAgentList
	if err := s.Client.List(ctx, &list); err != nil {
		if ctx.Err() != nil {
			return nil // stopped while starting
		}
		return fmt.Errorf("list host agents: %w", err)
	}
	s.reg.mu.Lock()
	for i := range list.Items {
		st := s.reg.state(list.Items[i].Name)
		st.writtenReady = conditions.IsTrue(&list.Items[i], meta.ReadyCondition)
		st.writtenActive = list.Items[i].Status.ActiveInjections
	}
	s.reg.mu.Unlock()
	if err := s.loadCredentials(ctx); err != nil {
		// Not fatal: each agent's credential is then read on its first
		// heartbeat instead.
		s.Log.Error(err, "preload agent credentials")
	}

	tick := min(time.Second, s.grace()/4)
	budget := s.writeBudget(tick)
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			s.flush(ctx, started, budget)
		}
	}
}

// loadCredentials reads every agent's credential hash in one paged list,
// so that after a hub restart a large fleet's first heartbeats do not each
// wait for a Secret read behind the hub's client rate limit (10,000 reads
// at 50 QPS would outlast the agents' leases).
func (s *AgentServer) loadCredentials(ctx context.Context) error {
	var cont string
	for {
		var list corev1.SecretList
		if err := s.secrets().List(ctx, &list, client.InNamespace(s.Namespace), client.HasLabels{agentLabel},
			client.Limit(500), client.Continue(cont)); err != nil {
			return fmt.Errorf("list agent credentials: %w", err)
		}
		s.reg.mu.Lock()
		for i := range list.Items {
			sec := &list.Items[i]
			agent, ok := strings.CutPrefix(sec.Name, agentSecretPrefix)
			h, err := hex.DecodeString(string(sec.Data[agentCredentialKey]))
			if !ok || err != nil || len(h) == 0 {
				continue
			}
			if st := s.reg.state(agent); st.credHash == nil {
				st.credHash = h
			}
		}
		s.reg.mu.Unlock()
		if cont = list.Continue; cont == "" {
			return nil
		}
	}
}

type statusWrite struct {
	agent  string
	ready  bool
	last   time.Time
	lease  time.Time
	active int32

	change  bool      // something the status does not say yet, not just the cadence
	written time.Time // when this agent's status was last written
}

// statusWriters bounds concurrent status writes: enough to hide API-server
// latency, few enough not to crowd the hub's other clients.
const statusWriters = 8

// flush writes the status of agents whose state changed or whose slow
// cadence came due, at most budget of them: changes first, then the cadence
// writes, the longest-unwritten first. What does not fit waits for the next
// tick, so a fleet's status writes never exceed StatusWriteQPS and the
// cadence simply stretches when the fleet is large.
func (s *AgentServer) flush(ctx context.Context, started time.Time, budget int) {
	now := s.now()
	var due []statusWrite
	s.reg.mu.Lock()
	for name, st := range s.reg.agents {
		ready := !st.lastHeartbeat.IsZero() && now.Sub(st.lastHeartbeat) <= s.grace()
		if st.lastHeartbeat.IsZero() && now.Sub(later(started, st.registered)) <= s.grace() {
			continue // no heartbeat yet since the hub started or the agent registered; still in grace
		}
		change := st.dirty || ready != st.writtenReady || st.written.IsZero()
		cadence := ready && now.Sub(st.written) >= s.statusInterval()
		if !change && !cadence {
			continue
		}
		due = append(due, statusWrite{agent: name, ready: ready, last: st.lastHeartbeat, lease: st.leaseExpires,
			active: countActive(st.observed), change: change, written: st.written})
	}
	s.reg.mu.Unlock()
	if len(due) > budget {
		slices.SortFunc(due, func(a, b statusWrite) int {
			if a.change != b.change {
				if a.change {
					return -1
				}
				return 1
			}
			return a.written.Compare(b.written)
		})
		due = due[:budget]
	}

	work := make(chan statusWrite)
	var wg sync.WaitGroup
	for range min(statusWriters, len(due)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for w := range work {
				s.written(w, now, s.writeStatus(ctx, w))
			}
		}()
	}
	for _, w := range due {
		work <- w
	}
	close(work)
	wg.Wait()
}

// written records the outcome of one status write.
func (s *AgentServer) written(w statusWrite, at time.Time, err error) {
	s.reg.mu.Lock()
	defer s.reg.mu.Unlock()
	st, ok := s.reg.agents[w.agent]
	if !ok {
		return
	}
	switch {
	case err == nil:
		st.written, st.writtenActive, st.writtenReady = at, w.active, w.ready
		// A heartbeat that arrived during the write may have changed more.
		st.dirty = countActive(st.observed) != w.active
	case apierrors.IsNotFound(err):
		// The HostAgent was deleted: the agent is gone for the hub.
		delete(s.reg.agents, w.agent)
	default:
		s.Log.Error(err, "write host agent status", "agent", w.agent)
	}
}

// writeBudget is how many status writes a tick of length tick may make.
func (s *AgentServer) writeBudget(tick time.Duration) int {
	qps := s.StatusWriteQPS
	if qps <= 0 {
		qps = DefaultAgentStatusWriteQPS
	}
	return max(1, int(math.Round(qps*tick.Seconds())))
}

func (s *AgentServer) writeStatus(ctx context.Context, w statusWrite) error {
	ha := &v1alpha1.HostAgent{}
	if err := s.Client.Get(ctx, client.ObjectKey{Name: w.agent}, ha); err != nil {
		return err
	}
	base := ha.DeepCopy()
	if !w.last.IsZero() {
		ha.Status.LastHeartbeatTime = &metav1.Time{Time: w.last}
		ha.Status.LeaseExpiresAt = &metav1.Time{Time: w.lease}
	}
	ha.Status.ActiveInjections = w.active
	if w.ready {
		conditions.MarkTrue(ha, meta.ReadyCondition, ReasonHeartbeating, "agent heartbeats")
		conditions.MarkFalse(ha, v1alpha1.LostCondition, ReasonHeartbeating, "agent heartbeats")
	} else {
		msg := "no heartbeat since the hub started"
		if !w.last.IsZero() {
			msg = fmt.Sprintf("no heartbeat since %s", w.last.UTC().Format(time.RFC3339))
		}
		conditions.MarkFalse(ha, meta.ReadyCondition, ReasonHeartbeatLost, "%s", msg)
		conditions.MarkTrue(ha, v1alpha1.LostCondition, ReasonHeartbeatLost, "%s", msg)
	}
	if err := s.Client.Status().Patch(ctx, ha, client.MergeFrom(base)); err != nil {
		return fmt.Errorf("patch host agent %s status: %w", w.agent, err)
	}
	return nil
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
