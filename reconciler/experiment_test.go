package reconciler_test

import (
	"context"
	"testing"
	"time"

	"github.com/fluxcd/pkg/apis/meta"
	"github.com/fluxcd/pkg/runtime/conditions"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/faultline-dev/faultline/crds/v1alpha1"
)

func twoWaveExperiment(name string, duration time.Duration) *v1alpha1.Experiment {
	one := int32(1)
	return &v1alpha1.Experiment{
		ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: name,
			Annotations: map[string]string{v1alpha1.RevisionAnnotation: "main@sha1:0123456789abcdef0123456789abcdef01234567"}},
		Spec: v1alpha1.ExperimentSpec{
			Placement: &v1alpha1.Placement{
				Clusters: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "env", Operator: "In", Values: []string{"staging", "prod"}}}},
				Waves: []v1alpha1.Wave{
					{Clusters: &metav1.LabelSelector{MatchLabels: map[string]string{"env": "staging"}}},
					{Clusters: &metav1.LabelSelector{MatchLabels: map[string]string{"env": "prod"}}, MaxParallel: &one},
				},
			},
			Selector: v1alpha1.PodSelector{Namespaces: []string{"shop"}, LabelSelectors: map[string]string{"app": "checkout"}},
			Mode:     v1alpha1.ModeAll,
			Fault: v1alpha1.FaultSpec{Network: &v1alpha1.NetworkFault{Action: v1alpha1.NetworkDelay,
				Latency: &metav1.Duration{Duration: 100 * time.Millisecond}, Direction: v1alpha1.DirectionTo}},
			Duration: &metav1.Duration{Duration: duration},
		},
	}
}

var fleetLabels = map[string]map[string]string{
	"staging": {"env": "staging"},
	"prod-1":  {"env": "prod"},
	"prod-2":  {"env": "prod"},
}

// Waves: staging first; prod only after staging passed; at most one prod
// member at a time; the run ends Passed with every target recovered.
func TestWavesRollOutInOrder(t *testing.T) {
	f := startFleet(t, fleetLabels, fleetOptions{})
	execs := map[string]*executor{}
	for name, m := range f.members {
		runningPods(t, m.Client, "shop", "checkout", "node-1", "node-2")
		execs[name] = startExecutor(t, f.ctx, name, m.Client)
	}
	mustCreate(f.ctx, t, f.hub.Client, twoWaveExperiment("checkout-latency", 2*time.Second))

	eventually(t, 60*time.Second, "the run to complete", func() bool {
		return getExperiment(t, f.hub.Client, "checkout-latency").Status.Phase == v1alpha1.PhaseCompleted
	})
	exp := getExperiment(t, f.hub.Client, "checkout-latency")
	if exp.Status.Verdict == nil || exp.Status.Verdict.Result != v1alpha1.VerdictPassed {
		t.Fatalf("verdict = %+v", exp.Status.Verdict)
	}
	if !conditions.IsTrue(exp, meta.ReadyCondition) || !conditions.IsTrue(exp, v1alpha1.VerdictReachedCondition) {
		t.Errorf("conditions = %+v", exp.Status.Conditions)
	}
	for _, ts := range exp.Status.Targets {
		if ts.State != v1alpha1.MemberDone || ts.Selected != 2 || ts.Injected != 2 || ts.Recovered != 2 {
			t.Errorf("member %s: %+v", ts.Name, ts)
		}
	}

	stagingFirst, _ := execs["staging"].firstSeen()
	stagingDone := execs["staging"].lastGone()
	p1, ok1 := execs["prod-1"].firstSeen()
	p2, ok2 := execs["prod-2"].firstSeen()
	if !ok1 || !ok2 {
		t.Fatal("a prod member never saw an injection")
	}
	if !stagingFirst.Before(stagingDone) || p1.Before(stagingDone) || p2.Before(stagingDone) {
		t.Errorf("prod injected before the staging wave passed: staging %v..%v, prod-1 %v, prod-2 %v", stagingFirst, stagingDone, p1, p2)
	}
	// maxParallel 1: one prod member finished before the other started.
	first, second := "prod-1", "prod-2"
	if p2.Before(p1) {
		first, second = second, first
	}
	if s, _ := execs[second].firstSeen(); s.Before(execs[first].lastGone()) {
		t.Errorf("both prod members active at once despite maxParallel 1")
	}
	for name, m := range f.members {
		if n := countInjections(t, m.Client); n != 0 {
			t.Errorf("%s still has %d injections", name, n)
		}
	}
}

