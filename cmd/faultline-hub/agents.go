package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/faultline-dev/faultline/federation"
)

// addAgentAPI serves the host agents' registration and heartbeat API on its
// own port, with TLS unless explicitly told otherwise. It returns the API
// (the fleet experiments are placed on), or nil when it is disabled.
func addAgentAPI(mgr ctrl.Manager, o *options) (*federation.AgentServer, error) {
	if o.agentAddr == "" || o.agentAddr == "0" {
		return nil, nil
	}
	tlsOn := o.agentTLSCert != "" && o.agentTLSKey != ""
	switch {
	case !tlsOn && !o.agentInsecure:
		return nil, errors.New("--agent-addr needs --agent-tls-cert and --agent-tls-key (or --agent-insecure for a local trial)")
	case !tlsOn && o.agentMTLS:
		return nil, errors.New("--agent-mtls needs TLS: --agent-tls-cert and --agent-tls-key")
	case (o.agentCACert == "") != (o.agentCAKey == ""):
		return nil, errors.New("--agent-ca-cert and --agent-ca-key go together")
	}
	ns := os.Getenv("POD_NAMESPACE")
	if ns == "" {
		ns = "faultline-system"
	}
	api := &federation.AgentServer{
		Client: mgr.GetClient(), SecretReader: mgr.GetAPIReader(), Namespace: ns,
		StatusInterval: o.agentStatusInterval, StatusWriteQPS: o.agentStatusQPS,
		RequireClientCert: o.agentMTLS, Log: mgr.GetLogger().WithName("agents"),
	}
	srv, err := federation.NewAgentHTTPServer(o.agentAddr, api, o.agentTLSCert, o.agentTLSKey)
	if err != nil {
		return nil, err
	}
	if tlsOn {
		// With TLS the hub always keeps an agent CA, so agents get client
		// certificates from their first registration and --agent-mtls can be
		// switched on later without every agent joining again.
		if api.CA, err = agentCA(mgr, o, ns); err != nil {
			return nil, err
		}
		api.ConfigureTLS(srv.TLSConfig)
	}
	if err := mgr.Add(api); err != nil {
		return nil, fmt.Errorf("adding the agent status loop: %w", err)
	}
	return api, mgr.Add(serveRunnable("agent API", srv))
}

// agentCA loads the agent CA from --agent-ca-cert/--agent-ca-key, or from
// the Secret federation.AgentCASecretName in ns, creating it on first start.
func agentCA(mgr ctrl.Manager, o *options, ns string) (*federation.AgentCA, error) {
	if o.agentCACert != "" {
		return federation.LoadAgentCA(o.agentCACert, o.agentCAKey)
	}
	// Wiring happens before the manager runs, so there is no run context yet.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ca, err := federation.EnsureAgentCA(ctx, mgr.GetClient(), mgr.GetAPIReader(), ns)
	if err != nil {
		return nil, fmt.Errorf("agent CA: %w", err)
	}
	return ca, nil
}
