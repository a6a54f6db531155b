package reconciler_test

import (
	"fmt"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/faultline-dev/faultline/crds/v1alpha1"
	"github.com/faultline-dev/faultline/internal/testground/gitserver"
	"github.com/faultline-dev/faultline/reconciler"
)

// BenchmarkCommitToInjected measures the hub's end-to-end latency: a commit
// is pushed and announced by webhook, and the clock stops when an Injection
// of the new experiment exists in every one of 10 member clusters; then the
// experiment is deleted from Git the same way, and a second clock stops
// when no member holds an Injection of it. Run with
//
//	make bench-rollout   (go test -run '^$' -bench CommitToInjected -benchtime 20x ./reconciler/)
//
// It reports p50 and p99 of both over the iterations.
func BenchmarkCommitToInjected(b *testing.B) {
	const members = 10
	labels := map[string]map[string]string{}
	for i := range members {
		labels[fmt.Sprintf("m%02d", i)] = map[string]string{"env": "bench"}
	}
	git := gitserver.Start(b)
	url := git.CreateRepo(b, "chaos")
	git.Commit(b, "chaos", "main", map[string]string{"README.md": "bench"}, "init")
	secret := []byte("bench")
	var receiver *reconciler.Receiver
	f := startFleet(b, labels, fleetOptions{setup: []func(ctrl.Manager) error{func(mgr ctrl.Manager) error {
		receiver = &reconciler.Receiver{Client: mgr.GetClient(), Secret: secret}
		return (&reconciler.ChaosSourceReconciler{Client: mgr.GetClient(), CacheRoot: b.TempDir()}).SetupWithManager(mgr)
	}}})
	hook := httptest.NewServer(receiver)
	defer hook.Close()
	for name, m := range f.members {
		runningPods(b, m.Client, "shop", "checkout", "node-1")
		startExecutor(b, f.ctx, name, m.Client)
	}
	mustCreate(f.ctx, b, f.hub.Client, &v1alpha1.ChaosSource{
		ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "chaos"},
		Spec:       v1alpha1.ChaosSourceSpec{URL: url, Interval: metav1.Duration{Duration: time.Hour}},
	})

	var lat, applied, removed []time.Duration
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		name := fmt.Sprintf("bench-%03d", i)
		exp := fmt.Sprintf(benchExperiment, name)
		git.Commit(b, "chaos", "main", map[string]string{"experiments/" + name + ".yaml": exp}, "add "+name)
		start := time.Now()
		pushHook(b, hook.URL, url, secret)
		eventually(b, 60*time.Second, name+" in the hub", func() bool {
			return f.hub.Client.Get(f.ctx, client.ObjectKey{Namespace: "shop", Name: name}, &v1alpha1.Experiment{}) == nil
		})
		applied = append(applied, time.Since(start))
		eventually(b, 60*time.Second, name+" in every member", func() bool {
			for _, m := range f.members {
				l := &v1alpha1.InjectionList{}
				if err := m.Client.List(f.ctx, l); err != nil {
					return false
				}
				found := false
				for _, inj := range l.Items {
					found = found || inj.Spec.Owner.Experiment == "shop/"+name
				}
				if !found {
					return false
				}
			}
			return true
		})
		lat = append(lat, time.Since(start))

		// And out again: the experiment's file is deleted and pushed, and
		// the clock stops when no member holds an Injection of it.
		git.Commit(b, "chaos", "main", map[string]string{"experiments/" + name + ".yaml": ""}, "remove "+name)
		start = time.Now()
		pushHook(b, hook.URL, url, secret)
		eventually(b, 60*time.Second, name+" gone from every member", func() bool {
			for _, m := range f.members {
				l := &v1alpha1.InjectionList{}
				if err := m.Client.List(f.ctx, l); err != nil {
					return false
				}
				for _, inj := range l.Items {
					if inj.Spec.Owner.Experiment == "shop/"+name {
						return false
					}
				}
			}
			return true
		})
		removed = append(removed, time.Since(start))
	}
	b.StopTimer()
	pct := func(d []time.Duration, p float64) float64 {
		slices.Sort(d)
		return d[min(len(d)-1, int(float64(len(d))*p))].Seconds()
	}
	b.ReportMetric(pct(lat, 0.50), "p50-s")
	b.ReportMetric(pct(lat, 0.99), "p99-s")
	// The share of it the source controller takes: webhook to Experiment in the hub.
	b.ReportMetric(pct(applied, 0.50), "p50-applied-s")
	b.ReportMetric(pct(applied, 0.99), "p99-applied-s")
	// Removal: webhook to no Injection of the experiment left in any member.
	b.ReportMetric(pct(removed, 0.50), "p50-removed-s")
	b.ReportMetric(pct(removed, 0.99), "p99-removed-s")
}

const benchExperiment = `apiVersion: faultline.dev/v1alpha1
kind: Experiment
metadata:
  name: %s
  namespace: shop
spec:
  placement:
    clusters: {}
  selector:
    namespaces: [shop]
    labelSelectors: {app: checkout}
  mode: all
  fault:
    network: {action: delay, latency: 10ms}
  duration: 1h
`
