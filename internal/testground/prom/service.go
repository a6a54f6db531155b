package prom

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// LatencyMetric is the histogram Service exposes; every request to "/"
// observes its own duration in it.
const LatencyMetric = "faultline_testservice_request_duration_seconds"

// P99Query is the 99th percentile request latency of a Service over the last
// five seconds, as a probe would ask Prometheus for it.
const P99Query = `histogram_quantile(0.99, sum by (le) (rate(` + LatencyMetric + `_bucket[5s])))`

// Service is an instrumented HTTP service on loopback that answers "/" after
// a configurable delay and sends itself steady traffic, so its latency
// histogram always has fresh observations for Prometheus to scrape.
type Service struct {
	// Addr is its host:port (a Prometheus target).
	Addr string
	// URL is the base URL of "/" (an HTTP probe's target).
	URL string

	delay atomic.Int64 // nanoseconds added to every answer
	srv   *http.Server
	stop  context.CancelFunc
	done  chan struct{}
}

// StartService runs a Service until the test ends. Its latency starts at
// (nearly) zero; SetDelay raises it.
func StartService(t testing.TB) *Service {
	t.Helper()
	s, err := NewService()
	if err != nil {
		t.Fatalf("test service: %v", err)
	}
	t.Cleanup(s.Close)
	return s
}

// NewService starts a Service; the caller must Close it.
func NewService() (*Service, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listen on loopback: %w", err)
	}
	reg := prometheus.NewRegistry()
	hist := prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    LatencyMetric,
		Help:    "Duration of requests to the test service's root.",
		Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5},
	})
	reg.MustRegister(hist)

	s := &Service{Addr: ln.Addr().String(), URL: "http://" + ln.Addr().String() + "/", done: make(chan struct{})}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("/{$}", func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		select {
		case <-time.After(time.Duration(s.delay.Load())):
		case <-r.Context().Done():
			return
		}
		_, _ = w.Write([]byte("ok\n"))
		hist.Observe(time.Since(start).Seconds())
	})
	s.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = s.srv.Serve(ln) }()

	ctx, cancel := context.WithCancel(context.Background())
	s.stop = cancel
	go s.load(ctx)
	return s, nil
}

// SetDelay makes every answer to "/" take at least d, from now on.
func (s *Service) SetDelay(d time.Duration) { s.delay.Store(int64(d)) }

// Close stops the traffic and the server.
func (s *Service) Close() {
	s.stop()
	<-s.done
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.srv.Shutdown(ctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		_ = s.srv.Close()
	}
}

// load sends a request every 50ms from a few workers, so slow answers do
// not starve the histogram of observations.
func (s *Service) load(ctx context.Context) {
	defer close(s.done)
	client := &http.Client{Timeout: 10 * time.Second}
	const workers = 4
	sem := make(chan struct{}, workers)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			for range workers { // wait for in-flight requests
				sem <- struct{}{}
			}
			return
		case <-tick.C:
		}
		select {
		case sem <- struct{}{}:
		default:
			continue // every worker is busy: skip this tick
		}
		go func() {
			defer func() { <-sem }()
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.URL, nil)
			if err != nil {
				return
			}
			if resp, err := client.Do(req); err == nil {
				resp.Body.Close()
			}
		}()
	}
}
