package main

import (
	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"

	"github.com/faultline-dev/faultline/internal/version"
)

// newRootCommand builds the command tree. Cluster-facing commands share
// kubectl's flags (--kubeconfig, --context, -n ...) through cli-runtime.
func newRootCommand() *cobra.Command {
	kube := genericclioptions.NewConfigFlags(true)
	cmd := &cobra.Command{
		Use:   "faultline",
		Short: "GitOps chaos engineering: experiments from Git, admitted by policy, rolled out in waves",
		Long: `faultline runs chaos experiments the GitOps way. Experiments live in a Git
repository; the faultline hub pulls them, checks them against OPA policies,
rolls them out wave by wave to member clusters and host agents, watches the
service's metrics, and writes the verdict back to Git and Kubernetes.

This command talks to the hub cluster with kubectl's flags.`,
		Version:       version.String("faultline"),
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	cmd.SetVersionTemplate("{{.Version}}\n")
	kube.AddFlags(cmd.PersistentFlags())
	cmd.AddCommand(
		newVersionCommand(),
		newCRDsCommand(),
		newInstallCommand(kube),
		newAbortCommand(kube),
		newBuildCommand(),
		newPlanCommand(kube), newPolicyCommand(), newApproveCommand(kube),
		newAuditCommand(kube),
		newStatusCommand(kube),
	)
	return cmd
}

func newVersionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Prints the client's version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := cmd.OutOrStdout().Write([]byte(version.String("faultline") + "\n"))
			return err
		},
	}
}
