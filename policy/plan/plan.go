// Package plan judges a set of experiments as the hub would before they
// run: it resolves each experiment's placement against the members,
// estimates its blast radius, and asks the policies. It backs `faultline
// plan`, the pull-request check.
package plan

import (
	"context"
	"fmt"
	"runtime"
	"time"

	v1alpha1 "github.com/faultline-dev/faultline/crds/v1alpha1"
	"github.com/faultline-dev/faultline/federation"
	"github.com/faultline-dev/faultline/policy"
)

// Member is a member cluster or host agent, with the size of the workload
// an experiment's selector would match there when known.
type Member struct {
	federation.Member `json:",inline"`
	// Targets is how many targets (pods, or processes on a host) a typical
	// selector matches on the member; 0: unknown.
	Targets int `json:"targets,omitempty"`
}

// Options are what every experiment is judged with.
type Options struct {
	Policies *policy.Set
	Members  []Member
	// Source is the repository the experiments come from.
	Source policy.SourceInput
	// DefaultPlacement applies to experiments that declare none, as the
	// ChaosSource's spec.placement does on the hub.
	DefaultPlacement *v1alpha1.Placement
	// Approvals present on the hub, if known.
	Approvals []v1alpha1.Approval
	// Active counts experiments running per member.
	Active policy.ActiveExperiments
	// Now is the time of the decision; zero: time.Now().
	Now time.Time
	// Parallel decisions; 0: GOMAXPROCS.
	Parallel int
}

// Verdict of one experiment.
type Verdict string

const (
	Allowed          Verdict = "Allowed"
	Denied           Verdict = "Denied"
	AwaitingApproval Verdict = "AwaitingApproval"
)

// Wave is where one wave of an experiment goes.
type Wave struct {
	Name     string   `json:"name"`
	Clusters []string `json:"clusters,omitempty"`
	Agents   []string `json:"agents,omitempty"`
}

// Result is the plan of one experiment.
type Result struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	// File is where the experiment was declared (path:line), when known.
	File      string `json:"file,omitempty"`
	FaultKind string `json:"fault"`
	// Waves are shared by the results of experiments with the same
	// placement: read them, do not modify them.
	Waves    []Wave          `json:"waves"`
	Verdict  Verdict         `json:"verdict"`
	Decision policy.Decision `json:"decision"`
}

// SourceFileAnnotation is where sources.Build records an experiment's file
// and line; plan reads it without importing sources.
const SourceFileAnnotation = "faultline.dev/source-file"

// Plan judges every experiment, in parallel, and returns the results in the
// experiments' order; the results do not depend on how many decisions run
// at once. An error (a placement that does not resolve, a policy that fails
// to evaluate) stops the plan: it is an input error, not a denial. It names
// the first experiment, in order, that failed.
func Plan(ctx context.Context, exps []v1alpha1.Experiment, opts Options) ([]Result, error) {
	if opts.Policies == nil {
		opts.Policies = policy.NewSet()
	}
	now := opts.Now
	if now.IsZero() {
		now = time.Now()
	}
	approvals := map[string][]v1alpha1.Approval{}
	for _, a := range opts.Approvals {
		k := a.Namespace + "/" + a.Spec.Experiment
		approvals[k] = append(approvals[k], a)
	}
	pl := &planner{
		opts:       &opts,
		placements: newPlacements(&opts),
		now:        policy.NewNow(now),
		approvals:  approvals,
	}
	parallel := opts.Parallel
	if parallel <= 0 {
		parallel = runtime.GOMAXPROCS(0)
	}
	out := make([]Result, len(exps))
	err := forEach(ctx, len(exps), parallel, func(i int) error {
		e := &exps[i]
		r, err := pl.planOne(ctx, e)
		if err != nil {
			return fmt.Errorf("%s/%s: %w", e.Namespace, e.Name, err)
		}
		out[i] = r
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// planner is what every experiment of one plan is judged with.
type planner struct {
	opts       *Options
	placements *placements
	now        policy.NowInput
	approvals  map[string][]v1alpha1.Approval
}

func (pl *planner) planOne(ctx context.Context, e *v1alpha1.Experiment) (Result, error) {
	placed, err := pl.placements.resolve(e.Spec.Placement)
	if err != nil {
		return Result{}, err
	}
	in := &policy.Input{
		Experiment:        policy.ExperimentFrom(e),
		Source:            pl.opts.Source,
		Placement:         policy.PlacementInput{Targets: placed.targets},
		Now:               pl.now,
		Approvals:         policy.ApprovalsFor(pl.approvals[e.Namespace+"/"+e.Name], e.Name, pl.opts.Source.Revision),
		ActiveExperiments: pl.opts.Active,
	}
	if len(placed.targets) > 0 {
		in.BlastRadius = make([]policy.BlastRadius, len(placed.targets))
		for i, t := range placed.targets {
			in.BlastRadius[i] = policy.EstimateBlastRadius(&e.Spec, t.Kind, t.Name, placed.sizes[i])
		}
	}
	d, err := pl.opts.Policies.Decide(ctx, in)
	if err != nil {
		return Result{}, err
	}
	r := Result{Namespace: e.Namespace, Name: e.Name, File: e.Annotations[SourceFileAnnotation], FaultKind: in.Experiment.FaultKind,
		Waves: placed.waves, Decision: d}
	switch {
	case len(d.Blocking()) > 0:
		r.Verdict = Denied
	case len(d.ApprovalsRequired) > 0:
		r.Verdict = AwaitingApproval
	default:
		r.Verdict = Allowed
	}
	return r, nil
}
