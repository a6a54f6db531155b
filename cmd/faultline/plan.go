package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/faultline-dev/faultline/crds/v1alpha1"
	"github.com/faultline-dev/faultline/federation"
	"github.com/faultline-dev/faultline/policy"
	"github.com/faultline-dev/faultline/policy/plan"
	"github.com/faultline-dev/faultline/sources"
)

// exitError ends the command with a given exit code after its output.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// ExitCode is what main exits with.
func (e *exitError) ExitCode() int { return e.code }

// inputError is exit code 2: the plan could not be made.
func inputError(err error) error { return &exitError{code: 2, err: err} }

type planFlags struct {
	policyDir string
	data      string
	library   []string
	clusters  string
	revision  string
	out       *output
	root      string
	namespace string
	now       string
	timeZone  string
	progress  *bool
}

func newPlanCommand(kube *genericclioptions.ConfigFlags) *cobra.Command {
	f := &planFlags{}
	cmd := &cobra.Command{
		Use:   "plan DIR --policy DIR",
		Short: "Judges the experiments of a directory against policies, as the hub would: the pull-request check",
		Long: `plan builds DIR as the hub would (see faultline build), resolves each
experiment's placement against the member clusters and host agents of
--clusters (or of a live hub with --kubeconfig or --context), evaluates
the policies of --policy, and prints per experiment whether it is allowed,
denied (by which rule, on which field) or waiting for approval (by whom).

--policy DIR holds ChaosPolicy manifests (with ConfigMaps for their
configMapRef modules), exactly as applied to the hub, and/or loose .rego
files which form one more policy with --data as its parameters and --library
as its built-in rules ("*" for all; see faultline policy library).

The clusters file is a YAML or JSON list:

  - name: prod-eu
    kind: MemberCluster      # or HostAgent; default MemberCluster
    labels: {env: prod}
    targets: 40              # optional: workload size, for blast-radius percentages

Exit status: 0 when every experiment is allowed or only waits for approval,
1 when any is denied, 2 on input errors (build, policy, flags).`,
		Example: `  faultline plan examples/experiments --policy examples/policies --library '*' --clusters fleet.yaml
  faultline plan . --policy ../platform/policies --data params.yaml --library '*' -o markdown > comment.md
  faultline plan overlays/prod --policy ../platform/policies --kubeconfig hub.kubeconfig`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runPlan(cmd, kube, f, args[0])
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.policyDir, "policy", "", "Directory of ChaosPolicy manifests and/or .rego modules (required).")
	fl.StringVar(&f.data, "data", "", "JSON or YAML object of parameters for the loose .rego modules and --library rules (data.parameters).")
	fl.StringSliceVar(&f.library, "library", nil, `Built-in library rules for the loose policy, or "*" for all.`)
	fl.StringVar(&f.clusters, "clusters", "", "File of member clusters and host agents with labels. Default: a live hub's, with --kubeconfig or --context.")
	fl.StringVar(&f.revision, "revision", "", "Revision the experiments are at, for approvals. Default: HEAD of the Git work tree holding DIR.")
	f.out = addOutputFlag(cmd, formatTable, formatMarkdown, formatJSON, formatYAML)
	f.progress = addProgressFlag(cmd)
	fl.StringVar(&f.root, "root", "", "Directory the build may not leave. Default: the Git work tree holding DIR.")
	fl.StringVar(&f.namespace, "default-namespace", "", `Namespace of experiments that name none. Default: "default".`)
	fl.StringVar(&f.now, "now", "", "Time of the decision in RFC 3339, for change windows and freezes. Default: now.")
	fl.StringVar(&f.timeZone, "time-zone", "", "IANA time zone of the decision's now. Default: the local zone.")
	cmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return inputError(err) })
	return cmd
}

