package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/faultline-dev/faultline/crds/v1alpha1"
	"github.com/faultline-dev/faultline/internal/testground/cluster"
)

// approve creates an Approval of exactly the experiment and revision named;
// who approved is the hub's webhook's to record (tested in reconciler/).
func TestApproveCreatesAnApproval(t *testing.T) {
	hub := cluster.Start(t, "hub")[0]
	ctx := t.Context()
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(kubeconfig, hub.KubeConfig, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := hub.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop"}}); err != nil {
		t.Fatal(err)
	}
	exp := &v1alpha1.Experiment{
		ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "checkout",
			Annotations: map[string]string{v1alpha1.RevisionAnnotation: "main@sha1:2222222222222222222222222222222222222222"}},
		Spec: v1alpha1.ExperimentSpec{Fault: v1alpha1.FaultSpec{Pod: &v1alpha1.PodFault{Action: v1alpha1.PodKill}}},
	}
	if err := hub.Client.Create(ctx, exp); err != nil {
		t.Fatal(err)
	}

	out, stderr, code := runCLI(t, "approve", "shop/checkout", "--revision", "2222222", "--comment", "game day", "--kubeconfig", kubeconfig)
	if code != 0 || !strings.Contains(out, "shop/checkout at 2222222") || strings.Contains(stderr, "warning") {
		t.Fatalf("exit %d\n%s\n%s", code, out, stderr)
	}
	list := &v1alpha1.ApprovalList{}
	if err := hub.Client.List(ctx, list, client.InNamespace("shop")); err != nil {
		t.Fatal(err)
	}
	if len(list.Items) != 1 || list.Items[0].Spec.Experiment != "checkout" || list.Items[0].Spec.Revision != "2222222" || list.Items[0].Spec.Comment != "game day" {
		t.Fatalf("approvals = %+v", list.Items)
	}

	// Approving another revision than the current one is allowed (it counts
	// once the experiment gets there) but warned about.
	_, stderr, code = runCLI(t, "approve", "shop/checkout", "--revision", "1111111", "--kubeconfig", kubeconfig)
	if code != 0 || !strings.Contains(stderr, "is at main@sha1:2222222") {
		t.Fatalf("exit %d, stderr %s", code, stderr)
	}

	for name, args := range map[string][]string{
		"no such experiment": {"approve", "shop/nope", "--revision", "2222222", "--kubeconfig", kubeconfig},
		"short revision":     {"approve", "shop/checkout", "--revision", "22", "--kubeconfig", kubeconfig},
		"not NAMESPACE/NAME": {"approve", "checkout", "--revision", "2222222", "--kubeconfig", kubeconfig},
		"no revision":        {"approve", "shop/checkout", "--kubeconfig", kubeconfig},
	} {
		if _, _, code := runCLI(t, args...); code == 0 {
			t.Errorf("%s: exit 0", name)
		}
	}
}
