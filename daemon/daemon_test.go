package daemon_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/nftables"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	vnetns "github.com/vishvananda/netns"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/faultline-dev/faultline/crds/v1alpha1"
	"github.com/faultline-dev/faultline/daemon"
	"github.com/faultline-dev/faultline/faults"
	"github.com/faultline-dev/faultline/internal/testground/cluster"
	"github.com/faultline-dev/faultline/internal/testground/netns"
)

const node = "node-1"

type env struct {
	c        client.Client
	ns       string
	a, b     *netns.Host
	resolver *daemon.StaticResolver
	d        *daemon.Daemon
	reg      *prometheus.Registry
}

// start brings up a member API server, two network-namespace "pods" and a
// daemon for node-1 whose resolver is the test binding: pod keys map to
// the test ground's namespaces.
func start(t testing.TB) *env {
	t.Helper()
	n := netns.New(t, []string{"pod-a", "pod-b"})
	member := cluster.Start(t, "member-a")[0]
	e := &env{c: member.Client, a: n.Host("pod-a"), b: n.Host("pod-b"), resolver: daemon.NewStaticResolver(), reg: prometheus.NewRegistry()}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "chaos-"}}
	if err := e.c.Create(context.Background(), ns); err != nil {
		t.Fatal(err)
	}
	e.ns = ns.Name
	e.resolver.Register(e.ns+"/pod-a", faults.Target{NetnsPath: e.a.Path()})
	e.resolver.Register(e.ns+"/pod-b", faults.Target{NetnsPath: e.b.Path()})

	ctx, cancel := context.WithCancel(context.Background())
	d, err := daemon.New(ctx, daemon.Config{
		NodeName: node, RestConfig: member.Config, JournalPath: filepath.Join(t.TempDir(), "journal.db"),
		Resolver: e.resolver, MetricsAddr: "0", HealthAddr: "0", Metrics: e.reg, SkipNameValidation: true,
		NodeCollectors: []string{"loadavg", "meminfo"},
	})
	if err != nil {
		cancel()
		t.Fatalf("daemon: %v", err)
	}
	d.Reconciler.ResyncInterval = 500 * time.Millisecond
	e.d = d
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("daemon: %v", err)
		}
	})
	return e
}

func (e *env) injection(name, nodeName string, f v1alpha1.FaultSpec, deadline time.Duration, targets ...string) *v1alpha1.Injection {
	inj := &v1alpha1.Injection{
		ObjectMeta: metav1.ObjectMeta{Namespace: e.ns, Name: name, Labels: map[string]string{v1alpha1.NodeLabel: nodeName}},
		Spec: v1alpha1.InjectionSpec{
			Fault: f, NodeName: nodeName, Deadline: metav1.NewTime(time.Now().Add(deadline)),
			Peers: []string{e.b.IP.String()}, Owner: v1alpha1.InjectionOwner{Experiment: e.ns + "/exp"},
		},
	}
	for _, tk := range targets {
		inj.Spec.Targets = append(inj.Spec.Targets, v1alpha1.InjectionTarget{Key: e.ns + "/" + tk, Kind: v1alpha1.TargetPod, Namespace: e.ns, Name: tk, UID: "uid-" + tk})
	}
	return inj
}

func delay(d time.Duration) v1alpha1.FaultSpec {
	return v1alpha1.FaultSpec{Network: &v1alpha1.NetworkFault{Action: v1alpha1.NetworkDelay, Latency: &metav1.Duration{Duration: d}}}
}

func partition() v1alpha1.FaultSpec {
	return v1alpha1.FaultSpec{Network: &v1alpha1.NetworkFault{Action: v1alpha1.NetworkPartition}}
}

func poll(timeout, every time.Duration, cond func() bool) error {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			return errors.New("timed out")
		}
		time.Sleep(every)
	}
	return nil
}

// ourTables counts faultline tables in a namespace through netlink.
func ourTables(t testing.TB, h *netns.Host) int {
	t.Helper()
	ns, err := vnetns.GetFromPath(h.Path())
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	c, err := nftables.New(nftables.WithNetNSFd(int(ns)))
	if err != nil {
		t.Fatal(err)
	}
	tables, err := c.ListTables()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, tb := range tables {
		if strings.HasPrefix(tb.Name, faults.TablePrefix) {
			n++
		}
	}
	return n
}

func gaugeValue(t testing.TB, reg *prometheus.Registry, name string) (float64, bool) {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			for _, m := range mf.GetMetric() {
				return (*dto.Metric)(m).GetGauge().GetValue(), true
			}
		}
	}
	return 0, false
}

