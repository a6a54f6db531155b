package reconciler_test

import (
	"context"
	"fmt"
	"io"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	v1alpha1 "github.com/faultline-dev/faultline/crds/v1alpha1"
	"github.com/faultline-dev/faultline/federation"
	"github.com/faultline-dev/faultline/internal/testground/cluster"
	"github.com/faultline-dev/faultline/reconciler"
)

// fleet is a hub with member clusters registered through kubeconfig Secrets
// and the hub's member and experiment controllers running.
type fleet struct {
	hub     *cluster.Cluster
	members map[string]*cluster.Cluster
	ctx     context.Context
}

// fleetOptions tune the hub of a fleet.
type fleetOptions struct {
	admitter  reconciler.Admitter
	agents    reconciler.AgentFleet
	writeBack func(ctrl.Manager) *reconciler.WriteBack
	setup     []func(ctrl.Manager) error
}

func startFleet(t testing.TB, labels map[string]map[string]string, o fleetOptions) *fleet {
	t.Helper()
	logOnce.Do(func() { ctrl.SetLogger(zap.New(zap.UseDevMode(true), zap.WriteTo(io.Discard))) })
	names := []string{"hub"}
	for name := range labels {
		names = append(names, name)
	}
	cs := cluster.Start(t, names...)
	f := &fleet{hub: cs[0], members: map[string]*cluster.Cluster{}}
	ctx, cancel := context.WithCancel(context.Background())
	f.ctx = ctx
	mustCreate(ctx, t, f.hub.Client, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "fleet"}})
	mustCreate(ctx, t, f.hub.Client, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop"}})
	for _, c := range cs[1:] {
		f.members[c.Name] = c
		mustCreate(ctx, t, f.hub.Client, c.KubeConfigSecret("fleet", c.Name))
		mustCreate(ctx, t, f.hub.Client, &v1alpha1.MemberCluster{
			ObjectMeta: metav1.ObjectMeta{Name: c.Name, Labels: labels[c.Name]},
			Spec:       v1alpha1.MemberClusterSpec{KubeConfigSecretRef: v1alpha1.SecretKeyReference{Namespace: "fleet", Name: c.Name}},
		})
	}

	skip := true // every test starts its own manager with the same controllers
	mgr, err := ctrl.NewManager(f.hub.Config, ctrl.Options{
		Scheme: cluster.Scheme(), Metrics: metricsserver.Options{BindAddress: "0"}, HealthProbeBindAddress: "0",
		Controller: config.Controller{SkipNameValidation: &skip},
	})
	if err != nil {
		t.Fatal(err)
	}
	cache := federation.NewClusterCache(cluster.Scheme(), ctrl.Log.WithName("clustercache"), federation.ClusterCacheOptions{
		ProbeInterval: time.Second, ProbeTimeout: 5 * time.Second, MaxBackoff: time.Second,
	})
	if err := (&federation.MemberClusterReconciler{Client: mgr.GetClient(), Cache: cache}).SetupWithManager(mgr); err != nil {
		t.Fatal(err)
	}
	er := &reconciler.ExperimentReconciler{Client: mgr.GetClient(), Clusters: cache, Admitter: o.admitter,
		Agents: o.agents, Lease: 10 * time.Second, Grace: 5 * time.Second}
	if o.writeBack != nil {
		er.WriteBack = o.writeBack(mgr)
	}
	if err := er.SetupWithManager(mgr); err != nil {
		t.Fatal(err)
	}
	for _, setup := range o.setup {
		if err := setup(mgr); err != nil {
			t.Fatal(err)
		}
	}
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("manager: %v", err)
		}
	})
	// Wait until every member is connected.
	for name := range f.members {
		eventually(t, 20*time.Second, name+" connected", func() bool {
			_, err := cache.Client(name)
			return err == nil
		})
	}
	return f
}

var logOnce sync.Once

