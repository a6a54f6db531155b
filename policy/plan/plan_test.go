package plan_test

import (
	"context"
	"fmt"
	"syscall"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1alpha1 "github.com/faultline-dev/faultline/crds/v1alpha1"
	"github.com/faultline-dev/faultline/federation"
	"github.com/faultline-dev/faultline/policy"
	"github.com/faultline-dev/faultline/policy/plan"
)

const revision = "main@sha1:0123456789abcdef0123456789abcdef01234567"

var members = []plan.Member{
	{Member: federation.Member{Name: "staging-eu", Labels: map[string]string{"env": "staging"}}, Targets: 10},
	{Member: federation.Member{Name: "prod-eu", Labels: map[string]string{"env": "prod", "canary": "true"}}, Targets: 20},
	{Member: federation.Member{Name: "prod-us", Labels: map[string]string{"env": "prod"}}, Targets: 20},
	{Member: federation.Member{Name: "db-1", Kind: federation.KindHostAgent, Labels: map[string]string{"env": "prod"}}},
}

func librarySet(t testing.TB) *policy.Set {
	t.Helper()
	return policy.NewSet(libraryPolicy(t))
}

func libraryPolicy(t testing.TB) *policy.Policy {
	t.Helper()
	p, err := policy.Compile(context.Background(), policy.Spec{Name: "platform", Library: []string{policy.LibraryAll}})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func experiment(name string, env string, namespaces ...string) v1alpha1.Experiment {
	return v1alpha1.Experiment{
		ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: name, Annotations: map[string]string{plan.SourceFileAnnotation: name + ".yaml:1"}},
		Spec: v1alpha1.ExperimentSpec{
			Placement:     &v1alpha1.Placement{Clusters: &metav1.LabelSelector{MatchLabels: map[string]string{"env": env}}},
			Selector:      v1alpha1.PodSelector{Namespaces: namespaces},
			Mode:          v1alpha1.ModeFixedPercent,
			Value:         "10",
			Duration:      &metav1.Duration{Duration: 5 * time.Minute},
			Fault:         v1alpha1.FaultSpec{Pod: &v1alpha1.PodFault{Action: v1alpha1.PodKill}},
			Probes:        []v1alpha1.Probe{{Name: "p", Mode: v1alpha1.ProbeDuring}},
			AbortOnBreach: true,
		},
	}
}

func TestPlan(t *testing.T) {
	exps := []v1alpha1.Experiment{
		experiment("ok", "staging", "shop"),
		experiment("kube", "staging", "kube-system"),
		experiment("prod", "prod", "shop"),
	}
	approved := v1alpha1.Approval{ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: "a"}, Spec: v1alpha1.ApprovalSpec{
		Experiment: "prod", Revision: "0123456", Approver: &v1alpha1.UserIdentity{Username: "alice", Groups: []string{"sre"}}}}
	opts := plan.Options{Policies: librarySet(t), Members: members, Source: policy.SourceInput{Revision: revision}}

	rs, err := plan.Plan(t.Context(), exps, opts)
	if err != nil {
		t.Fatal(err)
	}
	if rs[0].Verdict != plan.Allowed || rs[1].Verdict != plan.Denied || rs[2].Verdict != plan.AwaitingApproval {
		t.Fatalf("verdicts = %s, %s, %s", rs[0].Verdict, rs[1].Verdict, rs[2].Verdict)
	}
	if d := rs[1].Decision.Denials[0]; d.Rule != "protected-namespaces" || d.Field != "spec.selector.namespaces[0]" {
		t.Errorf("denial = %+v", d)
	}
	if got := fmt.Sprint(rs[2].Waves); got != "[{wave-1 [prod-eu prod-us] []}]" {
		t.Errorf("waves = %s", got)
	}
	if rs[2].Decision.ApprovalsRequired[0].Group != "sre" || rs[0].File != "ok.yaml:1" {
		t.Errorf("result = %+v", rs[2])
	}

	opts.Approvals = []v1alpha1.Approval{approved}
	if rs, err = plan.Plan(t.Context(), exps, opts); err != nil || rs[2].Verdict != plan.Allowed {
		t.Fatalf("with an approval of the revision: %v, %+v", err, rs[2])
	}
	opts.Source.Revision = "main@sha1:fedcba9876543210fedcba9876543210fedcba98"
	if rs, err = plan.Plan(t.Context(), exps, opts); err != nil || rs[2].Verdict != plan.AwaitingApproval {
		t.Fatalf("an approval of another revision counted: %v, %+v", err, rs[2])
	}
}

