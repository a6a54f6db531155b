package reconciler

import (
	"context"
	"errors"

	v1alpha1 "github.com/faultline-dev/faultline/crds/v1alpha1"
	"github.com/faultline-dev/faultline/federation"
)

// Admission is the hub's decision on one run of an experiment.
type Admission struct {
	// Allowed runs the experiment now.
	Allowed bool
	// Denials name the rule and the field of each refusal; non-empty means denied.
	Denials []string
	// AwaitingApproval names who must still approve; non-empty means wait.
	AwaitingApproval []string
	// Warnings are recorded but do not block.
	Warnings []string
}

// Admitter decides whether an experiment may run, given the members its
// placement resolved to. The policy engine implements it; a nil Admitter
// admits everything the built-in protections allow.
type Admitter interface {
	Admit(ctx context.Context, exp *v1alpha1.Experiment, waves []federation.WaveTargets) (Admission, error)
}

// builtinAdmission applies the protections that hold with or without a
// policy: protected namespaces are never selected.
func builtinAdmission(exp *v1alpha1.Experiment) (Admission, bool) {
	if err := federation.CheckProtected(&exp.Spec.Selector); err != nil {
		var pe *federation.ProtectedNamespaceError
		if errors.As(err, &pe) {
			return Admission{Denials: []string{"builtin/protected-namespaces: " + err.Error()}}, false
		}
	}
	return Admission{}, true
}
