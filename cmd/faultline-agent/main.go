// Command faultline-agent is the executor on physical and virtual hosts: in
// fleet mode it registers with a hub and runs the Injections its heartbeats
// bring; standalone it serves a local REST API and CLI. Flags and wiring only.
package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/faultline-dev/faultline/faults"
	"github.com/faultline-dev/faultline/internal/version"
)

func main() {
	// The agent re-executes itself for fault helper processes.
	faults.HelperMain()
	if err := newRootCommand().ExecuteContext(ctrl.SetupSignalHandler()); err != nil {
		fmt.Fprintln(os.Stderr, "faultline-agent:", err)
		os.Exit(1)
	}
}

func newRootCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "faultline-agent",
		Short: "Runs faultline faults on this host, for a hub or standalone",
		Long: `faultline-agent runs faults on a physical or virtual host.

Fleet mode registers with a faultline hub using a join token, heartbeats, and
runs the injections the hub hands out, recovering them on its own when the
hub's lease lapses. Standalone mode serves a local REST API and CLI.`,
		Version:       version.String("faultline-agent"),
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	cmd.SetVersionTemplate("{{.Version}}\n")
	cmd.AddCommand(newVersionCommand(), newServeCommand())
	cmd.AddCommand(standaloneCommands()...)
	return cmd
}

func newVersionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Prints the agent's version",
		Args:  cobra.NoArgs,
		Run: func(cmd *cobra.Command, _ []string) {
			fmt.Fprintln(cmd.OutOrStdout(), version.String("faultline-agent"))
		},
	}
}
