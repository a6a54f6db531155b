package federation_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/faultline-dev/faultline/federation"
	"github.com/faultline-dev/faultline/hostagent/agentapi"
	"github.com/faultline-dev/faultline/internal/testground"
	"github.com/faultline-dev/faultline/internal/testground/cluster"
)

// mtlsHub serves an AgentServer that requires client certificates from its
// CA over a real TLS listener on loopback.
type mtlsHub struct {
	url    string
	caFile string // the serving certificate's CA
	client client.Client
}

func startMTLSHub(t *testing.T) *mtlsHub {
	t.Helper()
	c := cluster.Start(t, "hub")[0]
	ctx, cancel := context.WithCancel(context.WithoutCancel(t.Context()))
	if err := c.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: agentsNS}}); err != nil {
		t.Fatal(err)
	}
	// The hub keeps its CA in a Secret it creates on first start; a second
	// start finds the same CA.
	ca, err := federation.EnsureAgentCA(ctx, c.Client, c.Client, agentsNS)
	if err != nil {
		t.Fatal(err)
	}
	again, err := federation.EnsureAgentCA(ctx, c.Client, c.Client, agentsNS)
	if err != nil {
		t.Fatal(err)
	}
	if !again.Cert.Equal(ca.Cert) {
		t.Fatal("EnsureAgentCA made a second CA instead of reading the first")
	}
	api := &federation.AgentServer{Client: c.Client, Namespace: agentsNS, CA: ca, RequireClientCert: true, StatusInterval: time.Hour}
	done := make(chan error, 1)
	go func() { done <- api.Start(ctx) }()
	certFile, keyFile, _ := testground.ServingCert(t, t.TempDir())
	caFile := certFile // self-signed: its own CA
	srv, err := federation.NewAgentHTTPServer("127.0.0.1:0", api, certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	api.ConfigureTLS(srv.TLSConfig)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.ServeTLS(ln, "", "") }()
	t.Cleanup(func() {
		_ = srv.Close()
		cancel()
		if err := <-done; err != nil {
			t.Errorf("status loop: %v", err)
		}
	})
	return &mtlsHub{url: "https://" + ln.Addr().String(), caFile: caFile, client: c.Client}
}

// agentTLSClient trusts the hub's serving CA and presents cert, if any.
func agentTLSClient(t *testing.T, caFile string, cert *tls.Certificate) *http.Client {
	t.Helper()
	raw, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(raw)
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: pool}
	if cert != nil {
		cfg.Certificates = []tls.Certificate{*cert}
	}
	return &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}, Timeout: 10 * time.Second}
}

// csrFor returns a key and a CSR asking for cn.
func csrFor(t *testing.T, cn string) (*ecdsa.PrivateKey, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: cn}}, key)
	if err != nil {
		t.Fatal(err)
	}
	return key, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}))
}

func keyPair(t *testing.T, certPEM string, key *ecdsa.PrivateKey) *tls.Certificate {
	t.Helper()
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.X509KeyPair([]byte(certPEM), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}))
	if err != nil {
		t.Fatalf("key pair from the hub's certificate: %v", err)
	}
	return &pair
}

// register registers host with token and a CSR asking for askCN, and
// returns the hub's answer and the client certificate it signed.
func (h *mtlsHub) register(t *testing.T, c *http.Client, token, host, askCN string) (agentapi.RegisterResponse, *tls.Certificate) {
	t.Helper()
	key, csr := csrFor(t, askCN)
	code, out, err := testground.PostJSON(t.Context(), c, h.url+agentapi.RegisterPath, token, agentapi.RegisterRequest{Hostname: host, CSR: csr})
	if err != nil || code != http.StatusOK {
		t.Fatalf("register %s: %d %s %v", host, code, out, err)
	}
	var reg agentapi.RegisterResponse
	if err := json.Unmarshal(out, &reg); err != nil {
		t.Fatal(err)
	}
	if reg.Certificate == "" {
		t.Fatalf("register %s: no client certificate in the answer", host)
	}
	return reg, keyPair(t, reg.Certificate, key)
}

