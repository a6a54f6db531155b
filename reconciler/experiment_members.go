package reconciler

import (
	"context"
	"fmt"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/faultline-dev/faultline/crds/v1alpha1"
	"github.com/faultline-dev/faultline/federation"
)

// memberOps is what one member cluster's share of a run needs: its client
// and the namespace Injections live in.
type memberOps struct {
	c         client.Client
	namespace string
}

// member returns the client and injection namespace of a member cluster.
func (r *ExperimentReconciler) member(ctx context.Context, name string) (*memberOps, error) {
	c, err := r.Clusters.Client(name)
	if err != nil {
		return nil, err
	}
	mc := &v1alpha1.MemberCluster{}
	if err := r.Get(ctx, client.ObjectKey{Name: name}, mc); err != nil {
		return nil, fmt.Errorf("reading MemberCluster %s: %w", name, err)
	}
	ns := mc.Spec.InjectionNamespace
	if ns == "" {
		ns = "faultline-system"
	}
	return &memberOps{c: c, namespace: ns}, nil
}

// inject selects the member's targets and writes one Injection per node.
func (r *ExperimentReconciler) inject(ctx context.Context, exp *v1alpha1.Experiment, ts *v1alpha1.TargetSummary, now time.Time) error {
	m, err := r.member(ctx, ts.Name)
	if err != nil {
		return err
	}
	pods, err := federation.SelectPods(ctx, m.c, &exp.Spec.Selector)
	if err != nil {
		return err
	}
	idx, err := federation.ApplyMode(len(pods), exp.Spec.Mode, exp.Spec.Value, r.rand())
	if err != nil {
		return err
	}
	chosen := make([]corePod, 0, len(idx))
	for _, i := range idx {
		chosen = append(chosen, pods[i])
	}
	peers, err := r.resolvePeers(ctx, m, exp)
	if err != nil {
		return err
	}
	start := metav1.NewTime(now)
	ts.StartTime = &start
	ts.Selected = int32(len(chosen))
	ts.Injected, ts.Recovered, ts.Failed = 0, 0, 0
	if len(chosen) == 0 {
		ts.State = v1alpha1.MemberFailed
		ts.Message = "no running pod matches the selector"
		return nil
	}
	if err := ensureNamespace(ctx, m.c, m.namespace); err != nil {
		return err
	}
	for _, inj := range buildInjections(exp, ts.Name, ts.Wave, m.namespace, chosen, peers, r.deadline(exp, ts, now)) {
		if err := applyInjection(ctx, m.c, inj); err != nil {
			return err
		}
	}
	ts.State = v1alpha1.MemberInjecting
	ts.Message = fmt.Sprintf("%d targets on %d nodes", len(chosen), countNodes(chosen))
	r.event(exp, "Normal", "Injecting", "Inject", "member %s: injecting %s into %d targets", ts.Name, exp.Spec.Fault.Kind(), len(chosen))
	return nil
}

// resolvePeers turns a network fault's peer selector into addresses in the
// member, and keeps external targets as written.
func (r *ExperimentReconciler) resolvePeers(ctx context.Context, m *memberOps, exp *v1alpha1.Experiment) ([]string, error) {
	nf := exp.Spec.Fault.Network
	if nf == nil {
		return nil, nil
	}
	peers := append([]string(nil), nf.ExternalTargets...)
	if nf.Target == nil {
		return peers, nil
	}
	pods, err := federation.SelectPods(ctx, m.c, &nf.Target.Selector)
	if err != nil {
		return nil, fmt.Errorf("spec.fault.network.target: %w", err)
	}
	idx, err := federation.ApplyMode(len(pods), nf.Target.Mode, nf.Target.Value, r.rand())
	if err != nil {
		return nil, fmt.Errorf("spec.fault.network.target: %w", err)
	}
	for _, i := range idx {
		if ip := pods[i].Status.PodIP; ip != "" {
			peers = append(peers, ip)
		}
	}
	return peers, nil
}

// duration of one member's share of the run.
func runDuration(exp *v1alpha1.Experiment) time.Duration {
	if exp.Spec.Duration != nil && exp.Spec.Duration.Duration > 0 {
		return exp.Spec.Duration.Duration
	}
	return 5 * time.Minute
}

// deadline of a member's Injections: a lease the hub keeps renewing while
// the run lasts, never past the run's end plus grace. If the hub dies, the
// executors recover on their own within one lease.
func (r *ExperimentReconciler) deadline(exp *v1alpha1.Experiment, ts *v1alpha1.TargetSummary, now time.Time) time.Time {
	end := now.Add(runDuration(exp))
	if ts.StartTime != nil {
		end = ts.StartTime.Add(runDuration(exp))
	}
	return minTime(now.Add(r.Lease), end.Add(r.Grace)).Truncate(time.Second).Add(time.Second)
}

