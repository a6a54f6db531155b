package main

import (
	"errors"
	"fmt"
	"os"

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
	if (o.agentTLSCert == "" || o.agentTLSKey == "") && !o.agentInsecure {
		return nil, errors.New("--agent-addr needs --agent-tls-cert and --agent-tls-key (or --agent-insecure for a local trial)")
	}
	ns := os.Getenv("POD_NAMESPACE")
	if ns == "" {
		ns = "faultline-system"
	}
	api := &federation.AgentServer{Client: mgr.GetClient(), SecretReader: mgr.GetAPIReader(), Namespace: ns, Log: mgr.GetLogger().WithName("agents")}
	srv, err := federation.NewAgentHTTPServer(o.agentAddr, api, o.agentTLSCert, o.agentTLSKey)
	if err != nil {
		return nil, err
	}
	if err := mgr.Add(api); err != nil {
		return nil, fmt.Errorf("adding the agent status loop: %w", err)
	}
	return api, mgr.Add(serveRunnable("agent API", srv))
}
