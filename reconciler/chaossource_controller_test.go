package reconciler

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/fluxcd/pkg/apis/meta"
	"github.com/fluxcd/pkg/runtime/conditions"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	v1alpha1 "github.com/faultline-dev/faultline/crds/v1alpha1"
	"github.com/faultline-dev/faultline/internal/testground"
	"github.com/faultline-dev/faultline/internal/testground/cluster"
	"github.com/faultline-dev/faultline/internal/testground/gitserver"
)

const delayExperiment = `apiVersion: faultline.dev/v1alpha1
kind: Experiment
metadata:
  name: checkout-delay
spec:
  selector:
    labelSelectors:
      app: checkout
  mode: fixed-percent
  value: "%s"
  fault:
    network:
      action: delay
      latency: 100ms
`

const killExperiment = `apiVersion: faultline.dev/v1alpha1
kind: Experiment
metadata:
  name: cart-kill
spec:
  fault:
    pod:
      action: kill
`

// startHub starts a real API server and a manager running the ChaosSource
// reconciler, stopped when the test ends.
func startHub(t *testing.T) client.Client {
	t.Helper()
	hub := cluster.Start(t, "hub")[0]
	skip := true
	mgr, err := ctrl.NewManager(hub.Config, ctrl.Options{
		Scheme:                 cluster.Scheme(),
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Controller:             config.Controller{SkipNameValidation: &skip},
	})
	if err != nil {
		t.Fatal(err)
	}
	r := &ChaosSourceReconciler{Client: mgr.GetClient(), CacheRoot: t.TempDir()}
	if err := r.SetupWithManager(mgr); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("manager: %v", err)
		}
	})
	return hub.Client
}

func eventually(t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	testground.WaitFor(t, 30*time.Second, what, cond)
}

func getSource(t *testing.T, c client.Client, ns, name string) *v1alpha1.ChaosSource {
	t.Helper()
	src := &v1alpha1.ChaosSource{}
	if err := c.Get(t.Context(), client.ObjectKey{Namespace: ns, Name: name}, src); err != nil {
		t.Fatal(err)
	}
	return src
}

func sourceState(src *v1alpha1.ChaosSource) string {
	rev := ""
	if src.Status.Artifact != nil {
		rev = src.Status.Artifact.Revision
	}
	var conds []string
	for _, c := range src.Status.Conditions {
		conds = append(conds, fmt.Sprintf("%s=%s(%s: %s)", c.Type, c.Status, c.Reason, c.Message))
	}
	return fmt.Sprintf("artifact %q fetched %q conditions %v", rev, src.Status.FetchedRevision, conds)
}

// waitApplied waits until the source is Ready at revision rev.
func waitApplied(t *testing.T, c client.Client, ns, name, rev string) *v1alpha1.ChaosSource {
	t.Helper()
	var src *v1alpha1.ChaosSource
	eventually(t, "revision "+rev+" applied", func() (bool, string) {
		src = getSource(t, c, ns, name)
		return src.Status.Artifact != nil && src.Status.Artifact.Revision == rev && conditions.IsReady(src) &&
			src.Status.ObservedGeneration == src.Generation, sourceState(src)
	})
	return src
}

func experimentNames(t *testing.T, c client.Client, ns string) []string {
	t.Helper()
	list := &v1alpha1.ExperimentList{}
	if err := c.List(t.Context(), list, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range list.Items {
		if e.DeletionTimestamp == nil {
			names = append(names, e.Name)
		}
	}
	return names
}

func createNamespace(t *testing.T, c client.Client, name string, objs ...client.Object) {
	t.Helper()
	if err := c.Create(t.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}); err != nil {
		t.Fatal(err)
	}
	for _, o := range objs {
		o.SetNamespace(name)
		if err := c.Create(t.Context(), o); err != nil {
			t.Fatal(err)
		}
	}
}

