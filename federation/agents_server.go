package federation

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	"github.com/faultline-dev/faultline/crds/v1alpha1"
	"github.com/faultline-dev/faultline/hostagent/agentapi"
)

// Defaults of AgentServer.
const (
	DefaultAgentLease          = 30 * time.Second
	DefaultAgentGrace          = 40 * time.Second
	DefaultAgentStatusInterval = 60 * time.Second
	// DefaultAgentStatusWriteQPS keeps HostAgent status writes well inside
	// the hub's default client rate limit (50 QPS), leaving the rest to the
	// controllers: 10,000 agents get a cadence write every ~7 minutes.
	DefaultAgentStatusWriteQPS = 25
	maxAgentBody               = 4 << 20
)

// AgentServer is the hub's agent API (an http.Handler) and the in-memory
// registry of host agents. Heartbeats are held in memory; HostAgent status
// is written by Start's loop on change or every StatusInterval, like node
// Leases, so a large fleet does not flood the API server.
type AgentServer struct {
	// Client of the hub cluster.
	Client client.Client
	// SecretReader reads join tokens and credentials; nil: Client. The hub
	// passes its uncached API reader, so it neither caches every Secret of
	// the cluster nor refuses a token created a moment ago.
	SecretReader client.Reader
	// Namespace holds join tokens and agent credential Secrets.
	Namespace string
	// Lease is how long an agent may run hub-issued faults without hearing
	// from the hub; 0 means DefaultAgentLease.
	Lease time.Duration
	// Grace after the last heartbeat before an agent is Lost; 0 means
	// DefaultAgentGrace.
	Grace time.Duration
	// StatusInterval is the slow cadence of HostAgent status writes when
	// nothing changed; 0 means DefaultAgentStatusInterval.
	StatusInterval time.Duration
	// StatusWriteQPS bounds HostAgent status writes per second, whatever
	// the fleet's size: changes (Ready, Lost, active injections) go first,
	// and the slow cadence stretches to fit. 0 means
	// DefaultAgentStatusWriteQPS.
	StatusWriteQPS float64
	// CA, when set, signs the client certificate an agent asks for at
	// registration (mTLS), and its successors when the agent renews it;
	// serve with ConfigureTLS so that a presented certificate is verified,
	// and must name the agent it heartbeats for.
	CA *AgentCA
	// RequireClientCert refuses registrations without a CSR, and heartbeats
	// and renewals without a client certificate from CA naming the agent.
	// The bearer credential is checked either way: a stolen certificate
	// alone, or a stolen credential alone, is not enough.
	RequireClientCert bool
	// ClientCertTTL is the lifetime of signed client certificates; 0 means
	// DefaultAgentClientCertTTL. Agents renew theirs (agentapi.RenewPath)
	// at two thirds of it; one whose certificate expired all the same (it
	// was down that long) registers again, which needs a join token.
	ClientCertTTL time.Duration
	Log           logr.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time

	reg     registry
	tokenMu sync.Mutex // serialises spending uses of limited join tokens
}

func (s *AgentServer) secrets() client.Reader {
	if s.SecretReader != nil {
		return s.SecretReader
	}
	return s.Client
}

func (s *AgentServer) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *AgentServer) lease() time.Duration {
	if s.Lease > 0 {
		return s.Lease
	}
	return DefaultAgentLease
}

func (s *AgentServer) grace() time.Duration {
	if s.Grace > 0 {
		return s.Grace
	}
	return DefaultAgentGrace
}

func (s *AgentServer) statusInterval() time.Duration {
	if s.StatusInterval > 0 {
		return s.StatusInterval
	}
	return DefaultAgentStatusInterval
}

// ServeHTTP implements http.Handler.
func (s *AgentServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		writeErr(w, http.StatusMethodNotAllowed, errors.New("only POST is served"))
		return
	}
	switch r.URL.Path {
	case agentapi.RegisterPath:
		s.register(w, r)
	case agentapi.HeartbeatPath:
		s.heartbeat(w, r)
	case agentapi.RenewPath:
		s.renew(w, r)
	default:
		writeErr(w, http.StatusNotFound, fmt.Errorf("no such endpoint %q", r.URL.Path))
	}
}

