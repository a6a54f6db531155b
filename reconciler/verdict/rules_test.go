package verdict

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/faultline-dev/faultline/crds/v1alpha1"
)

func f(v float64) *float64 { return &v }

func TestClassify(t *testing.T) {
	maxOnly := v1alpha1.ThresholdRange{Max: f(0.3)}
	minOnly := v1alpha1.ThresholdRange{Min: f(0.99)}
	both := v1alpha1.ThresholdRange{Min: f(1), Max: f(5)}
	for _, tc := range []struct {
		name   string
		value  float64
		r      v1alpha1.ThresholdRange
		want   Outcome
		detail string
	}{
		{"below max", 0.29, maxOnly, OutcomeOK, ""},
		{"on max", 0.3, maxOnly, OutcomeOK, ""},
		{"above max", 0.4912, maxOnly, OutcomeBreach, "0.4912 > max 0.3"},
		{"above min", 0.999, minOnly, OutcomeOK, ""},
		{"below min", 0.5, minOnly, OutcomeBreach, "0.5 < min 0.99"},
		{"inside both", 3, both, OutcomeOK, ""},
		{"under both", 0, both, OutcomeBreach, "0 < min 1"},
		{"over both", 6, both, OutcomeBreach, "6 > max 5"},
		{"NaN never passes", math.NaN(), maxOnly, OutcomeInconclusive, "value is NaN"},
		{"+Inf breaches a max", math.Inf(1), maxOnly, OutcomeBreach, "+Inf > max 0.3"},
		{"-Inf breaches a min", math.Inf(-1), minOnly, OutcomeBreach, "-Inf < min 0.99"},
		{"no bounds is a broken probe", 1, v1alpha1.ThresholdRange{}, OutcomeError, "threshold range has neither min nor max"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, detail := Classify(tc.value, tc.r)
			if got != tc.want || detail != tc.detail {
				t.Errorf("Classify(%v) = %s %q, want %s %q", tc.value, got, detail, tc.want, tc.detail)
			}
		})
	}
}

// TestNonFiniteValuesStayOutOfEvidence: JSON cannot carry NaN or Inf, and a
// status patch holding one would fail; the sample names it instead.
func TestNonFiniteValuesStayOutOfEvidence(t *testing.T) {
	now := time.Now()
	s := newSample(now, math.Inf(1), OutcomeBreach, "+Inf > max 0.3")
	ps := toProbeSample(s)
	if ps.Value != nil || !ps.Breach || ps.Error != "+Inf > max 0.3" {
		t.Errorf("got %+v", ps)
	}
	ps = toProbeSample(newSample(now, math.NaN(), OutcomeInconclusive, ""))
	if ps.Value != nil || ps.Breach || ps.Error != "value is NaN" {
		t.Errorf("got %+v", ps)
	}
	ps = toProbeSample(newSample(now, 0.25, OutcomeOK, ""))
	if ps.Value == nil || *ps.Value != 0.25 || ps.Error != "" {
		t.Errorf("got %+v", ps)
	}
}

