package verdict

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"

	"github.com/faultline-dev/faultline/crds/v1alpha1"
)

// PrometheusProbe evaluates an instant PromQL query that must return one
// scalar or one series, and holds its value against a threshold range.
type PrometheusProbe struct {
	API     promv1.API
	Query   string
	Range   v1alpha1.ThresholdRange
	Timeout time.Duration
	// Now is the evaluation time; time.Now when nil.
	Now func() time.Time
}

// NewPrometheusProbe builds a probe for spec; rt carries the requests
// (http.DefaultTransport when nil).
func NewPrometheusProbe(spec v1alpha1.PrometheusProbe, timeout time.Duration, rt http.RoundTripper) (*PrometheusProbe, error) {
	c, err := api.NewClient(api.Config{Address: spec.Address, RoundTripper: rt})
	if err != nil {
		return nil, fmt.Errorf("prometheus address %q: %w", spec.Address, err)
	}
	return &PrometheusProbe{API: promv1.NewAPI(c), Query: spec.Query, Range: spec.ThresholdRange, Timeout: timeout}, nil
}

// Type implements Evaluator.
func (p *PrometheusProbe) Type() string { return "prometheus" }

// Threshold implements Evaluator.
func (p *PrometheusProbe) Threshold() *v1alpha1.ThresholdRange { r := p.Range; return &r }

// Evaluate implements Evaluator.
func (p *PrometheusProbe) Evaluate(ctx context.Context) Sample {
	now := time.Now
	if p.Now != nil {
		now = p.Now
	}
	at := now()
	if p.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, p.Timeout)
		defer cancel()
	}
	res, _, _, err := p.API.Query(ctx, p.Query, at)
	if err != nil {
		return Sample{Time: at, Outcome: queryErrorOutcome(err), Detail: "query failed: " + err.Error()}
	}
	v, outcome, detail := scalarOf(res)
	if outcome != OutcomeOK {
		return Sample{Time: at, Outcome: outcome, Detail: detail}
	}
	outcome, detail = Classify(v, p.Range)
	return newSample(at, v, outcome, detail)
}

// queryErrorOutcome tells a query Prometheus rejects (the probe is wrong)
// from one that could not be answered now (Prometheus down, timeout).
func queryErrorOutcome(err error) Outcome {
	var perr *promv1.Error
	if errors.As(err, &perr) && perr.Type == promv1.ErrBadData {
		return OutcomeError
	}
	return OutcomeInconclusive
}

// scalarOf extracts the single value a probe query must return: a scalar or
// a vector of exactly one sample. Anything else is not a measurement.
func scalarOf(v model.Value) (float64, Outcome, string) {
	switch r := v.(type) {
	case *model.Scalar:
		return float64(r.Value), OutcomeOK, ""
	case model.Vector:
		switch len(r) {
		case 0:
			return 0, OutcomeInconclusive, "query returned no series"
		case 1:
			return float64(r[0].Value), OutcomeOK, ""
		default:
			return 0, OutcomeInconclusive, fmt.Sprintf("query returned %d series, want one", len(r))
		}
	case nil:
		return 0, OutcomeInconclusive, "query returned nothing"
	default:
		return 0, OutcomeError, fmt.Sprintf("query returned a %s, want a scalar or one series", v.Type())
	}
}
