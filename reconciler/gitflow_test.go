package reconciler_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/fluxcd/pkg/apis/meta"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	v1alpha1 "github.com/faultline-dev/faultline/crds/v1alpha1"
	"github.com/faultline-dev/faultline/internal/testground/gitserver"
	"github.com/faultline-dev/faultline/reconciler"
)

const wavesExperiment = `apiVersion: faultline.dev/v1alpha1
kind: Experiment
metadata:
  name: checkout-latency
  namespace: shop
spec:
  placement:
    clusters: {matchExpressions: [{key: env, operator: In, values: [staging, prod]}]}
    waves:
      - clusters: {matchLabels: {env: staging}}
      - clusters: {matchLabels: {env: prod}}
        maxParallel: 1
  selector:
    namespaces: [shop]
    labelSelectors: {app: checkout}
  mode: all
  fault:
    network: {action: delay, latency: 100ms}
  duration: 2s
`

const longExperiment = `apiVersion: faultline.dev/v1alpha1
kind: Experiment
metadata:
  name: cart-loss
  namespace: shop
spec:
  placement:
    clusters: {}
  selector:
    namespaces: [shop]
    labelSelectors: {app: checkout}
  mode: all
  fault:
    network: {action: loss, percent: "10"}
  duration: 1h
`

// The whole hub path from Git: a pushed experiment rolls out in waves; a
// second one runs everywhere; removing it from Git and pushing (with the
// webhook) takes every Injection away from every member within 2 s.
func TestGitFlowRollsOutAndRemovalRecovers(t *testing.T) {
	git := gitserver.Start(t, gitserver.WithBasicAuth("bot", "s3cret"))
	url := git.CreateRepo(t, "chaos")
	git.Commit(t, "chaos", "main", map[string]string{"experiments/checkout.yaml": wavesExperiment}, "add checkout latency")

	secret := []byte("hook-secret")
	var receiver *reconciler.Receiver
	f := startFleet(t, fleetLabels, fleetOptions{setup: []func(ctrl.Manager) error{func(mgr ctrl.Manager) error {
		receiver = &reconciler.Receiver{Client: mgr.GetClient(), Secret: secret}
		return (&reconciler.ChaosSourceReconciler{Client: mgr.GetClient(), CacheRoot: t.TempDir()}).SetupWithManager(mgr)
	}}})
	hook := httptest.NewServer(receiver)
	defer hook.Close()
	push := func() { t.Helper(); pushHook(t, hook.URL, url, secret) }

	for name, m := range f.members {
		runningPods(t, m.Client, "shop", "checkout", "node-1", "node-2")
		startExecutor(t, f.ctx, name, m.Client)
	}
	mustCreate(f.ctx, t, f.hub.Client, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "git-auth"},
		StringData: map[string]string{"username": "bot", "password": "s3cret"}})
	mustCreate(f.ctx, t, f.hub.Client, &v1alpha1.ChaosSource{
		ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "chaos"},
		Spec: v1alpha1.ChaosSourceSpec{URL: url, Interval: metav1.Duration{Duration: time.Hour},
			SecretRef: &meta.LocalObjectReference{Name: "git-auth"}},
	})
	eventually(t, 60*time.Second, "the waves experiment to pass", func() bool {
		e := &v1alpha1.Experiment{}
		if err := f.hub.Client.Get(f.ctx, client.ObjectKey{Namespace: "shop", Name: "checkout-latency"}, e); err != nil {
			return false
		}
		return e.Status.Phase == v1alpha1.PhaseCompleted && e.Status.Verdict != nil && e.Status.Verdict.Result == v1alpha1.VerdictPassed
	})

	var debug string
	defer func() {
		if t.Failed() {
			t.Log(debug)
		}
	}()
	// The hub measured commit-to-injected time from the commit's own time.
	if n := histogramCount(t, "faultline_commit_to_injected_seconds"); n == 0 {
		t.Error("faultline_commit_to_injected_seconds observed nothing")
	}

	git.Commit(t, "chaos", "main", map[string]string{"experiments/cart.yaml": longExperiment}, "add cart loss")
	push()
	eventually(t, 30*time.Second, "cart-loss injected in every member (one Injection per node)", func() bool {
		for _, m := range f.members {
			if countInjections(t, m.Client) != 2 {
				src := &v1alpha1.ChaosSource{}
				_ = f.hub.Client.Get(f.ctx, client.ObjectKey{Namespace: "shop", Name: "chaos"}, src)
				e := &v1alpha1.Experiment{}
				_ = f.hub.Client.Get(f.ctx, client.ObjectKey{Namespace: "shop", Name: "cart-loss"}, e)
				debug = fmt.Sprintf("source: %+v\nexperiment: %+v", src.Status, e.Status)
				return false
			}
		}
		return true
	})

	git.Commit(t, "chaos", "main", map[string]string{"experiments/cart.yaml": ""}, "remove cart loss")
	start := time.Now()
	push()
	eventually(t, 30*time.Second, "every injection gone after the webhook", func() bool {
		for _, m := range f.members {
			if countInjections(t, m.Client) != 0 {
				return false
			}
		}
		return true
	})
	t.Logf("removal: every injection gone %v after the webhook", time.Since(start).Round(time.Millisecond))
}

// histogramCount reads a histogram's sample count from the hub's registry.
func histogramCount(t *testing.T, name string) uint64 {
	t.Helper()
	mfs, err := metrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			var n uint64
			for _, m := range mf.GetMetric() {
				n += m.GetHistogram().GetSampleCount()
			}
			return n
		}
	}
	return 0
}

// pushHook announces a push of repo to the hub's receiver as a signed
// generic webhook, and fails unless it is accepted.
func pushHook(t testing.TB, hookURL, repo string, secret []byte) {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"url": repo})
	mac := hmac.New(sha256.New, secret)
	mac.Write(body)
	req, _ := http.NewRequest(http.MethodPost, hookURL+"/hook/generic", bytes.NewReader(body))
	req.Header.Set("X-Signature", "sha256="+hex.EncodeToString(mac.Sum(nil)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		t.Fatalf("webhook answered %d", resp.StatusCode)
	}
}
