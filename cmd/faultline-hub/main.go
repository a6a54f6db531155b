// Command faultline-hub runs the hub: the controller-runtime manager that
// reconciles ChaosSources, policies, member clusters, host agents and
// experiments. This file holds flags and wiring only.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/spf13/cobra"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/faultline-dev/faultline/internal/version"
)

func main() {
	if err := newRootCommand().ExecuteContext(ctrl.SetupSignalHandler()); err != nil {
		fmt.Fprintln(os.Stderr, "faultline-hub:", err)
		os.Exit(1)
	}
}

func newRootCommand() *cobra.Command {
	opts := newOptions()
	cmd := &cobra.Command{
		Use:   "faultline-hub",
		Short: "The faultline hub: pulls experiments from Git, admits them by policy and rolls them out",
		Long: `faultline-hub is the controller manager of faultline. It reconciles
ChaosSources, ChaosPolicies, MemberClusters, HostAgents, Approvals and
Experiments in the cluster it runs in (the hub), and writes Injections into
member clusters.`,
		Version:       version.String("faultline-hub"),
		SilenceUsage:  true,
		SilenceErrors: true,
		Args:          cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return run(cmd.Context(), opts)
		},
	}
	cmd.SetVersionTemplate("{{.Version}}\n")
	opts.bindFlags(cmd.Flags())
	return cmd
}

func run(ctx context.Context, opts *options) error {
	mgr, err := newManager(opts)
	if err != nil {
		return err
	}
	return mgr.Start(ctx)
}