// NewAgentHTTPServer returns an *http.Server for handler on addr, with TLS
// from certFile and keyFile when both are set (serve it with
// ListenAndServeTLS("", "")).
func NewAgentHTTPServer(addr string, handler http.Handler, certFile, keyFile string) (*http.Server, error) {
	srv := &http.Server{Addr: addr, Handler: handler, ReadHeaderTimeout: 10 * time.Second}
	if certFile == "" && keyFile == "" {
		return srv, nil
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("agent API TLS key pair %s, %s: %w", certFile, keyFile, err)
	}
	srv.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}
	// HTTP/1.1 only: every agent keeps one connection open and sends one
	// request per interval, so HTTP/2's multiplexing brings nothing, while
	// each idle HTTP/2 connection costs a second goroutine, HPACK tables
	// and frame buffers: with 10,000 agents that is most of the hub's memory.
	srv.TLSNextProto = map[string]func(*http.Server, *tls.Conn, http.Handler){}
	return srv, nil
}

func bearer(r *http.Request) string {
	h := r.Header.Get("Authorization")
	if len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		return strings.TrimSpace(h[7:])
	}
	return ""
}

func decodeStrict(r *http.Request, v any) error {
	dec := json.NewDecoder(io.LimitReader(r.Body, maxAgentBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("malformed JSON body: %w", err)
	}
	if dec.More() {
		return errors.New("malformed JSON body: trailing data after the object")
	}
	return nil
}

func writeErr(w http.ResponseWriter, code int, err error) {
	writeJSON(w, code, agentapi.Error{Error: err.Error()})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

var nonName = regexp.MustCompile(`[^a-z0-9.-]+`)

// AgentName turns a hostname into a HostAgent name (a DNS subdomain).
func AgentName(hostname string) string {
	var labels []string
	for _, l := range strings.Split(nonName.ReplaceAllString(strings.ToLower(hostname), "-"), ".") {
		if l = strings.Trim(l, "-"); l != "" {
			labels = append(labels, l)
		}
	}
	n := strings.Join(labels, ".")
	// Leave room for the credential Secret's prefix.
	if len(n) > 253-len(agentSecretPrefix) {
		n = strings.Trim(n[:253-len(agentSecretPrefix)], "-.")
	}
	return n
}

func validateRegister(req *agentapi.RegisterRequest) error {
	var errs []error
	if req.Hostname == "" || AgentName(req.Hostname) == "" {
		errs = append(errs, errors.New("field hostname: must be a non-empty host name"))
	}
	if len(req.Addresses) > 64 {
		errs = append(errs, errors.New("field addresses: at most 64"))
	}
	if len(req.Capabilities) > 64 {
		errs = append(errs, errors.New("field capabilities: at most 64"))
	}
	for k, v := range req.Labels {
		for _, m := range validation.IsQualifiedName(k) {
			errs = append(errs, fmt.Errorf("field labels[%q]: %s", k, m))
		}
		for _, m := range validation.IsValidLabelValue(v) {
			errs = append(errs, fmt.Errorf("field labels[%q] value: %s", k, m))
		}
	}
	return errors.Join(errs...)
}

func (s *AgentServer) register(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	var req agentapi.RegisterRequest
	if err := decodeStrict(r, &req); err != nil {
		writeErr(w, http.StatusBadRequest, err)
		return
	}
	if err := validateRegister(&req); err != nil {
		writeErr(w, http.StatusBadRequest, err)
		return
	}
	if req.CSR != "" {
		if _, err := parseCSR([]byte(req.CSR)); err != nil {
			writeErr(w, http.StatusBadRequest, err)
			return
		}
	} else if s.RequireClientCert {
		writeErr(w, http.StatusBadRequest, errors.New("field csr: required: this hub authenticates agents with client certificates (mTLS)"))
		return
	}
	if s.RequireClientCert && s.CA == nil {
		writeErr(w, http.StatusInternalServerError, errors.New("hub requires client certificates but keeps no agent CA"))
		return
	}
	if err := s.consumeToken(ctx, bearer(r)); err != nil {
		if errors.Is(err, errBadToken) {
			writeErr(w, http.StatusUnauthorized, err)
			return
		}
		s.Log.Error(err, "register")
		writeErr(w, http.StatusInternalServerError, errors.New("hub could not check the token"))
		return
	}
	name := AgentName(req.Hostname)
	cred, hash, err := newCredential()
	if err != nil {
		writeErr(w, http.StatusInternalServerError, err)
		return
	}
	var certPEM []byte
	if req.CSR != "" && s.CA != nil {
		if certPEM, err = s.CA.SignAgentCSR([]byte(req.CSR), name, s.ClientCertTTL, s.now()); err != nil {
			writeErr(w, http.StatusInternalServerError, err)
			return
		}
	}
	if err := s.upsertAgent(ctx, name, &req, hash); err != nil {
		s.Log.Error(err, "register", "agent", name)
		writeErr(w, http.StatusInternalServerError, fmt.Errorf("register %s: %w", name, err))
		return
	}
	s.reg.mu.Lock()
	st := s.reg.state(name)
	st.credHash, st.lastSeq, st.registered, st.dirty = hash, 0, s.now(), true
	s.reg.mu.Unlock()
	s.Log.Info("agent registered", "agent", name)
	writeJSON(w, http.StatusOK, agentapi.RegisterResponse{Agent: name, Credential: cred, Certificate: string(certPEM)})
}

func newCredential() (cred string, hash []byte, _ error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", nil, fmt.Errorf("generate credential: %w", err)
	}
	cred = hex.EncodeToString(b)
	return cred, sha([]byte(cred)), nil
}

// upsertAgent creates or updates the HostAgent and its credential Secret.
func (s *AgentServer) upsertAgent(ctx context.Context, name string, req *agentapi.RegisterRequest, hash []byte) error {
	ha := &v1alpha1.HostAgent{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if _, err := controllerutil.CreateOrPatch(ctx, s.Client, ha, func() error {
		ha.Labels = req.Labels
		suspend := ha.Spec.Suspend
		ha.Spec = v1alpha1.HostAgentSpec{
			Hostname: req.Hostname, Addresses: req.Addresses, OS: req.OS, Arch: req.Arch,
			KernelVersion: req.Kernel, AgentVersion: req.Version, Capabilities: req.Capabilities,
			Suspend: suspend,
		}
		return nil
	}); err != nil {
		return fmt.Errorf("host agent: %w", err)
	}
	// The credential Secret is written blind (create, else patch) rather
	// than read through the hub's cached client: that would make the hub
	// watch and hold every Secret of the cluster.
	sec := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: s.Namespace, Name: agentSecretPrefix + name, Labels: map[string]string{agentLabel: name}},
		Data:       map[string][]byte{agentCredentialKey: []byte(hex.EncodeToString(hash))},
	}
	err := s.Client.Create(ctx, sec)
	if apierrors.IsAlreadyExists(err) {
		raw, merr := json.Marshal(map[string]any{
			"metadata": map[string]any{"labels": sec.Labels},
			"data":     sec.Data,
		})
		if merr != nil {
			return merr
		}
		err = s.Client.Patch(ctx, sec, client.RawPatch(types.MergePatchType, raw))
	}
	if err != nil {
		return fmt.Errorf("credential secret: %w", err)
	}
	return nil
}