func signedHook(t *testing.T, url, secret string, body []byte, sign bool) int {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, url+"/hook/github", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-GitHub-Event", "push")
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	sig := "sha256=" + hex.EncodeToString(mac.Sum(nil))
	if !sign {
		sig = "sha256=" + strings.Repeat("0", 64)
	}
	req.Header.Set("X-Hub-Signature-256", sig)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestChaosSourceReconciler(t *testing.T) {
	c := startHub(t)

	t.Run("follows Git: apply, webhook, prune, reject a bad revision, recover", func(t *testing.T) {
		srv := gitserver.Start(t, gitserver.WithBasicAuth("chaos", "s3cret"))
		srv.CreateRepo(t, "chaos")
		first := srv.Commit(t, "chaos", "main", map[string]string{
			"experiments/delay.yaml": fmt.Sprintf(delayExperiment, "50"),
			"experiments/kill.yaml":  killExperiment,
			"README.md":              "not built: outside path",
		}, "Add experiments")

		createNamespace(t, c, "team-a",
			&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "git"}, StringData: map[string]string{"username": "chaos", "password": "s3cret"}},
			&v1alpha1.ChaosSource{
				ObjectMeta: metav1.ObjectMeta{Name: "shop"},
				Spec: v1alpha1.ChaosSourceSpec{
					URL:       srv.RepoURL("chaos"),
					Path:      "experiments",
					Interval:  metav1.Duration{Duration: time.Hour}, // only the webhook can make it look again
					SecretRef: &meta.LocalObjectReference{Name: "git"},
				},
			})

		src := waitApplied(t, c, "team-a", "shop", "main@sha1:"+first)
		a := src.Status.Artifact
		if a.Author != gitserver.TestAuthorName+" <"+gitserver.TestAuthorEmail+">" || a.Message != "Add experiments" || !strings.HasPrefix(a.Digest, "sha256:") {
			t.Errorf("artifact %+v", a)
		}
		if got := experimentNames(t, c, "team-a"); strings.Join(got, ",") != "cart-kill,checkout-delay" {
			t.Fatalf("experiments %v", got)
		}
		exp := &v1alpha1.Experiment{}
		if err := c.Get(t.Context(), client.ObjectKey{Namespace: "team-a", Name: "checkout-delay"}, exp); err != nil {
			t.Fatal(err)
		}
		if ref := metav1.GetControllerOf(exp); ref == nil || ref.UID != src.UID {
			t.Errorf("experiment not controlled by its source: %v", exp.OwnerReferences)
		}
		if exp.Labels[v1alpha1.SourceLabel] != "shop" || exp.Annotations[v1alpha1.RevisionAnnotation] != "main@sha1:"+first ||
			exp.Annotations["faultline.dev/source-file"] != "experiments/delay.yaml:1" {
			t.Errorf("experiment metadata: labels %v annotations %v", exp.Labels, exp.Annotations)
		}

		// A push, announced by a signed GitHub webhook: picked up at once
		// although the interval is an hour; the removed file's experiment
		// is deleted.
		receiver := httptest.NewServer(&Receiver{Client: c, Secret: []byte("hook-secret")})
		defer receiver.Close()
		second := srv.Commit(t, "chaos", "main", map[string]string{
			"experiments/delay.yaml": fmt.Sprintf(delayExperiment, "30"),
			"experiments/kill.yaml":  "",
		}, "Tune delay, drop kill")
		payload := fmt.Appendf(nil, `{"ref":"refs/heads/main","repository":{"clone_url":%q}}`, srv.RepoURL("chaos"))

		if code := signedHook(t, receiver.URL, "hook-secret", payload, false); code != http.StatusUnauthorized {
			t.Fatalf("wrongly signed hook: status %d, want 401", code)
		}
		time.Sleep(500 * time.Millisecond)
		if s := getSource(t, c, "team-a", "shop"); s.Status.Artifact.Revision != "main@sha1:"+first || s.Annotations[meta.ReconcileRequestAnnotation] != "" {
			t.Fatalf("a refused hook changed something: %s, annotations %v", sourceState(s), s.Annotations)
		}
		if code := signedHook(t, receiver.URL, "hook-secret", payload, true); code != http.StatusAccepted {
			t.Fatalf("signed hook: status %d, want 202", code)
		}
		waitApplied(t, c, "team-a", "shop", "main@sha1:"+second)
		eventually(t, "cart-kill pruned", func() (bool, string) {
			got := experimentNames(t, c, "team-a")
			return strings.Join(got, ",") == "checkout-delay", fmt.Sprint(got)
		})
		if err := c.Get(t.Context(), client.ObjectKey{Namespace: "team-a", Name: "checkout-delay"}, exp); err != nil || exp.Spec.Value != "30" {
			t.Fatalf("checkout-delay not updated: value %q err %v", exp.Spec.Value, err)
		}

		// A revision that does not decode is rejected whole: the condition
		// names file, line and field; the previous revision stays applied.
		third := srv.Commit(t, "chaos", "main", map[string]string{
			"experiments/delay.yaml": strings.Replace(fmt.Sprintf(delayExperiment, "10"), "latency: 100ms", "latncy: 100ms", 1),
			"experiments/new.yaml":   strings.Replace(killExperiment, "cart-kill", "new-kill", 1),
		}, "Broken")
		if code := signedHook(t, receiver.URL, "hook-secret", payload, true); code != http.StatusAccepted {
			t.Fatalf("signed hook: status %d", code)
		}
		eventually(t, "revision rejected", func() (bool, string) {
			s := getSource(t, c, "team-a", "shop")
			bf := conditions.Get(s, v1alpha1.BuildFailedCondition)
			return s.Status.FetchedRevision == "main@sha1:"+third && bf != nil && bf.Status == metav1.ConditionTrue &&
				conditions.IsFalse(s, meta.ReadyCondition) && conditions.IsStalled(s), sourceState(s)
		})
		s := getSource(t, c, "team-a", "shop")
		if msg := conditions.GetMessage(s, meta.ReadyCondition); !strings.Contains(msg, "experiments/delay.yaml:14: spec.fault.network.latncy: unknown field") {
			t.Errorf("Ready message does not locate the error: %q", msg)
		}
		if s.Status.Artifact.Revision != "main@sha1:"+second {
			t.Errorf("artifact moved to a rejected revision: %s", s.Status.Artifact.Revision)
		}
		if got := experimentNames(t, c, "team-a"); strings.Join(got, ",") != "checkout-delay" {
			t.Errorf("a rejected revision half-applied: experiments %v", got)
		}

		// The fix is picked up and the source recovers.
		fourth := srv.Commit(t, "chaos", "main", map[string]string{"experiments/delay.yaml": fmt.Sprintf(delayExperiment, "10")}, "Fix")
		if code := signedHook(t, receiver.URL, "hook-secret", payload, true); code != http.StatusAccepted {
			t.Fatalf("signed hook: status %d", code)
		}
		s = waitApplied(t, c, "team-a", "shop", "main@sha1:"+fourth)
		if conditions.Has(s, v1alpha1.BuildFailedCondition) || conditions.Has(s, meta.StalledCondition) {
			t.Errorf("failure conditions left after recovery: %s", sourceState(s))
		}
		if got := experimentNames(t, c, "team-a"); strings.Join(got, ",") != "checkout-delay,new-kill" {
			t.Errorf("experiments after the fix: %v", got)
		}
		eventually(t, "events", func() (bool, string) {
			reasons := eventReasons(t, c, "team-a")
			return strings.Contains(reasons, "NewRevision") && strings.Contains(reasons, "BuildFailed") && strings.Contains(reasons, "Recovered"), reasons
		})

		// Deleting an experiment by hand: the source puts it back from its
		// cache on the next pass.
		if err := c.Delete(t.Context(), &v1alpha1.Experiment{ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "new-kill"}}); err != nil {
			t.Fatal(err)
		}
		eventually(t, "new-kill restored", func() (bool, string) {
			got := experimentNames(t, c, "team-a")
			return strings.Join(got, ",") == "checkout-delay,new-kill", fmt.Sprint(got)
		})
	})

	t.Run("verifies OpenPGP signatures; an unsigned revision is refused", func(t *testing.T) {
		key, err := openpgp.NewEntity("release", "", "release@faultline.invalid", nil)
		if err != nil {
			t.Fatal(err)
		}
		var pub bytes.Buffer
		w, err := armor.Encode(&pub, openpgp.PublicKeyType, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := key.Serialize(w); err != nil {
			t.Fatal(err)
		}
		w.Close()

		srv := gitserver.Start(t)
		srv.CreateRepo(t, "signed")
		signed := srv.Commit(t, "signed", "main", map[string]string{"delay.yaml": fmt.Sprintf(delayExperiment, "50")}, "Signed", gitserver.SignCommit(key))
		createNamespace(t, c, "team-b",
			&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "pgp"}, StringData: map[string]string{"release.asc": pub.String()}},
			&v1alpha1.ChaosSource{
				ObjectMeta: metav1.ObjectMeta{Name: "signed"},
				Spec: v1alpha1.ChaosSourceSpec{
					URL:      srv.RepoURL("signed"),
					Interval: metav1.Duration{Duration: time.Hour},
					Verify:   &v1alpha1.GitVerification{Mode: v1alpha1.VerifyHEAD, SecretRef: meta.LocalObjectReference{Name: "pgp"}},
				},
			})
		src := waitApplied(t, c, "team-b", "signed", "main@sha1:"+signed)
		if src.Status.Artifact.Signer != key.PrimaryKey.KeyIdString() {
			t.Errorf("signer %q, want %s", src.Status.Artifact.Signer, key.PrimaryKey.KeyIdString())
		}

		unsigned := srv.Commit(t, "signed", "main", map[string]string{"kill.yaml": killExperiment}, "Unsigned")
		requestReconcile(t, c, src)
		eventually(t, "unsigned revision refused", func() (bool, string) {
			s := getSource(t, c, "team-b", "signed")
			return s.Status.FetchedRevision == "main@sha1:"+unsigned && conditions.IsTrue(s, v1alpha1.VerificationFailedCondition) &&
				conditions.GetReason(s, meta.ReadyCondition) == reasonUnsigned, sourceState(s)
		})
		s := getSource(t, c, "team-b", "signed")
		if s.Status.Artifact.Revision != "main@sha1:"+signed || s.Status.Artifact.Signer != key.PrimaryKey.KeyIdString() {
			t.Errorf("artifact after the unsigned push: %+v", s.Status.Artifact)
		}
		if got := experimentNames(t, c, "team-b"); strings.Join(got, ",") != "checkout-delay" {
			t.Errorf("the unsigned revision was applied: experiments %v", got)
		}
	})
}

func requestReconcile(t *testing.T, c client.Client, src *v1alpha1.ChaosSource) {
	t.Helper()
	patch := client.MergeFrom(src.DeepCopy())
	if src.Annotations == nil {
		src.Annotations = map[string]string{}
	}
	src.Annotations[meta.ReconcileRequestAnnotation] = time.Now().Format(time.RFC3339Nano)
	if err := c.Patch(t.Context(), src, patch); err != nil {
		t.Fatal(err)
	}
}

func eventReasons(t *testing.T, c client.Client, ns string) string {
	t.Helper()
	list := &eventsv1.EventList{}
	if err := c.List(t.Context(), list, client.InNamespace(ns)); err != nil && !apierrors.IsNotFound(err) {
		t.Fatal(err)
	}
	var r []string
	for _, e := range list.Items {
		r = append(r, e.Reason)
	}
	return strings.Join(r, ",")
}