// Deleting the experiment (as the source does when it leaves Git) removes
// every Injection from every member; abort does the same at once.
func TestDeleteAndAbortRecoverEverywhere(t *testing.T) {
	f := startFleet(t, map[string]map[string]string{"a": {"env": "staging"}, "b": {"env": "staging"}}, fleetOptions{})
	for name, m := range f.members {
		runningPods(t, m.Client, "shop", "checkout", "node-1")
		startExecutor(t, f.ctx, name, m.Client)
	}
	all := func() int {
		n := 0
		for _, m := range f.members {
			n += countInjections(t, m.Client)
		}
		return n
	}
	for _, how := range []string{"delete", "abort"} {
		exp := twoWaveExperiment("long-"+how, time.Hour)
		exp.Spec.Placement.Waves = nil // one wave, both members at once
		exp.Spec.Placement.Clusters = &metav1.LabelSelector{}
		mustCreate(f.ctx, t, f.hub.Client, exp)
		eventually(t, 30*time.Second, how+": injections in both members", func() bool {
			return countInjections(t, f.members["a"].Client) == 1 && countInjections(t, f.members["b"].Client) == 1 &&
				getExperiment(t, f.hub.Client, exp.Name).Status.Phase == v1alpha1.PhaseRunning
		})
		start := time.Now()
		if how == "delete" {
			if err := f.hub.Client.Delete(f.ctx, exp); err != nil {
				t.Fatal(err)
			}
		} else {
			cur := getExperiment(t, f.hub.Client, exp.Name)
			p := client.MergeFrom(cur.DeepCopy())
			cur.Annotations[v1alpha1.AbortAnnotation] = time.Now().UTC().Format(time.RFC3339Nano)
			if err := f.hub.Client.Patch(f.ctx, cur, p); err != nil {
				t.Fatal(err)
			}
		}
		eventually(t, 30*time.Second, how+": every injection gone", func() bool { return all() == 0 })
		t.Logf("%s: every injection gone %v after the request", how, time.Since(start).Round(time.Millisecond))
		if how == "abort" {
			eventually(t, 30*time.Second, "phase Aborted", func() bool {
				e := getExperiment(t, f.hub.Client, exp.Name)
				return e.Status.Phase == v1alpha1.PhaseAborted && e.Status.Verdict != nil && e.Status.Verdict.Result == v1alpha1.VerdictAborted
			})
		} else {
			eventually(t, 30*time.Second, "the experiment to be gone", func() bool {
				return f.hub.Client.Get(context.Background(), client.ObjectKeyFromObject(exp), &v1alpha1.Experiment{}) != nil
			})
		}
	}
}

// A member whose API server stops is reported unreachable, the run waits,
// and it resumes when the member is back.
func TestUnreachableMemberResumes(t *testing.T) {
	f := startFleet(t, map[string]map[string]string{"edge": {"env": "staging"}}, fleetOptions{})
	m := f.members["edge"]
	runningPods(t, m.Client, "shop", "checkout", "node-1")
	startExecutor(t, f.ctx, "edge", m.Client)
	// Long enough that the member is stopped, and seen stopped, while the
	// fault is on, however slow the machine.
	exp := twoWaveExperiment("edge-latency", 10*time.Second)
	exp.Spec.Placement.Waves = nil
	mustCreate(f.ctx, t, f.hub.Client, exp)
	eventually(t, 30*time.Second, "running", func() bool {
		return getExperiment(t, f.hub.Client, exp.Name).Status.Phase == v1alpha1.PhaseRunning
	})
	if err := m.StopAPIServer(); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, "the member reported unreachable", func() bool {
		e := getExperiment(t, f.hub.Client, exp.Name)
		return len(e.Status.Targets) == 1 && e.Status.Targets[0].Unreachable &&
			conditions.GetReason(e, meta.ReadyCondition) == "MemberUnreachable"
	})
	if err := m.StartAPIServer(); err != nil {
		t.Fatal(err)
	}
	eventually(t, 60*time.Second, "the run to complete after the member came back", func() bool {
		e := getExperiment(t, f.hub.Client, exp.Name)
		return e.Status.Phase == v1alpha1.PhaseCompleted && e.Status.Verdict.Result == v1alpha1.VerdictPassed && !e.Status.Targets[0].Unreachable
	})
}

// kube-system is refused even without any policy installed.
func TestProtectedNamespaceDenied(t *testing.T) {
	f := startFleet(t, map[string]map[string]string{"a": {"env": "staging"}}, fleetOptions{})
	exp := twoWaveExperiment("dns-chaos", time.Minute)
	exp.Spec.Selector.Namespaces = []string{"kube-system"}
	mustCreate(f.ctx, t, f.hub.Client, exp)
	eventually(t, 20*time.Second, "Denied", func() bool {
		e := getExperiment(t, f.hub.Client, exp.Name)
		return e.Status.Phase == v1alpha1.PhaseDenied && conditions.IsStalled(e) &&
			conditions.GetMessage(e, v1alpha1.AdmittedCondition) == "builtin/protected-namespaces: spec.selector.namespaces[0]: namespace kube-system is protected and never a target"
	})
	if n := countInjections(t, f.members["a"].Client); n != 0 {
		t.Errorf("%d injections written for a denied experiment", n)
	}
}

// A scheduled experiment runs at each tick, never two runs at once, and
// keeps a bounded history of verdicts.
func TestScheduleRunsAtTicksWithoutOverlap(t *testing.T) {
	f := startFleet(t, map[string]map[string]string{"a": {"env": "staging"}}, fleetOptions{})
	runningPods(t, f.members["a"].Client, "shop", "checkout", "node-1")
	startExecutor(t, f.ctx, "a", f.members["a"].Client)
	exp := twoWaveExperiment("every-few-seconds", time.Second)
	exp.Spec.Placement.Waves = nil
	exp.Spec.Schedule = "@every 3s"
	exp.Spec.HistoryLimit = 2
	mustCreate(f.ctx, t, f.hub.Client, exp)
	eventually(t, 60*time.Second, "three finished runs", func() bool {
		e := getExperiment(t, f.hub.Client, exp.Name)
		return len(e.Status.History) == 2 && e.Status.History[1].Run != "" && e.Status.Run != e.Status.History[0].Run
	})
	e := getExperiment(t, f.hub.Client, exp.Name)
	for i, h := range e.Status.History {
		if h.Verdict != v1alpha1.VerdictPassed {
			t.Errorf("history[%d] = %+v", i, h)
		}
	}
	newer, older := e.Status.History[0], e.Status.History[1]
	if newer.StartTime.Before(older.EndTime) {
		t.Errorf("runs overlap: %s started %v before %s ended %v", newer.Run, newer.StartTime, older.Run, older.EndTime)
	}
	if e.Status.NextScheduleTime == nil {
		t.Error("no nextScheduleTime")
	}
}
