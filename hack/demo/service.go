package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/faultline-dev/faultline/internal/testground/netns"
)

// servicePort is where every checkout pod serves, on its own address.
const servicePort = "8080"

// shop is the service to break: checkout pods, each an HTTP server whose
// socket lives in the pod's network namespace (so a fault in that namespace
// hits its traffic), and a load generator calling them from its own
// namespace, as checkout's callers would. The load generator measures what
// the callers see, http_request_duration_seconds{app="checkout",cluster=...},
// and serves it on loopback for Prometheus.
type shop struct {
	MetricsAddr string

	servers []*http.Server
	metrics *http.Server
	cancel  context.CancelFunc
	wg      sync.WaitGroup
}

// pod is one checkout pod: its cluster and its namespace host.
type pod struct {
	Cluster string
	Name    string
	Host    *netns.Host
}

func startShop(pods []pod, loadgen *netns.Host) (*shop, error) {
	s := &shop{}
	for _, p := range pods {
		ln, err := p.Host.Listen("tcp", net.JoinHostPort(p.Host.IP.String(), servicePort))
		if err != nil {
			s.close()
			return nil, err
		}
		srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			_, _ = w.Write([]byte("ok\n"))
		})}
		s.servers = append(s.servers, srv)
		go func() { _ = srv.Serve(ln) }()
	}

	reg := prometheus.NewRegistry()
	hist := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "http_request_duration_seconds",
		Help:    "Duration of calls to checkout, as its callers see them.",
		Buckets: []float64{.001, .0025, .005, .01, .025, .05, .06, .075, .1, .11, .125, .15, .2, .3, .5, 1, 2.5},
	}, []string{"app", "cluster", "pod"})
	reg.MustRegister(hist)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		s.close()
		return nil, err
	}
	s.MetricsAddr = ln.Addr().String()
	s.metrics = &http.Server{Handler: promhttp.HandlerFor(reg, promhttp.HandlerOpts{}), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = s.metrics.Serve(ln) }()

	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		// Dial from the load generator's namespace: its packets cross the
		// demo's network to the pods, where faults act on them.
		DialContext:         loadgen.DialContext,
		MaxIdleConnsPerHost: 4,
	}}
	for _, p := range pods {
		obs := hist.WithLabelValues("checkout", p.Cluster, p.Name)
		url := "http://" + net.JoinHostPort(p.Host.IP.String(), servicePort) + "/"
		s.wg.Go(func() { callLoop(ctx, client, url, obs) })
	}
	return s, nil
}

// callLoop calls url every 50ms (20/s) and observes each call's duration.
func callLoop(ctx context.Context, client *http.Client, url string, obs prometheus.Observer) {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		start := time.Now()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := client.Do(req)
		if err != nil {
			continue
		}
		// Read to the end, so the connection is reused: callers keep
		// connections, and a new one per call would pay the fault twice.
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		obs.Observe(time.Since(start).Seconds())
	}
}

func (s *shop) close() {
	if s.cancel != nil {
		s.cancel()
		s.wg.Wait()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	for _, srv := range append(s.servers, s.metrics) {
		if srv != nil {
			if err := srv.Shutdown(ctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
				_ = srv.Close()
			}
		}
	}
}

func (p pod) String() string { return fmt.Sprintf("%s/%s(%s)", p.Cluster, p.Name, p.Host.IP) }