var errBadCredential = errors.New("unknown agent or bad credential")

// credentialHash returns agent's credential hash, from memory or, after a
// hub restart, from its Secret.
func (s *AgentServer) credentialHash(ctx context.Context, agent string) ([]byte, error) {
	s.reg.mu.Lock()
	if st, ok := s.reg.agents[agent]; ok && st.credHash != nil {
		h := st.credHash
		s.reg.mu.Unlock()
		return h, nil
	}
	s.reg.mu.Unlock()
	var sec corev1.Secret
	if err := s.secrets().Get(ctx, client.ObjectKey{Namespace: s.Namespace, Name: agentSecretPrefix + agent}, &sec); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, errBadCredential
		}
		return nil, err
	}
	h, err := hex.DecodeString(string(sec.Data[agentCredentialKey]))
	if err != nil || len(h) == 0 {
		return nil, errBadCredential
	}
	s.reg.mu.Lock()
	defer s.reg.mu.Unlock()
	st := s.reg.state(agent)
	if st.credHash == nil {
		st.credHash = h
	}
	return st.credHash, nil
}

// authenticate tells whether r comes from agent: its bearer credential
// must be agent's, and a verified client certificate, if presented (or
// required by RequireClientCert), must name agent. It returns the status to
// answer with when not. Heartbeats and certificate renewals share it.
func (s *AgentServer) authenticate(r *http.Request, agent string) (status int, _ error) {
	if certAgent, present := clientCertAgent(r); present && certAgent != agent {
		return http.StatusForbidden, fmt.Errorf("client certificate does not name agent %q", agent)
	} else if !present && s.RequireClientCert {
		return http.StatusUnauthorized, errors.New("a client certificate from the hub's agent CA is required")
	}
	hash, err := s.credentialHash(r.Context(), agent)
	if err != nil {
		if errors.Is(err, errBadCredential) {
			return http.StatusUnauthorized, err
		}
		return http.StatusInternalServerError, errors.New("hub could not check the credential")
	}
	if subtle.ConstantTimeCompare(hash, sha([]byte(bearer(r)))) != 1 {
		return http.StatusUnauthorized, errBadCredential
	}
	return http.StatusOK, nil
}

