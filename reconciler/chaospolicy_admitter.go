package reconciler

import (
	"context"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/faultline-dev/faultline/crds/v1alpha1"
	"github.com/faultline-dev/faultline/federation"
	"github.com/faultline-dev/faultline/policy"
)

// PolicyAdmitter is the Admitter backed by the ChaosPolicies: it builds the
// policy input of an experiment from the hub's objects and asks every
// policy in scope.
type PolicyAdmitter struct {
	// Client reads sources, approvals and experiments (a cached client).
	Client client.Reader
	// Policies are the compiled ChaosPolicies.
	Policies *policy.Registry
	// Now returns the time of a decision; nil: time.Now.
	Now func() time.Time
	// Location is the time zone the input's now is given in; nil: UTC.
	// Library rules with windows carry their own zone.
	Location *time.Location
}

var _ Admitter = (*PolicyAdmitter)(nil)

// +kubebuilder:rbac:groups=faultline.dev,resources=chaossources;approvals;experiments,verbs=get;list;watch

// Admit decides whether an experiment's run may start on the given waves.
func (a *PolicyAdmitter) Admit(ctx context.Context, exp *v1alpha1.Experiment, waves []federation.WaveTargets) (Admission, error) {
	in, err := a.Input(ctx, exp, waves)
	if err != nil {
		return Admission{}, err
	}
	d, err := a.Policies.Set().Decide(ctx, in)
	if err != nil {
		return Admission{}, err
	}
	return admissionOf(d), nil
}

// Input builds the policy input of an experiment as the hub sees it now.
func (a *PolicyAdmitter) Input(ctx context.Context, exp *v1alpha1.Experiment, waves []federation.WaveTargets) (*policy.Input, error) {
	now := time.Now
	if a.Now != nil {
		now = a.Now
	}
	loc := a.Location
	if loc == nil {
		loc = time.UTC
	}
	revision := exp.Annotations[v1alpha1.RevisionAnnotation]
	in := &policy.Input{
		Experiment: policy.ExperimentFrom(exp),
		Now:        policy.NewNow(now().In(loc)),
	}

	src, err := a.source(ctx, exp, revision)
	if err != nil {
		return nil, err
	}
	in.Source = src

	for _, w := range waves {
		for _, ms := range [][]federation.Member{w.Clusters, w.Agents} {
			for _, m := range ms {
				in.Placement.Targets = append(in.Placement.Targets, policy.TargetInput{Kind: m.Kind, Name: m.Name, Labels: m.Labels, Wave: w.Name})
				// The hub learns the matching workload only when injecting;
				// before, the estimate is what the mode implies.
				in.BlastRadius = append(in.BlastRadius, policy.EstimateBlastRadius(&exp.Spec, m.Kind, m.Name, 0))
			}
		}
	}

	approvals := &v1alpha1.ApprovalList{}
	if err := a.Client.List(ctx, approvals, client.InNamespace(exp.Namespace)); err != nil {
		return nil, fmt.Errorf("listing approvals: %w", err)
	}
	in.Approvals = policy.ApprovalsFor(approvals.Items, exp.Name, revision)

	active, err := a.active(ctx, exp)
	if err != nil {
		return nil, err
	}
	in.ActiveExperiments = active
	return in, nil
}

// source describes the ChaosSource the experiment came from, if any.
func (a *PolicyAdmitter) source(ctx context.Context, exp *v1alpha1.Experiment, revision string) (policy.SourceInput, error) {
	in := policy.SourceInput{Revision: revision}
	name := exp.Labels[v1alpha1.SourceLabel]
	if name == "" {
		return in, nil
	}
	src := &v1alpha1.ChaosSource{}
	if err := a.Client.Get(ctx, types.NamespacedName{Namespace: exp.Namespace, Name: name}, src); err != nil {
		if apierrors.IsNotFound(err) {
			// The experiment is on its way out with its source.
			return in, nil
		}
		return in, fmt.Errorf("reading ChaosSource %s: %w", name, err)
	}
	in.Namespace, in.Name, in.Labels, in.URL = src.Namespace, src.Name, src.Labels, src.Spec.URL
	if art := src.Status.Artifact; art != nil && art.Revision == revision {
		in.Author, in.Signer = art.Author, art.Signer
	}
	return in, nil
}

// active counts the other experiments now holding faults per cluster and agent.
func (a *PolicyAdmitter) active(ctx context.Context, exp *v1alpha1.Experiment) (policy.ActiveExperiments, error) {
	list := &v1alpha1.ExperimentList{}
	if err := a.Client.List(ctx, list); err != nil {
		return policy.ActiveExperiments{}, fmt.Errorf("listing experiments: %w", err)
	}
	out := policy.ActiveExperiments{Clusters: map[string]int{}, Agents: map[string]int{}}
	for i := range list.Items {
		e := &list.Items[i]
		if e.Namespace == exp.Namespace && e.Name == exp.Name {
			continue
		}
		switch e.Status.Phase {
		case v1alpha1.PhaseInjecting, v1alpha1.PhaseRunning, v1alpha1.PhaseRecovering, v1alpha1.PhasePaused:
		default:
			continue
		}
		for _, t := range e.Status.Targets {
			if t.Kind == federation.KindHostAgent {
				out.Agents[t.Name]++
			} else {
				out.Clusters[t.Name]++
			}
		}
	}
	return out, nil
}

// admissionOf turns a decision into the experiment reconciler's terms.
func admissionOf(d policy.Decision) Admission {
	adm := Admission{Allowed: d.Allowed, Warnings: d.Warnings}
	for _, x := range d.Blocking() {
		adm.Denials = append(adm.Denials, x.String())
	}
	for _, x := range d.ApprovalsRequired {
		adm.AwaitingApproval = append(adm.AwaitingApproval, x.String())
	}
	return adm
}
