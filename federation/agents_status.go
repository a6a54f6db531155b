package federation

import (
	"context"
	"fmt"
	"time"

	"github.com/fluxcd/pkg/apis/meta"
	"github.com/fluxcd/pkg/runtime/conditions"
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
// from the in-memory heartbeats on change or every StatusInterval, and marks
// agents Ready=False, Lost=True once they stop heartbeating past Grace. It
// fits manager.Runnable. Agents known only from the API server (the hub
// restarted) get Grace from Start to heartbeat before they are Lost.
func (s *AgentServer) Start(ctx context.Context) error {
	started := s.now()
	var list v1alpha1.HostAgentList
	if err := s.Client.List(ctx, &list); err != nil {
		return fmt.Errorf("list host agents: %w", err)
	}
	s.reg.mu.Lock()
	for i := range list.Items {
		st := s.reg.state(list.Items[i].Name)
		st.writtenReady = conditions.IsTrue(&list.Items[i], meta.ReadyCondition)
	}
	s.reg.mu.Unlock()

	tick := min(time.Second, s.grace()/4)
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			s.flush(ctx, started)
		}
	}
}

type statusWrite struct {
	agent  string
	ready  bool
	last   time.Time
	lease  time.Time
	active int32
}

// flush writes the status of agents whose state changed or whose slow
// cadence came due.
func (s *AgentServer) flush(ctx context.Context, started time.Time) {
	now := s.now()
	var due []statusWrite
	s.reg.mu.Lock()
	for name, st := range s.reg.agents {
		ready := !st.lastHeartbeat.IsZero() && now.Sub(st.lastHeartbeat) <= s.grace()
		if st.lastHeartbeat.IsZero() && now.Sub(later(started, st.registered)) <= s.grace() {
			continue // no heartbeat yet since the hub started or the agent registered; still in grace
		}
		active := countActive(st.observed)
		cadence := ready && now.Sub(st.written) >= s.statusInterval()
		if !st.dirty && ready == st.writtenReady && !cadence && !st.written.IsZero() {
			continue
		}
		due = append(due, statusWrite{agent: name, ready: ready, last: st.lastHeartbeat, lease: st.leaseExpires, active: active})
	}
	s.reg.mu.Unlock()

	for _, w := range due {
		err := s.writeStatus(ctx, w)
		s.reg.mu.Lock()
		st := s.reg.state(w.agent)
		switch {
		case err == nil:
			st.written, st.writtenActive, st.writtenReady, st.dirty = now, w.active, w.ready, false
		case apierrors.IsNotFound(err):
			// The HostAgent was deleted: the agent is gone for the hub.
			delete(s.reg.agents, w.agent)
		default:
			s.Log.Error(err, "write host agent status", "agent", w.agent)
		}
		s.reg.mu.Unlock()
	}
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
