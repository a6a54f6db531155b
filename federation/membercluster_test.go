package federation_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/fluxcd/pkg/apis/meta"
	"github.com/fluxcd/pkg/runtime/conditions"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	v1alpha1 "github.com/faultline-dev/faultline/crds/v1alpha1"
	"github.com/faultline-dev/faultline/federation"
	"github.com/faultline-dev/faultline/internal/testground/cluster"
)

// The hub connects to members through kubeconfig Secrets, reports each one's
// version and readiness, notices when a member's API server goes away, and
// resumes when it comes back.
func TestMemberClusterLifecycle(t *testing.T) {
	cs := cluster.Start(t, "hub", "member-a", "member-b")
	hub, a, b := cs[0], cs[1], cs[2]
	ctx := startHub(t, hub)

	mustCreate(ctx, t, hub.Client, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "fleet"}})
	mustCreate(ctx, t, hub.Client, a.KubeConfigSecret("fleet", "member-a"))
	for _, name := range []string{"member-a", "member-b"} {
		mustCreate(ctx, t, hub.Client, &v1alpha1.MemberCluster{
			ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"env": "staging"}},
			Spec:       v1alpha1.MemberClusterSpec{KubeConfigSecretRef: v1alpha1.SecretKeyReference{Namespace: "fleet", Name: name}},
		})
	}

	mcA := waitFor(ctx, t, hub.Client, "member-a", "Ready=True", func(mc *v1alpha1.MemberCluster) bool {
		return conditions.IsTrue(mc, meta.ReadyCondition)
	})
	if mcA.Status.KubernetesVersion != "v"+cluster.KubernetesVersion || !mcA.Status.CRDsInstalled || mcA.Status.DaemonReady {
		t.Errorf("member-a status = %+v", mcA.Status)
	}
	if mcA.Status.ObservedGeneration != mcA.Generation {
		t.Errorf("observedGeneration = %d, want %d", mcA.Status.ObservedGeneration, mcA.Generation)
	}

	// member-b has no Secret yet: stalled with the reason, until it appears.
	waitFor(ctx, t, hub.Client, "member-b", "Stalled with KubeConfigMissing", func(mc *v1alpha1.MemberCluster) bool {
		return conditions.IsStalled(mc) && conditions.GetReason(mc, meta.ReadyCondition) == federation.ReasonKubeConfigMissing
	})
	mustCreate(ctx, t, hub.Client, b.KubeConfigSecret("fleet", "member-b"))
	waitFor(ctx, t, hub.Client, "member-b", "Ready=True after the Secret appeared", func(mc *v1alpha1.MemberCluster) bool {
		return conditions.IsTrue(mc, meta.ReadyCondition) && !conditions.IsStalled(mc)
	})

	// member-a's API server goes away, then comes back.
	if err := a.StopAPIServer(); err != nil {
		t.Fatal(err)
	}
	down := waitFor(ctx, t, hub.Client, "member-a", "Ready=False Unreachable", func(mc *v1alpha1.MemberCluster) bool {
		return conditions.IsFalse(mc, meta.ReadyCondition) && conditions.GetReason(mc, meta.ReadyCondition) == federation.ReasonUnreachable &&
			conditions.IsFalse(mc, v1alpha1.ReachableCondition)
	})
	t.Logf("while down: %s", conditions.GetMessage(down, meta.ReadyCondition))
	if err := a.StartAPIServer(); err != nil {
		t.Fatal(err)
	}
	waitFor(ctx, t, hub.Client, "member-a", "Ready=True again", func(mc *v1alpha1.MemberCluster) bool {
		return conditions.IsTrue(mc, meta.ReadyCondition) && conditions.IsTrue(mc, v1alpha1.ReachableCondition)
	})
}

func startHub(t *testing.T, hub *cluster.Cluster) context.Context {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	mgr, err := ctrl.NewManager(hub.Config, ctrl.Options{
		Scheme:                 cluster.Scheme(),
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Controller:             config.Controller{SkipNameValidation: ptr(true)},
	})
	if err != nil {
		t.Fatal(err)
	}
	cache := federation.NewClusterCache(cluster.Scheme(), ctrl.Log.WithName("clustercache"), federation.ClusterCacheOptions{
		ProbeInterval: time.Second, ProbeTimeout: 5 * time.Second, MaxBackoff: time.Second,
	})
	r := &federation.MemberClusterReconciler{Client: mgr.GetClient(), Cache: cache,
		Recorder: mgr.GetEventRecorder("faultline-hub"), ResyncInterval: 30 * time.Second}
	if err := r.SetupWithManager(mgr); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("manager: %v", err)
		}
	})
	return ctx
}

func waitFor(ctx context.Context, t *testing.T, c client.Client, name, what string, ok func(*v1alpha1.MemberCluster) bool) *v1alpha1.MemberCluster {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	mc := &v1alpha1.MemberCluster{}
	for time.Now().Before(deadline) {
		if err := c.Get(ctx, client.ObjectKey{Name: name}, mc); err == nil && ok(mc) {
			return mc
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s never became %s; status: %s", name, what, fmt.Sprintf("%+v", mc.Status))
	return nil
}

func mustCreate(ctx context.Context, t *testing.T, c client.Client, obj client.Object) {
	t.Helper()
	if err := c.Create(ctx, obj); err != nil {
		t.Fatalf("create %T %s: %v", obj, obj.GetName(), err)
	}
}

func ptr[T any](v T) *T { return &v }