func TestDaemonAppliesReportsAndRecovers(t *testing.T) {
	e := start(t)
	ctx := t.Context()
	echo := netns.RTEcho(t, e.b)
	base := netns.MedianRTT(t, e.a, echo, 9)

	// An Injection for another node is never touched.
	other := e.injection("elsewhere", "node-2", partition(), time.Minute, "pod-a")
	if err := e.c.Create(ctx, other); err != nil {
		t.Fatal(err)
	}
	inj := e.injection("delay", node, delay(100*time.Millisecond), 2*time.Minute, "pod-a")
	if err := e.c.Create(ctx, inj); err != nil {
		t.Fatal(err)
	}
	key := client.ObjectKeyFromObject(inj)
	var got v1alpha1.Injection
	if err := poll(20*time.Second, 50*time.Millisecond, func() bool {
		return e.c.Get(ctx, key, &got) == nil && got.Status.Phase == v1alpha1.InjectionInjected
	}); err != nil {
		t.Fatalf("injection never Injected: %+v", got.Status)
	}
	if inc := netns.MedianRTT(t, e.a, echo, 9) - base; inc < 95*time.Millisecond || inc > 105*time.Millisecond {
		t.Errorf("RTT increase %v under a 100ms delay injection", inc)
	}
	// The status reports the measured delay of the probe packets.
	var measured float64
	if err := poll(10*time.Second, 100*time.Millisecond, func() bool {
		_ = netns.MedianRTT(t, e.a, echo, 9) // keep packets flowing
		if e.c.Get(ctx, key, &got) != nil || len(got.Status.Targets) != 1 {
			return false
		}
		for _, m := range got.Status.Targets[0].Measured {
			if m.Name == faults.MeasuredDelaySeconds {
				measured = m.Value
				return math.Abs(m.Value-0.1) < 0.005
			}
		}
		return false
	}); err != nil {
		t.Errorf("status never reported a measured delay of 100ms ± 5ms (last %v): %+v", measured, got.Status.Targets)
	}
	ts := got.Status.Targets[0]
	wantPath := "nfqueue"
	if e.d.Engine.Capabilities().Netem {
		wantPath = "netem"
	}
	if ts.Path != wantPath || ts.InjectedAt == nil {
		t.Errorf("target status %+v, want path %s and injectedAt", ts, wantPath)
	}
	if v, ok := gaugeValue(t, e.reg, "node_memory_MemTotal_bytes"); !ok || v <= 0 {
		t.Errorf("node_exporter's node_memory_MemTotal_bytes = %v (%t), want it served", v, ok)
	}
	if v, ok := gaugeValue(t, e.reg, "faultline_fault_active"); !ok || v != 1 {
		t.Errorf("faultline_fault_active = %v (%t), want 1", v, ok)
	}
	if v, ok := gaugeValue(t, e.reg, "faultline_fault_measured_delay_seconds"); !ok || math.Abs(v-0.1) > 0.005 {
		t.Errorf("faultline_fault_measured_delay_seconds = %v (%t), want 0.1", v, ok)
	}
	if err := e.c.Get(ctx, client.ObjectKeyFromObject(other), other); err != nil || len(other.Finalizers) > 0 || other.Status.Phase != "" {
		t.Errorf("injection of another node was touched: %v %+v", other.Finalizers, other.Status)
	}

	// Deleting recovers.
	if err := e.c.Delete(ctx, inj); err != nil {
		t.Fatal(err)
	}
	if err := poll(20*time.Second, 50*time.Millisecond, func() bool { return apierrors.IsNotFound(e.c.Get(ctx, key, &got)) }); err != nil {
		t.Fatal("injection not released after delete")
	}
	if n := ourTables(t, e.a); n != 0 {
		t.Errorf("%d tables of ours left in pod-a after delete", n)
	}
	if after := netns.MedianRTT(t, e.a, echo, 9); after > base+10*time.Millisecond {
		t.Errorf("RTT %v after delete, %v before", after, base)
	}
	out, _ := exec.Command("ip", "netns", "exec", e.a.NsName, "nft", "list", "ruleset").CombinedOutput()
	if strings.Contains(string(out), faults.TablePrefix) {
		t.Errorf("nft ruleset of pod-a after delete:\n%s", out)
	}
}

