package writeback

import (
	"slices"
	"strings"

	"github.com/faultline-dev/faultline/crds/v1alpha1"
)

// CommitOf extracts the commit SHA-1 from a revision such as
// main@sha1:<hash> or a bare hash; "" when it holds none.
func CommitOf(revision string) string {
	c := revision
	if i := strings.LastIndex(revision, "sha1:"); i >= 0 {
		c = revision[i+len("sha1:"):]
	}
	if validCommit(c) != nil {
		return ""
	}
	return c
}

// NewRecord builds the audit record of a finished run from what the hub
// holds: the experiment with its status (revision, times, targets,
// verdict), the author of the revision, the approvals that counted, and
// the run's injections for the measured fault data.
func NewRecord(exp *v1alpha1.Experiment, author string, approvals []v1alpha1.Approval, injections []v1alpha1.Injection) Record {
	st := exp.Status
	r := Record{
		Kind:       RecordKind,
		Experiment: exp.Namespace + "/" + exp.Name,
		Revision:   st.Revision,
		Commit:     CommitOf(st.Revision),
		Author:     author,
		Fault:      exp.Spec.Fault.Kind(),
		Targets:    st.Targets,
	}
	if s := exp.Labels[v1alpha1.SourceLabel]; s != "" {
		r.Source = exp.Namespace + "/" + s
	}
	if st.StartTime != nil {
		r.Start = st.StartTime.UTC()
	}
	if st.EndTime != nil {
		r.End = st.EndTime.UTC()
	}
	if v := st.Verdict; v != nil {
		r.Verdict, r.Reason, r.Message, r.Evidence = v.Result, v.Reason, v.Message, v.Evidence
	}
	for _, t := range st.Targets {
		switch t.Kind {
		case "MemberCluster":
			r.Clusters = append(r.Clusters, t.Name)
		case "HostAgent":
			r.Agents = append(r.Agents, t.Name)
		}
	}
	for _, a := range approvals {
		ra := Approval{Time: a.CreationTimestamp.UTC(), Comment: a.Spec.Comment}
		if a.Spec.Approver != nil {
			ra.By, ra.Groups = a.Spec.Approver.Username, a.Spec.Approver.Groups
		}
		r.Approvals = append(r.Approvals, ra)
	}
	for _, inj := range injections {
		member := inj.Spec.Owner.Member
		if member == "" {
			member = inj.Spec.Agent
		}
		for _, t := range inj.Status.Targets {
			if len(t.Measured) == 0 {
				continue
			}
			r.Measured = append(r.Measured, TargetMeasurements{Member: member, Target: t.Key, Path: t.Path, Measured: t.Measured})
		}
	}
	slices.SortFunc(r.Measured, func(a, b TargetMeasurements) int {
		return strings.Compare(a.Member+"\x00"+a.Target, b.Member+"\x00"+b.Target)
	})
	return r
}
