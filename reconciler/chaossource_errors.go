package reconciler

import (
	"errors"

	"github.com/fluxcd/pkg/apis/meta"
)

// errUpToDate ends a pass early: the remote's ref is the applied (or the
// already rejected) revision, so there is nothing to fetch or build.
var errUpToDate = errors.New("revision unchanged")

// Condition reasons of a ChaosSource.
const (
	reasonGitOperationFailed = "GitOperationFailed"
	reasonAuthFailed         = "AuthenticationFailed"
	reasonInvalidRef         = "InvalidRef"
	reasonUnsigned           = "UnsignedRevision"
	reasonInvalidSignature   = "InvalidSignature"
	reasonBuildFailed        = "BuildFailed"
	reasonApplyFailed        = "ApplyFailed"
	reasonInvalidSpec        = "InvalidSpec"
)

// stallingError is a problem only a change of spec or of a referenced
// object (a Secret) can fix: retrying the same inputs will not help.
type stallingError struct {
	reason string
	err    error
}

func (e *stallingError) Error() string { return e.err.Error() }
func (e *stallingError) Unwrap() error { return e.err }

func stall(reason string, err error) error { return &stallingError{reason: reason, err: err} }

func isStalling(err error) bool {
	var se *stallingError
	return errors.As(err, &se)
}

// revisionError rejects one revision (unverifiable or not building): the
// next commit may fix it, so the source keeps polling, but this revision
// is not retried.
type revisionError struct {
	reason   string
	revision string
	err      error
}

func (e *revisionError) Error() string {
	return "revision " + e.revision + " rejected: " + e.err.Error()
}
func (e *revisionError) Unwrap() error { return e.err }

// transientError is worth retrying with backoff (network, API server).
type transientError struct {
	reason string
	err    error
}

func (e *transientError) Error() string { return e.err.Error() }
func (e *transientError) Unwrap() error { return e.err }

// reasonOf is the condition reason an error carries.
func reasonOf(err error) string {
	var (
		se *stallingError
		re *revisionError
		te *transientError
	)
	switch {
	case errors.As(err, &se):
		return se.reason
	case errors.As(err, &re):
		return re.reason
	case errors.As(err, &te):
		return te.reason
	}
	return meta.FailedReason
}
