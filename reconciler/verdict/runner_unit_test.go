package verdict

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/faultline-dev/faultline/crds/v1alpha1"
)

// script is an Evaluator replaying outcomes, for the runner's own loop
// logic; the probes themselves are tested against a real Prometheus.
type script struct {
	mu  sync.Mutex
	seq []Outcome
	n   int
}

func (s *script) Evaluate(context.Context) Sample {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.seq[min(s.n, len(s.seq)-1)]
	s.n++
	return Sample{Time: time.Now(), Outcome: o, Value: float64(s.n), HasValue: o != OutcomeInconclusive}
}
func (s *script) Threshold() *v1alpha1.ThresholdRange { return nil }
func (s *script) Type() string                        { return "script" }

func TestRunnerKeepsNewestSamplesAndCountsTheWholeRun(t *testing.T) {
	seq := make([]Outcome, 0, 40)
	for range 30 {
		seq = append(seq, OutcomeBreach, OutcomeOK) // breaches never consecutive
	}
	ev := &script{seq: append(seq, OutcomeBreach, OutcomeBreach, OutcomeBreach)}
	r := &Runner{Name: "p", Mode: v1alpha1.ProbeDuring, Interval: time.Millisecond, FailureThreshold: 3, Evaluator: ev, MaxSamples: 5}
	var aborted []v1alpha1.ProbeEvidence
	got := r.Run(t.Context(), func(e v1alpha1.ProbeEvidence) { aborted = append(aborted, e) })
	if got.Result != v1alpha1.VerdictFailed || len(aborted) != 1 || aborted[0].Result != v1alpha1.VerdictFailed {
		t.Fatalf("result %s, %d aborts", got.Result, len(aborted))
	}
	if ev.n != 63 {
		t.Errorf("evaluated %d times, want 63: the run must stop at the third consecutive breach", ev.n)
	}
	if len(got.Samples) != 5 || *got.Samples[4].Value != 63 || !got.Samples[4].Breach || got.Samples[1].Breach {
		t.Errorf("samples %+v: want the newest 5, ending in the 3 breaches", got.Samples)
	}
}

func TestAfterProbeStopsOnceItHolds(t *testing.T) {
	ev := &script{seq: []Outcome{OutcomeBreach, OutcomeInconclusive, OutcomeBreach, OutcomeOK, OutcomeBreach}}
	r := &Runner{Name: "p", Mode: v1alpha1.ProbeAfter, Interval: time.Millisecond, FailureThreshold: 1, Deadline: time.Minute, Evaluator: ev}
	got := r.Run(t.Context(), nil)
	if got.Result != v1alpha1.VerdictPassed || ev.n != 4 {
		t.Errorf("result %s after %d evaluations, want Passed after 4", got.Result, ev.n)
	}
	ev = &script{seq: []Outcome{OutcomeBreach}}
	r = &Runner{Name: "p", Mode: v1alpha1.ProbeAfter, Interval: 10 * time.Millisecond, FailureThreshold: 1, Deadline: 100 * time.Millisecond, Evaluator: ev}
	start := time.Now()
	got = r.Run(t.Context(), nil)
	if got.Result != v1alpha1.VerdictFailed || time.Since(start) > 5*time.Second {
		t.Errorf("result %s after %s, want Failed at the deadline", got.Result, time.Since(start))
	}
}
