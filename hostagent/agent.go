package hostagent

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	"golang.org/x/sys/unix"

	"github.com/faultline-dev/faultline/faults"
	"github.com/faultline-dev/faultline/hostagent/agentapi"
)

// DefaultInterval is the heartbeat interval.
const DefaultInterval = 2 * time.Second

// CredentialFile is the name of the credential file next to the journal.
const CredentialFile = "agent-credential.json"

// Options configure an Agent.
type Options struct {
	// Hub is the base URL of the hub's agent API, such as https://hub:9443.
	Hub string
	// Token is the join token; needed only when no credential is stored.
	Token string
	// Labels the HostAgent gets; placement selects agents by them.
	Labels map[string]string
	// JournalPath of the fault engine; the credential is stored beside it.
	JournalPath string
	// Interval between heartbeats; 0 means DefaultInterval.
	Interval time.Duration
	// HTTPClient for the hub; nil means one with a timeout of Interval.
	HTTPClient *http.Client
	// Hostname reported to the hub; empty means os.Hostname().
	Hostname string
	// HostNetns is the network namespace path Host targets mean; empty
	// means the agent's own.
	HostNetns string
	// Version reported to the hub.
	Version string
	// Engine to use; nil means Run opens one on JournalPath and closes it
	// (recovering everything) when it returns.
	Engine *faults.Engine
	Log    logr.Logger
}

// Agent is a fleet-mode host agent.
type Agent struct {
	o      Options
	engine *faults.Engine
	http   *http.Client

	clientCert atomic.Pointer[tls.Certificate]
	// renewal is the client certificate renewal's state; like cred, only
	// the loop (step) touches it.
	renewal renewal

	mu            sync.Mutex
	cred          *credential
	seq           uint64
	leaseUntil    time.Time
	selfRecovered []string
	observed      map[string]*observedInjection
}

// New returns an Agent; Run starts it.
func New(o Options) *Agent {
	if o.Interval <= 0 {
		o.Interval = DefaultInterval
	}
	return &Agent{o: o, observed: map[string]*observedInjection{}}
}

