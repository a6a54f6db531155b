package main

import (
	"bytes"
	"fmt"
	"io"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1alpha1 "github.com/faultline-dev/faultline/crds/v1alpha1"
	"github.com/faultline-dev/faultline/federation"
	"github.com/faultline-dev/faultline/policy"
	"github.com/faultline-dev/faultline/policy/plan"
)

// What `faultline plan` prints must not depend on how many decisions ran at
// once: one worker and many give the same bytes in every -o format, for
// 10,000 generated experiments.
func TestPlanOutputIndependentOfWorkers(t *testing.T) {
	spec := policy.Spec{Name: "platform", Library: []string{policy.LibraryAll}}
	p, err := policy.Compile(t.Context(), spec)
	if err != nil {
		t.Fatal(err)
	}
	members := []plan.Member{
		{Member: federation.Member{Name: "staging-eu", Labels: map[string]string{"env": "staging"}}, Targets: 10},
		{Member: federation.Member{Name: "prod-eu", Labels: map[string]string{"env": "prod"}}, Targets: 20},
		{Member: federation.Member{Name: "prod-us", Labels: map[string]string{"env": "prod"}}, Targets: 20},
		{Member: federation.Member{Name: "db-1", Kind: federation.KindHostAgent, Labels: map[string]string{"env": "prod"}}},
	}
	const revision = "main@sha1:0123456789abcdef0123456789abcdef01234567"
	approvals := []v1alpha1.Approval{{ObjectMeta: metav1.ObjectMeta{Namespace: "team-3", Name: "a"},
		Spec: v1alpha1.ApprovalSpec{Experiment: "e43", Revision: "0123456", Approver: &v1alpha1.UserIdentity{Username: "alice", Groups: []string{"sre"}}}}}
	exps := generatedExperiments(10000)
	print := func(parallel int) map[string][]byte {
		t.Helper()
		opts := plan.Options{Policies: policy.NewSet(p), Members: members, Source: policy.SourceInput{Revision: revision},
			Approvals: approvals, Now: time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC), Parallel: parallel}
		rs, err := plan.Plan(t.Context(), exps, opts)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string][]byte{}
		for _, format := range []string{formatTable, formatMarkdown, formatJSON, formatYAML} {
			var b bytes.Buffer
			o := &output{format: format}
			err := o.print(&b, planDocument(revision, []policy.Spec{spec}, rs), func(w io.Writer, format string) error {
				if format == formatMarkdown {
					return printPlanMarkdown(w, revision, []policy.Spec{spec}, rs)
				}
				return printPlanTable(w, rs)
			})
			if err != nil {
				t.Fatal(err)
			}
			out[format] = b.Bytes()
		}
		return out
	}
	serial, parallel := print(1), print(8)
	for format, want := range serial {
		if !bytes.Equal(parallel[format], want) {
			t.Errorf("-o %s differs between one worker and eight", format)
		}
		if len(want) < 10000*20 {
			t.Errorf("-o %s is %d bytes: too short to list 10,000 experiments", format, len(want))
		}
	}
}

// generatedExperiments vary in what the library reads: namespaces (some
// protected), faults, durations, shares and placements.
func generatedExperiments(n int) []v1alpha1.Experiment {
	faults := []v1alpha1.FaultSpec{
		{Pod: &v1alpha1.PodFault{Action: v1alpha1.PodKill}},
		{Network: &v1alpha1.NetworkFault{Action: v1alpha1.NetworkDelay, Latency: &metav1.Duration{Duration: 100 * time.Millisecond}}},
		{Host: &v1alpha1.HostFault{Action: v1alpha1.HostReboot}},
	}
	envs := []string{"staging", "prod", "staging"}
	exps := make([]v1alpha1.Experiment, n)
	for i := range exps {
		ns := fmt.Sprintf("team-%d", i%40)
		if i%20 == 7 {
			ns = "kube-system"
		}
		exps[i] = v1alpha1.Experiment{
			ObjectMeta: metav1.ObjectMeta{Namespace: fmt.Sprintf("team-%d", i%5), Name: fmt.Sprintf("e%d", i),
				Annotations: map[string]string{plan.SourceFileAnnotation: fmt.Sprintf("e%d.yaml:%d", i, 1+i%3)}},
			Spec: v1alpha1.ExperimentSpec{
				Placement: &v1alpha1.Placement{Clusters: &metav1.LabelSelector{MatchLabels: map[string]string{"env": envs[(i/40)%3]}}},
				Selector:  v1alpha1.PodSelector{Namespaces: []string{ns}},
				Mode:      v1alpha1.ModeFixedPercent,
				Value:     fmt.Sprint(10 * (1 + (i/13)%6)),
				Duration:  &metav1.Duration{Duration: time.Duration(1+(i/11)%9) * 5 * time.Minute},
				Fault:     faults[(i/7)%len(faults)],
				Probes:    []v1alpha1.Probe{{Name: "p", Mode: v1alpha1.ProbeDuring}},
			},
		}
	}
	return exps
}
