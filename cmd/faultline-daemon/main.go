// Command faultline-daemon is the node executor of a member cluster: one per
// node (a DaemonSet), it runs the Injections written for its own node with the
// fault engine and reports their status. This file holds flags and wiring only.
package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/faultline-dev/faultline/daemon"
	"github.com/faultline-dev/faultline/faults"
	"github.com/faultline-dev/faultline/internal/version"
)

func main() {
	// Stress helpers are this binary re-executed; they never get further.
	faults.HelperMain()
	if err := newRootCommand().ExecuteContext(ctrl.SetupSignalHandler()); err != nil {
		fmt.Fprintln(os.Stderr, "faultline-daemon:", err)
		os.Exit(1)
	}
}

type options struct {
	nodeName        string
	kubeconfig      string
	journalPath     string
	metricsAddr     string
	healthAddr      string
	runtimeEndpoint string
	staticTargets   string
	nodeCollectors  []string
	zap             zap.Options
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
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.nodeName == "" {
				return errors.New("--node-name (or $NODE_NAME) is required")
			}
			return run(cmd, o)
		},
	}
	cmd.SetVersionTemplate("{{.Version}}\n")
	fs := cmd.Flags()
	fs.StringVar(&o.nodeName, "node-name", os.Getenv("NODE_NAME"), "Name of this node; only Injections for it are watched.")
	fs.StringVar(&o.kubeconfig, "kubeconfig", "", "Path to a kubeconfig of the member cluster. Empty: in-cluster config.")
	fs.StringVar(&o.journalPath, "journal", "/var/lib/faultline/daemon.db", "Path of the journal of applied faults.")
	fs.StringVar(&o.metricsAddr, "metrics-addr", ":8080", "Address the Prometheus metrics endpoint binds to.")
	fs.StringVar(&o.healthAddr, "health-addr", ":9440", "Address the /healthz and /readyz probes bind to.")
	fs.StringVar(&o.runtimeEndpoint, "runtime-endpoint", "unix:///run/containerd/containerd.sock", "CRI endpoint of the node's container runtime, used to find pods' network namespaces and cgroups.")
	fs.StringSliceVar(&o.nodeCollectors, "node-collectors", daemon.DefaultNodeCollectors, "node_exporter collectors served on the metrics endpoint; empty disables them.")
	fs.StringVar(&o.staticTargets, "static-targets", "", "JSON file mapping pod keys (namespace/name) to netnsPath/cgroupPath/rootPath, used instead of the CRI runtime (the test binding).")
	return cmd
}

func run(cmd *cobra.Command, o *options) error {
	ctx := cmd.Context()
	log := zap.New(zap.UseFlagOptions(&o.zap))
	ctrl.SetLogger(log)

	cfg, err := restConfig(o.kubeconfig)
	if err != nil {
		return err
	}
	var resolver daemon.Resolver
	if o.staticTargets != "" {
		if resolver, err = daemon.LoadStaticResolver(o.staticTargets); err != nil {
			return err
		}
	} else {
		cri, err := daemon.NewCRIResolver(o.runtimeEndpoint)
		if err != nil {
			return err
		}
		defer cri.Close()
		resolver = cri
	}
	d, err := daemon.New(ctx, daemon.Config{
		NodeName: o.nodeName, RestConfig: cfg, JournalPath: o.journalPath, Resolver: resolver,
		MetricsAddr: o.metricsAddr, HealthAddr: o.healthAddr, Log: log, NodeCollectors: o.nodeCollectors,
	})
	if err != nil {
		return err
	}
	return d.Run(ctx)
}

func restConfig(kubeconfig string) (*rest.Config, error) {
	if kubeconfig == "" {
		cfg, err := rest.InClusterConfig()
		if err != nil {
			return nil, fmt.Errorf("in-cluster config (or pass --kubeconfig): %w", err)
		}
		return cfg, nil
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("kubeconfig %s: %w", kubeconfig, err)
	}
	return cfg, nil
}
