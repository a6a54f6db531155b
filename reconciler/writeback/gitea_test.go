package writeback_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/fluxcd/pkg/apis/meta"

	"github.com/faultline-dev/faultline/crds/v1alpha1"
	"github.com/faultline-dev/faultline/internal/testground"
	"github.com/faultline-dev/faultline/internal/testground/cluster"
	"github.com/faultline-dev/faultline/internal/testground/gitea"
	"github.com/faultline-dev/faultline/internal/testground/prom"
	"github.com/faultline-dev/faultline/reconciler/verdict"
	"github.com/faultline-dev/faultline/reconciler/writeback"
)

// TestCommitStatusesOnGitea runs the write-back path against the real
// parts: probes on a real Prometheus scraping a real service decide the
// verdicts, the provider is built from a ChaosSource whose token Secret
// lives in a real API server, and every status is read back through a real
// Gitea's API.
func TestCommitStatusesOnGitea(t *testing.T) {
	// The control plane starts in the background while Gitea and Prometheus start.
	type started struct {
		cs  []*cluster.Cluster
		err error
	}
	hubc := make(chan started, 1)
	if !testground.UnitOnly() {
		go func() { cs, err := cluster.StartAll("hub"); hubc <- started{cs, err} }()
	}
	waitHub := sync.OnceValue(func() started { return <-hubc })
	// Registered first: should Gitea or Prometheus fail to start, the
	// control plane is still waited for and stopped, not left running.
	t.Cleanup(func() {
		if testground.UnitOnly() {
			return
		}
		for _, c := range waitHub().cs {
			if err := c.Stop(); err != nil {
				t.Error(err)
			}
		}
	})
	g := gitea.Start(t)
	svc := prom.StartService(t)
	ps := prom.Start(t, svc.Addr)
	h := waitHub()
	if h.err != nil {
		t.Fatalf("hub control plane: %v", h.err)
	}
	hub := h.cs[0]

	g.CreateRepo(t, "chaos")
	sha := g.Commit(t, "chaos", map[string]string{"experiments/latency.yaml": "kind: Experiment\n"}, "add latency experiment")

	// The provider as the hub builds it: address and repository derived
	// from the source URL, the token from the Secret the source names.
	ctx := t.Context()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "chaos"}}
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "chaos", Name: "gitea-token"},
		Data: map[string][]byte{writeback.TokenKey: []byte(g.Token + "\n")}}
	if err := hub.Client.Create(ctx, ns); err != nil {
		t.Fatal(err)
	}
	if err := hub.Client.Create(ctx, secret); err != nil {
		t.Fatal(err)
	}
	src := &v1alpha1.ChaosSource{ObjectMeta: metav1.ObjectMeta{Namespace: "chaos", Name: "chaos"},
		Spec: v1alpha1.ChaosSourceSpec{URL: g.RepoURL("chaos"), CommitStatus: &v1alpha1.CommitStatusSpec{
			Provider: "gitea", SecretRef: meta.LocalObjectReference{Name: "gitea-token"}}}}
	provider, err := writeback.ForSource(ctx, hub.Client, src, nil)
	if err != nil {
		t.Fatal(err)
	}

	// set("name")(state, description) posts the status of experiment team-a/name.
	set := func(name string) func(writeback.State, string) {
		return func(state writeback.State, desc string) {
			t.Helper()
			st := writeback.Status{SHA: sha, State: state, Context: writeback.StatusContext("team-a", name), Description: desc,
				TargetURL: "http://127.0.0.1/experiments/team-a/" + name}
			if err := provider.SetStatus(ctx, st); err != nil {
				t.Fatalf("set status %s: %v", st.Context, err)
			}
		}
	}
	readBack := func(name string) gitea.CommitStatus {
		t.Helper()
		for _, s := range g.CommitStatuses(t, "chaos", sha) {
			if s.Context == writeback.StatusContext("team-a", name) {
				return s
			}
		}
		t.Fatalf("Gitea has no status faultline/team-a/%s on %s", name, sha)
		return gitea.CommitStatus{}
	}

	const maxP99 = 0.25
	probes := []v1alpha1.Probe{{Name: "p99-latency", Mode: v1alpha1.ProbeDuring, FailureThreshold: 2,
		Interval: &metav1.Duration{Duration: time.Second},
		Prometheus: &v1alpha1.PrometheusProbe{Address: ps.URL, Query: prom.P99Query,
			ThresholdRange: v1alpha1.ThresholdRange{Max: f(maxP99)}}}}
	waitForData(t, ps.URL)

	t.Run("awaiting approval is pending", func(t *testing.T) {
		set("latency")(writeback.AwaitingApproval("sre"))
		got := readBack("latency")
		if got.State != "pending" || got.Description != "awaiting approval by sre" {
			t.Errorf("Gitea reads %+v", got)
		}
	})

	t.Run("steady state holds: success with the evidence", func(t *testing.T) {
		set("latency")(writeback.Running(v1alpha1.PhaseRunning))
		if got := readBack("latency"); got.State != "pending" || got.Description != "experiment running" {
			t.Errorf("while running, Gitea reads %+v", got)
		}
		v := runProbes(t, probes, 3*time.Second, nil)
		if v.Result != v1alpha1.VerdictPassed {
			t.Fatalf("verdict %s %q, want Passed", v.Result, v.Message)
		}
		set("latency")(writeback.ForVerdict(v))
		got := readBack("latency")
		t.Logf("Gitea reads %s: %s", got.State, got.Description)
		if got.State != "success" || !strings.HasPrefix(got.Description, "Passed: p99-latency (during): held in ") || !strings.Contains(got.Description, "[max 0.25]") {
			t.Errorf("Gitea reads %+v", got)
		}
		if got.TargetURL != "http://127.0.0.1/experiments/team-a/latency" {
			t.Errorf("target URL %q", got.TargetURL)
		}
	})

	t.Run("latency raised: failure with the measured value and threshold", func(t *testing.T) {
		v := runProbes(t, probes, 60*time.Second, func() { svc.SetDelay(400 * time.Millisecond) })
		svc.SetDelay(0)
		if v.Result != v1alpha1.VerdictAborted {
			t.Fatalf("verdict %s %q, want Aborted", v.Result, v.Message)
		}
		samples := v.Evidence[0].Samples
		measured := strconv.FormatFloat(*samples[len(samples)-1].Value, 'g', 4, 64)
		set("slow")(writeback.ForVerdict(v))
		got := readBack("slow")
		t.Logf("Gitea reads %s: %s", got.State, got.Description)
		if got.State != "failure" || !strings.Contains(got.Description, measured+" > max 0.25") || !strings.HasPrefix(got.Description, "Aborted: p99-latency (during): ") {
			t.Errorf("Gitea reads %+v, want failure naming %s > max 0.25", got, measured)
		}
	})

	t.Run("policy denial: failure naming the rule", func(t *testing.T) {
		set("kube-system")(writeback.Denied("platform/protected-namespaces", "spec.selector.namespaces[0]: kube-system is protected"))
		got := readBack("kube-system")
		if got.State != "failure" || got.Description != "denied by policy rule platform/protected-namespaces: spec.selector.namespaces[0]: kube-system is protected" {
			t.Errorf("Gitea reads %+v", got)
		}
	})

	t.Run("statuses of other experiments are untouched", func(t *testing.T) {
		if got := readBack("latency"); got.State != "success" {
			t.Errorf("latency now reads %+v", got)
		}
	})

	t.Run("unknown SHA is refused", func(t *testing.T) {
		err := provider.SetStatus(ctx, writeback.Status{SHA: strings.Repeat("ab", 20), State: writeback.StateSuccess, Context: "faultline/x/y"})
		var api *writeback.APIError
		if !errors.As(err, &api) || !api.UnknownCommit || writeback.IsRetryable(err) {
			t.Fatalf("err = %v, want a non-retryable unknown-commit API error", err)
		}
		t.Logf("unknown SHA: %v", err)
	})

	t.Run("bad token is refused", func(t *testing.T) {
		f, err := writeback.ResolveForge(*src.Spec.CommitStatus, src.Spec.URL)
		if err != nil {
			t.Fatal(err)
		}
		p, err := writeback.New(f, "0000000000000000000000000000000000000000", nil)
		if err != nil {
			t.Fatal(err)
		}
		err = p.SetStatus(ctx, writeback.Status{SHA: sha, State: writeback.StateSuccess, Context: "faultline/x/y"})
		var api *writeback.APIError
		if !errors.As(err, &api) || api.StatusCode != 401 || writeback.IsRetryable(err) {
			t.Errorf("err = %v, want a non-retryable 401", err)
		}
	})
}

