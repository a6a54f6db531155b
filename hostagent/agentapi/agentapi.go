// Package agentapi is the wire contract between a host agent and the hub's
// agent API (federation.AgentServer): registration with a join token, then
// heartbeats and client certificate renewals with a per-agent bearer
// credential. Both sides import it so the two can never drift apart.
package agentapi

import (
	"time"

	"github.com/faultline-dev/faultline/crds/v1alpha1"
)

// Paths of the agent API.
const (
	RegisterPath  = "/v1/register"
	HeartbeatPath = "/v1/heartbeat"
	RenewPath     = "/v1/renew"
)

// RegisterRequest is what an agent reports about itself when it joins.
// The join token travels in the Authorization header as a bearer token.
type RegisterRequest struct {
	Hostname     string            `json:"hostname"`
	Addresses    []string          `json:"addresses,omitempty"`
	OS           string            `json:"os,omitempty"`
	Kernel       string            `json:"kernel,omitempty"`
	Arch         string            `json:"arch,omitempty"`
	Version      string            `json:"version,omitempty"`
	Labels       map[string]string `json:"labels,omitempty"`
	Capabilities []string          `json:"capabilities,omitempty"`
	// CSR is a PEM certificate request for a client certificate (mTLS). The
	// hub signs it when it keeps an agent CA, naming the agent whatever
	// the request asks for; a hub that requires client certificates refuses
	// a registration without one.
	CSR string `json:"csr,omitempty"`
}

// RegisterResponse carries the agent's name on the hub and its credential.
// The hub keeps only a hash of the credential; it cannot be fetched again.
type RegisterResponse struct {
	Agent      string `json:"agent"`
	Credential string `json:"credential"`
	// Certificate is the PEM client certificate signed for CSR, empty when
	// the hub keeps no agent CA. Heartbeats present it in the TLS
	// handshake, along with the credential.
	Certificate string `json:"certificate,omitempty"`
}

// HeartbeatRequest reports what the agent runs.
type HeartbeatRequest struct {
	Agent string `json:"agent"`
	// Seq strictly increases across an agent's heartbeats, so a captured
	// heartbeat cannot be replayed.
	Seq uint64 `json:"seq"`
	// Observed are the hub-issued injections the agent knows of, each with
	// per-target status.
	Observed []v1alpha1.Injection `json:"observed,omitempty"`
	// SelfRecovered names injections the agent recovered on its own because
	// the hub's lease lapsed, reported once on the next heartbeat that gets
	// through.
	SelfRecovered []string `json:"selfRecovered,omitempty"`
}

// HeartbeatResponse is what the hub wants running, and until when the agent
// may keep running it without hearing from the hub again.
type HeartbeatResponse struct {
	Desired        []v1alpha1.Injection `json:"desired"`
	LeaseExpiresAt time.Time            `json:"leaseExpiresAt"`
}

// RenewRequest asks the hub for a new client certificate before the current
// one expires, so that an agent keeps its mTLS identity without a join
// token. It is authenticated as a heartbeat is: the bearer credential in
// the Authorization header, and the current client certificate, which must
// name Agent, in the TLS handshake.
type RenewRequest struct {
	Agent string `json:"agent"`
	// CSR is a PEM certificate request for a fresh key; the hub signs it
	// naming Agent, whatever the request asks for.
	CSR string `json:"csr"`
}

// RenewResponse carries the new PEM client certificate. The credential
// stays the same; the previous certificate stays valid until it expires.
type RenewResponse struct {
	Certificate string `json:"certificate"`
}

// Error is the body of every non-2xx answer.
type Error struct {
	Error string `json:"error"`
}
