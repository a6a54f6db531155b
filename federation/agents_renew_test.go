package federation_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/faultline-dev/faultline/federation"
	"github.com/faultline-dev/faultline/hostagent/agentapi"
	"github.com/faultline-dev/faultline/internal/testground"
)

// An agent renews its client certificate with its credential and its
// current certificate, and heartbeats with the new one; the hub refuses a
// renewal with the wrong credential, with another agent's certificate, or
// without a CSR, and a hub without an agent CA says it signs none.
func TestAgentRenewClientCertificate(t *testing.T) {
	h := startMTLSHub(t)
	ctx := t.Context()
	if err := h.client.Create(ctx, federation.LimitedJoinTokenSecret(agentsNS, "join", "join-token", time.Now().Add(time.Hour), 3)); err != nil {
		t.Fatal(err)
	}
	anon := agentTLSClient(t, h.caFile, nil)
	regA, certA := h.register(t, anon, "join-token", "host-a", "host-a")
	regB, _ := h.register(t, anon, "join-token", "host-b", "host-b")
	withA := agentTLSClient(t, h.caFile, certA)
	renew := func(c *http.Client, url, agent, bearer, csr string) (int, string) {
		t.Helper()
		code, out, err := testground.PostJSON(ctx, c, url+agentapi.RenewPath, bearer, agentapi.RenewRequest{Agent: agent, CSR: csr})
		if err != nil {
			t.Fatalf("renew %s: %v", agent, err)
		}
		return code, string(out)
	}

	newKey, csr := csrFor(t, "host-a")
	if code, out := renew(withA, h.url, regA.Agent, "not-the-credential", csr); code != http.StatusUnauthorized {
		t.Errorf("renewal with a wrong credential: %d %s, want 401", code, out)
	}
	if code, out := renew(withA, h.url, regB.Agent, regB.Credential, csr); code != http.StatusForbidden {
		t.Errorf("A's certificate renewing for B: %d %s, want 403", code, out)
	}
	if code, out := renew(anon, h.url, regA.Agent, regA.Credential, csr); code != http.StatusUnauthorized {
		t.Errorf("renewal without a client certificate (mTLS required): %d %s, want 401", code, out)
	}
	if code, out := renew(withA, h.url, regA.Agent, regA.Credential, ""); code != http.StatusBadRequest || !strings.Contains(out, "field csr: required") {
		t.Errorf("renewal without a CSR: %d %s, want 400 naming field csr", code, out)
	}
	if code, out := renew(withA, h.url, regA.Agent, regA.Credential, "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n"); code != http.StatusBadRequest || !strings.Contains(out, "field csr") {
		t.Errorf("renewal with a garbage CSR: %d %s, want 400 naming field csr", code, out)
	}

	code, out := renew(withA, h.url, regA.Agent, regA.Credential, csr)
	if code != http.StatusOK {
		t.Fatalf("renewal: %d %s", code, out)
	}
	var resp agentapi.RenewResponse
	if err := json.Unmarshal([]byte(out), &resp); err != nil {
		t.Fatal(err)
	}
	renewed := keyPair(t, resp.Certificate, newKey) // fails unless it certifies the new CSR's key
	leaf, old := renewed.Leaf, certA.Leaf
	if leaf.Subject.CommonName != regA.Agent || len(leaf.URIs) != 1 || leaf.URIs[0].String() != federation.AgentURIPrefix+regA.Agent {
		t.Errorf("renewed certificate names CN %q, URIs %v; want %s", leaf.Subject.CommonName, leaf.URIs, regA.Agent)
	}
	if !newKey.PublicKey.Equal(leaf.PublicKey) {
		t.Error("renewed certificate does not certify the new CSR's key")
	}
	if leaf.SerialNumber.Cmp(old.SerialNumber) == 0 {
		t.Errorf("renewed certificate has the old serial %x", old.SerialNumber)
	}
	if leaf.NotAfter.Before(old.NotAfter) {
		t.Errorf("renewed certificate expires %v, before the old one (%v)", leaf.NotAfter, old.NotAfter)
	}

	// The renewed certificate, on a new connection, with the unchanged
	// credential.
	code, hb, err := testground.PostJSON(ctx, agentTLSClient(t, h.caFile, renewed), h.url+agentapi.HeartbeatPath, regA.Credential, agentapi.HeartbeatRequest{Agent: regA.Agent, Seq: 1})
	if err != nil || code != http.StatusOK {
		t.Errorf("heartbeat with the renewed certificate: %d %s %v", code, hb, err)
	}

	// A hub that keeps no agent CA says so, to an agent that proved who it
	// is.
	plain := &federation.AgentServer{Client: h.client, Namespace: agentsNS}
	ts := httptest.NewTLSServer(plain)
	defer ts.Close()
	code, raw, err := testground.PostJSON(ctx, ts.Client(), ts.URL+agentapi.RegisterPath, "join-token", agentapi.RegisterRequest{Hostname: "host-c"})
	if err != nil || code != http.StatusOK {
		t.Fatalf("register host-c without CA: %d %s %v", code, raw, err)
	}
	var regC agentapi.RegisterResponse
	if err := json.Unmarshal(raw, &regC); err != nil {
		t.Fatal(err)
	}
	if code, out := renew(ts.Client(), ts.URL, regC.Agent, regC.Credential, csr); code != http.StatusConflict || !strings.Contains(out, "no agent CA") {
		t.Errorf("renewal from a hub without CA: %d %s, want 409 saying it keeps no agent CA", code, out)
	}
}