func TestJudge(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	ok := Sample{Time: at, Outcome: OutcomeOK, Value: 0.1, HasValue: true}
	br := Sample{Time: at, Outcome: OutcomeBreach, Value: 0.5, HasValue: true, Detail: "0.5 > max 0.3"}
	nd := Sample{Time: at, Outcome: OutcomeInconclusive, Detail: "query returned no series"}
	bad := Sample{Time: at, Outcome: OutcomeError, Detail: "bad_data: parse error"}
	for _, tc := range []struct {
		name      string
		mode      v1alpha1.ProbeMode
		threshold int
		samples   []Sample
		want      v1alpha1.VerdictResult
	}{
		{"during all ok", v1alpha1.ProbeDuring, 1, []Sample{ok, ok, ok}, v1alpha1.VerdictPassed},
		{"during nothing evaluated", v1alpha1.ProbeDuring, 1, nil, v1alpha1.VerdictInconclusive},
		{"during one breach at threshold 1", v1alpha1.ProbeDuring, 1, []Sample{ok, br}, v1alpha1.VerdictFailed},
		{"during breaches below threshold", v1alpha1.ProbeDuring, 3, []Sample{br, br, ok, br, br, ok}, v1alpha1.VerdictPassed},
		{"during consecutive breaches reach threshold", v1alpha1.ProbeDuring, 3, []Sample{ok, br, br, br}, v1alpha1.VerdictFailed},
		{"during breaches across a gap still count", v1alpha1.ProbeDuring, 2, []Sample{br, nd, br}, v1alpha1.VerdictFailed},
		{"during a gap in data is not a pass", v1alpha1.ProbeDuring, 1, []Sample{ok, nd, ok}, v1alpha1.VerdictInconclusive},
		{"during all empty", v1alpha1.ProbeDuring, 1, []Sample{nd, nd}, v1alpha1.VerdictInconclusive},
		{"during broken probe", v1alpha1.ProbeDuring, 1, []Sample{bad}, v1alpha1.VerdictError},
		{"before holds", v1alpha1.ProbeBefore, 3, []Sample{ok}, v1alpha1.VerdictPassed},
		{"before breach fails whatever the threshold", v1alpha1.ProbeBefore, 3, []Sample{br}, v1alpha1.VerdictFailed},
		{"before without data", v1alpha1.ProbeBefore, 1, []Sample{nd}, v1alpha1.VerdictInconclusive},
		{"after comes back", v1alpha1.ProbeAfter, 5, []Sample{br, br, ok}, v1alpha1.VerdictPassed},
		{"after comes back past its failure threshold", v1alpha1.ProbeAfter, 1, []Sample{br, br, br, ok}, v1alpha1.VerdictPassed},
		{"after still breaching at the deadline", v1alpha1.ProbeAfter, 5, []Sample{br, br}, v1alpha1.VerdictFailed},
		{"after breaching then no data", v1alpha1.ProbeAfter, 5, []Sample{br, nd}, v1alpha1.VerdictFailed},
		{"after only no data", v1alpha1.ProbeAfter, 5, []Sample{nd, nd}, v1alpha1.VerdictInconclusive},
		{"after nothing evaluated", v1alpha1.ProbeAfter, 5, nil, v1alpha1.VerdictInconclusive},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var ta tally
			for _, s := range tc.samples {
				ta.add(s, tc.threshold)
			}
			if got := judge(tc.mode, ta); got != tc.want {
				t.Errorf("judge = %s, want %s (message %q)", got, tc.want, message(tc.mode, ta, tc.threshold))
			}
		})
	}
}

func TestFailureMessageNamesValueThresholdAndTime(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	var ta tally
	ta.add(Sample{Time: t0, Outcome: OutcomeBreach, Value: 0.45, HasValue: true, Detail: "0.45 > max 0.3"}, 2)
	ta.add(Sample{Time: t0.Add(time.Second), Outcome: OutcomeBreach, Value: 0.49, HasValue: true, Detail: "0.49 > max 0.3"}, 2)
	got := message(v1alpha1.ProbeDuring, ta, 2)
	want := "0.49 > max 0.3 at 03:04:06Z, 2 consecutive breaches since 03:04:05Z"
	if got != want {
		t.Errorf("message = %q, want %q", got, want)
	}
}