// runningPods creates pods in a member and marks them Running, as a kubelet
// would: envtest has no kubelet, the pods are real API objects all the same.
func runningPods(t testing.TB, c client.Client, ns, app string, nodes ...string) {
	t.Helper()
	ctx := context.Background()
	mustCreate(ctx, t, c, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
	for i, node := range nodes {
		p := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("%s-%d", app, i), Labels: map[string]string{"app": app}},
			Spec:       corev1.PodSpec{NodeName: node, Containers: []corev1.Container{{Name: "app", Image: "registry.invalid/app"}}},
		}
		mustCreate(ctx, t, c, p)
		p.Status = corev1.PodStatus{Phase: corev1.PodRunning, PodIP: fmt.Sprintf("192.0.2.%d", i+10),
			ContainerStatuses: []corev1.ContainerStatus{{Name: "app", ContainerID: fmt.Sprintf("containerd://%s%d", app, i)}}}
		if err := c.Status().Update(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
}

// executor stands in for the node daemons of one member cluster so that the
// hub's behaviour can be tested against real member API servers: it takes
// each Injection (adds a finalizer), reports every target Injected, and lets
// a deleted Injection go, as the daemon does after recovering. The daemon's
// real fault path is tested in daemon/ and faults/.
type executor struct {
	member string
	c      client.Client

	mu     sync.Mutex
	seen   map[string]time.Time // injection name -> first seen
	gone   map[string]time.Time // injection name -> finalizer released
	active map[string]bool
}

const executorFinalizer = "faultline.dev/test-executor"

func startExecutor(t testing.TB, ctx context.Context, name string, c client.Client) *executor {
	e := &executor{member: name, c: c, seen: map[string]time.Time{}, gone: map[string]time.Time{}, active: map[string]bool{}}
	go func() {
		for ctx.Err() == nil {
			e.step(ctx)
			time.Sleep(50 * time.Millisecond)
		}
	}()
	return e
}

func (e *executor) step(ctx context.Context) {
	list := &v1alpha1.InjectionList{}
	if err := e.c.List(ctx, list); err != nil {
		return
	}
	for i := range list.Items {
		inj := &list.Items[i]
		e.mu.Lock()
		if _, ok := e.seen[inj.Name]; !ok {
			e.seen[inj.Name] = time.Now()
		}
		e.mu.Unlock()
		if !inj.DeletionTimestamp.IsZero() {
			if controllerutil.RemoveFinalizer(inj, executorFinalizer) {
				if err := e.c.Update(ctx, inj); err == nil || apierrors.IsNotFound(err) {
					e.mu.Lock()
					e.gone[inj.Name] = time.Now()
					delete(e.active, inj.Name)
					e.mu.Unlock()
				}
			}
			continue
		}
		if controllerutil.AddFinalizer(inj, executorFinalizer) {
			if err := e.c.Update(ctx, inj); err != nil {
				continue
			}
		}
		if inj.Status.Phase != v1alpha1.InjectionInjected {
			now := metav1.Now()
			inj.Status.Phase = v1alpha1.InjectionInjected
			inj.Status.Targets = nil
			for _, tg := range inj.Spec.Targets {
				inj.Status.Targets = append(inj.Status.Targets, v1alpha1.TargetStatus{Key: tg.Key, Phase: v1alpha1.InjectionInjected, InjectedAt: &now})
			}
			if err := e.c.Status().Update(ctx, inj); err != nil {
				continue
			}
		}
		e.mu.Lock()
		e.active[inj.Name] = true
		e.mu.Unlock()
	}
}

func (e *executor) firstSeen() (time.Time, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	var first time.Time
	for _, t := range e.seen {
		if first.IsZero() || t.Before(first) {
			first = t
		}
	}
	return first, !first.IsZero()
}

func (e *executor) lastGone() time.Time {
	e.mu.Lock()
	defer e.mu.Unlock()
	var last time.Time
	for _, t := range e.gone {
		if t.After(last) {
			last = t
		}
	}
	return last
}

func eventually(t testing.TB, timeout time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if ok() {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("timed out after %s waiting for %s", timeout, what)
}

func mustCreate(ctx context.Context, t testing.TB, c client.Client, obj client.Object) {
	t.Helper()
	if err := c.Create(ctx, obj); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatalf("create %T %s: %v", obj, obj.GetName(), err)
	}
}

func getExperiment(t testing.TB, c client.Client, name string) *v1alpha1.Experiment {
	t.Helper()
	exp := &v1alpha1.Experiment{}
	if err := c.Get(context.Background(), client.ObjectKey{Namespace: "shop", Name: name}, exp); err != nil {
		t.Fatal(err)
	}
	return exp
}

func countInjections(t testing.TB, c client.Client) int {
	t.Helper()
	list := &v1alpha1.InjectionList{}
	if err := c.List(context.Background(), list); err != nil {
		return -1
	}
	return len(list.Items)
}
