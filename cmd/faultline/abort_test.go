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

// abort marks exactly the experiments it names (or every running one with
// --all) with a fresh abort timestamp; the hub does the rest.
func TestAbortAnnotatesExperiments(t *testing.T) {
	hub := cluster.Start(t, "hub")[0]
	ctx := t.Context()
	if err := hub.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop"}}); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"a", "b", "done"} {
		exp := &v1alpha1.Experiment{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: name},
			Spec: v1alpha1.ExperimentSpec{Fault: v1alpha1.FaultSpec{Pod: &v1alpha1.PodFault{Action: v1alpha1.PodKill}}}}
		if err := hub.Client.Create(ctx, exp); err != nil {
			t.Fatal(err)
		}
		exp.Status.Phase = v1alpha1.PhaseRunning
		if name == "done" {
			exp.Status.Phase = v1alpha1.PhaseCompleted
		}
		if err := hub.Client.Status().Update(ctx, exp); err != nil {
			t.Fatal(err)
		}
	}
	kc := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(kc, hub.KubeConfig, 0o600); err != nil {
		t.Fatal(err)
	}
	before := time.Now().Add(-time.Second)
	out := run(t, "abort", "--kubeconfig", kc, "shop/a", "--wait=false")
	if !strings.Contains(out, "experiment shop/a: abort requested") {
		t.Errorf("output: %q", out)
	}
	out = run(t, "abort", "--kubeconfig", kc, "-n", "shop", "--all", "--wait=false")
	if !strings.Contains(out, "shop/b") || strings.Contains(out, "shop/done") {
		t.Errorf("--all should abort running experiments only: %q", out)
	}
	for name, want := range map[string]bool{"a": true, "b": true, "done": false} {
		exp := &v1alpha1.Experiment{}
		if err := hub.Client.Get(ctx, client.ObjectKey{Namespace: "shop", Name: name}, exp); err != nil {
			t.Fatal(err)
		}
		v, ok := exp.Annotations[v1alpha1.AbortAnnotation]
		if ok != want {
			t.Errorf("%s: abort annotation present = %v, want %v", name, ok, want)
			continue
		}
		if at, err := time.Parse(time.RFC3339Nano, v); ok && (err != nil || at.Before(before)) {
			t.Errorf("%s: abort annotation %q is not a fresh timestamp", name, v)
		}
	}

	jsonStart := time.Now().Add(-time.Millisecond)
	// -o json reports every experiment; --wait waits until the hub ended
	// the run (played here by the test).
	go func() {
		_ = wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
			exp := &v1alpha1.Experiment{}
			if err := hub.Client.Get(ctx, client.ObjectKey{Namespace: "shop", Name: "b"}, exp); err != nil {
				return false, nil //nolint:nilerr // keep polling
			}
			if at, err := time.Parse(time.RFC3339Nano, exp.Annotations[v1alpha1.AbortAnnotation]); err != nil || at.Before(jsonStart) {
				return false, nil //nolint:nilerr // not the abort of this command yet
			}
			exp.Status.Phase = v1alpha1.PhaseAborted
			exp.Status.Verdict = &v1alpha1.Verdict{Result: v1alpha1.VerdictAborted}
			return true, hub.Client.Status().Update(ctx, exp)
		})
	}()
	out = run(t, "abort", "--kubeconfig", kc, "shop/b", "-o", "json", "--timeout", "30s")
	var doc struct {
		Experiments []struct {
			Namespace string `json:"namespace"`
			Name      string `json:"name"`
			Recovered bool   `json:"recovered"`
			Phase     string `json:"phase"`
			Verdict   string `json:"verdict"`
		} `json:"experiments"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("-o json: %v\n%s", err, out)
	}
	if len(doc.Experiments) != 1 || doc.Experiments[0].Name != "b" || !doc.Experiments[0].Recovered || doc.Experiments[0].Verdict != "Aborted" {
		t.Errorf("-o json: %s", out)
	}
}
