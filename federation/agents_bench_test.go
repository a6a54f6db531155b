package federation_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/faultline-dev/faultline/federation"
	"github.com/faultline-dev/faultline/hostagent/agentapi"
	"github.com/faultline-dev/faultline/internal/testground/cluster"
)

// BenchmarkAgentHeartbeat measures heartbeats over real HTTPS on loopback
// from many registered agents against a hub backed by a real API server.
func BenchmarkAgentHeartbeat(b *testing.B) {
	const agents = 200
	hub := cluster.Start(b, "hub")[0]
	ctx := b.Context()
	if err := hub.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: agentsNS}}); err != nil {
		b.Fatal(err)
	}
	if err := hub.Client.Create(ctx, federation.JoinTokenSecret(agentsNS, "bench", "bench-token", time.Now().Add(time.Hour), false)); err != nil {
		b.Fatal(err)
	}
	srv := &federation.AgentServer{Client: hub.Client, Namespace: agentsNS}
	go func() { _ = srv.Start(ctx) }()
	ts := newBenchServer(b, srv)
	creds := make([]agentapi.RegisterResponse, agents)
	for i := range creds {
		if err := benchPost(ts.client, ts.url+agentapi.RegisterPath, "bench-token", agentapi.RegisterRequest{Hostname: fmt.Sprintf("host-%d", i)}, &creds[i]); err != nil {
			b.Fatal(err)
		}
	}
	var seqs [agents]atomic.Uint64
	var next atomic.Uint64
	var mu sync.Mutex
	var lat []time.Duration
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		var mine []time.Duration
		for pb.Next() {
			i := next.Add(1) % agents
			req := agentapi.HeartbeatRequest{Agent: creds[i].Agent, Seq: seqs[i].Add(1)}
			start := time.Now()
			var resp agentapi.HeartbeatResponse
			if err := benchPost(ts.client, ts.url+agentapi.HeartbeatPath, creds[i].Credential, req, &resp); err != nil {
				// Two goroutines may race on one agent's seq; a 409 is the
				// hub doing its job, anything else is a failure.
				if !bytes.Contains([]byte(err.Error()), []byte("409")) {
					b.Error(err)
				}
			}
			mine = append(mine, time.Since(start))
		}
		mu.Lock()
		lat = append(lat, mine...)
		mu.Unlock()
	})
	b.StopTimer()
	slices.Sort(lat)
	if len(lat) > 0 {
		b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
	}
}

type benchServer struct {
	url    string
	client *http.Client
}

func newBenchServer(b *testing.B, h http.Handler) benchServer {
	ts := httptestTLS(h)
	b.Cleanup(ts.Close)
	c := ts.Client()
	c.Transport.(*http.Transport).MaxIdleConnsPerHost = 64
	return benchServer{url: ts.URL, client: c}
}

func benchPost(c *http.Client, url, bearer string, body, out any) error {
	raw, _ := json.Marshal(body)
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(raw))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+bearer)
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

func httptestTLS(h http.Handler) *httptest.Server { return httptest.NewTLSServer(h) }
