package prom_test

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"

	"github.com/faultline-dev/faultline/internal/testground/prom"
)

// TestPrometheusSeesTheServiceSlowDown checks the helper end to end: the
// real Prometheus scrapes the service, and raising the service's delay
// raises the p99 latency Prometheus computes.
func TestPrometheusSeesTheServiceSlowDown(t *testing.T) {
	svc := prom.StartService(t)
	srv := prom.Start(t, svc.Addr)
	c, err := api.NewClient(api.Config{Address: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	q := promv1.NewAPI(c)

	p99 := func() float64 {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		v, _, _, err := q.Query(ctx, prom.P99Query, time.Now())
		if err != nil {
			t.Fatalf("query: %v", err)
		}
		vec, ok := v.(model.Vector)
		if !ok || len(vec) != 1 {
			return math.NaN()
		}
		return float64(vec[0].Value)
	}
	waitFor := func(what string, cond func(float64) bool) float64 {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			v := p99()
			if cond(v) {
				return v
			}
			if time.Now().After(deadline) {
				t.Fatalf("p99 never became %s; last %v", what, v)
			}
			time.Sleep(500 * time.Millisecond)
		}
	}
	fast := waitFor("below 50ms", func(v float64) bool { return v < 0.05 })
	svc.SetDelay(300 * time.Millisecond)
	slow := waitFor("above 250ms", func(v float64) bool { return v > 0.25 })
	t.Logf("p99 before %.3fs, after raising the delay %.3fs", fast, slow)
}
