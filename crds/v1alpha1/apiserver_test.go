package v1alpha1_test

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	v1alpha1 "github.com/faultline-dev/faultline/crds/v1alpha1"
	"github.com/faultline-dev/faultline/internal/testground/cluster"
)

// A hub and two members start at once, each with the CRDs; the hub gets the
// issue's Experiment exactly as written, a member gets an Injection, and both
// read back intact. The member is reached the way the hub reaches it in
// production: through a kubeconfig stored in a Secret on the hub.
func TestHubAndMembersServeTheAPI(t *testing.T) {
	cs := cluster.Start(t, "hub", "member-a", "member-b")
	hub, memberA := cs[0], cs[1]
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	// The Experiment, from YAML, as unstructured: what the API server keeps
	// is then exactly what was written plus its defaults.
	raw, err := os.ReadFile("testdata/checkout-latency.yaml")
	if err != nil {
		t.Fatal(err)
	}
	u := &unstructured.Unstructured{}
	if err := yaml.Unmarshal(raw, &u.Object); err != nil {
		t.Fatal(err)
	}
	mustCreate(ctx, t, hub.Client, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop"}})
	if err := hub.Client.Create(ctx, u); err != nil {
		t.Fatalf("hub refused the issue's Experiment: %v", err)
	}
	exp := &v1alpha1.Experiment{}
	if err := hub.Client.Get(ctx, client.ObjectKey{Namespace: "shop", Name: "checkout-latency"}, exp); err != nil {
		t.Fatal(err)
	}
	if got := exp.Spec.Fault.Kind(); got != "network/delay" {
		t.Errorf("fault kind = %q", got)
	}
	if exp.Spec.Fault.Network.Latency.Duration != 100*time.Millisecond || exp.Spec.Fault.Network.Jitter.Duration != 10*time.Millisecond {
		t.Errorf("latency/jitter = %v/%v", exp.Spec.Fault.Network.Latency, exp.Spec.Fault.Network.Jitter)
	}
	if exp.Spec.Mode != v1alpha1.ModeFixedPercent || exp.Spec.Value != "50" {
		t.Errorf("mode/value = %s/%s", exp.Spec.Mode, exp.Spec.Value)
	}
	if w := exp.Spec.Placement.Waves; len(w) != 2 || w[1].MaxParallel == nil || *w[1].MaxParallel != 1 || w[0].Clusters.MatchLabels["env"] != "staging" {
		t.Errorf("waves = %+v", w)
	}
	p := exp.Spec.Probes
	if len(p) != 1 || p[0].Prometheus == nil || *p[0].Prometheus.ThresholdRange.Max != 0.3 || p[0].FailureThreshold != 2 || p[0].Interval.Duration != 15*time.Second {
		t.Errorf("probes = %+v", p)
	}
	if !exp.Spec.AbortOnBreach || exp.Spec.Duration.Duration != 5*time.Minute {
		t.Errorf("abortOnBreach/duration = %v/%v", exp.Spec.AbortOnBreach, exp.Spec.Duration)
	}
	if exp.Spec.HistoryLimit != 5 {
		t.Errorf("historyLimit default = %d, want 5", exp.Spec.HistoryLimit)
	}

	// Status is a subresource: the hub writes it separately.
	exp.Status.Phase = v1alpha1.PhasePending
	exp.Status.Revision = "main@sha1:0123456789abcdef0123456789abcdef01234567"
	if err := hub.Client.Status().Update(ctx, exp); err != nil {
		t.Fatalf("status update: %v", err)
	}

	// The hub reaches member-a through a kubeconfig Secret.
	mustCreate(ctx, t, hub.Client, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "faultline-system"}})
	mustCreate(ctx, t, hub.Client, memberA.KubeConfigSecret("faultline-system", "member-a-kubeconfig"))
	sec := &corev1.Secret{}
	if err := hub.Client.Get(ctx, client.ObjectKey{Namespace: "faultline-system", Name: "member-a-kubeconfig"}, sec); err != nil {
		t.Fatal(err)
	}
	rc, err := clientcmd.RESTConfigFromKubeConfig(sec.Data[cluster.KubeConfigSecretKey])
	if err != nil {
		t.Fatal(err)
	}
	member, err := client.New(rc, client.Options{Scheme: cluster.Scheme()})
	if err != nil {
		t.Fatal(err)
	}

	mustCreate(ctx, t, member, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "faultline-system"}})
	deadline := metav1.NewTime(time.Now().Add(5*time.Minute + 30*time.Second).Truncate(time.Second))
	inj := &v1alpha1.Injection{
		ObjectMeta: metav1.ObjectMeta{Namespace: "faultline-system", Name: "checkout-latency-node-1",
			Labels: map[string]string{v1alpha1.NodeLabel: "node-1"}},
		Spec: v1alpha1.InjectionSpec{
			Fault:    exp.Spec.Fault,
			NodeName: "node-1",
			Targets: []v1alpha1.InjectionTarget{{Key: "shop/checkout-7d9f", Kind: v1alpha1.TargetPod,
				Namespace: "shop", Name: "checkout-7d9f", UID: "5b1c0d0e-0000-4000-8000-000000000001"}},
			Deadline: deadline,
			Owner: v1alpha1.InjectionOwner{Source: "faultline-system/shop-chaos", Revision: exp.Status.Revision,
				Experiment: "shop/checkout-latency", Member: "member-a", Wave: "wave-1"},
		},
	}
	mustCreate(ctx, t, member, inj)
	got := &v1alpha1.Injection{}
	if err := member.Get(ctx, client.ObjectKeyFromObject(inj), got); err != nil {
		t.Fatal(err)
	}
	if got.Spec.Fault.Kind() != "network/delay" || !got.Spec.Deadline.Equal(&deadline) || got.Spec.Targets[0].Key != "shop/checkout-7d9f" || got.Spec.Owner.Experiment != "shop/checkout-latency" {
		t.Errorf("injection read back differs: %+v", got.Spec)
	}

	// The Injection lives in member-a only: member-b knows the kind but has none.
	list := &v1alpha1.InjectionList{}
	if err := cs[2].Client.List(ctx, list); err != nil {
		t.Fatal(err)
	}
	if len(list.Items) != 0 {
		t.Errorf("member-b has %d injections, want 0", len(list.Items))
	}
	// And nodeName cannot move to another node once set.
	got.Spec.NodeName = "node-2"
	if err := member.Update(ctx, got); err == nil || !strings.Contains(err.Error(), "spec.nodeName") {
		t.Errorf("moving an injection to another node: err = %v, want a spec.nodeName error", err)
	}
}

func mustCreate(ctx context.Context, t *testing.T, c client.Client, obj client.Object) {
	t.Helper()
	if err := c.Create(ctx, obj); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatalf("create %T %s: %v", obj, obj.GetName(), err)
	}
}
