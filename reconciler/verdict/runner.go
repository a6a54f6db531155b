package verdict

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/faultline-dev/faultline/crds/v1alpha1"
)

// Defaults where the Probe leaves a field out (the CRD defaults them too;
// these apply to objects built in code).
const (
	DefaultInterval   = 15 * time.Second
	DefaultTimeout    = 10 * time.Second
	DefaultMaxSamples = 20
	// An after probe without a deadline gets this many intervals to hold again.
	defaultDeadlineIntervals = 5
)

// Runner evaluates one probe in its mode and records the evidence.
type Runner struct {
	Name             string
	Mode             v1alpha1.ProbeMode
	Interval         time.Duration
	FailureThreshold int
	// Deadline of an after probe.
	Deadline  time.Duration
	Evaluator Evaluator
	// MaxSamples bounds the samples kept in the evidence (newest last).
	MaxSamples int
	// OnSample, when set, sees every evaluation as it happens (logs, events).
	OnSample func(Sample)
}

// Options are what the hub supplies to probes beyond their spec.
type Options struct {
	// HTTPClient for HTTP probes; http.DefaultClient when nil.
	HTTPClient *http.Client
	// PrometheusTransport for Prometheus queries; http.DefaultTransport when nil.
	PrometheusTransport http.RoundTripper
	// MaxSamples kept per probe; DefaultMaxSamples when zero.
	MaxSamples int
}

// NewRunner builds the runner of a probe as an Experiment declares it.
func NewRunner(p v1alpha1.Probe, o Options) (*Runner, error) {
	r := &Runner{
		Name:             p.Name,
		Mode:             p.Mode,
		Interval:         DefaultInterval,
		FailureThreshold: int(p.FailureThreshold),
		MaxSamples:       o.MaxSamples,
	}
	if r.Mode == "" {
		r.Mode = v1alpha1.ProbeDuring
	}
	if p.Interval != nil && p.Interval.Duration > 0 {
		r.Interval = p.Interval.Duration
	}
	if r.FailureThreshold < 1 {
		r.FailureThreshold = 1
	}
	timeout := DefaultTimeout
	if p.Timeout != nil && p.Timeout.Duration > 0 {
		timeout = p.Timeout.Duration
	}
	if p.Deadline != nil && p.Deadline.Duration > 0 {
		r.Deadline = p.Deadline.Duration
	}
	var err error
	switch {
	case p.Prometheus != nil && p.HTTP == nil:
		r.Evaluator, err = NewPrometheusProbe(*p.Prometheus, timeout, o.PrometheusTransport)
	case p.HTTP != nil && p.Prometheus == nil:
		r.Evaluator, err = NewHTTPProbe(*p.HTTP, timeout, o.HTTPClient)
	default:
		err = fmt.Errorf("set exactly one of prometheus or http")
	}
	if err != nil {
		return nil, fmt.Errorf("probe %s: %w", p.Name, err)
	}
	return r, nil
}

// Run evaluates the probe according to its mode and returns its evidence:
//
//   - before: once; it must hold.
//   - during: every Interval until ctx ends (the fault is over), or until
//     FailureThreshold consecutive breaches fail it, which calls onFail at
//     once (nil: no callback) and stops.
//   - after: every Interval until it holds, or until Deadline passes.
//
// Evaluations cut short by ctx are dropped, not recorded.
func (r *Runner) Run(ctx context.Context, onFail func(v1alpha1.ProbeEvidence)) v1alpha1.ProbeEvidence {
	var t tally
	ev := v1alpha1.ProbeEvidence{Probe: r.Name, Mode: r.Mode, Threshold: r.Evaluator.Threshold()}
	record := func(s Sample) bool {
		probeEvaluations.WithLabelValues(r.Evaluator.Type(), string(s.Outcome)).Inc()
		if r.OnSample != nil {
			r.OnSample(s)
		}
		ev.Samples = appendBounded(ev.Samples, toProbeSample(s), r.maxSamples())
		return t.add(s, r.FailureThreshold)
	}

	switch r.Mode {
	case v1alpha1.ProbeBefore:
		if s := r.Evaluator.Evaluate(ctx); ctx.Err() == nil {
			record(s)
		}
	case v1alpha1.ProbeAfter:
		deadline := r.Deadline
		if deadline <= 0 {
			deadline = defaultDeadlineIntervals * r.Interval
		}
		actx, cancel := context.WithTimeout(ctx, deadline)
		defer cancel()
		r.every(actx, func(s Sample) bool {
			record(s)
			return s.Outcome == OutcomeOK || s.Outcome == OutcomeError
		})
	default: // during
		r.every(ctx, func(s Sample) bool {
			failed := record(s)
			if failed && onFail != nil {
				ev.Result, ev.Message = judge(r.Mode, t), message(r.Mode, t, r.FailureThreshold)
				onFail(*ev.DeepCopy())
			}
			return failed || s.Outcome == OutcomeError
		})
	}
	ev.Result, ev.Message = judge(r.Mode, t), message(r.Mode, t, r.FailureThreshold)
	return ev
}

// every evaluates at once and then every Interval until ctx ends or done
// returns true. Ticks missed while an evaluation runs are skipped, so a slow
// Prometheus does not cause a burst of catch-up queries.
func (r *Runner) every(ctx context.Context, done func(Sample) bool) {
	tick := time.NewTicker(r.Interval)
	defer tick.Stop()
	for {
		s := r.Evaluator.Evaluate(ctx)
		if ctx.Err() != nil {
			return
		}
		if done(s) {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

func (r *Runner) maxSamples() int {
	n := r.MaxSamples
	if n <= 0 {
		n = DefaultMaxSamples
	}
	return max(n, r.FailureThreshold)
}

func appendBounded(s []v1alpha1.ProbeSample, x v1alpha1.ProbeSample, n int) []v1alpha1.ProbeSample {
	s = append(s, x)
	if len(s) > n {
		s = append(s[:0:0], s[len(s)-n:]...)
	}
	return s
}
