package verdict

import (
	"fmt"

	"github.com/faultline-dev/faultline/crds/v1alpha1"
)

// message is the one-line evidence of one probe, naming the measured value,
// the bound it broke and when: what a person needs from a commit status.
func message(mode v1alpha1.ProbeMode, t tally, failureThreshold int) string {
	switch judge(mode, t) {
	case v1alpha1.VerdictError:
		return "probe error: " + t.err.Detail
	case v1alpha1.VerdictFailed:
		switch {
		case mode == v1alpha1.ProbeAfter:
			return fmt.Sprintf("did not hold again before the deadline: %s at %s", describe(*t.last), formatTime(t.last.Time))
		case t.failed != nil && failureThreshold > 1:
			return fmt.Sprintf("%s at %s, %d consecutive breaches since %s",
				describe(*t.failed), formatTime(t.failed.Time), t.consecutive, formatTime(t.firstBreach.Time))
		case t.failed != nil:
			return fmt.Sprintf("%s at %s", describe(*t.failed), formatTime(t.failed.Time))
		}
		return fmt.Sprintf("%s at %s", describe(*t.last), formatTime(t.last.Time))
	case v1alpha1.VerdictInconclusive:
		if t.n == 0 {
			return "no evaluation completed"
		}
		return fmt.Sprintf("%d of %s without data, last: %s", t.inconclusive, evaluations(t.n), t.last.Detail)
	}
	if t.last != nil && t.last.HasValue {
		return fmt.Sprintf("held in %s, last %s", evaluations(t.n), formatValue(t.last.Value))
	}
	return "held in " + evaluations(t.n)
}

// describe is what a sample measured, e.g. "0.4912 > max 0.3" or "status 503, want 200".
func describe(s Sample) string {
	switch {
	case s.Detail != "":
		return s.Detail
	case s.HasValue:
		return formatValue(s.Value)
	}
	return string(s.Outcome)
}

func evaluations(n int) string {
	if n == 1 {
		return "1 evaluation"
	}
	return fmt.Sprintf("%d evaluations", n)
}
