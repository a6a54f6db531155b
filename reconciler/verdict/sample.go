package verdict

import (
	"context"
	"math"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/faultline-dev/faultline/crds/v1alpha1"
)

// Outcome is what one evaluation of a probe says.
type Outcome string

const (
	// OutcomeOK: the measured value is within bounds.
	OutcomeOK Outcome = "ok"
	// OutcomeBreach: the service is outside its steady state.
	OutcomeBreach Outcome = "breach"
	// OutcomeInconclusive: nothing usable was measured (no data, NaN, an
	// unreachable Prometheus); never counts as a pass.
	OutcomeInconclusive Outcome = "inconclusive"
	// OutcomeError: the probe itself is wrong (a PromQL syntax error, a
	// query returning a range vector); evaluating it again will not help.
	OutcomeError Outcome = "error"
)

// Sample is one evaluation of a probe.
type Sample struct {
	Time time.Time
	// Value measured; meaningful only when HasValue. NaN and infinities are
	// never stored here (they do not survive JSON): Detail names them.
	Value    float64
	HasValue bool
	Outcome  Outcome
	// Detail explains a breach or an inconclusive or failed evaluation in
	// a few words, such as "status 503, want 200" or "query returned no series".
	Detail string
}

// Evaluator is a probe: it measures the steady state once.
type Evaluator interface {
	// Evaluate measures once; it never returns an error, only samples whose
	// Outcome says what went wrong.
	Evaluate(ctx context.Context) Sample
	// Threshold is what the measured value is held against, for evidence.
	Threshold() *v1alpha1.ThresholdRange
	// Type is "prometheus" or "http", for metrics.
	Type() string
}

// Classify holds value against the range: a pure function shared by every
// probe. NaN is inconclusive; infinities compare as such (a p99 beyond the
// histogram's last bucket is +Inf, and that is a breach of any max).
func Classify(value float64, r v1alpha1.ThresholdRange) (Outcome, string) {
	switch {
	case math.IsNaN(value):
		return OutcomeInconclusive, "value is NaN"
	case r.Min == nil && r.Max == nil:
		return OutcomeError, "threshold range has neither min nor max"
	case r.Min != nil && value < *r.Min:
		return OutcomeBreach, formatValue(value) + " < min " + formatValue(*r.Min)
	case r.Max != nil && value > *r.Max:
		return OutcomeBreach, formatValue(value) + " > max " + formatValue(*r.Max)
	}
	return OutcomeOK, ""
}

// newSample builds a sample of a value, keeping non-finite values out of
// Value (JSON cannot carry them) but in Detail.
func newSample(at time.Time, value float64, outcome Outcome, detail string) Sample {
	s := Sample{Time: at, Outcome: outcome, Detail: detail}
	switch {
	case !math.IsNaN(value) && !math.IsInf(value, 0):
		s.Value, s.HasValue = value, true
	case detail == "":
		s.Detail = "value is " + formatValue(value)
	}
	return s
}

// toProbeSample converts a sample for the Experiment's status.
func toProbeSample(s Sample) v1alpha1.ProbeSample {
	ps := v1alpha1.ProbeSample{Time: v1.NewTime(s.Time.UTC().Truncate(time.Millisecond)), Breach: s.Outcome == OutcomeBreach}
	if s.HasValue {
		v := s.Value
		ps.Value = &v
	}
	if s.Outcome != OutcomeOK {
		ps.Error = s.Detail
	}
	return ps
}
