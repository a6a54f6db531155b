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

	"golang.org/x/sync/errgroup"

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
	// NoCache evaluates every experiment, even those whose policy input
	// matches an earlier one's in every part the policies read (see
	// policy.Set.WithCache).
	NoCache bool
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
	File      string          `json:"file,omitempty"`
	FaultKind string          `json:"fault"`
	Waves     []Wave          `json:"waves"`
	Verdict   Verdict         `json:"verdict"`
	Decision  policy.Decision `json:"decision"`
}

// SourceFileAnnotation is where sources.Build records an experiment's file
// and line; plan reads it without importing sources.
const SourceFileAnnotation = "faultline.dev/source-file"

// maxCachedDecisions bounds the memory a plan's decision cache takes.
const maxCachedDecisions = 1 << 16

// Plan judges every experiment, in parallel, and returns the results in the
// experiments' order. An error (a placement that does not resolve, a policy
// that fails to evaluate) stops the plan: it is an input error, not a denial.
func Plan(ctx context.Context, exps []v1alpha1.Experiment, opts Options) ([]Result, error) {
	if opts.Policies == nil {
		opts.Policies = policy.NewSet()
	}
	if !opts.NoCache {
		// Experiments in a repository often differ only where no rule looks
		// (their names, their files): those share one evaluation.
		opts.Policies = opts.Policies.WithCache(min(len(exps), maxCachedDecisions))
	}
	now := opts.Now
	if now.IsZero() {
		now = time.Now()
	}
	members := make([]federation.Member, len(opts.Members))
	sizes := make(map[string]int, len(opts.Members))
	for i, m := range opts.Members {
		members[i] = m.Member
		kind := m.Kind
		if kind == "" {
			kind = federation.KindMemberCluster
		}
		sizes[kind+"/"+m.Name] = m.Targets
	}
	approvals := map[string][]v1alpha1.Approval{}
	for _, a := range opts.Approvals {
		k := a.Namespace + "/" + a.Spec.Experiment
		approvals[k] = append(approvals[k], a)
	}

	out := make([]Result, len(exps))
	g, ctx := errgroup.WithContext(ctx)
	parallel := opts.Parallel
	if parallel <= 0 {
		parallel = runtime.GOMAXPROCS(0)
	}
	// Chunks keep goroutine overhead negligible against decisions.
	chunk := max(1, len(exps)/(parallel*8))
	g.SetLimit(parallel)
	for start := 0; start < len(exps); start += chunk {
		end := min(start+chunk, len(exps))
		g.Go(func() error {
			for i := start; i < end; i++ {
				e := &exps[i]
				r, err := planOne(ctx, e, &opts, members, sizes, approvals[e.Namespace+"/"+e.Name], now)
				if err != nil {
					return fmt.Errorf("%s/%s: %w", e.Namespace, e.Name, err)
				}
				out[i] = r
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return out, nil
}

func planOne(ctx context.Context, e *v1alpha1.Experiment, opts *Options, members []federation.Member,
	sizes map[string]int, approvals []v1alpha1.Approval, now time.Time) (Result, error) {
	placement := e.Spec.Placement
	if placement == nil {
		placement = opts.DefaultPlacement
	}
	waves, err := federation.ResolvePlacement(placement, members)
	if err != nil {
		return Result{}, fmt.Errorf("spec.%w", err)
	}
	in := &policy.Input{
		Experiment:        policy.ExperimentFrom(e),
		Source:            opts.Source,
		Now:               policy.NewNow(now),
		Approvals:         policy.ApprovalsFor(approvals, e.Name, opts.Source.Revision),
		ActiveExperiments: opts.Active,
	}
	r := Result{Namespace: e.Namespace, Name: e.Name, File: e.Annotations[SourceFileAnnotation], FaultKind: in.Experiment.FaultKind}
	for _, w := range waves {
		pw := Wave{Name: w.Name}
		for _, lists := range [][]federation.Member{w.Clusters, w.Agents} {
			for _, m := range lists {
				in.Placement.Targets = append(in.Placement.Targets, policy.TargetInput{Kind: m.Kind, Name: m.Name, Labels: m.Labels, Wave: w.Name})
				in.BlastRadius = append(in.BlastRadius, policy.EstimateBlastRadius(&e.Spec, m.Kind, m.Name, sizes[m.Kind+"/"+m.Name]))
				if m.Kind == federation.KindHostAgent {
					pw.Agents = append(pw.Agents, m.Name)
				} else {
					pw.Clusters = append(pw.Clusters, m.Name)
				}
			}
		}
		r.Waves = append(r.Waves, pw)
	}
	d, err := opts.Policies.Decide(ctx, in)
	if err != nil {
		return Result{}, err
	}
	r.Decision = d
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