func validateHeartbeat(req *agentapi.HeartbeatRequest) error {
	var errs []error
	if req.Agent == "" {
		errs = append(errs, errors.New("field agent: required"))
	}
	if req.Seq == 0 {
		errs = append(errs, errors.New("field seq: must be positive"))
	}
	for i, inj := range req.Observed {
		if inj.Name == "" {
			errs = append(errs, fmt.Errorf("field observed[%d].metadata.name: required", i))
		}
	}
	return errors.Join(errs...)
}

func (s *AgentServer) heartbeat(w http.ResponseWriter, r *http.Request) {
	var req agentapi.HeartbeatRequest
	if err := decodeStrict(r, &req); err != nil {
		writeErr(w, http.StatusBadRequest, err)
		return
	}
	if err := validateHeartbeat(&req); err != nil {
		writeErr(w, http.StatusBadRequest, err)
		return
	}
	if code, err := s.authenticate(r, req.Agent); err != nil {
		writeErr(w, code, err)
		return
	}

	now := s.now()
	s.reg.mu.Lock()
	st := s.reg.state(req.Agent)
	if req.Seq <= st.lastSeq {
		last := st.lastSeq
		s.reg.mu.Unlock()
		writeErr(w, http.StatusConflict, fmt.Errorf("field seq: %d is not after %d (replayed heartbeat)", req.Seq, last))
		return
	}
	st.lastSeq = req.Seq
	st.lastHeartbeat = now
	st.leaseExpires = now.Add(s.lease())
	st.observed = req.Observed
	st.selfRecovered = append(st.selfRecovered, req.SelfRecovered...)
	if active := countActive(req.Observed); active != st.writtenActive || !st.writtenReady || len(req.SelfRecovered) > 0 {
		st.dirty = true
	}
	resp := agentapi.HeartbeatResponse{Desired: deepCopyInjections(st.desired), LeaseExpiresAt: st.leaseExpires}
	s.reg.mu.Unlock()
	if resp.Desired == nil {
		resp.Desired = []v1alpha1.Injection{}
	}
	if len(req.SelfRecovered) > 0 {
		s.Log.Info("agent recovered injections on its own after its lease lapsed", "agent", req.Agent, "injections", req.SelfRecovered)
	}
	writeJSON(w, http.StatusOK, resp)
}

func countActive(injs []v1alpha1.Injection) int32 {
	var n int32
	for _, inj := range injs {
		if inj.Status.Phase == v1alpha1.InjectionInjected || inj.Status.Phase == v1alpha1.InjectionInjecting {
			n++
		}
	}
	return n
}
