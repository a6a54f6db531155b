package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/faultline-dev/faultline/crds/v1alpha1"
	"github.com/faultline-dev/faultline/internal/testground/cluster"
)

// approve creates an Approval of exactly the experiment and revision named;
// who approved is the hub's webhook's to record (tested in reconciler/).
func TestApproveCreatesAnApproval(t *testing.T) {
	hub, kubeconfig, _ := approvalHub(t)
	ctx := t.Context()

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
		"no such experiment":        {"approve", "shop/nope", "--revision", "2222222", "--kubeconfig", kubeconfig},
		"short revision":            {"approve", "shop/checkout", "--revision", "22", "--kubeconfig", kubeconfig},
		"NAME in another namespace": {"approve", "checkout", "--revision", "2222222", "--kubeconfig", kubeconfig},
		"no revision":               {"approve", "shop/checkout", "--kubeconfig", kubeconfig},
	} {
		if _, _, code := runCLI(t, args...); code == 0 {
			t.Errorf("%s: exit 0", name)
		}
	}
}

// approve --wait returns once the hub admits the run, and fails at once
// when the hub says the approval does not count. The hub's part is played
// here by the test: it is tested in reconciler/.
func TestApproveWait(t *testing.T) {
	hub, kubeconfig, exp := approvalHub(t)
	ctx := t.Context()
	exp.Status.Phase = v1alpha1.PhaseAwaitingApproval
	exp.Status.Conditions = []metav1.Condition{{Type: v1alpha1.AdmittedCondition, Status: metav1.ConditionFalse, Reason: "AwaitingApproval",
		Message: "awaiting approval by group sre (1)", LastTransitionTime: metav1.Now()}}
	if err := hub.Client.Status().Update(ctx, exp); err != nil {
		t.Fatal(err)
	}

	// The "hub": once an approval exists and the CLI has said it waits,
	// the run starts.
	var errOut syncBuffer
	admitted := make(chan error, 1)
	go func() {
		admitted <- wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
			if !strings.Contains(errOut.String(), "waiting for shop/checkout") {
				return false, nil
			}
			list := &v1alpha1.ApprovalList{}
			if err := hub.Client.List(ctx, list, client.InNamespace("shop")); err != nil || len(list.Items) == 0 {
				return false, nil //nolint:nilerr // keep polling
			}
			exp.Status.Phase = v1alpha1.PhaseInjecting
			return true, hub.Client.Status().Update(ctx, exp)
		})
	}()
	out, code := runCLIStderr(t, &errOut, "approve", "-n", "shop", "checkout", "--revision", "2222222", "--wait", "--progress", "--timeout", "30s",
		"--kubeconfig", kubeconfig, "-o", "json")
	stderr := errOut.String()
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, stderr)
	}
	if err := <-admitted; err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stderr, "waiting for shop/checkout: awaiting approval by group sre (1)") {
		t.Errorf("--wait --progress did not say what it waits for: %q", stderr)
	}
	var a v1alpha1.Approval
	if err := json.Unmarshal([]byte(out), &a); err != nil || a.Kind != "Approval" || a.Spec.Experiment != "checkout" || a.Name == "" {
		t.Fatalf("-o json: %v\n%s", err, out)
	}

	// An approval the hub marks as not counting ends the wait with its reason.
	exp.Status.Phase = v1alpha1.PhaseAwaitingApproval
	if err := hub.Client.Status().Update(ctx, exp); err != nil {
		t.Fatal(err)
	}
	go func() {
		_ = wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
			list := &v1alpha1.ApprovalList{}
			if err := hub.Client.List(ctx, list, client.InNamespace("shop")); err != nil || len(list.Items) < 2 {
				return false, nil //nolint:nilerr // keep polling
			}
			for i := range list.Items {
				a := &list.Items[i]
				if a.Spec.Revision == "1111111" {
					a.Status.Conditions = []metav1.Condition{{Type: "Ready", Status: metav1.ConditionFalse, Reason: "Superseded",
						Message: "approves revision 1111111, but experiment checkout is at main@sha1:2222222", LastTransitionTime: metav1.Now()}}
					return true, hub.Client.Status().Update(ctx, a)
				}
			}
			return false, nil
		})
	}()
	_, stderr, code = runCLI(t, "approve", "shop/checkout", "--revision", "1111111", "--wait", "--timeout", "30s", "--kubeconfig", kubeconfig)
	if code == 0 || !strings.Contains(stderr, "does not count: approves revision 1111111") {
		t.Errorf("superseded approval: exit %d, %s", code, stderr)
	}
}

// approvalHub starts a hub holding shop/checkout at revision
// main@sha1:2222222…, and returns it, a kubeconfig file for it and the
// experiment.
func approvalHub(t *testing.T) (*cluster.Cluster, string, *v1alpha1.Experiment) {
	t.Helper()
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
	return hub, kubeconfig, exp
}
