package hostagent_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"

	"github.com/faultline-dev/faultline/federation"
	"github.com/faultline-dev/faultline/hostagent"
	"github.com/faultline-dev/faultline/internal/testground"
)

// mtlsServer serves h like tlsServer, asking for client certificates from
// h's agent CA; configure adjusts the TLS configuration before it serves.
func mtlsServer(t *testing.T, h *hub, configure ...func(*tls.Config)) (*httptest.Server, string) {
	t.Helper()
	plain, caFile := tlsServer(t, h, net.IPv4(127, 0, 0, 1))
	cfg := plain.TLS.Clone()
	plain.Close()
	h.srv.ConfigureTLS(cfg)
	for _, f := range configure {
		f(cfg)
	}
	srv := httptest.NewUnstartedServer(h.srv)
	srv.TLS = cfg
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv, caFile
}

// Against a hub that requires client certificates, an agent registers with
// a CSR, keeps the signed certificate and its key beside its credential,
// and heartbeats with them, also after a restart without a join token.
func TestAgentMutualTLSCertificateKeptAcrossRestart(t *testing.T) {
	testground.RequireRoot(t)
	const lease = time.Second
	h := startHub(t, lease)
	ca, err := federation.NewAgentCA(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	h.srv.CA, h.srv.RequireClientCert = ca, true
	h.token(t, "join", "mtls-join", true)
	ts, caFile := mtlsServer(t, h)
	dir := t.TempDir()
	journal := filepath.Join(dir, "journal.db")

	run := func(token string) (stop func()) {
		httpc, err := hostagent.NewHTTPClient(caFile, 2*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		agent := hostagent.New(hostagent.Options{Hub: ts.URL, Token: token, JournalPath: journal, Interval: 200 * time.Millisecond,
			HTTPClient: httpc, Hostname: "host-m", Log: testr.New(t)})
		done := make(chan error, 1)
		go func() { done <- agent.Run(ctx) }()
		return func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("agent: %v", err)
			}
		}
	}
	reachable := func(want bool) bool {
		return testground.Eventually(10*time.Second, func() bool { _, ok := h.srv.Observed("host-m"); return ok == want })
	}

	stop := run("mtls-join")
	h.waitAgent(t, "host-m")
	if !reachable(true) {
		t.Fatal("the agent never heartbeated with its client certificate")
	}
	stop()

	raw, err := os.ReadFile(filepath.Join(dir, hostagent.CredentialFile))
	if err != nil {
		t.Fatal(err)
	}
	var stored struct{ Agent, Certificate, Key string }
	if err := json.Unmarshal(raw, &stored); err != nil {
		t.Fatal(err)
	}
	if _, err := tls.X509KeyPair([]byte(stored.Certificate), []byte(stored.Key)); err != nil {
		t.Fatalf("credential file holds no usable client certificate and key: %v", err)
	}
	block, _ := pem.Decode([]byte(stored.Certificate))
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cert.Verify(x509.VerifyOptions{Roots: ca.Pool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil || cert.Subject.CommonName != "host-m" {
		t.Errorf("client certificate for %q from the hub's CA: %v", cert.Subject.CommonName, err)
	}

	// Lost, then back with the stored certificate: the single-use token is
	// spent and the hub refuses heartbeats without a certificate.
	if !reachable(false) {
		t.Fatal("agent still reachable after it stopped")
	}
	stop = run("")
	defer stop()
	if !reachable(true) {
		t.Fatal("restarted agent never heartbeated with its stored certificate")
	}
}
