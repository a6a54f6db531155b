package federation

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/faultline-dev/faultline/hostagent/agentapi"
)

func validateRenew(req *agentapi.RenewRequest) error {
	var errs []error
	if req.Agent == "" {
		errs = append(errs, errors.New("field agent: required"))
	}
	if req.CSR == "" {
		errs = append(errs, errors.New("field csr: required"))
	} else if _, err := parseCSR([]byte(req.CSR)); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// renew signs a new client certificate for an agent that proves, as for a
// heartbeat, that it is that agent. Agents renew well before expiry, so a
// host is never left with an expired certificate and a spent join token.
// The bearer credential and the HostAgent stay as they are: a renewal
// changes nothing but the certificate the agent presents.
func (s *AgentServer) renew(w http.ResponseWriter, r *http.Request) {
	var req agentapi.RenewRequest
	if err := decodeStrict(r, &req); err != nil {
		writeErr(w, http.StatusBadRequest, err)
		return
	}
	if err := validateRenew(&req); err != nil {
		writeErr(w, http.StatusBadRequest, err)
		return
	}
	// Authenticate before saying anything about the hub's CA.
	if code, err := s.authenticate(r, req.Agent); err != nil {
		writeErr(w, code, err)
		return
	}
	if s.CA == nil {
		// Not a transient failure: the agent stops asking.
		writeErr(w, http.StatusConflict, errors.New("this hub keeps no agent CA: it signs no client certificates"))
		return
	}
	now := s.now()
	certPEM, err := s.CA.SignAgentCSR([]byte(req.CSR), req.Agent, s.ClientCertTTL, now)
	if err != nil {
		s.Log.Error(err, "renew client certificate", "agent", req.Agent)
		writeErr(w, http.StatusInternalServerError, fmt.Errorf("renew client certificate of %s: %w", req.Agent, err))
		return
	}
	s.Log.Info("agent client certificate renewed", "agent", req.Agent, "notAfter", s.CA.clientCertNotAfter(s.ClientCertTTL, now))
	writeJSON(w, http.StatusOK, agentapi.RenewResponse{Certificate: string(certPEM)})
}
