package reconciler

import (
	"slices"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1alpha1 "github.com/faultline-dev/faultline/crds/v1alpha1"
)

// The audit record names the approvers admission counted: an approval by
// full revision, by SHA-1 or by abbreviation counts; one for another
// revision or another experiment does not.
func TestApprovalsOfRunMatchAdmission(t *testing.T) {
	const sha = "3f2c1ab4d5e6f708192a3b4c5d6e7f8091a2b3c4"
	exp := &v1alpha1.Experiment{ObjectMeta: metav1.ObjectMeta{Name: "checkout-latency"}}
	exp.Status.Revision = "main@sha1:" + sha
	approval := func(name, experiment, revision string) v1alpha1.Approval {
		a := v1alpha1.Approval{ObjectMeta: metav1.ObjectMeta{Name: name}}
		a.Spec.Experiment, a.Spec.Revision = experiment, revision
		return a
	}
	got := approvalsOfRun(exp, []v1alpha1.Approval{
		approval("full", "checkout-latency", "main@sha1:"+sha),
		approval("sha", "checkout-latency", sha),
		approval("short", "checkout-latency", "3f2c1ab"),
		approval("older", "checkout-latency", "0123456789abcdef0123456789abcdef01234567"),
		approval("too-short", "checkout-latency", "3f2c"),
		approval("other", "payments-loss", sha),
	})
	var names []string
	for _, a := range got {
		names = append(names, a.Name)
	}
	if want := []string{"full", "sha", "short"}; !slices.Equal(names, want) {
		t.Errorf("approvals counted %v, want %v", names, want)
	}
}
