package reconciler

import (
	"context"
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/faultline-dev/faultline/crds/v1alpha1"
	"github.com/faultline-dev/faultline/federation"
)

// AgentFleet is what the hub knows of its host agents: what it wants each
// to run (handed out in heartbeat answers) and what each last reported.
// federation.AgentServer implements it.
type AgentFleet interface {
	SetDesired(agent string, injs []v1alpha1.Injection)
	Desired(agent string) []v1alpha1.Injection
	Observed(agent string) ([]v1alpha1.Injection, bool)
	Forget(agent, injectionName string)
}

var _ AgentFleet = (*federation.AgentServer)(nil)

// updateDesired edits one agent's desired list. Several experiments share an
// agent and reconcile concurrently, so the read-modify-write is serialised.
func (r *ExperimentReconciler) updateDesired(agent string, edit func([]v1alpha1.Injection) []v1alpha1.Injection) {
	r.agentMu.Lock()
	defer r.agentMu.Unlock()
	r.Agents.SetDesired(agent, edit(r.Agents.Desired(agent)))
}

// injectAgent hands a host agent its Injection through the heartbeat answers.
func (r *ExperimentReconciler) injectAgent(ctx context.Context, exp *v1alpha1.Experiment, ts *v1alpha1.TargetSummary, now time.Time) error {
	if r.Agents == nil {
		ts.State, ts.Message = v1alpha1.MemberFailed, "the hub serves no agent API (--agent-addr)"
		return nil
	}
	ha := &v1alpha1.HostAgent{}
	if err := r.Get(ctx, client.ObjectKey{Name: ts.Name}, ha); err != nil {
		return fmt.Errorf("reading HostAgent %s: %w", ts.Name, err)
	}
	if _, reachable := r.Agents.Observed(ts.Name); !reachable {
		return fmt.Errorf("%w: agent %s: no recent heartbeat", federation.ErrUnreachable, ts.Name)
	}
	start := metav1.NewTime(now)
	ts.StartTime = &start
	ts.Selected, ts.Injected, ts.Recovered, ts.Failed = 1, 0, 0, 0
	inj := r.agentInjection(exp, ts, ha, now)
	r.updateDesired(ts.Name, func(in []v1alpha1.Injection) []v1alpha1.Injection {
		return append(withoutInjection(in, inj.Name), *inj)
	})
	ts.State, ts.Message = v1alpha1.MemberInjecting, "handed to the agent with its next heartbeat"
	r.event(exp, "Normal", "Injecting", "Inject", "agent %s: injecting %s", ts.Name, exp.Spec.Fault.Kind())
	return nil
}

func (r *ExperimentReconciler) agentInjection(exp *v1alpha1.Experiment, ts *v1alpha1.TargetSummary, ha *v1alpha1.HostAgent, now time.Time) *v1alpha1.Injection {
	host := ha.Spec.Hostname
	if host == "" {
		host = ha.Name
	}
	var peers []string
	if nf := exp.Spec.Fault.Network; nf != nil {
		peers = append(peers, nf.ExternalTargets...)
	}
	return &v1alpha1.Injection{
		TypeMeta: metav1.TypeMeta{APIVersion: v1alpha1.GroupVersion.String(), Kind: "Injection"},
		ObjectMeta: metav1.ObjectMeta{
			Name: injectionName(exp, ha.Name),
			Labels: map[string]string{
				v1alpha1.ExperimentLabel: experimentLabelValue(exp),
				v1alpha1.RunLabel:        exp.Status.Run,
			},
		},
		Spec: v1alpha1.InjectionSpec{
			Fault:    exp.Spec.Fault,
			Agent:    ha.Name,
			Targets:  []v1alpha1.InjectionTarget{{Key: host, Kind: v1alpha1.TargetHost, Name: host}},
			Peers:    peers,
			Deadline: metav1.NewTime(r.deadline(exp, ts, now)),
			Owner: v1alpha1.InjectionOwner{
				Source: exp.Labels[v1alpha1.SourceLabel], Revision: exp.Status.Revision,
				Experiment: experimentKey(exp), ExperimentUID: string(exp.UID), Run: exp.Status.Run,
				Member: ha.Name, Wave: ts.Wave,
			},
		},
	}
}