func runPlan(cmd *cobra.Command, kube *genericclioptions.ConfigFlags, f *planFlags, dir string) error {
	ctx := cmd.Context()
	if f.policyDir == "" {
		return inputError(fmt.Errorf("--policy DIR is required: policies belong to the hub, not to the directory they judge"))
	}
	if err := f.out.validate(); err != nil {
		return inputError(err)
	}
	now, err := planNow(f.now, f.timeZone)
	if err != nil {
		return inputError(err)
	}

	root := f.root
	if root == "" {
		root = buildRoot(dir)
	}
	prog := newProgress(cmd, *f.progress)
	defer prog.Done()
	prog.Step("building %s", dir)
	res, err := sources.Build(ctx, dir, sources.BuildOptions{Root: root, DefaultNamespace: f.namespace})
	prog.Done()
	if be, ok := sources.AsBuildErrors(err); ok {
		printBuildErrors(cmd.ErrOrStderr(), be, root)
		return inputError(fmt.Errorf("%w: %d error(s)", errBuildFailed, len(be.Errors)))
	}
	if err != nil {
		return inputError(err)
	}

	params, err := readData(f.data)
	if err != nil {
		return inputError(err)
	}
	prog.Step("compiling the policies of %s", f.policyDir)
	specs, err := loadPolicies(f.policyDir, params, f.library)
	if err != nil {
		return inputError(err)
	}
	var compiled []*policy.Policy
	for _, s := range specs {
		p, err := policy.Compile(ctx, s)
		if err != nil {
			return inputError(fmt.Errorf("policy %s: %w", s.Name, err))
		}
		compiled = append(compiled, p)
	}

	opts := plan.Options{Policies: policy.NewSet(compiled...), Now: now}
	if f.revision != "" {
		opts.Source.Revision = f.revision
	} else if src, err := gitSource(dir); err == nil {
		opts.Source = src
	}
	switch {
	case f.clusters != "":
		if opts.Members, err = readMembers(f.clusters); err != nil {
			return inputError(err)
		}
	case kube.KubeConfig != nil && *kube.KubeConfig != "", kube.Context != nil && *kube.Context != "":
		prog.Step("reading member clusters, host agents and approvals from the hub")
		if err := fromHub(ctx, kube, &opts); err != nil {
			return inputError(err)
		}
	default:
		prog.Done()
		fmt.Fprintln(cmd.ErrOrStderr(), "faultline: no --clusters file and no --kubeconfig: placements select nothing, so label-based rules cannot apply")
	}

	prog.Step("judging %d experiment(s)", len(res.Experiments))
	results, err := plan.Plan(ctx, res.Experiments, opts)
	prog.Done()
	if err != nil {
		return inputError(err)
	}
	err = f.out.print(cmd.OutOrStdout(), planDocument(opts.Source.Revision, specs, results), func(w io.Writer, format string) error {
		if format == formatMarkdown {
			return printPlanMarkdown(w, opts.Source.Revision, specs, results)
		}
		return printPlanTable(w, results)
	})
	if err != nil {
		return err
	}
	if n := countVerdict(results, plan.Denied); n > 0 {
		return &exitError{code: 1, err: fmt.Errorf("%d of %d experiment(s) denied", n, len(results))}
	}
	return nil
}

func planNow(at, zone string) (time.Time, error) {
	now := time.Now()
	if at != "" {
		t, err := time.Parse(time.RFC3339, at)
		if err != nil {
			return now, fmt.Errorf("--now: %w", err)
		}
		now = t
	}
	if zone != "" {
		loc, err := time.LoadLocation(zone)
		if err != nil {
			return now, fmt.Errorf("--time-zone: %w", err)
		}
		now = now.In(loc)
	}
	return now, nil
}

// fromHub reads members, approvals and running experiments from a live hub.
func fromHub(ctx context.Context, kube *genericclioptions.ConfigFlags, opts *plan.Options) error {
	cfg, err := kube.ToRESTConfig()
	if err != nil {
		return fmt.Errorf("loading kubeconfig: %w", err)
	}
	c, err := client.New(cfg, client.Options{Scheme: hubScheme()})
	if err != nil {
		return fmt.Errorf("connecting to the hub: %w", err)
	}
	mcs := &v1alpha1.MemberClusterList{}
	if err := c.List(ctx, mcs); err != nil {
		return fmt.Errorf("listing member clusters: %w", err)
	}
	for _, m := range mcs.Items {
		if !m.Spec.Suspend {
			opts.Members = append(opts.Members, plan.Member{Member: federation.Member{Name: m.Name, Kind: federation.KindMemberCluster, Labels: m.Labels}})
		}
	}
	agents := &v1alpha1.HostAgentList{}
	if err := c.List(ctx, agents); err != nil {
		return fmt.Errorf("listing host agents: %w", err)
	}
	for _, a := range agents.Items {
		if !a.Spec.Suspend {
			opts.Members = append(opts.Members, plan.Member{Member: federation.Member{Name: a.Name, Kind: federation.KindHostAgent, Labels: a.Labels}})
		}
	}
	approvals := &v1alpha1.ApprovalList{}
	if err := c.List(ctx, approvals); err != nil {
		return fmt.Errorf("listing approvals: %w", err)
	}
	opts.Approvals = approvals.Items
	return nil
}

// hubScheme knows faultline's kinds.
func hubScheme() *runtime.Scheme {
	s := runtime.NewScheme()
	utilruntime.Must(v1alpha1.AddToScheme(s))
	return s
}

func countVerdict(rs []plan.Result, v plan.Verdict) int {
	n := 0
	for _, r := range rs {
		if r.Verdict == v {
			n++
		}
	}
	return n
}