// Run registers (unless a credential is stored), then heartbeats and
// reconciles until ctx ends. When it opened the engine itself, it recovers
// every fault before returning: an agent stopped on purpose leaves nothing.
func (a *Agent) Run(ctx context.Context) (retErr error) {
	if a.o.Hub == "" {
		return errors.New("hub URL is required")
	}
	if a.o.JournalPath == "" {
		return errors.New("journal path is required")
	}
	a.http = a.o.HTTPClient
	if a.http == nil {
		a.http = &http.Client{Timeout: max(a.o.Interval, 2*time.Second)}
	}
	a.http = withClientCertificate(a.http, a.clientCert.Load)
	a.engine = a.o.Engine
	if a.engine == nil {
		// Open reaps whatever a previous (killed) agent left journaled,
		// before anything else runs.
		e, report, err := faults.Open(ctx, faults.Options{JournalPath: a.o.JournalPath, Log: a.o.Log, OnRecovered: a.OnRecovered})
		if err != nil {
			return fmt.Errorf("open fault engine: %w", err)
		}
		if len(report.Recovered) > 0 || len(report.Failed) > 0 {
			a.o.Log.Info("recovered faults left by a previous agent", "recovered", report.Recovered, "failed", fmt.Sprint(report.Failed))
		}
		a.engine = e
		defer func() {
			closeCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
			defer cancel()
			retErr = errors.Join(retErr, e.Close(closeCtx))
		}()
	}
	// Seq must increase across restarts too without being stored: start
	// from the clock.
	a.seq = uint64(time.Now().UnixNano())

	credPath := filepath.Join(filepath.Dir(a.o.JournalPath), CredentialFile)
	cred, err := loadCredential(credPath)
	if err != nil {
		return err
	}
	if cred != nil && cred.Hub == a.o.Hub {
		if err := a.useCredential(cred); err != nil {
			return err
		}
	}

	t := time.NewTicker(a.o.Interval)
	defer t.Stop()
	for {
		if err := a.step(ctx, credPath); err != nil && ctx.Err() == nil {
			a.o.Log.Error(err, "heartbeat")
			a.deadMansSwitch(ctx)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// step registers if needed, then heartbeats once and reconciles the answer,
// and renews the client certificate when it is due. Registration and
// renewal both replace the credential: they run here, in the loop
// goroutine alone, so they never race.
func (a *Agent) step(ctx context.Context, credPath string) error {
	if a.cred != nil && a.o.Token != "" && certExpired(a.clientCert.Load(), time.Now()) {
		a.o.Log.Info("client certificate expired, registering again")
		a.cred = nil
	}
	if a.cred == nil {
		if err := a.register(ctx, credPath); err != nil {
			return err
		}
	}
	err := a.heartbeat(ctx)
	if IsUnauthorized(err) && a.o.Token != "" {
		// The hub no longer knows this credential (agent deleted or
		// re-registered elsewhere): join again.
		a.cred = nil
		return fmt.Errorf("credential refused, registering again: %w", err)
	}
	if err != nil {
		return err
	}
	a.renewIfDue(ctx, credPath)
	return nil
}

func (a *Agent) register(ctx context.Context, credPath string) error {
	if a.o.Token == "" {
		return errors.New("not registered and no join token given")
	}
	// An old (expired) client certificate would fail the handshake.
	a.clientCert.Store(nil)
	a.http.CloseIdleConnections()
	req := a.describe()
	keyPEM, csrPEM, err := newClientKey(req.Hostname)
	if err != nil {
		return err
	}
	req.CSR = string(csrPEM)
	// A single-use token is spent once the hub accepts it: give the hub
	// time to answer rather than give up on a slow API server and be locked
	// out.
	hc := *a.http
	hc.Timeout = max(hc.Timeout, time.Minute)
	var resp agentapi.RegisterResponse
	if err := post(ctx, &hc, a.o.Hub, agentapi.RegisterPath, a.o.Token, req, &resp); err != nil {
		return fmt.Errorf("register: %w", err)
	}
	c := &credential{Hub: a.o.Hub, Agent: resp.Agent, Credential: resp.Credential}
	if resp.Certificate != "" {
		c.Certificate, c.Key, c.IssuedAt = resp.Certificate, string(keyPEM), time.Now()
	}
	if err := a.useCredential(c); err != nil {
		return fmt.Errorf("register: %w", err)
	}
	if err := c.save(credPath); err != nil {
		return err
	}
	// The connection registration used carries no client certificate:
	// heartbeats open one that does.
	a.http.CloseIdleConnections()
	a.o.Log.Info("registered", "agent", c.Agent, "clientCertificate", c.Certificate != "")
	return nil
}

// useCredential makes c (and its client certificate, if any) the agent's.
func (a *Agent) useCredential(c *credential) error {
	cert, err := c.clientCertificate()
	if err != nil {
		return err
	}
	a.clientCert.Store(cert)
	a.cred = c
	return nil
}

// describe is what the agent tells the hub about this host.
func (a *Agent) describe() agentapi.RegisterRequest {
	host := a.o.Hostname
	if host == "" {
		host, _ = os.Hostname()
	}
	req := agentapi.RegisterRequest{Hostname: host, OS: runtime.GOOS, Arch: runtime.GOARCH, Version: a.o.Version, Labels: a.o.Labels}
	var u unix.Utsname
	if unix.Uname(&u) == nil {
		req.Kernel = unix.ByteSliceToString(u.Release[:])
	}
	if addrs, err := net.InterfaceAddrs(); err == nil {
		for _, ad := range addrs {
			if ipn, ok := ad.(*net.IPNet); ok && !ipn.IP.IsLoopback() && len(req.Addresses) < 64 {
				req.Addresses = append(req.Addresses, ipn.IP.String())
			}
		}
	}
	for name, ok := range a.engine.Capabilities().Map() {
		if ok {
			req.Capabilities = append(req.Capabilities, name)
		}
	}
	slices.Sort(req.Capabilities)
	return req
}

func (a *Agent) heartbeat(ctx context.Context) error {
	a.mu.Lock()
	a.seq++
	req := agentapi.HeartbeatRequest{Agent: a.cred.Agent, Seq: a.seq, Observed: a.observedList(), SelfRecovered: slices.Clone(a.selfRecovered)}
	a.mu.Unlock()
	var resp agentapi.HeartbeatResponse
	if err := post(ctx, a.http, a.o.Hub, agentapi.HeartbeatPath, a.cred.Credential, req, &resp); err != nil {
		return err
	}
	a.mu.Lock()
	a.leaseUntil = resp.LeaseExpiresAt
	// Reported: the hub knows now.
	a.selfRecovered = slices.DeleteFunc(a.selfRecovered, func(n string) bool { return slices.Contains(req.SelfRecovered, n) })
	a.mu.Unlock()
	a.reconcile(ctx, resp.Desired, resp.LeaseExpiresAt)
	return nil
}

// deadMansSwitch recovers every hub-issued fault once the lease lapsed. The
// engine deadlines are capped at the lease, so this only catches what they
// might have missed (a fault whose recovery failed and is being retried).
func (a *Agent) deadMansSwitch(ctx context.Context) {
	a.mu.Lock()
	lapsed := !a.leaseUntil.IsZero() && time.Now().After(a.leaseUntil)
	a.mu.Unlock()
	if !lapsed {
		return
	}
	for _, st := range a.engine.Active() {
		if _, _, ok := parseFaultID(st.ID); !ok {
			continue
		}
		if err := a.engine.Recover(ctx, st.ID, "lease lapsed"); err != nil {
			a.o.Log.Error(err, "recover after lease lapsed", "fault", st.ID)
			continue
		}
		a.OnRecovered(st.ID, "lease lapsed")
	}
}

// OnRecovered is the engine callback (faults.Options.OnRecovered) for a
// caller that passes its own Engine. It notes a fault the engine recovered on its own
// while the lease had lapsed, to report on the next heartbeat.
func (a *Agent) OnRecovered(id, reason string) {
	name, target, ok := parseFaultID(id)
	if !ok {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if o, found := a.observed[name]; found {
		o.recovered(target, reason)
	}
	if !a.leaseUntil.IsZero() && !time.Now().Before(a.leaseUntil) && !slices.Contains(a.selfRecovered, name) {
		a.selfRecovered = append(a.selfRecovered, name)
		a.o.Log.Info("recovered a hub-issued fault after the hub's lease lapsed", "injection", name, "target", target)
	}
}
