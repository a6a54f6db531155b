// Command faultline-daemon is the node executor of a member cluster: one per
// node (a DaemonSet), it runs the Injections written for its own node with the
// fault engine and reports their status. This file holds flags and wiring only.
package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/faultline-dev/faultline/internal/version"
)

func main() {
	if err := newRootCommand().ExecuteContext(ctrl.SetupSignalHandler()); err != nil {
		fmt.Fprintln(os.Stderr, "faultline-daemon:", err)
		os.Exit(1)
	}
}

type options struct {
	nodeName    string
	kubeconfig  string
	journalPath string
	metricsAddr string
	healthAddr  string
}

func newRootCommand() *cobra.Command {
	o := &options{}
	cmd := &cobra.Command{
		Use:   "faultline-daemon",
		Short: "Runs faultline Injections on this node of a member cluster",
		Long: `faultline-daemon runs on every node of a member cluster. It watches only the
Injections labelled for its node, applies each fault inside the target pods'
network namespaces and cgroups, journals every change before making it, and
recovers on delete, on deadline, and after a crash before doing anything else.`,
		Version:       version.String("faultline-daemon"),
		SilenceUsage:  true,
		SilenceErrors: true,
		Args:          cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			if o.nodeName == "" {
				return errors.New("--node-name (or $NODE_NAME) is required")
			}
			// The fault engine (faults/) and the Injection reconciler
			// (daemon/) are not in this build yet; refuse to start rather
			// than pretend to run faults.
			return errors.New("this build has no fault engine yet: the daemon cannot run injections")
		},
	}
	cmd.SetVersionTemplate("{{.Version}}\n")
	fs := cmd.Flags()
	fs.StringVar(&o.nodeName, "node-name", os.Getenv("NODE_NAME"), "Name of this node; only Injections for it are watched.")
	fs.StringVar(&o.kubeconfig, "kubeconfig", "", "Path to a kubeconfig of the member cluster. Empty: in-cluster config.")
	fs.StringVar(&o.journalPath, "journal", "/var/lib/faultline/daemon.db", "Path of the journal of applied faults.")
	fs.StringVar(&o.metricsAddr, "metrics-addr", ":8080", "Address the Prometheus metrics endpoint binds to.")
	fs.StringVar(&o.healthAddr, "health-addr", ":9440", "Address the /healthz and /readyz probes bind to.")
	return cmd
}
