package writeback

import (
	"context"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/faultline-dev/faultline/crds/v1alpha1"
)

// State of a commit status, in GitHub's and Gitea's words; the GitLab
// provider translates.
type State string

const (
	StatePending State = "pending"
	StateSuccess State = "success"
	StateFailure State = "failure"
	StateError   State = "error"
)

// Status is one commit status.
type Status struct {
	// SHA of the commit, 40 hex digits.
	SHA   string
	State State
	// Context names the check; see StatusContext.
	Context string
	// Description is one line; providers cut it to MaxDescription.
	Description string
	// TargetURL links to details; optional.
	TargetURL string
}

// Provider sets commit statuses on one repository of a forge.
type Provider interface {
	// SetStatus creates or replaces the status with s.Context on s.SHA.
	SetStatus(ctx context.Context, s Status) error
}

// MaxDescription is the longest description every forge accepts (GitHub's
// limit, the strictest).
const MaxDescription = 140

// StatusContext is the context of an experiment's status:
// faultline/<namespace>/<name>, so each experiment has its own check.
func StatusContext(namespace, name string) string {
	return "faultline/" + namespace + "/" + name
}

// validate checks what every forge requires.
func (s Status) validate() error {
	if len(s.SHA) != 40 || strings.Trim(s.SHA, "0123456789abcdef") != "" {
		return fmt.Errorf("commit status: SHA %q is not a 40-digit lower-case hex SHA-1", s.SHA)
	}
	switch s.State {
	case StatePending, StateSuccess, StateFailure, StateError:
	default:
		return fmt.Errorf("commit status: unknown state %q", s.State)
	}
	if s.Context == "" {
		return fmt.Errorf("commit status: empty context")
	}
	return nil
}

// description is s.Description on one line, cut to MaxDescription runes.
func (s Status) description() string {
	d := strings.Join(strings.Fields(s.Description), " ")
	if utf8.RuneCountInString(d) <= MaxDescription {
		return d
	}
	r := []rune(d)
	return string(r[:MaxDescription-1]) + "…"
}

// ForVerdict is the status of a run with a verdict: success when it passed,
// failure when the service did not hold (Failed, Aborted), error when
// nothing could be concluded (Inconclusive, Error). The description is the
// verdict's one-line evidence.
func ForVerdict(v v1alpha1.Verdict) (State, string) {
	desc := string(v.Result)
	if v.Message != "" {
		desc += ": " + v.Message
	}
	switch v.Result {
	case v1alpha1.VerdictPassed:
		return StateSuccess, desc
	case v1alpha1.VerdictFailed, v1alpha1.VerdictAborted:
		return StateFailure, desc
	}
	return StateError, desc
}

// Running is the pending status while an experiment is admitted or its
// fault is on; phase is the lifecycle phase, such as Running.
func Running(phase v1alpha1.ExperimentPhase) (State, string) {
	return StatePending, "experiment " + strings.ToLower(string(phase))
}

// AwaitingApproval is the pending status while approvals are missing.
func AwaitingApproval(groups ...string) (State, string) {
	switch len(groups) {
	case 0:
		return StatePending, "awaiting approval"
	case 1:
		return StatePending, "awaiting approval by " + groups[0]
	}
	return StatePending, "awaiting approval by " + strings.Join(groups[:len(groups)-1], ", ") + " and " + groups[len(groups)-1]
}

// Denied is the failure status of an experiment the policy denied, naming
// the rule (such as platform/protected-namespaces) and its reason.
func Denied(rule, reason string) (State, string) {
	d := "denied by policy rule " + rule
	if reason != "" {
		d += ": " + reason
	}
	return StateFailure, d
}
