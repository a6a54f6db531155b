package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/fluxcd/pkg/apis/meta"
	"github.com/spf13/cobra"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/faultline-dev/faultline/crds/v1alpha1"
	"github.com/faultline-dev/faultline/policy"
)

func newApproveCommand(kube *genericclioptions.ConfigFlags) *cobra.Command {
	var (
		revision, comment string
		waitAdmitted      bool
		timeout           time.Duration
		out               *output
		showProg          *bool
	)
	cmd := &cobra.Command{
		Use:   "approve [NAMESPACE/]NAME --revision SHA",
		Short: "Approves one experiment at one revision, as the user your kubeconfig authenticates",
		Long: `approve creates an Approval of the experiment at the revision. The hub
records as approver whoever the API server authenticated for the request, not
anything typed here, and the policies decide whose approval counts (such as
members of group sre). An approval counts only for its revision: a new commit
needs a new approval.

With --wait it then waits until the experiment leaves AwaitingApproval (it
may still wait for someone else's approval), and fails if the hub says this
approval does not count.`,
		Example: `  faultline approve shop/checkout-network-delay --revision 3f2c1ab
  faultline approve -n shop checkout-network-delay --revision 3f2c1ab --wait
  faultline approve shop/checkout-network-delay --revision main@sha1:3f2c1ab... --comment "game day, SRE on call"`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := out.validate(); err != nil {
				return err
			}
			if len(revision) < 7 {
				return fmt.Errorf("--revision must be a commit SHA-1 (at least 7 hex digits) or a full revision")
			}
			c, defaultNS, err := hubClient(kube)
			if err != nil {
				return err
			}
			ns, name := splitName(defaultNS, args[0])
			if ns == "" || name == "" {
				return fmt.Errorf("want [NAMESPACE/]NAME, not %q", args[0])
			}
			ctx := cmd.Context()
			exp := &v1alpha1.Experiment{}
			if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, exp); err != nil {
				return fmt.Errorf("experiment %s/%s: %w", ns, name, err)
			}
			current := exp.Annotations[v1alpha1.RevisionAnnotation]
			if current != "" && !policy.RevisionMatches(revision, current) {
				fmt.Fprintf(cmd.ErrOrStderr(), "faultline: warning: %s/%s is at %s; this approval counts only once it reaches %s\n", ns, name, current, revision)
			}
			a := &v1alpha1.Approval{
				ObjectMeta: metav1.ObjectMeta{Namespace: ns, GenerateName: name + "-"},
				Spec:       v1alpha1.ApprovalSpec{Experiment: name, Revision: revision, Comment: comment},
			}
			if err := c.Create(ctx, a, client.FieldOwner(fieldOwner)); err != nil {
				return fmt.Errorf("creating the approval: %w", err)
			}
			if waitAdmitted {
				ctx, cancel := context.WithTimeout(ctx, timeout)
				defer cancel()
				prog := newProgress(cmd, *showProg)
				err := waitApproved(ctx, c, a, prog)
				prog.Done()
				if err != nil {
					return err
				}
			}
			a.SetGroupVersionKind(v1alpha1.GroupVersion.WithKind("Approval"))
			return out.print(cmd.OutOrStdout(), a, func(w io.Writer, _ string) error {
				who := "(no approver recorded: is the hub's Approval webhook installed?)"
				if a.Spec.Approver != nil {
					who = "as " + a.Spec.Approver.Username
					if len(a.Spec.Approver.Groups) > 0 {
						who += " (groups " + strings.Join(a.Spec.Approver.Groups, ", ") + ")"
					}
				}
				_, err := fmt.Fprintf(w, "approval/%s created: %s/%s at %s %s\n", a.Name, ns, name, revision, who)
				return err
			})
		},
	}
	cmd.Flags().StringVar(&revision, "revision", "", "Revision to approve: a commit SHA-1 (7 to 40 hex digits) or the full revision (required).")
	cmd.Flags().StringVar(&comment, "comment", "", "Why, for the audit trail.")
	cmd.Flags().BoolVar(&waitAdmitted, "wait", false, "Wait until the experiment leaves AwaitingApproval.")
	cmd.Flags().DurationVar(&timeout, "timeout", 2*time.Minute, "How long --wait waits.")
	out = addOutputFlag(cmd, formatTable, formatJSON, formatYAML)
	showProg = addProgressFlag(cmd)
	_ = cmd.MarkFlagRequired("revision")
	return cmd
}

// waitApproved waits until the approval's experiment is past
// AwaitingApproval, reporting on prog what it still waits for; it fails as
// soon as the hub says the approval does not count, or the run was denied.
func waitApproved(ctx context.Context, c client.Client, a *v1alpha1.Approval, prog *progress) error {
	key := client.ObjectKey{Namespace: a.Namespace, Name: a.Spec.Experiment}
	var last string
	err := wait.PollUntilContextCancel(ctx, 250*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		got := &v1alpha1.Approval{}
		if err := c.Get(ctx, client.ObjectKeyFromObject(a), got); err != nil {
			return false, client.IgnoreNotFound(err)
		}
		if r := apimeta.FindStatusCondition(got.Status.Conditions, meta.ReadyCondition); r != nil && r.Status == metav1.ConditionFalse &&
			r.Reason != "ExperimentNotFound" { // the reconciler's reason while the experiment has not arrived
			return false, fmt.Errorf("approval/%s does not count: %s", got.Name, r.Message)
		}
		exp := &v1alpha1.Experiment{}
		if err := c.Get(ctx, key, exp); err != nil {
			return false, client.IgnoreNotFound(err)
		}
		switch phase := exp.Status.Phase; phase {
		case "", v1alpha1.PhasePending, v1alpha1.PhaseAwaitingApproval:
			what := "the hub to admit " + key.String()
			if phase == v1alpha1.PhaseAwaitingApproval {
				what = key.String() + ": " + conditionMessage(exp, v1alpha1.AdmittedCondition)
			}
			if what != last {
				prog.Step("waiting for %s", what)
				last = what
			}
			return false, nil
		case v1alpha1.PhaseDenied:
			return false, fmt.Errorf("experiment %s was denied: %s", key, conditionMessage(exp, v1alpha1.AdmittedCondition))
		}
		return true, nil
	})
	if err != nil && ctx.Err() != nil {
		return fmt.Errorf("gave up waiting for %s to be admitted (%s): %w", key, orDash(last), err)
	}
	return err
}
