package policy

import (
	"fmt"
	"strings"

	v1alpha1 "github.com/faultline-dev/faultline/crds/v1alpha1"
)

// Decision is what the policies said about one experiment.
type Decision struct {
	// Allowed is true when no enforced policy denies the experiment and no
	// enforced policy waits for approvals.
	Allowed bool `json:"allowed"`
	// Denials of every policy, enforced or not; see Denial.Enforcement.
	Denials []Denial `json:"denials,omitempty"`
	// ApprovalsRequired are the approvals still missing.
	ApprovalsRequired []ApprovalRequirement `json:"approvalsRequired,omitempty"`
	// Warnings are warn rules' findings, and denials and approvals of
	// policies whose enforcement is warn or dry-run.
	Warnings []string `json:"warnings,omitempty"`
}

// Denial is one reason an experiment may not run.
type Denial struct {
	// Policy is the ChaosPolicy (or policy directory) that denied.
	Policy string `json:"policy"`
	// Rule is the rule's name, such as protected-namespaces.
	Rule    string `json:"rule"`
	Message string `json:"message"`
	// Field is the offending field's path, such as spec.selector.namespaces[0].
	Field string `json:"field"`
	// Enforcement of the policy: only enforce denials block.
	Enforcement v1alpha1.Enforcement `json:"enforcement"`
}

func (d Denial) String() string {
	return fmt.Sprintf("%s/%s: %s: %s", d.Policy, d.Rule, d.Field, d.Message)
}

// ApprovalRequirement is an approval still missing.
type ApprovalRequirement struct {
	Policy string `json:"policy"`
	Rule   string `json:"rule,omitempty"`
	// Group whose members may approve.
	Group string `json:"group"`
	// Count of further distinct approvers needed.
	Count  int    `json:"count"`
	Reason string `json:"reason"`
}

func (a ApprovalRequirement) String() string {
	return fmt.Sprintf("%d from group %s (%s/%s: %s)", a.Count, a.Group, a.Policy, a.Rule, a.Reason)
}

// Blocking returns the denials that stop the experiment.
func (d *Decision) Blocking() []Denial {
	var out []Denial
	for _, x := range d.Denials {
		if x.Enforcement == v1alpha1.EnforcementEnforce {
			out = append(out, x)
		}
	}
	return out
}

// Summary is one line for a condition message or an event.
func (d *Decision) Summary() string {
	if b := d.Blocking(); len(b) > 0 {
		parts := make([]string, len(b))
		for i, x := range b {
			parts[i] = x.String()
		}
		return "denied: " + strings.Join(parts, "; ")
	}
	if len(d.ApprovalsRequired) > 0 {
		parts := make([]string, len(d.ApprovalsRequired))
		for i, x := range d.ApprovalsRequired {
			parts[i] = x.String()
		}
		return "waiting for approval: " + strings.Join(parts, "; ")
	}
	return "allowed"
}

// merge adds other's findings to d.
func (d *Decision) merge(other Decision) {
	d.Denials = append(d.Denials, other.Denials...)
	d.ApprovalsRequired = append(d.ApprovalsRequired, other.ApprovalsRequired...)
	d.Warnings = append(d.Warnings, other.Warnings...)
}

// settle computes Allowed from the findings.
func (d *Decision) settle() {
	d.Allowed = len(d.Blocking()) == 0 && len(d.ApprovalsRequired) == 0
}
