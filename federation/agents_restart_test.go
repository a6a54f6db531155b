package federation_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/faultline-dev/faultline/federation"
	"github.com/faultline-dev/faultline/hostagent/agentapi"
	"github.com/faultline-dev/faultline/internal/testground/cluster"
)

// secretReads counts the Secret reads a client makes: single GETs and LISTs.
type secretReads struct {
	gets, lists atomic.Int64
	rt          http.RoundTripper
}

func (s *secretReads) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := s.rt.RoundTrip(r)
	if r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/secrets") {
		if strings.HasSuffix(r.URL.Path, "/secrets") {
			s.lists.Add(1)
		} else {
			s.gets.Add(1)
		}
	}
	return resp, err
}

// A restarted hub knows every agent's credential from one list of their
// Secrets: its fleet's first heartbeats are answered without a Secret read
// each (which, for 10,000 agents behind the client rate limit, would
// outlast their leases).
func TestAgentHubRestartPreloadsCredentials(t *testing.T) {
	const agents = 20
	c := cluster.Start(t, "hub")[0]
	ctx := t.Context()
	if err := c.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: agentsNS}}); err != nil {
		t.Fatal(err)
	}
	if err := c.Client.Create(ctx, federation.JoinTokenSecret(agentsNS, "join", "join-token", time.Now().Add(time.Hour), false)); err != nil {
		t.Fatal(err)
	}
	first := httptest.NewTLSServer(&federation.AgentServer{Client: c.Client, Namespace: agentsNS})
	regs := make([]agentapi.RegisterResponse, agents)
	for i := range regs {
		resp, out := post(t, first, agentapi.RegisterPath, "join-token", agentapi.RegisterRequest{Hostname: fmt.Sprintf("host-%d", i)})
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("register: %d %s", resp.StatusCode, out)
		}
		if err := json.Unmarshal(out, &regs[i]); err != nil {
			t.Fatal(err)
		}
	}
	first.Close()

	reads := &secretReads{}
	cfg := rest.CopyConfig(c.Config)
	cfg.WrapTransport = func(rt http.RoundTripper) http.RoundTripper { reads.rt = rt; return reads }
	c2, err := client.New(cfg, client.Options{Scheme: cluster.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	api := &federation.AgentServer{Client: c2, Namespace: agentsNS}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- api.Start(runCtx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("status loop: %v", err)
		}
	}()
	second := httptest.NewTLSServer(api)
	defer second.Close()
	deadline := time.Now().Add(30 * time.Second)
	for api.KnownCredentials() < len(regs) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if n := reads.lists.Load(); n == 0 {
		t.Fatalf("%d of %d credentials known after the restart, but no list was made", api.KnownCredentials(), len(regs))
	}

	for i, reg := range regs {
		resp, out := post(t, second, agentapi.HeartbeatPath, reg.Credential, agentapi.HeartbeatRequest{Agent: reg.Agent, Seq: uint64(i + 1)})
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("heartbeat of %s after the restart: %d %s", reg.Agent, resp.StatusCode, out)
		}
	}
	// A forged credential is still refused after the restart.
	if resp, _ := post(t, second, agentapi.HeartbeatPath, "forged", agentapi.HeartbeatRequest{Agent: regs[0].Agent, Seq: 1000}); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("forged heartbeat after the restart: %d, want 401", resp.StatusCode)
	}
	if n := reads.gets.Load(); n != 0 {
		t.Errorf("%d single Secret reads for %d agents' first heartbeats after the restart, want 0 (one list)", n, agents)
	}
}
