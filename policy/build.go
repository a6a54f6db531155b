package policy

import (
	"strconv"
	"strings"

	v1alpha1 "github.com/faultline-dev/faultline/crds/v1alpha1"
)

// ExperimentFrom describes an experiment for the input document.
func ExperimentFrom(e *v1alpha1.Experiment) ExperimentInput {
	return ExperimentInput{
		Metadata: MetadataInput{
			Name:        e.Name,
			Namespace:   e.Namespace,
			Labels:      e.Labels,
			Annotations: e.Annotations,
		},
		Spec:      e.Spec,
		FaultKind: e.Spec.Fault.Kind(),
	}
}

// ApprovalsFor lists the approvals of one experiment, marking those of the
// current revision. Approvals without an approver (the webhook did not run)
// are left out: an identity nobody authenticated counts for nothing.
func ApprovalsFor(approvals []v1alpha1.Approval, experiment, revision string) []ApprovalInput {
	var out []ApprovalInput
	for _, a := range approvals {
		if a.Spec.Experiment != experiment || a.Spec.Approver == nil || a.Spec.Approver.Username == "" {
			continue
		}
		out = append(out, ApprovalInput{
			Name:     a.Name,
			Approver: *a.Spec.Approver,
			Revision: a.Spec.Revision,
			Current:  RevisionMatches(a.Spec.Revision, revision),
		})
	}
	return out
}

// RevisionMatches reports whether an approved revision names the current
// one. current is a source revision such as main@sha1:<40 hex> (or a bare
// SHA-1); approved is either the whole revision string, the full SHA-1, or an
// abbreviation of at least 7 hex digits, as `git log --oneline` prints it.
func RevisionMatches(approved, current string) bool {
	if approved == "" || current == "" {
		return false
	}
	if approved == current {
		return true
	}
	sha := current
	if i := strings.LastIndex(sha, ":"); i >= 0 {
		sha = sha[i+1:]
	}
	approved = strings.ToLower(approved)
	if len(approved) < 7 || !isHex(approved) {
		return false
	}
	return strings.HasPrefix(strings.ToLower(sha), approved)
}

func isHex(s string) bool {
	for _, r := range s {
		if !('0' <= r && r <= '9' || 'a' <= r && r <= 'f') {
			return false
		}
	}
	return true
}

// EstimateBlastRadius computes how many of matching targets an experiment's
// mode and value hit on one cluster or agent, taking the upper bound of
// random modes. matching 0 means unknown: the count is then what the mode
// alone implies and the percentage is the mode's own (100 for all, value for
// the percent modes, 0 when it depends on the workload).
func EstimateBlastRadius(spec *v1alpha1.ExperimentSpec, kind, name string, matching int) BlastRadius {
	b := BlastRadius{Kind: kind, Name: name, Matching: matching}
	v, _ := strconv.Atoi(spec.Value)
	mode := spec.Mode
	if mode == "" {
		mode = v1alpha1.ModeOne
	}
	if matching <= 0 {
		switch mode {
		case v1alpha1.ModeOne:
			b.Selected = 1
		case v1alpha1.ModeFixed:
			b.Selected = v
		case v1alpha1.ModeAll:
			b.Percent = 100
		case v1alpha1.ModeFixedPercent, v1alpha1.ModeRandomMaxPercent:
			b.Percent = float64(v)
		}
		return b
	}
	switch mode {
	case v1alpha1.ModeOne:
		b.Selected = 1
	case v1alpha1.ModeAll:
		b.Selected = matching
	case v1alpha1.ModeFixed:
		b.Selected = min(v, matching)
	case v1alpha1.ModeFixedPercent, v1alpha1.ModeRandomMaxPercent:
		b.Selected = max(1, matching*v/100)
	}
	b.Percent = float64(b.Selected*100) / float64(matching)
	return b
}