// observeAgent follows an agent's Injection through its heartbeats.
func (r *ExperimentReconciler) observeAgent(exp *v1alpha1.Experiment, ts *v1alpha1.TargetSummary, now time.Time) error {
	name := injectionName(exp, ts.Name)
	observed, reachable := r.Agents.Observed(ts.Name)
	if !reachable {
		return fmt.Errorf("%w: agent %s: no recent heartbeat", federation.ErrUnreachable, ts.Name)
	}
	var mine []v1alpha1.Injection
	for _, o := range observed {
		if o.Name == name {
			mine = append(mine, o)
		}
	}
	injected, failed, _ := injectionCounts(mine)
	ts.Injected, ts.Failed = max(ts.Injected, injected), max(ts.Failed, failed)

	switch ts.State {
	case v1alpha1.MemberInjecting, v1alpha1.MemberRunning:
		if ts.State == v1alpha1.MemberInjecting && ts.Injected+ts.Failed >= ts.Selected {
			ts.State = v1alpha1.MemberRunning
			r.event(exp, "Normal", "Injected", "Inject", "agent %s: injected", ts.Name)
			r.observeCommitToInjected(exp, now)
		}
		if !now.Before(ts.StartTime.Add(runDuration(exp))) || ts.Failed >= ts.Selected {
			r.updateDesired(ts.Name, func(in []v1alpha1.Injection) []v1alpha1.Injection { return withoutInjection(in, name) })
			ts.State = v1alpha1.MemberRecovering
			return nil
		}
		// Renew the lease by moving the desired deadline forward.
		want := r.deadline(exp, ts, now)
		r.updateDesired(ts.Name, func(in []v1alpha1.Injection) []v1alpha1.Injection {
			for i := range in {
				if in[i].Name == name && want.After(in[i].Spec.Deadline.Time) && in[i].Spec.Deadline.Sub(now) <= r.Lease/2 {
					in[i].Spec.Deadline = metav1.NewTime(want)
				}
			}
			return in
		})
	case v1alpha1.MemberRecovering:
		if len(mine) > 0 {
			return nil // the agent still reports it: not recovered yet
		}
		r.Agents.Forget(ts.Name, name)
		ts.Recovered = ts.Injected
		if ts.Failed > 0 || ts.Injected < ts.Selected {
			ts.State, ts.Message = v1alpha1.MemberFailed, fmt.Sprintf("%d of %d targets injected, %d failed", ts.Injected, ts.Selected, ts.Failed)
		} else {
			ts.State, ts.Message = v1alpha1.MemberDone, "injected and recovered"
		}
		r.event(exp, "Normal", "Recovered", "Recover", "agent %s: %s", ts.Name, ts.Message)
	}
	return nil
}

// recoverAgents withdraws the experiment's Injections (of one run, or all)
// from every agent and reports whether any reachable agent still runs one.
func (r *ExperimentReconciler) recoverAgents(ctx context.Context, exp *v1alpha1.Experiment, run string) (bool, error) {
	if r.Agents == nil {
		return true, nil
	}
	agents := &v1alpha1.HostAgentList{}
	if err := r.List(ctx, agents); err != nil {
		return false, fmt.Errorf("listing host agents: %w", err)
	}
	mine := func(i v1alpha1.Injection) bool {
		return i.Spec.Owner.Experiment == experimentKey(exp) && (run == "" || i.Spec.Owner.Run == run)
	}
	done := true
	for _, a := range agents.Items {
		r.updateDesired(a.Name, func(in []v1alpha1.Injection) []v1alpha1.Injection {
			out := in[:0]
			for _, i := range in {
				if !mine(i) {
					out = append(out, i)
				}
			}
			return out
		})
		observed, reachable := r.Agents.Observed(a.Name)
		for _, o := range observed {
			if !mine(o) {
				continue
			}
			if reachable {
				done = false
			} else {
				// An agent that is gone recovers on its own when its lease lapses.
				r.Agents.Forget(a.Name, o.Name)
			}
		}
	}
	return done, nil
}

func withoutInjection(in []v1alpha1.Injection, name string) []v1alpha1.Injection {
	out := make([]v1alpha1.Injection, 0, len(in))
	for _, i := range in {
		if i.Name != name {
			out = append(out, i)
		}
	}
	return out
}
