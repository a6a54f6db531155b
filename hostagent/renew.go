package hostagent

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/faultline-dev/faultline/hostagent/agentapi"
)

// renewRetry is how long the agent waits after a renewal attempt before the
// next one, so that a hub that fails renewals is not asked at every
// heartbeat.
const renewRetry = time.Minute

// renewal is the state of client certificate renewal.
type renewal struct {
	// lastAttempt is when the agent last asked the hub for a certificate
	// and failed.
	lastAttempt time.Time
	// off: the hub keeps no agent CA, so asking again is useless in this run.
	off bool
}

// renewalDue tells whether cert has used up two thirds of its lifetime,
// counted from issuedAt (when the agent received it) or, for a credential
// saved before IssuedAt existed, from the certificate's NotBefore. The last
// third leaves the agent time to retry while the hub is away. Without a
// certificate nothing is ever due.
func renewalDue(cert *tls.Certificate, issuedAt, now time.Time) bool {
	if cert == nil || cert.Leaf == nil {
		return false
	}
	from := issuedAt
	if from.IsZero() {
		from = cert.Leaf.NotBefore
	}
	life := cert.Leaf.NotAfter.Sub(from)
	return now.After(from.Add(life - life/3))
}

// renewIfDue renews the client certificate once it is due, like kubelet's
// client certificate rotation, so a host keeps heartbeating without the
// join token it may no longer have. It runs after a successful heartbeat.
// A failure is logged and tried again renewRetry later; it never fails the
// heartbeat: the current certificate is still good, and should it expire
// all the same, step registers again.
func (a *Agent) renewIfDue(ctx context.Context, credPath string) {
	now := time.Now()
	if a.renewal.off || a.cred == nil || !renewalDue(a.clientCert.Load(), a.cred.IssuedAt, now) {
		return
	}
	if !a.renewal.lastAttempt.IsZero() && now.Sub(a.renewal.lastAttempt) < renewRetry {
		return
	}
	a.renewal.lastAttempt = now
	err := a.renewCertificate(ctx, credPath)
	var he *HubError
	switch {
	case err == nil:
		// The next renewal is due by the new certificate alone, however
		// short its lifetime.
		a.renewal.lastAttempt = time.Time{}
	case errors.As(err, &he) && he.Code == http.StatusConflict:
		a.renewal.off = true
		a.o.Log.Info("hub signs no client certificates, not renewing in this run", "agent", a.cred.Agent, "answer", he.Message)
	case ctx.Err() == nil:
		a.o.Log.Error(err, "renew client certificate", "agent", a.cred.Agent, "retryIn", renewRetry)
	}
}

// renewCertificate asks the hub for a certificate for a new key, with the
// bearer credential, over the agent's HTTP client, whose handshakes present
// the current certificate. The credential file is written before the
// agent switches to the new certificate: a crash in between leaves a file
// whose certificate the hub accepts.
func (a *Agent) renewCertificate(ctx context.Context, credPath string) error {
	keyPEM, csrPEM, err := newClientKey(a.cred.Agent)
	if err != nil {
		return err
	}
	var resp agentapi.RenewResponse
	req := agentapi.RenewRequest{Agent: a.cred.Agent, CSR: string(csrPEM)}
	if err := post(ctx, a.http, a.o.Hub, agentapi.RenewPath, a.cred.Credential, req, &resp); err != nil {
		return fmt.Errorf("renew client certificate: %w", err)
	}
	if resp.Certificate == "" {
		return errors.New("renew client certificate: the hub answered without a certificate")
	}
	next := *a.cred
	next.Certificate, next.Key, next.IssuedAt = resp.Certificate, string(keyPEM), time.Now()
	cert, err := next.clientCertificate()
	if err != nil {
		return fmt.Errorf("renew: %w", err)
	}
	if err := next.save(credPath); err != nil {
		return err
	}
	a.clientCert.Store(cert)
	a.cred = &next
	// The open connection was authenticated with the old certificate: the
	// next heartbeat opens one with the new.
	a.http.CloseIdleConnections()
	a.o.Log.Info("client certificate renewed", "agent", next.Agent, "notAfter", cert.Leaf.NotAfter)
	return nil
}