func TestDaemonRecoversAtDeadline(t *testing.T) {
	e := start(t)
	ctx := t.Context()
	inj := e.injection("short", node, partition(), 6*time.Second, "pod-a")
	if err := e.c.Create(ctx, inj); err != nil {
		t.Fatal(err)
	}
	if err := poll(10*time.Second, 20*time.Millisecond, func() bool { return ourTables(t, e.a) == 1 }); err != nil {
		t.Fatal("fault never applied")
	}
	if err := poll(10*time.Second, 20*time.Millisecond, func() bool { return ourTables(t, e.a) == 0 }); err != nil {
		t.Fatal("fault not recovered at deadline")
	}
	late := time.Since(inj.Spec.Deadline.Time)
	if late > time.Second {
		t.Errorf("recovered %v after the deadline", late)
	}
	var got v1alpha1.Injection
	if err := poll(10*time.Second, 50*time.Millisecond, func() bool {
		return e.c.Get(ctx, client.ObjectKeyFromObject(inj), &got) == nil && got.Status.Phase == v1alpha1.InjectionRecovered
	}); err != nil {
		t.Errorf("status after deadline: %+v", got.Status)
	}
}

// BenchmarkInjectionLifecycle measures, through a real API server and
// daemon, Injection created → fault active (its nftables table exists in
// the pod's namespace) and deleted → recovered (table gone), p50 and p99.
func BenchmarkInjectionLifecycle(b *testing.B) {
	e := start(b)
	ctx := context.Background()
	var apply, recover []time.Duration
	var mu sync.Mutex
	i := 0
	cycle := func() {
		inj := e.injection(fmt.Sprintf("bench-%d", i), node, partition(), time.Minute, "pod-a")
		i++
		t0 := time.Now()
		if err := e.c.Create(ctx, inj); err != nil {
			b.Fatal(err)
		}
		if err := poll(10*time.Second, time.Millisecond, func() bool { return ourTables(b, e.a) == 1 }); err != nil {
			b.Fatal("not applied")
		}
		t1 := time.Now()
		if err := e.c.Delete(ctx, inj); err != nil {
			b.Fatal(err)
		}
		if err := poll(10*time.Second, time.Millisecond, func() bool { return ourTables(b, e.a) == 0 }); err != nil {
			b.Fatal("not recovered")
		}
		t2 := time.Now()
		mu.Lock()
		apply, recover = append(apply, t1.Sub(t0)), append(recover, t2.Sub(t1))
		mu.Unlock()
	}
	cycle() // warm up: the daemon's cache syncs on first use
	apply, recover = nil, nil
	for b.Loop() {
		cycle()
	}
	pct := func(ds []time.Duration, p float64) float64 {
		s := slices.Clone(ds)
		slices.Sort(s)
		return float64(s[min(len(s)-1, int(p*float64(len(s))))].Microseconds()) / 1000
	}
	b.ReportMetric(pct(apply, 0.5), "apply-p50-ms")
	b.ReportMetric(pct(apply, 0.99), "apply-p99-ms")
	b.ReportMetric(pct(recover, 0.5), "recover-p50-ms")
	b.ReportMetric(pct(recover, 0.99), "recover-p99-ms")
}

func TestDaemonPodKillDeletesThePod(t *testing.T) {
	e := start(t)
	ctx := t.Context()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: e.ns, Name: "victim"},
		Spec:       corev1.PodSpec{NodeName: node, Containers: []corev1.Container{{Name: "c", Image: "busybox"}}},
	}
	if err := e.c.Create(ctx, pod); err != nil {
		t.Fatal(err)
	}
	e.resolver.Register(e.ns+"/victim", faults.Target{NetnsPath: e.a.Path()})
	zero := int64(0)
	inj := e.injection("kill", node, v1alpha1.FaultSpec{Pod: &v1alpha1.PodFault{Action: v1alpha1.PodKill, GracePeriodSeconds: &zero}}, time.Minute)
	inj.Spec.Targets = []v1alpha1.InjectionTarget{{Key: e.ns + "/victim", Kind: v1alpha1.TargetPod, Namespace: e.ns, Name: "victim", UID: string(pod.UID)}}
	if err := e.c.Create(ctx, inj); err != nil {
		t.Fatal(err)
	}
	if err := poll(20*time.Second, 50*time.Millisecond, func() bool {
		return apierrors.IsNotFound(e.c.Get(ctx, client.ObjectKeyFromObject(pod), &corev1.Pod{}))
	}); err != nil {
		t.Fatal("pod not deleted by the pod/kill injection")
	}
	var got v1alpha1.Injection
	if err := poll(10*time.Second, 50*time.Millisecond, func() bool {
		return e.c.Get(ctx, client.ObjectKeyFromObject(inj), &got) == nil && got.Status.Phase == v1alpha1.InjectionInjected
	}); err != nil {
		t.Errorf("status: %+v", got.Status)
	} else if got.Status.Targets[0].Path != "api" {
		t.Errorf("path %q, want api", got.Status.Targets[0].Path)
	}
}