func TestPlanBlastRadiusFromMemberSize(t *testing.T) {
	e := experiment("wide", "staging", "shop")
	e.Spec.Mode, e.Spec.Value = v1alpha1.ModeFixed, "6"
	rs, err := plan.Plan(t.Context(), []v1alpha1.Experiment{e}, plan.Options{Policies: librarySet(t), Members: members})
	if err != nil {
		t.Fatal(err)
	}
	// 6 of staging-eu's 10 targets is 60%, above the default 50%.
	if rs[0].Verdict != plan.Denied || rs[0].Decision.Denials[0].Rule != "max-blast-radius" || rs[0].Decision.Denials[0].Field != "spec.value" {
		t.Fatalf("result = %+v", rs[0])
	}
}

func TestPlanPlacementErrorIsAnInputError(t *testing.T) {
	e := experiment("bad", "staging", "shop")
	e.Spec.Placement.Clusters.MatchExpressions = []metav1.LabelSelectorRequirement{{Key: "env", Operator: "Near"}}
	_, err := plan.Plan(t.Context(), []v1alpha1.Experiment{e}, plan.Options{Policies: librarySet(t), Members: members})
	if err == nil || err.Error()[:len("team/bad: spec.placement.clusters")] != "team/bad: spec.placement.clusters" {
		t.Fatalf("err = %v", err)
	}
}

// BenchmarkPlan10000 plans 10,000 generated experiments (a mix of staging,
// production and protected-namespace ones) against the whole library,
// evaluating every one.
func BenchmarkPlan10000(b *testing.B) { benchmarkPlan(b, threeKinds()) }

// BenchmarkPlan10000Serial is BenchmarkPlan10000 on one worker: its wall
// time over the parallel one's is what the workers gain.
func BenchmarkPlan10000Serial(b *testing.B) {
	benchmarkPlan(b, threeKinds(), func(o *plan.Options) { o.Parallel = 1 })
}

// BenchmarkPlan10000Varied plans 10,000 experiments that differ in what the
// rules read as a larger repository's would: 40 team namespaces, 4 fault
// kinds, 5 durations, 3 shares, 3 placements (one in 20 selecting
// kube-system).
func BenchmarkPlan10000Varied(b *testing.B) { benchmarkPlan(b, varied()) }

func threeKinds() []v1alpha1.Experiment {
	exps := make([]v1alpha1.Experiment, 10000)
	for i := range exps {
		switch i % 3 {
		case 0:
			exps[i] = experiment(fmt.Sprintf("e%d", i), "staging", "shop")
		case 1:
			exps[i] = experiment(fmt.Sprintf("e%d", i), "prod", "shop")
		default:
			exps[i] = experiment(fmt.Sprintf("e%d", i), "staging", "kube-system")
		}
	}
	return exps
}

func varied() []v1alpha1.Experiment {
	faults := []v1alpha1.FaultSpec{
		{Pod: &v1alpha1.PodFault{Action: v1alpha1.PodKill}},
		{Network: &v1alpha1.NetworkFault{Action: v1alpha1.NetworkDelay, Latency: &metav1.Duration{Duration: 100 * time.Millisecond}}},
		{Stress: &v1alpha1.StressFault{Action: v1alpha1.StressCPU, Workers: 2}},
		{Process: &v1alpha1.ProcessFault{Action: v1alpha1.ProcessKill, Process: "java"}},
	}
	envs := []string{"staging", "prod", "staging"}
	exps := make([]v1alpha1.Experiment, 10000)
	for i := range exps {
		ns := fmt.Sprintf("team-%d", i%40)
		if i%20 == 7 {
			ns = "kube-system"
		}
		e := experiment(fmt.Sprintf("e%d", i), envs[(i/40)%3], ns)
		e.Spec.Fault = faults[(i/7)%len(faults)]
		e.Spec.Duration = &metav1.Duration{Duration: time.Duration(1+(i/11)%5) * 5 * time.Minute}
		e.Spec.Value = fmt.Sprint(10 * (1 + (i/13)%3))
		exps[i] = e
	}
	return exps
}

func benchmarkPlan(b *testing.B, exps []v1alpha1.Experiment, with ...func(*plan.Options)) {
	opts := plan.Options{Policies: librarySet(b), Members: members, Source: policy.SourceInput{Revision: revision}}
	for _, f := range with {
		f(&opts)
	}
	b.ReportAllocs()
	start := processCPU(b)
	for b.Loop() {
		rs, err := plan.Plan(b.Context(), exps, opts)
		if err != nil || len(rs) != len(exps) {
			b.Fatal(err)
		}
	}
	// CPU time of the whole process (every worker and the GC) per plan: on a
	// machine shared with other work it says more than wall time.
	b.ReportMetric(float64(processCPU(b)-start)/float64(b.N), "cpu-ns/op")
}

func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