// runProbes runs the during probes for at most d, calling raise (when set)
// after the first second, and computes the verdict with abortOnBreach.
func runProbes(t *testing.T, probes []v1alpha1.Probe, d time.Duration, raise func()) v1alpha1.Verdict {
	t.Helper()
	set, err := verdict.NewSet(probes, verdict.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), d)
	defer cancel()
	if raise != nil {
		time.AfterFunc(time.Second, raise)
	}
	ev := set.Run(ctx, v1alpha1.ProbeDuring, func(v1alpha1.ProbeEvidence) { cancel() })
	return verdict.Compute(verdict.Run{Evidence: ev, AbortOnBreach: true, Time: time.Now()})
}

// waitForData waits until Prometheus can compute the service's p99.
func waitForData(t *testing.T, addr string) {
	t.Helper()
	r, err := verdict.NewRunner(v1alpha1.Probe{Name: "ready", Mode: v1alpha1.ProbeBefore,
		Prometheus: &v1alpha1.PrometheusProbe{Address: addr, Query: prom.P99Query, ThresholdRange: v1alpha1.ThresholdRange{Max: f(10)}}}, verdict.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(500 * time.Millisecond) {
		if ev := r.Run(t.Context(), nil); ev.Result == v1alpha1.VerdictPassed {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("Prometheus never had the service's latency")
		}
	}
}