func wavesText(ws []plan.Wave) string {
	if len(ws) == 0 {
		return "(nothing placed)"
	}
	parts := make([]string, len(ws))
	for i, w := range ws {
		parts[i] = w.Name + ": " + strings.Join(append(append([]string{}, w.Clusters...), w.Agents...), ",")
	}
	return strings.Join(parts, "; ")
}

func printPlanTable(w io.Writer, rs []plan.Result) error {
	tw := newTable(w)
	fmt.Fprintln(tw, "NAMESPACE\tNAME\tFAULT\tWAVES\tVERDICT")
	for _, r := range rs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.Namespace, r.Name, r.FaultKind, wavesText(r.Waves), r.Verdict)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, r := range rs {
		if r.Verdict == plan.Allowed && len(r.Decision.Warnings) == 0 {
			continue
		}
		fmt.Fprintf(w, "\n%s/%s (%s):\n", r.Namespace, r.Name, r.File)
		for _, d := range r.Decision.Blocking() {
			fmt.Fprintf(w, "  denied   %s/%s at %s: %s\n", d.Policy, d.Rule, d.Field, d.Message)
		}
		for _, a := range r.Decision.ApprovalsRequired {
			fmt.Fprintf(w, "  approval %d from group %s (%s/%s): %s\n", a.Count, a.Group, a.Policy, a.Rule, a.Reason)
		}
		for _, x := range r.Decision.Warnings {
			fmt.Fprintf(w, "  warning  %s\n", x)
		}
	}
	_, err := fmt.Fprintf(w, "\n%d allowed, %d denied, %d awaiting approval\n",
		countVerdict(rs, plan.Allowed), countVerdict(rs, plan.Denied), countVerdict(rs, plan.AwaitingApproval))
	return err
}

// md escapes text for a Markdown table cell.
func md(s string) string {
	return strings.NewReplacer("|", `\|`, "\n", " ", "<", "&lt;", ">", "&gt;").Replace(s)
}

func printPlanMarkdown(w io.Writer, revision string, specs []policy.Spec, rs []plan.Result) error {
	icon := map[plan.Verdict]string{plan.Allowed: "✅ allowed", plan.Denied: "❌ denied", plan.AwaitingApproval: "⏳ awaiting approval"}
	fmt.Fprintf(w, "### faultline plan: %d allowed, %d denied, %d awaiting approval\n\n",
		countVerdict(rs, plan.Allowed), countVerdict(rs, plan.Denied), countVerdict(rs, plan.AwaitingApproval))
	names := make([]string, len(specs))
	for i, s := range specs {
		e := s.Enforcement
		if e == "" {
			e = v1alpha1.EnforcementEnforce
		}
		names[i] = fmt.Sprintf("`%s` (%s)", s.Name, e)
	}
	if revision != "" {
		fmt.Fprintf(w, "Revision `%s` · ", revision)
	}
	fmt.Fprintf(w, "policies: %s\n\n", strings.Join(names, ", "))
	fmt.Fprintln(w, "| Experiment | Fault | Waves | Verdict | Why |")
	fmt.Fprintln(w, "|---|---|---|---|---|")
	for _, r := range rs {
		var why []string
		for _, d := range r.Decision.Blocking() {
			why = append(why, fmt.Sprintf("**%s** at `%s`: %s", md(d.Rule), md(d.Field), md(d.Message)))
		}
		for _, a := range r.Decision.ApprovalsRequired {
			why = append(why, fmt.Sprintf("needs %d approval(s) from **%s**: %s", a.Count, md(a.Group), md(a.Reason)))
		}
		for _, x := range r.Decision.Warnings {
			why = append(why, "⚠️ "+md(x))
		}
		fmt.Fprintf(w, "| `%s/%s` | %s | %s | %s | %s |\n", r.Namespace, r.Name, r.FaultKind, md(wavesText(r.Waves)), icon[r.Verdict], strings.Join(why, "<br>"))
	}
	if countVerdict(rs, plan.AwaitingApproval) > 0 {
		fmt.Fprintln(w, "\nApprove after merging with `faultline approve NAMESPACE/NAME --revision SHA`.")
	}
	return nil
}

// planDoc is the shape of plan -o json and -o yaml.
type planDoc struct {
	Revision    string        `json:"revision,omitempty"`
	Policies    []string      `json:"policies"`
	Allowed     int           `json:"allowed"`
	Denied      int           `json:"denied"`
	Awaiting    int           `json:"awaitingApproval"`
	Experiments []plan.Result `json:"experiments"`
}

func planDocument(revision string, specs []policy.Spec, rs []plan.Result) planDoc {
	names := make([]string, len(specs))
	for i, s := range specs {
		names[i] = s.Name
	}
	if rs == nil {
		rs = []plan.Result{}
	}
	return planDoc{revision, names, countVerdict(rs, plan.Allowed), countVerdict(rs, plan.Denied), countVerdict(rs, plan.AwaitingApproval), rs}
}
