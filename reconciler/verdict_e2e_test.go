package reconciler_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/fluxcd/pkg/apis/meta"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/faultline-dev/faultline/crds/v1alpha1"
	"github.com/faultline-dev/faultline/internal/testground/gitea"
	"github.com/faultline-dev/faultline/internal/testground/prom"
	"github.com/faultline-dev/faultline/reconciler"
	"github.com/faultline-dev/faultline/reconciler/writeback"
)

const probedExperiment = `apiVersion: faultline.dev/v1alpha1
kind: Experiment
metadata:
  name: checkout-latency
  namespace: shop
spec:
  placement:
    clusters: {}
  selector:
    namespaces: [shop]
    labelSelectors: {app: checkout}
  mode: all
  fault:
    network: {action: delay, latency: 100ms}
  duration: %s
  probes:
    - name: p99-latency
      mode: during
      interval: 1s
      failureThreshold: 2
      prometheus:
        address: %s
        query: '%s'
        thresholdRange: {max: 0.25}
  abortOnBreach: true
`

// The loop the product exists for, on real parts: an experiment from a
// Gitea repository, a Prometheus probe on a real service, Injections in a
// member cluster. A run whose steady state holds passes and Gitea's commit
// status reads success; when latency rises during the fault the run aborts
// within the probe's budget, every target is recovered, the commit status
// reads failure with the measured value and the threshold, and both runs
// are in the repository's audit notes.
func TestVerdictsAreWrittenBackToGit(t *testing.T) {
	forge := gitea.Start(t)
	svc := prom.StartService(t)
	p := prom.Start(t, svc.Addr)
	forge.CreateRepo(t, "chaos")
	sha1 := forge.Commit(t, "chaos", map[string]string{
		"experiments/checkout.yaml": fmt.Sprintf(probedExperiment, "4s", p.URL, prom.P99Query)}, "add checkout latency")

	f := startFleet(t, map[string]map[string]string{"a": {"env": "staging"}}, fleetOptions{
		writeBack: func(mgr ctrl.Manager) *reconciler.WriteBack {
			return &reconciler.WriteBack{Client: mgr.GetClient(), AuditNotes: true}
		},
		setup: []func(ctrl.Manager) error{func(mgr ctrl.Manager) error {
			return (&reconciler.ChaosSourceReconciler{Client: mgr.GetClient(), CacheRoot: t.TempDir()}).SetupWithManager(mgr)
		}},
	})
	m := f.members["a"]
	runningPods(t, m.Client, "shop", "checkout", "node-1")
	startExecutor(t, f.ctx, "a", m.Client)
	mustCreate(f.ctx, t, f.hub.Client, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "gitea"},
		StringData: map[string]string{"username": gitea.AdminUser, "password": gitea.AdminPassword, "token": forge.Token}})
	mustCreate(f.ctx, t, f.hub.Client, &v1alpha1.ChaosSource{
		ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "chaos"},
		Spec: v1alpha1.ChaosSourceSpec{URL: forge.RepoURL("chaos"), Interval: metav1.Duration{Duration: time.Second},
			SecretRef:    &meta.LocalObjectReference{Name: "gitea"},
			CommitStatus: &v1alpha1.CommitStatusSpec{Provider: "gitea", SecretRef: meta.LocalObjectReference{Name: "gitea"}}},
	})
	context := writeback.StatusContext("shop", "checkout-latency")
	statusOf := func(sha string) (string, string) {
		for _, s := range forge.CommitStatuses(t, "chaos", sha) {
			if s.Context == context {
				return s.State, s.Description
			}
		}
		return "", ""
	}

	// Run 1: the steady state holds for the whole fault.
	eventually(t, 90*time.Second, "run 1 to pass", func() bool {
		e := &v1alpha1.Experiment{}
		return f.hub.Client.Get(f.ctx, client.ObjectKey{Namespace: "shop", Name: "checkout-latency"}, e) == nil &&
			e.Status.Phase == v1alpha1.PhaseCompleted
	})
	e := getExperiment(t, f.hub.Client, "checkout-latency")
	if e.Status.Verdict.Result != v1alpha1.VerdictPassed || len(e.Status.Verdict.Evidence) != 1 || len(e.Status.Verdict.Evidence[0].Samples) == 0 {
		t.Fatalf("run 1 verdict = %+v", e.Status.Verdict)
	}
	eventually(t, 20*time.Second, "a success status on the first commit", func() bool {
		st, _ := statusOf(sha1)
		return st == "success"
	})

	// Run 2: a new revision changes the experiment; latency rises once the fault is on.
	sha2 := forge.Commit(t, "chaos", map[string]string{
		"experiments/checkout.yaml": fmt.Sprintf(probedExperiment, "1h", p.URL, prom.P99Query)}, "run checkout latency for longer")
	eventually(t, 60*time.Second, "run 2 injected", func() bool {
		e := getExperiment(t, f.hub.Client, "checkout-latency")
		return e.Status.Revision != "" && strings.HasSuffix(e.Status.Revision, sha2) && e.Status.Phase == v1alpha1.PhaseRunning
	})
	svc.SetDelay(500 * time.Millisecond)
	raised := time.Now()
	eventually(t, 30*time.Second, "run 2 aborted on the probe breach", func() bool {
		return getExperiment(t, f.hub.Client, "checkout-latency").Status.Phase == v1alpha1.PhaseAborted
	})
	t.Logf("aborted %v after latency was raised (2 breaches × 1s interval, 1s scrape, 5s rate window)", time.Since(raised).Round(100*time.Millisecond))
	svc.SetDelay(0)
	e = getExperiment(t, f.hub.Client, "checkout-latency")
	v := e.Status.Verdict
	if v.Result != v1alpha1.VerdictAborted || !strings.Contains(v.Message, "max 0.25") || len(v.Evidence) != 1 || v.Evidence[0].Result != v1alpha1.VerdictFailed {
		t.Fatalf("run 2 verdict = %+v", v)
	}
	if n := countInjections(t, m.Client); n != 0 {
		t.Errorf("%d injections left after the abort", n)
	}
	eventually(t, 20*time.Second, "a failure status with the measured value", func() bool {
		st, desc := statusOf(sha2)
		return st == "failure" && strings.Contains(desc, "max 0.25")
	})

	// Both runs are in the audit trail.
	eventually(t, 20*time.Second, "two audit notes", func() bool {
		recs, _, err := writeback.ReadRemote(f.ctx, forge.RepoURL("chaos"), forge.Auth())
		return err == nil && len(recs) == 2
	})
}