func TestCompute(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	ev := func(name string, mode v1alpha1.ProbeMode, r v1alpha1.VerdictResult, msg string) v1alpha1.ProbeEvidence {
		return v1alpha1.ProbeEvidence{Probe: name, Mode: mode, Result: r, Message: msg, Threshold: &v1alpha1.ThresholdRange{Max: f(0.3)}}
	}
	beforeOK := ev("ready", v1alpha1.ProbeBefore, v1alpha1.VerdictPassed, "held in 1 evaluations, last 0.01")
	duringOK := ev("p99", v1alpha1.ProbeDuring, v1alpha1.VerdictPassed, "held in 9 evaluations, last 0.02")
	duringBad := ev("p99", v1alpha1.ProbeDuring, v1alpha1.VerdictFailed, "0.49 > max 0.3 at 03:04:06Z")
	afterOK := ev("back", v1alpha1.ProbeAfter, v1alpha1.VerdictPassed, "held in 2 evaluations, last 0.01")
	afterBad := ev("back", v1alpha1.ProbeAfter, v1alpha1.VerdictFailed, "did not hold again before the deadline: 0.4 > max 0.3 at 03:05:00Z")
	noData := ev("p99", v1alpha1.ProbeDuring, v1alpha1.VerdictInconclusive, "2 of 2 evaluations without data, last: query returned no series")
	broken := ev("p99", v1alpha1.ProbeDuring, v1alpha1.VerdictError, "probe error: bad_data")
	for _, tc := range []struct {
		name   string
		run    Run
		want   v1alpha1.VerdictResult
		reason string
		msgHas string
	}{
		{"all held", Run{Evidence: []v1alpha1.ProbeEvidence{beforeOK, duringOK, afterOK}}, v1alpha1.VerdictPassed, ReasonSteadyStateHeld, "p99 (during): held in 9 evaluations, last 0.02 [max 0.3]"},
		{"fault error wins", Run{Evidence: []v1alpha1.ProbeEvidence{duringBad}, AbortOnBreach: true, Err: errors.New("inject on node-a:\nno such device")}, v1alpha1.VerdictError, ReasonFaultError, "inject on node-a: no such device"},
		{"broken probe", Run{Evidence: []v1alpha1.ProbeEvidence{broken}}, v1alpha1.VerdictError, ReasonProbeError, "bad_data"},
		{"before failed: nothing injected", Run{Evidence: []v1alpha1.ProbeEvidence{ev("ready", v1alpha1.ProbeBefore, v1alpha1.VerdictFailed, "0.5 > max 0.3 at 03:04:05Z")}}, v1alpha1.VerdictFailed, ReasonSteadyStateNotMet, "nothing injected: ready (before): 0.5 > max 0.3"},
		{"before without data", Run{Evidence: []v1alpha1.ProbeEvidence{ev("ready", v1alpha1.ProbeBefore, v1alpha1.VerdictInconclusive, "1 of 1 evaluations without data")}}, v1alpha1.VerdictInconclusive, ReasonSteadyStateUnknown, "nothing injected"},
		{"during breach with abort", Run{Evidence: []v1alpha1.ProbeEvidence{beforeOK, duringBad, afterOK}, AbortOnBreach: true}, v1alpha1.VerdictAborted, ReasonProbeBreached, "p99 (during): 0.49 > max 0.3 at 03:04:06Z"},
		{"during breach without abort", Run{Evidence: []v1alpha1.ProbeEvidence{beforeOK, duringBad, afterOK}}, v1alpha1.VerdictFailed, ReasonProbeBreached, "0.49 > max 0.3"},
		{"stopped from outside", Run{Evidence: []v1alpha1.ProbeEvidence{duringOK}, Stopped: "RemovedFromSource"}, v1alpha1.VerdictAborted, "RemovedFromSource", "stopped"},
		{"not recovered", Run{Evidence: []v1alpha1.ProbeEvidence{duringOK, afterBad}}, v1alpha1.VerdictFailed, ReasonNotRecovered, "did not hold again"},
		{"no data is never a pass", Run{Evidence: []v1alpha1.ProbeEvidence{beforeOK, noData, afterOK}}, v1alpha1.VerdictInconclusive, ReasonProbeInconclusive, "query returned no series"},
		{"failure beats missing data", Run{Evidence: []v1alpha1.ProbeEvidence{noData, afterBad}}, v1alpha1.VerdictFailed, ReasonNotRecovered, ""},
		{"no probes", Run{}, v1alpha1.VerdictInconclusive, ReasonNoProbes, "nothing was measured"},
		{"unknown result never passes", Run{Evidence: []v1alpha1.ProbeEvidence{ev("x", v1alpha1.ProbeDuring, "Maybe", "")}}, v1alpha1.VerdictInconclusive, ReasonProbeInconclusive, "Maybe"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.run.Time = at
			v := Compute(tc.run)
			if v.Result != tc.want || v.Reason != tc.reason || !strings.Contains(v.Message, tc.msgHas) {
				t.Errorf("Compute = %s/%s %q, want %s/%s containing %q", v.Result, v.Reason, v.Message, tc.want, tc.reason, tc.msgHas)
			}
			if strings.Contains(v.Message, "\n") {
				t.Errorf("message spans lines: %q", v.Message)
			}
			if v.Time == nil || !v.Time.Time.Equal(at) || len(v.Evidence) != len(tc.run.Evidence) {
				t.Errorf("verdict lost its time or evidence: %+v", v)
			}
		})
	}
}
