// Command devhub runs the hub on one machine for trying faultline out: it
// starts a local control plane (the kube-apiserver and etcd that
// hack/envtest-assets.sh built) with faultline's CRDs, writes its kubeconfig,
// applies the example Experiment, and runs bin/faultline-hub against it
// until interrupted, then stops everything it started.
//
//	make run
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/faultline-dev/faultline/internal/testground/cluster"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "devhub:", err)
		os.Exit(1)
	}
}

func run() error {
	kubeconfig := flag.String("kubeconfig-out", ".cache/dev/hub.kubeconfig", "Where to write the hub's kubeconfig.")
	hubBin := flag.String("hub", "bin/faultline-hub", "Path of the faultline-hub binary.")
	example := flag.String("example", "crds/v1alpha1/testdata/checkout-latency.yaml", "Experiment to create; empty for none.")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	fmt.Println("starting a local control plane (kube-apiserver + etcd) with faultline's CRDs ...")
	hub, err := cluster.New("faultline-dev")
	if err != nil {
		return err
	}
	defer func() {
		fmt.Println("stopping the control plane")
		if err := hub.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "devhub:", err)
		}
	}()
	if err := os.MkdirAll(filepath.Dir(*kubeconfig), 0o755); err != nil {
		return fmt.Errorf("creating %s: %w", filepath.Dir(*kubeconfig), err)
	}
	if err := os.WriteFile(*kubeconfig, hub.KubeConfig, 0o600); err != nil {
		return fmt.Errorf("writing kubeconfig: %w", err)
	}
	if *example != "" {
		if err := createExample(ctx, hub, *example); err != nil {
			return err
		}
	}
	fmt.Printf("hub API server ready; try:\n  kubectl --kubeconfig %s get experiments -A\n", *kubeconfig)

	cmd := exec.CommandContext(ctx, *hubBin, "--kubeconfig", *kubeconfig,
		"--metrics-addr", "127.0.0.1:8080", "--health-addr", "127.0.0.1:9440")
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 30 * time.Second
	fmt.Println("running", cmd.String(), "(Ctrl-C stops it and the control plane)")
	if err := cmd.Run(); err != nil && ctx.Err() == nil {
		return fmt.Errorf("faultline-hub: %w", err)
	}
	return nil
}

func createExample(ctx context.Context, hub *cluster.Cluster, path string) error {
	raw, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("reading example: %w", err)
	}
	u := &unstructured.Unstructured{}
	if err := yaml.Unmarshal(raw, &u.Object); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: u.GetNamespace()}}
	if err := hub.Client.Create(ctx, ns); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating namespace %s: %w", ns.Name, err)
	}
	if err := hub.Client.Create(ctx, u); err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("creating %s: %w", path, err)
	}
	fmt.Printf("created experiment %s/%s\n", u.GetNamespace(), u.GetName())
	return nil
}
