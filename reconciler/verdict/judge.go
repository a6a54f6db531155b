package verdict

import (
	"github.com/faultline-dev/faultline/crds/v1alpha1"
)

// tally counts a probe's evaluations. Evidence keeps only the newest
// samples; the tally keeps the whole run, so a judgement never depends on
// how many samples fit in the status.
type tally struct {
	n, ok, breaches, inconclusive int
	consecutive                   int     // trailing breaches
	failed                        *Sample // the breach that reached failureThreshold, once it happened
	firstBreach                   *Sample // first breach of the current run of breaches
	err                           *Sample
	last                          *Sample // newest sample
}

// add folds one evaluation into the tally. It reports whether this sample
// made the probe fail.
func (t *tally) add(s Sample, failureThreshold int) bool {
	t.n++
	t.last = &s
	switch s.Outcome {
	case OutcomeOK:
		t.ok++
		t.consecutive = 0
	case OutcomeBreach:
		t.breaches++
		t.consecutive++
		if t.consecutive == 1 {
			t.firstBreach = &s
		}
		if t.failed == nil && t.consecutive >= max(failureThreshold, 1) {
			t.failed = &s
			return true
		}
	case OutcomeInconclusive:
		// An evaluation without data neither breaks nor extends a run of breaches.
		t.inconclusive++
	case OutcomeError:
		t.err = &s
	}
	return false
}

// judge is the verdict rule for one probe, given what its runner saw and
// whether it reached its end normally (during: the fault ended; after: the
// service held again or the deadline passed). A pure function.
func judge(mode v1alpha1.ProbeMode, t tally) v1alpha1.VerdictResult {
	switch {
	case t.err != nil:
		return v1alpha1.VerdictError
	case t.failed != nil && mode != v1alpha1.ProbeAfter:
		// After recovery, breaches are expected until the service is back:
		// only where it ended counts.
		return v1alpha1.VerdictFailed
	}
	switch mode {
	case v1alpha1.ProbeAfter:
		// After: the service must come back; the newest sample decides.
		switch {
		case t.last == nil:
			return v1alpha1.VerdictInconclusive
		case t.last.Outcome == OutcomeOK:
			return v1alpha1.VerdictPassed
		case t.last.Outcome == OutcomeBreach, t.breaches > 0:
			// Still breaching at the deadline, or last seen breaching before the data went away.
			return v1alpha1.VerdictFailed
		}
		return v1alpha1.VerdictInconclusive
	default:
		// Before and during: every evaluation must have held; one without
		// data leaves a gap in what we know, so the probe cannot pass.
		switch {
		case t.n == 0, t.inconclusive > 0:
			return v1alpha1.VerdictInconclusive
		case mode == v1alpha1.ProbeBefore && t.breaches > 0:
			return v1alpha1.VerdictFailed
		}
		return v1alpha1.VerdictPassed
	}
}
