package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/faultline-dev/faultline/crds/v1alpha1"
	"github.com/faultline-dev/faultline/policy"
)

func newApproveCommand(kube *genericclioptions.ConfigFlags) *cobra.Command {
	var revision, comment string
	cmd := &cobra.Command{
		Use:   "approve NAMESPACE/NAME --revision SHA",
		Short: "Approves one experiment at one revision, as the user your kubeconfig authenticates",
		Long: `approve creates an Approval of the experiment at the revision. The hub
records as approver whoever the API server authenticated for the request, not
anything typed here, and the policies decide whose approval counts (such as
members of group sre). An approval counts only for its revision: a new commit
needs a new approval.`,
		Example: `  faultline approve shop/checkout-network-delay --revision 3f2c1ab
  faultline approve shop/checkout-network-delay --revision main@sha1:3f2c1ab... --comment "game day, SRE on call"`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ns, name, ok := strings.Cut(args[0], "/")
			if !ok || ns == "" || name == "" {
				return fmt.Errorf("want NAMESPACE/NAME, not %q", args[0])
			}
			if len(revision) < 7 {
				return fmt.Errorf("--revision must be a commit SHA-1 (at least 7 hex digits) or a full revision")
			}
			cfg, err := kube.ToRESTConfig()
			if err != nil {
				return fmt.Errorf("loading kubeconfig: %w", err)
			}
			c, err := client.New(cfg, client.Options{Scheme: hubScheme()})
			if err != nil {
				return fmt.Errorf("connecting to the hub: %w", err)
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
			who := "(no approver recorded: is the hub's Approval webhook installed?)"
			if a.Spec.Approver != nil {
				who = "as " + a.Spec.Approver.Username
				if len(a.Spec.Approver.Groups) > 0 {
					who += " (groups " + strings.Join(a.Spec.Approver.Groups, ", ") + ")"
				}
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "approval/%s created: %s/%s at %s %s\n", a.Name, ns, name, revision, who)
			return err
		},
	}
	cmd.Flags().StringVar(&revision, "revision", "", "Revision to approve: a commit SHA-1 (7 to 40 hex digits) or the full revision (required).")
	cmd.Flags().StringVar(&comment, "comment", "", "Why, for the audit trail.")
	_ = cmd.MarkFlagRequired("revision")
	return cmd
}
