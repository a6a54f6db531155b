package cluster_test

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/faultline-dev/faultline/internal/testground/cluster"
)

// A member's API server can go away and come back at the same address with
// the same certificates, so the kubeconfig the hub holds works again.
func TestAPIServerRestartKeepsKubeconfigValid(t *testing.T) {
	c := cluster.Start(t, "member")[0]
	rc, err := clientcmd.RESTConfigFromKubeConfig(c.KubeConfig)
	if err != nil {
		t.Fatal(err)
	}
	fromKubeconfig, err := client.New(rc, client.Options{Scheme: cluster.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	ns := &corev1.NamespaceList{}
	if err := fromKubeconfig.List(t.Context(), ns); err != nil {
		t.Fatalf("before stop: %v", err)
	}
	if err := c.StopAPIServer(); err != nil {
		t.Fatal(err)
	}
	if err := fromKubeconfig.List(t.Context(), ns); err == nil {
		t.Fatal("listing succeeded while the API server was stopped")
	}
	if err := c.StartAPIServer(); err != nil {
		t.Fatal(err)
	}
	if err := fromKubeconfig.List(t.Context(), ns); err != nil {
		t.Fatalf("after restart, the old kubeconfig no longer works: %v", err)
	}
}
