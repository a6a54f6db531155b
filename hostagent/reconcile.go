package hostagent

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/faultline-dev/faultline/crds/v1alpha1"
	"github.com/faultline-dev/faultline/faults"
)

// idPrefix marks engine faults issued by the hub: the dead man's switch
// recovers only those.
const idPrefix = "hub|"

// faultID is the engine ID of one target of a hub injection: stable across
// heartbeats and restarts, different for a recreated injection (new UID).
func faultID(inj *v1alpha1.Injection, target string) string {
	return idPrefix + injectionName(inj) + "|" + string(inj.UID) + "|" + target
}

func parseFaultID(id string) (name, target string, ok bool) {
	if !strings.HasPrefix(id, idPrefix) {
		return "", "", false
	}
	parts := strings.SplitN(strings.TrimPrefix(id, idPrefix), "|", 3)
	if len(parts) != 3 {
		return "", "", false
	}
	return parts[0], parts[2], true
}

// injectionName is the name an injection is reported under: the hub's
// Forget and Observed use metadata.name.
func injectionName(inj *v1alpha1.Injection) string { return inj.Name }

// observedInjection is one hub injection as the agent last saw it.
type observedInjection struct {
	inj v1alpha1.Injection
}

func (o *observedInjection) recovered(target, reason string) {
	now := metav1.Now()
	for i := range o.inj.Status.Targets {
		ts := &o.inj.Status.Targets[i]
		if ts.Key == target && ts.Phase != v1alpha1.InjectionRecovered {
			ts.Phase, ts.RecoveredAt, ts.Measured, ts.Message = v1alpha1.InjectionRecovered, &now, nil, reason
		}
	}
	o.inj.Status.Phase = summarize(o.inj.Status.Targets)
}

func summarize(ts []v1alpha1.TargetStatus) v1alpha1.InjectionPhase {
	phase := v1alpha1.InjectionRecovered
	for _, t := range ts {
		switch t.Phase {
		case v1alpha1.InjectionInjected:
			return v1alpha1.InjectionInjected
		case v1alpha1.InjectionFailed:
			phase = v1alpha1.InjectionFailed
		}
	}
	return phase
}

// observedList is what the next heartbeat reports; a.mu must be held.
func (a *Agent) observedList() []v1alpha1.Injection {
	out := make([]v1alpha1.Injection, 0, len(a.observed))
	for _, o := range a.observed {
		out = append(out, *o.inj.DeepCopy())
	}
	slices.SortFunc(out, func(x, y v1alpha1.Injection) int { return strings.Compare(x.Name, y.Name) })
	return out
}

// reconcile makes the engine run exactly desired: new faults are applied,
// running ones renewed (Apply with the same spec only moves the deadline),
// changed ones re-applied and the rest recovered. Every deadline is capped at
// the lease, so the engine itself recovers hub faults when the hub goes
// quiet, even if this loop is stuck.
func (a *Agent) reconcile(ctx context.Context, desired []v1alpha1.Injection, lease time.Time) {
	keep := map[string]bool{}
	next := map[string]*observedInjection{}
	a.mu.Lock()
	prev := a.observed
	agent := a.cred.Agent
	a.mu.Unlock()
	for i := range desired {
		inj := &desired[i]
		if inj.Name == "" || (inj.Spec.Agent != "" && inj.Spec.Agent != agent) {
			continue
		}
		o := &observedInjection{inj: *inj.DeepCopy()}
		o.inj.Status = v1alpha1.InjectionStatus{}
		var before map[string]v1alpha1.TargetStatus
		if p, ok := prev[inj.Name]; ok {
			before = map[string]v1alpha1.TargetStatus{}
			for _, ts := range p.inj.Status.Targets {
				before[ts.Key] = ts
			}
		}
		deadline := inj.Spec.Deadline.Time
		if !lease.IsZero() && lease.Before(deadline) {
			deadline = lease
		}
		for _, t := range inj.Spec.Targets {
			id := faultID(inj, t.Key)
			keep[id] = true
			o.inj.Status.Targets = append(o.inj.Status.Targets, a.applyTarget(ctx, inj, t, id, deadline, before[t.Key]))
		}
		o.inj.Status.Phase = summarize(o.inj.Status.Targets)
		next[inj.Name] = o
	}
	for _, st := range a.engine.Active() {
		if _, _, ok := parseFaultID(st.ID); ok && !keep[st.ID] {
			if err := a.engine.Recover(ctx, st.ID, "not desired"); err != nil {
				a.o.Log.Error(err, "recover fault the hub no longer wants", "fault", st.ID)
			}
		}
	}
	a.mu.Lock()
	a.observed = next
	a.mu.Unlock()
}

func (a *Agent) applyTarget(ctx context.Context, inj *v1alpha1.Injection, t v1alpha1.InjectionTarget, id string, deadline time.Time, before v1alpha1.TargetStatus) v1alpha1.TargetStatus {
	ts := v1alpha1.TargetStatus{Key: t.Key, InjectedAt: before.InjectedAt}
	if !deadline.After(time.Now()) {
		if _, active := a.engine.Status(id); active {
			if err := a.engine.Recover(ctx, id, "deadline"); err != nil {
				ts.Phase, ts.Message = v1alpha1.InjectionFailed, err.Error()
				return ts
			}
		}
		now := metav1.Now()
		ts.Phase, ts.RecoveredAt, ts.Message = v1alpha1.InjectionRecovered, &now, "deadline passed"
		if before.RecoveredAt != nil {
			ts.RecoveredAt = before.RecoveredAt
		}
		return ts
	}
	target, err := a.resolve(t)
	if err != nil {
		ts.Phase, ts.Message = v1alpha1.InjectionFailed, err.Error()
		return ts
	}
	st, err := a.engine.Apply(ctx, &faults.Request{
		ID: id, Injection: injectionName(inj), Fault: inj.Spec.Fault, Target: target,
		Peers: inj.Spec.Peers, Deadline: deadline,
	})
	if err != nil {
		ts.Phase, ts.Message = v1alpha1.InjectionFailed, err.Error()
		return ts
	}
	ts.Phase, ts.Path = v1alpha1.InjectionInjected, st.Path
	if ts.InjectedAt == nil {
		at := metav1.NewTime(st.AppliedAt)
		ts.InjectedAt = &at
	}
	for _, m := range st.Measured {
		if len(ts.Measured) == 16 {
			break
		}
		at := metav1.NewTime(m.Time)
		ts.Measured = append(ts.Measured, v1alpha1.Measurement{Name: m.Name, Value: m.Value, Time: &at})
	}
	return ts
}

// errPodTarget: a host agent has no pods.
var errPodTarget = errors.New("host agents run Host targets only")

func (a *Agent) resolve(t v1alpha1.InjectionTarget) (faults.Target, error) {
	if t.Kind != v1alpha1.TargetHost {
		return faults.Target{}, fmt.Errorf("target %s of kind %q: %w", t.Key, t.Kind, errPodTarget)
	}
	return faults.Target{Key: t.Key, NetnsPath: a.o.HostNetns}, nil
}
