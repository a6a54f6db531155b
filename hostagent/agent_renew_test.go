package hostagent_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr/funcr"
	"github.com/go-logr/logr/testr"

	"github.com/faultline-dev/faultline/federation"
	"github.com/faultline-dev/faultline/hostagent"
	"github.com/faultline-dev/faultline/internal/testground"
)

// storedCredential is the part of an agent's credential file these tests
// look at.
type storedCredential struct {
	Credential string
	Cert       *x509.Certificate
}

// readStoredCredential reads the credential file in dir; an error until the
// agent wrote one with a client certificate.
func readStoredCredential(dir string) (storedCredential, error) {
	raw, err := os.ReadFile(filepath.Join(dir, hostagent.CredentialFile))
	if err != nil {
		return storedCredential{}, err
	}
	var f struct{ Credential, Certificate string }
	if err := json.Unmarshal(raw, &f); err != nil {
		return storedCredential{}, err
	}
	block, _ := pem.Decode([]byte(f.Certificate))
	if block == nil {
		return storedCredential{}, errors.New("no client certificate in the credential file")
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	return storedCredential{Credential: f.Credential, Cert: cert}, err
}

// An agent whose join token was good for one registration keeps
// heartbeating, with mTLS required, past the expiry of the certificate it
// got at registration: it renews the certificate on its own, keeps the new
// one in its credential file, and never registers again.
func TestAgentRenewsClientCertificateWithoutJoinToken(t *testing.T) {
	testground.RequireRoot(t)
	const (
		lease = time.Second
		ttl   = 6 * time.Second
		host  = "host-r"
	)
	ca, err := federation.NewAgentCA(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	var hubLog testground.Output
	h := startHub(t, lease, func(s *federation.AgentServer) {
		s.CA, s.RequireClientCert, s.ClientCertTTL = ca, true, ttl
		s.Log = funcr.New(func(prefix, args string) { _, _ = hubLog.Write([]byte(prefix + " " + args + "\n")) }, funcr.Options{})
	})
	h.token(t, "join", "renew-join", true) // one registration only
	// The client certificates the hub verified in TLS handshakes.
	var (
		mu            sync.Mutex
		handshakeWith = map[string]bool{}
	)
	ts, caFile := mtlsServer(t, h, func(cfg *tls.Config) {
		cfg.VerifyConnection = func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) > 0 {
				mu.Lock()
				handshakeWith[cs.PeerCertificates[0].SerialNumber.String()] = true
				mu.Unlock()
			}
			return nil
		}
	})
	dir := t.TempDir()

	httpc, err := hostagent.NewHTTPClient(caFile, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	agent := hostagent.New(hostagent.Options{Hub: ts.URL, Token: "renew-join", JournalPath: filepath.Join(dir, "journal.db"),
		Interval: 200 * time.Millisecond, HTTPClient: httpc, Hostname: host, Log: testr.New(t)})
	done := make(chan error, 1)
	go func() { done <- agent.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("agent: %v", err)
		}
		if t.Failed() {
			t.Logf("hub log:\n%s", hubLog.String())
		}
	})

	var first storedCredential
	if !testground.Eventually(20*time.Second, func() bool { first, err = readStoredCredential(dir); return err == nil }) {
		t.Fatalf("the agent never stored a client certificate: %v", err)
	}
	t.Logf("first certificate: serial %x, expires %v", first.Cert.SerialNumber, first.Cert.NotAfter)

	// Past the expiry of the first certificate and of its first successor
	// (issued before the first expired), by more than the grace: only an
	// agent that heartbeated after both expired is reachable.
	past := first.Cert.NotAfter.Add(ttl + 2*lease + time.Second)
	time.Sleep(time.Until(past))
	if !testground.Eventually(5*time.Second, func() bool { _, ok := h.srv.Observed(host); return ok }) {
		t.Fatalf("agent stopped heartbeating (first certificate expired at %v)", first.Cert.NotAfter)
	}

	later, err := readStoredCredential(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("certificate on disk now: serial %x, expires %v", later.Cert.SerialNumber, later.Cert.NotAfter)
	if later.Cert.SerialNumber.Cmp(first.Cert.SerialNumber) == 0 || !later.Cert.NotAfter.After(first.Cert.NotAfter) {
		t.Errorf("credential file still holds the first certificate (serial %x, expires %v)", later.Cert.SerialNumber, later.Cert.NotAfter)
	}
	if _, err := later.Cert.Verify(x509.VerifyOptions{Roots: ca.Pool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil || later.Cert.Subject.CommonName != host {
		t.Errorf("stored certificate for %q, from the hub's CA and valid now: %v", later.Cert.Subject.CommonName, err)
	}
	if later.Credential != first.Credential {
		t.Error("the agent's credential changed: it registered again instead of renewing")
	}
	// Renewed certificates are used, not just stored: the agent's next
	// connection presents the new one.
	mu.Lock()
	seen := len(handshakeWith)
	mu.Unlock()
	if seen < 2 {
		t.Errorf("the hub saw %d client certificate(s) in TLS handshakes, want the first and renewed ones", seen)
	}
	logged := hubLog.String()
	if n := strings.Count(logged, "agent client certificate renewed"); n < 2 {
		t.Errorf("the hub logged %d certificate renewals, want at least 2", n)
	}
	if n := strings.Count(logged, "agent registered"); n != 1 {
		t.Errorf("the hub logged %d registrations, want 1", n)
	}
}
