package verdict

import (
	"fmt"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/faultline-dev/faultline/crds/v1alpha1"
)

// Verdict reasons (CamelCase, for machines and the VerdictReached condition's message).
const (
	ReasonSteadyStateHeld    = "SteadyStateHeld"
	ReasonSteadyStateNotMet  = "SteadyStateNotMet"
	ReasonSteadyStateUnknown = "SteadyStateUnknown"
	ReasonProbeBreached      = "ProbeBreached"
	ReasonNotRecovered       = "NotRecovered"
	ReasonProbeInconclusive  = "ProbeInconclusive"
	ReasonProbeError         = "ProbeError"
	ReasonFaultError         = "FaultError"
	ReasonNoProbes           = "NoProbes"
)

// Run is what a verdict is computed from.
type Run struct {
	// Evidence of every probe that ran, in any order.
	Evidence []v1alpha1.ProbeEvidence
	// AbortOnBreach is the experiment's setting: a failed during probe
	// aborted the run rather than letting the fault finish.
	AbortOnBreach bool
	// Stopped names why the run was stopped from outside (such as
	// "RemovedFromSource"); the verdict is then Aborted.
	Stopped string
	// Err is a failure to inject or recover the fault; the verdict is Error.
	Err error
	// Time of the verdict.
	Time time.Time
}

// Compute applies the verdict rules, first match wins:
//
//  1. the fault could not be injected or recovered → Error;
//  2. a probe is broken (bad query) → Error;
//  3. a before probe failed → Failed, nothing was injected;
//  4. a before probe had no data → Inconclusive, nothing was injected;
//  5. a during probe failed and the experiment aborts on breach → Aborted;
//  6. the run was stopped from outside → Aborted;
//  7. a during probe failed → Failed;
//  8. an after probe failed: the service did not come back → Failed;
//  9. any probe had no data → Inconclusive;
//  10. no probes → Inconclusive: without a measurement nothing passed;
//  11. otherwise → Passed.
//
// The message is one line naming the deciding probe, its measured value,
// the threshold and the time. A pure function.
func Compute(r Run) v1alpha1.Verdict {
	v := v1alpha1.Verdict{Evidence: r.Evidence}
	if !r.Time.IsZero() {
		t := metav1.NewTime(r.Time.UTC().Truncate(time.Second))
		v.Time = &t
	}
	find := func(mode v1alpha1.ProbeMode, result v1alpha1.VerdictResult) *v1alpha1.ProbeEvidence {
		for i := range r.Evidence {
			e := &r.Evidence[i]
			if (mode == "" || e.Mode == mode) && e.Result == result {
				return e
			}
		}
		return nil
	}
	set := func(res v1alpha1.VerdictResult, reason, msg string) v1alpha1.Verdict {
		v.Result, v.Reason, v.Message = res, reason, msg
		return v
	}
	if r.Err != nil {
		return set(v1alpha1.VerdictError, ReasonFaultError, oneLine(r.Err.Error()))
	}
	if e := find("", v1alpha1.VerdictError); e != nil {
		return set(v1alpha1.VerdictError, ReasonProbeError, probeLine(e))
	}
	if e := find(v1alpha1.ProbeBefore, v1alpha1.VerdictFailed); e != nil {
		return set(v1alpha1.VerdictFailed, ReasonSteadyStateNotMet, "nothing injected: "+probeLine(e))
	}
	if e := find(v1alpha1.ProbeBefore, v1alpha1.VerdictInconclusive); e != nil {
		return set(v1alpha1.VerdictInconclusive, ReasonSteadyStateUnknown, "nothing injected: "+probeLine(e))
	}
	if e := find(v1alpha1.ProbeDuring, v1alpha1.VerdictFailed); e != nil && r.AbortOnBreach {
		return set(v1alpha1.VerdictAborted, ReasonProbeBreached, probeLine(e))
	}
	if r.Stopped != "" {
		return set(v1alpha1.VerdictAborted, r.Stopped, "stopped: "+r.Stopped)
	}
	if e := find(v1alpha1.ProbeDuring, v1alpha1.VerdictFailed); e != nil {
		return set(v1alpha1.VerdictFailed, ReasonProbeBreached, probeLine(e))
	}
	if e := find(v1alpha1.ProbeAfter, v1alpha1.VerdictFailed); e != nil {
		return set(v1alpha1.VerdictFailed, ReasonNotRecovered, probeLine(e))
	}
	if e := find("", v1alpha1.VerdictInconclusive); e != nil {
		return set(v1alpha1.VerdictInconclusive, ReasonProbeInconclusive, probeLine(e))
	}
	if len(r.Evidence) == 0 {
		return set(v1alpha1.VerdictInconclusive, ReasonNoProbes, "no probes: nothing was measured")
	}
	for _, e := range r.Evidence {
		if e.Result != v1alpha1.VerdictPassed {
			// Every result is handled above; an unknown one must not pass.
			return set(v1alpha1.VerdictInconclusive, ReasonProbeInconclusive, fmt.Sprintf("probe %s: result %q", e.Probe, e.Result))
		}
	}
	parts := make([]string, 0, len(r.Evidence))
	for i := range r.Evidence {
		parts = append(parts, probeLine(&r.Evidence[i]))
	}
	return set(v1alpha1.VerdictPassed, ReasonSteadyStateHeld, strings.Join(parts, "; "))
}

// probeLine is "name (mode): message [threshold]".
func probeLine(e *v1alpha1.ProbeEvidence) string {
	s := fmt.Sprintf("%s (%s): %s", e.Probe, e.Mode, e.Message)
	if e.Threshold != nil && !strings.Contains(e.Message, "max ") && !strings.Contains(e.Message, "min ") {
		s += " [" + FormatThreshold(*e.Threshold) + "]"
	}
	return oneLine(s)
}

// FormatThreshold prints a range as "min 0.99", "max 0.3" or "0.1..0.3".
func FormatThreshold(r v1alpha1.ThresholdRange) string {
	switch {
	case r.Min != nil && r.Max != nil:
		return formatValue(*r.Min) + ".." + formatValue(*r.Max)
	case r.Min != nil:
		return "min " + formatValue(*r.Min)
	case r.Max != nil:
		return "max " + formatValue(*r.Max)
	}
	return "unbounded"
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
