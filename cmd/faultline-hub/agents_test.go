package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
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

// hubAsMainEnv makes the test binary run as faultline-hub.
const hubAsMainEnv = "FAULTLINE_TEST_HUB_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(hubAsMainEnv) == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// The hub run with --agent-mtls keeps its agent CA in a Secret it creates,
// signs an agent's CSR at registration and then wants that certificate on
// every heartbeat.
func TestHubAgentAPIMutualTLS(t *testing.T) {
	const ns = "fleet-mtls"
	hub := cluster.Start(t, "hub")[0]
	ctx := t.Context()
	if err := hub.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		t.Fatal(err)
	}
	if err := hub.Client.Create(ctx, federation.JoinTokenSecret(ns, "join", "join-token", time.Now().Add(time.Hour), true)); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	kc := filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(kc, hub.KubeConfig, 0o600); err != nil {
		t.Fatal(err)
	}
	certFile, keyFile, pool := testground.ServingCert(t, dir)
	agentAddr := testground.FreeAddr(t)

	// The hub runs as its own process (this test binary as faultline-hub):
	// controller-runtime allows one manager with these controllers per
	// process, and other tests here run one in-process.
	cmd := exec.Command(os.Args[0], "--kubeconfig", kc, "--metrics-addr", "0", "--health-addr", testground.FreeAddr(t), "--log-level", "error",
		"--webhook-addr", "0", "--source-cache-dir", t.TempDir(),
		"--agent-addr", agentAddr, "--agent-tls-cert", certFile, "--agent-tls-key", keyFile, "--agent-mtls")
	cmd.Env = append(os.Environ(), hubAsMainEnv+"=1", "POD_NAMESPACE="+ns)
	logs := &testground.Output{}
	cmd.Stdout, cmd.Stderr = logs, logs
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-exited:
			if err != nil {
				t.Errorf("hub exited with %v:\n%s", err, logs.String())
			}
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			t.Errorf("hub did not stop within 30s of SIGTERM:\n%s", logs.String())
		}
	})

	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	csr, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "h1"}}, key)
	if err != nil {
		t.Fatal(err)
	}
	anon := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}, Timeout: 10 * time.Second}
	var reg agentapi.RegisterResponse
	var code int
	var out []byte
	deadline := time.Now().Add(60 * time.Second)
	for {
		code, out, err = testground.PostJSON(t.Context(), anon, "https://"+agentAddr+agentapi.RegisterPath, "join-token",
			agentapi.RegisterRequest{Hostname: "h1", CSR: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: csr}))})
		if err == nil || time.Now().After(deadline) {
			break
		}
		select {
		case err := <-exited:
			t.Fatalf("hub exited early: %v\n%s", err, logs.String())
		case <-time.After(200 * time.Millisecond): // the hub is still starting
		}
	}
	if err != nil || code != http.StatusOK {
		t.Fatalf("register: %d %s %v", code, out, err)
	}
	if err := json.Unmarshal(out, &reg); err != nil || reg.Certificate == "" {
		t.Fatalf("register answered %s (%v), want a client certificate", out, err)
	}

	var caSecret corev1.Secret
	if err := hub.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: federation.AgentCASecretName}, &caSecret); err != nil {
		t.Fatalf("agent CA secret: %v", err)
	}
	ca, err := federation.ParseAgentCA(caSecret.Data[corev1.TLSCertKey], caSecret.Data[corev1.TLSPrivateKeyKey])
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode([]byte(reg.Certificate))
	leaf, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: ca.Pool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("client certificate not from the CA in the hub's Secret: %v", err)
	}

	kder, _ := x509.MarshalECPrivateKey(key)
	pair, err := tls.X509KeyPair([]byte(reg.Certificate), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}))
	if err != nil {
		t.Fatal(err)
	}
	withCert := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{pair}}}, Timeout: 10 * time.Second}
	hb := agentapi.HeartbeatRequest{Agent: reg.Agent, Seq: 1}
	if code, out, err := testground.PostJSON(t.Context(), anon, "https://"+agentAddr+agentapi.HeartbeatPath, reg.Credential, hb); err != nil || code != http.StatusUnauthorized {
		t.Errorf("heartbeat without client certificate: %d %s %v, want 401", code, out, err)
	}
	if code, out, err := testground.PostJSON(t.Context(), withCert, "https://"+agentAddr+agentapi.HeartbeatPath, reg.Credential, hb); err != nil || code != http.StatusOK {
		t.Errorf("heartbeat with the client certificate: %d %s %v, want 200", code, out, err)
	}
}