// observe reads the member's Injections of this run, updates the counts,
// renews deadlines, and moves the member on when its time is up.
func (r *ExperimentReconciler) observe(ctx context.Context, exp *v1alpha1.Experiment, ts *v1alpha1.TargetSummary, now time.Time) error {
	m, err := r.member(ctx, ts.Name)
	if err != nil {
		return err
	}
	list := &v1alpha1.InjectionList{}
	if err := m.c.List(ctx, list, client.InNamespace(m.namespace), client.MatchingLabels{
		v1alpha1.ExperimentLabel: experimentLabelValue(exp), v1alpha1.RunLabel: exp.Status.Run,
	}); err != nil {
		return fmt.Errorf("listing injections: %w", err)
	}
	injected, failed, msgs := injectionCounts(list.Items)
	ts.Injected = max(ts.Injected, injected)
	ts.Failed = max(ts.Failed, failed)
	if len(msgs) > 0 {
		ts.Message = strings.Join(msgs, "; ")
	}

	switch ts.State {
	case v1alpha1.MemberInjecting, v1alpha1.MemberRunning:
		if ts.State == v1alpha1.MemberInjecting && ts.Injected+ts.Failed >= ts.Selected {
			ts.State = v1alpha1.MemberRunning
			r.event(exp, "Normal", "Injected", "Inject", "member %s: %d of %d targets injected", ts.Name, ts.Injected, ts.Selected)
			r.observeCommitToInjected(exp, now)
		}
		timeUp := !now.Before(ts.StartTime.Add(runDuration(exp)))
		if timeUp || (ts.Failed >= ts.Selected) {
			return r.recoverMember(ctx, exp, ts, m)
		}
		return r.renew(ctx, exp, ts, m, list.Items, now)
	case v1alpha1.MemberRecovering:
		if len(list.Items) > 0 {
			return nil // the executors are still taking faults away
		}
		ts.Recovered = ts.Injected
		if ts.Failed > 0 || ts.Injected < ts.Selected {
			ts.State = v1alpha1.MemberFailed
			if ts.Message == "" || !strings.Contains(ts.Message, "injected") {
				ts.Message = fmt.Sprintf("%d of %d targets injected, %d failed", ts.Injected, ts.Selected, ts.Failed)
			}
		} else {
			ts.State = v1alpha1.MemberDone
			ts.Message = fmt.Sprintf("%d targets injected and recovered", ts.Recovered)
		}
		r.event(exp, "Normal", "Recovered", "Recover", "member %s: %s", ts.Name, ts.Message)
	}
	return nil
}

// renew moves deadlines forward while the run lasts.
func (r *ExperimentReconciler) renew(ctx context.Context, exp *v1alpha1.Experiment, ts *v1alpha1.TargetSummary, m *memberOps, injs []v1alpha1.Injection, now time.Time) error {
	want := r.deadline(exp, ts, now)
	for i := range injs {
		inj := &injs[i]
		if !inj.DeletionTimestamp.IsZero() || inj.Spec.Deadline.Sub(now) > r.Lease/2 || !want.After(inj.Spec.Deadline.Time) {
			continue
		}
		patch := client.MergeFrom(inj.DeepCopy())
		inj.Spec.Deadline = metav1.NewTime(want)
		if err := m.c.Patch(ctx, inj, patch, client.FieldOwner(hubFieldOwner)); err != nil {
			return fmt.Errorf("renewing deadline of %s: %w", inj.Name, err)
		}
	}
	return nil
}

// recoverMember deletes the member's Injections of this run; the executors
// take the faults away and then let the objects go.
func (r *ExperimentReconciler) recoverMember(ctx context.Context, exp *v1alpha1.Experiment, ts *v1alpha1.TargetSummary, m *memberOps) error {
	if err := deleteInjections(ctx, m, client.MatchingLabels{
		v1alpha1.ExperimentLabel: experimentLabelValue(exp), v1alpha1.RunLabel: exp.Status.Run,
	}); err != nil {
		return err
	}
	ts.State = v1alpha1.MemberRecovering
	return nil
}

func deleteInjections(ctx context.Context, m *memberOps, sel client.MatchingLabels) error {
	err := m.c.DeleteAllOf(ctx, &v1alpha1.Injection{}, client.InNamespace(m.namespace), sel)
	if err != nil {
		return fmt.Errorf("deleting injections: %w", err)
	}
	return nil
}

// remainingInjections counts a member's Injections matching sel.
func remainingInjections(ctx context.Context, m *memberOps, sel client.MatchingLabels) (int, error) {
	list := &v1alpha1.InjectionList{}
	if err := m.c.List(ctx, list, client.InNamespace(m.namespace), sel); err != nil {
		return 0, fmt.Errorf("listing injections: %w", err)
	}
	return len(list.Items), nil
}

func countNodes(pods []corePod) int {
	nodes := map[string]bool{}
	for _, p := range pods {
		nodes[p.Spec.NodeName] = true
	}
	return len(nodes)
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
