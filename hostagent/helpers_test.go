package hostagent_test

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/faultline-dev/faultline/crds/v1alpha1"
	"github.com/faultline-dev/faultline/federation"
	"github.com/faultline-dev/faultline/internal/testground"
	"github.com/faultline-dev/faultline/internal/testground/cluster"
	"github.com/faultline-dev/faultline/internal/testground/netns"
)

const hubNS = "faultline-system"

// hub is a real agent API in front of a real API server.
type hub struct {
	srv    *federation.AgentServer
	client client.Client
}

// startHub starts the agent API (not serving it yet: see tlsServer);
// configure adjusts it before its status loop starts, which reads it.
func startHub(t *testing.T, lease time.Duration, configure ...func(*federation.AgentServer)) *hub {
	t.Helper()
	c := cluster.Start(t, "hub")[0]
	ctx, cancel := context.WithCancel(context.WithoutCancel(t.Context()))
	if err := c.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: hubNS}}); err != nil {
		t.Fatal(err)
	}
	srv := &federation.AgentServer{Client: c.Client, Namespace: hubNS, Lease: lease, Grace: 2 * lease, StatusInterval: time.Minute}
	for _, f := range configure {
		f(srv)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("hub status loop: %v", err)
		}
	})
	return &hub{srv: srv, client: c.Client}
}

func (h *hub) token(t *testing.T, name, token string, singleUse bool) {
	t.Helper()
	if err := h.client.Create(t.Context(), federation.JoinTokenSecret(hubNS, name, token, time.Now().Add(time.Hour), singleUse)); err != nil {
		t.Fatal(err)
	}
}

func (h *hub) waitAgent(t *testing.T, name string) *v1alpha1.HostAgent {
	t.Helper()
	ha := &v1alpha1.HostAgent{}
	if !testground.Eventually(20*time.Second, func() bool {
		return h.client.Get(t.Context(), client.ObjectKey{Name: name}, ha) == nil
	}) {
		t.Fatalf("HostAgent %s never appeared", name)
	}
	return ha
}

// waitInjected waits until agent reports injection name Injected on every target.
func (h *hub) waitInjected(t *testing.T, agent, name string) v1alpha1.Injection {
	t.Helper()
	var got v1alpha1.Injection
	if !testground.Eventually(20*time.Second, func() bool {
		obs, _ := h.srv.Observed(agent)
		for _, o := range obs {
			if o.Name == name && o.Status.Phase == v1alpha1.InjectionInjected {
				got = o
				return true
			}
		}
		return false
	}) {
		obs, _ := h.srv.Observed(agent)
		t.Fatalf("agent %s never reported %s injected: %+v", agent, name, obs)
	}
	return got
}

func delayInjection(name, agent string, latency time.Duration, peer net.IP) v1alpha1.Injection {
	return v1alpha1.Injection{
		ObjectMeta: metav1.ObjectMeta{Name: name, UID: "uid-" + "1"},
		Spec: v1alpha1.InjectionSpec{
			Agent:    agent,
			Fault:    v1alpha1.FaultSpec{Network: &v1alpha1.NetworkFault{Action: v1alpha1.NetworkDelay, Latency: &metav1.Duration{Duration: latency}}},
			Targets:  []v1alpha1.InjectionTarget{{Key: agent, Kind: v1alpha1.TargetHost}},
			Peers:    []string{peer.String()},
			Deadline: metav1.NewTime(time.Now().Add(10 * time.Minute)),
			Owner:    v1alpha1.InjectionOwner{Experiment: "default/slow-link", Member: agent},
		},
	}
}

// tcpEcho serves an echo on b's address and returns it.
func tcpEcho(t *testing.T, b *netns.Host) string {
	t.Helper()
	ln, err := b.Listen("tcp", net.JoinHostPort(b.IP.String(), "0"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); _, _ = io.Copy(c, c) }()
		}
	}()
	return ln.Addr().String()
}

// medianRTT measures the median round trip of one byte from a to the echo.
func medianRTT(t *testing.T, a *netns.Host, echo string) time.Duration {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	c, err := a.DialContext(ctx, "tcp", echo)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetNoDelay(true)
	}
	var rtts []time.Duration
	buf := make([]byte, 1)
	for range 9 {
		start := time.Now()
		if _, err := c.Write([]byte{1}); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(c, buf); err != nil {
			t.Fatal(err)
		}
		rtts = append(rtts, time.Since(start))
	}
	slices.Sort(rtts)
	return rtts[len(rtts)/2]
}

// tlsServer serves h with TLS on ip, with a certificate for ip from a CA
// written to the returned file.
func tlsServer(t *testing.T, h *hub, ip net.IP) (srv *httptest.Server, caFile string) {
	t.Helper()
	caFile, keyFile, _ := testground.ServingCert(t, t.TempDir(), ip)
	cert, err := tls.LoadX509KeyPair(caFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(ip.String(), "0"))
	if err != nil {
		t.Fatal(err)
	}
	srv = httptest.NewUnstartedServer(h.srv)
	srv.Listener.Close()
	srv.Listener = ln
	srv.TLS = &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv, caFile
}

// newServerOn serves the hub again on ln with old's TLS configuration, as a
// restarted hub would.
func newServerOn(t *testing.T, h *hub, ln net.Listener, old *httptest.Server) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(h.srv)
	srv.Listener.Close()
	srv.Listener = ln
	srv.TLS = old.TLS.Clone()
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}
