package writeback

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/faultline-dev/faultline/crds/v1alpha1"
)

func TestCommitOf(t *testing.T) {
	h := "0123456789abcdef0123456789abcdef01234567"
	for in, want := range map[string]string{
		"main@sha1:" + h: h, h: h, "v1.2.0@sha1:" + h: h, "main@sha1:abc": "", "": "", "main": "",
	} {
		if got := CommitOf(in); got != want {
			t.Errorf("CommitOf(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestNewRecord(t *testing.T) {
	h := "0123456789abcdef0123456789abcdef01234567"
	start := metav1.NewTime(time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC))
	end := metav1.NewTime(start.Add(time.Minute))
	exp := &v1alpha1.Experiment{
		ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "latency", Labels: map[string]string{v1alpha1.SourceLabel: "chaos"}},
		Status: v1alpha1.ExperimentStatus{Revision: "main@sha1:" + h, StartTime: &start, EndTime: &end,
			Targets: []v1alpha1.TargetSummary{{Kind: "MemberCluster", Name: "member-a", Selected: 1, Injected: 1}, {Kind: "HostAgent", Name: "host-1"}},
			Verdict: &v1alpha1.Verdict{Result: v1alpha1.VerdictAborted, Reason: "ProbeBreached", Message: "aborted: p99"}},
	}
	approvals := []v1alpha1.Approval{{ObjectMeta: metav1.ObjectMeta{CreationTimestamp: start},
		Spec: v1alpha1.ApprovalSpec{Comment: "go", Approver: &v1alpha1.UserIdentity{Username: "alice", Groups: []string{"sre"}}}}}
	injections := []v1alpha1.Injection{
		{Spec: v1alpha1.InjectionSpec{Agent: "host-1"}, Status: v1alpha1.InjectionStatus{Targets: []v1alpha1.TargetStatus{
			{Key: "eth0", Path: "netem", Measured: []v1alpha1.Measurement{{Name: "delay_seconds", Value: 0.2}}}}}},
		{Spec: v1alpha1.InjectionSpec{Owner: v1alpha1.InjectionOwner{Member: "member-a"}}, Status: v1alpha1.InjectionStatus{Targets: []v1alpha1.TargetStatus{
			{Key: "shop/web-0", Measured: []v1alpha1.Measurement{{Name: "delay_seconds", Value: 0.21}}}, {Key: "shop/web-1"}}}},
	}
	r := NewRecord(exp, "Ann <ann@example.com>", approvals, injections)
	if r.Experiment != "team-a/latency" || r.Source != "team-a/chaos" || r.Commit != h || r.Verdict != v1alpha1.VerdictAborted ||
		!r.Start.Equal(start.Time) || !r.End.Equal(end.Time) || len(r.Clusters) != 1 || len(r.Agents) != 1 ||
		len(r.Approvals) != 1 || r.Approvals[0].By != "alice" || r.Approvals[0].Groups[0] != "sre" {
		t.Errorf("record %+v", r)
	}
	if len(r.Measured) != 2 || r.Measured[0].Member != "host-1" || r.Measured[1].Target != "shop/web-0" || r.Measured[1].Measured[0].Value != 0.21 {
		t.Errorf("measured %+v", r.Measured)
	}
}
