package verdict

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"time"

	"github.com/faultline-dev/faultline/crds/v1alpha1"
)

// maxBody bounds how much of a response an HTTP probe reads for its match.
const maxBody = 1 << 20

// HTTPProbe sends one request and checks its status, latency and body. The
// value it measures is the latency in seconds (through the whole body).
type HTTPProbe struct {
	Client         *http.Client
	URL            string
	Method         string
	ExpectedStatus int
	// MaxLatency of a healthy answer; zero means no bound.
	MaxLatency time.Duration
	// BodyMatch the body must match; nil means any body.
	BodyMatch *regexp.Regexp
	Timeout   time.Duration
}

// NewHTTPProbe builds a probe for spec with the CRD's defaults.
func NewHTTPProbe(spec v1alpha1.HTTPProbe, timeout time.Duration, client *http.Client) (*HTTPProbe, error) {
	p := &HTTPProbe{Client: client, URL: spec.URL, Method: spec.Method, ExpectedStatus: int(spec.ExpectedStatus), Timeout: timeout}
	if p.Client == nil {
		p.Client = http.DefaultClient
	}
	if p.Method == "" {
		p.Method = http.MethodGet
	}
	if p.ExpectedStatus == 0 {
		p.ExpectedStatus = http.StatusOK
	}
	if spec.MaxLatency != nil {
		p.MaxLatency = spec.MaxLatency.Duration
	}
	if spec.BodyMatch != "" {
		re, err := regexp.Compile(spec.BodyMatch)
		if err != nil {
			return nil, fmt.Errorf("bodyMatch: %w", err)
		}
		p.BodyMatch = re
	}
	return p, nil
}

// Type implements Evaluator.
func (p *HTTPProbe) Type() string { return "http" }

// Threshold implements Evaluator: the latency bound in seconds, if any.
func (p *HTTPProbe) Threshold() *v1alpha1.ThresholdRange {
	if p.MaxLatency <= 0 {
		return nil
	}
	m := p.MaxLatency.Seconds()
	return &v1alpha1.ThresholdRange{Max: &m}
}

// Evaluate implements Evaluator. A request that fails (refused, timed out)
// is a breach: the service did not answer.
func (p *HTTPProbe) Evaluate(ctx context.Context) Sample {
	start := time.Now()
	parent := ctx
	if p.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, p.Timeout)
		defer cancel()
	}
	req, err := http.NewRequestWithContext(ctx, p.Method, p.URL, nil)
	if err != nil {
		return Sample{Time: start, Outcome: OutcomeError, Detail: "request: " + err.Error()}
	}
	resp, err := p.Client.Do(req)
	if err != nil {
		if parent.Err() != nil {
			// The run ended while the request was in flight: no measurement.
			return Sample{Time: start, Outcome: OutcomeInconclusive, Detail: "cancelled"}
		}
		return newSample(start, time.Since(start).Seconds(), OutcomeBreach, "request failed: "+err.Error())
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	latency := time.Since(start)
	if err != nil {
		return newSample(start, latency.Seconds(), OutcomeBreach, "reading body: "+err.Error())
	}
	switch {
	case resp.StatusCode != p.ExpectedStatus:
		return newSample(start, latency.Seconds(), OutcomeBreach, fmt.Sprintf("status %d, want %d", resp.StatusCode, p.ExpectedStatus))
	case p.MaxLatency > 0 && latency > p.MaxLatency:
		return newSample(start, latency.Seconds(), OutcomeBreach,
			fmt.Sprintf("latency %s > max %s", latency.Round(time.Millisecond), p.MaxLatency))
	case p.BodyMatch != nil && !p.BodyMatch.Match(body):
		return newSample(start, latency.Seconds(), OutcomeBreach, fmt.Sprintf("body does not match %q", p.BodyMatch))
	}
	return newSample(start, latency.Seconds(), OutcomeOK, "")
}