// With --agent-mtls: an agent registers with a CSR and heartbeats with the
// certificate the hub signed; no certificate, another agent's certificate,
// or a certificate from another CA is refused.
func TestAgentMutualTLS(t *testing.T) {
	h := startMTLSHub(t)
	ctx := t.Context()
	if err := h.client.Create(ctx, federation.LimitedJoinTokenSecret(agentsNS, "join", "join-token", time.Now().Add(time.Hour), 3)); err != nil {
		t.Fatal(err)
	}
	anon := agentTLSClient(t, h.caFile, nil)

	// Without a CSR a registration is refused and changes nothing.
	code, out, err := testground.PostJSON(ctx, anon, h.url+agentapi.RegisterPath, "join-token", agentapi.RegisterRequest{Hostname: "host-a"})
	if err != nil || code != http.StatusBadRequest || !strings.Contains(string(out), "csr") {
		t.Fatalf("registration without CSR: %d %s %v, want 400 naming field csr", code, out, err)
	}
	// A CSR that is not one is refused too.
	code, out, _ = testground.PostJSON(ctx, anon, h.url+agentapi.RegisterPath, "join-token", agentapi.RegisterRequest{Hostname: "host-a", CSR: "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n"})
	if code != http.StatusBadRequest {
		t.Errorf("garbage CSR: %d %s, want 400", code, out)
	}
	if n := agentCount(t, h.client); n != 0 {
		t.Fatalf("%d HostAgents after refused registrations", n)
	}

	register := func(host, askCN string) (agentapi.RegisterResponse, *tls.Certificate) {
		t.Helper()
		return h.register(t, anon, "join-token", host, askCN)
	}
	// Agent A asks for B's name in its CSR: the hub names A regardless.
	regA, certA := register("host-a", "host-b")
	if cn := certA.Leaf.Subject.CommonName; cn != regA.Agent {
		t.Errorf("certificate of %s names %q", regA.Agent, cn)
	}
	if len(certA.Leaf.URIs) != 1 || certA.Leaf.URIs[0].String() != federation.AgentURIPrefix+regA.Agent {
		t.Errorf("certificate URIs %v, want %s%s", certA.Leaf.URIs, federation.AgentURIPrefix, regA.Agent)
	}
	regB, _ := register("host-b", "host-b")

	seq := uint64(0)
	heartbeat := func(c *http.Client, agent, bearer string) (int, string, error) {
		seq++
		code, out, err := testground.PostJSON(ctx, c, h.url+agentapi.HeartbeatPath, bearer, agentapi.HeartbeatRequest{Agent: agent, Seq: seq})
		return code, string(out), err
	}
	withA := agentTLSClient(t, h.caFile, certA)
	if code, out, err := heartbeat(withA, regA.Agent, regA.Credential); err != nil || code != http.StatusOK {
		t.Fatalf("A heartbeats with its certificate: %d %s %v", code, out, err)
	}
	if code, out, err := heartbeat(anon, regA.Agent, regA.Credential); err != nil || code != http.StatusUnauthorized {
		t.Errorf("A heartbeats without a certificate: %d %s %v, want 401", code, out, err)
	}
	// A's certificate heartbeating as B, even with B's own credential.
	if code, out, err := heartbeat(withA, regB.Agent, regB.Credential); err != nil || code != http.StatusForbidden {
		t.Errorf("A's certificate heartbeating as B: %d %s %v, want 403", code, out, err)
	}

	// A certificate for A from a CA the hub does not keep fails the
	// handshake: no HTTP answer at all.
	rogue, err := federation.NewAgentCA(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	key, csr := csrFor(t, regA.Agent)
	forged, err := rogue.SignAgentCSR([]byte(csr), regA.Agent, time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	code, answer, err := heartbeat(agentTLSClient(t, h.caFile, keyPair(t, string(forged), key)), regA.Agent, regA.Credential)
	if err == nil {
		t.Errorf("certificate from another CA: answered %d %s, want the TLS handshake refused", code, answer)
	} else if !strings.Contains(err.Error(), "tls") && !strings.Contains(err.Error(), "certificate") {
		t.Errorf("certificate from another CA: %v, want a TLS error", err)
	}
	t.Logf("certificate from another CA refused: %v", err)

	// The refused attempts did not lock A out.
	if code, out, err := heartbeat(withA, regA.Agent, regA.Credential); err != nil || code != http.StatusOK {
		t.Errorf("A heartbeats again: %d %s %v", code, out, err)
	}
}
