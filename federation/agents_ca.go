package federation

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"net/url"
	"os"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// AgentCASecretName is the Secret (type kubernetes.io/tls, in the agent
// API's namespace) holding the CA the hub signs agents' client certificates
// with, when it is not given by files.
const AgentCASecretName = "faultline-agent-ca"

// Lifetimes of the agent CA and of the client certificates it signs.
const (
	agentCAValidity           = 10 * 365 * 24 * time.Hour
	DefaultAgentClientCertTTL = 365 * 24 * time.Hour
)

// AgentURIPrefix starts the URI SAN of an agent's client certificate; the
// rest is the HostAgent's name. The certificate's CN is the name too.
const AgentURIPrefix = "urn:faultline:agent:"

// AgentCA is the CA the hub keeps for agents' client certificates (mTLS).
type AgentCA struct {
	Cert    *x509.Certificate
	Key     crypto.Signer
	CertPEM []byte
}

// NewAgentCA generates a self-signed ECDSA P-256 CA.
func NewAgentCA(now time.Time) (*AgentCA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate agent CA key: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          randomSerial(),
		Subject:               pkix.Name{CommonName: "faultline agent CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(agentCAValidity),
		IsCA:                  true,
		BasicConstraintsValid: true,
		MaxPathLenZero:        true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("self-sign agent CA: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &AgentCA{Cert: cert, Key: key, CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}, nil
}

// ParseAgentCA reads a CA from PEM: a certificate that may sign
// certificates, and its private key.
func ParseAgentCA(certPEM, keyPEM []byte) (*AgentCA, error) {
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("agent CA key pair: %w", err)
	}
	cert, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		return nil, fmt.Errorf("agent CA certificate: %w", err)
	}
	if !cert.IsCA || cert.KeyUsage&x509.KeyUsageCertSign == 0 {
		return nil, errors.New("agent CA certificate: not a CA (needs basicConstraints CA:TRUE and keyUsage certSign)")
	}
	signer, ok := pair.PrivateKey.(crypto.Signer)
	if !ok {
		return nil, errors.New("agent CA key: cannot sign")
	}
	return &AgentCA{Cert: cert, Key: signer, CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw})}, nil
}

// LoadAgentCA reads a CA from a certificate and a key file.
func LoadAgentCA(certFile, keyFile string) (*AgentCA, error) {
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return nil, fmt.Errorf("agent CA certificate: %w", err)
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, fmt.Errorf("agent CA key: %w", err)
	}
	ca, err := ParseAgentCA(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("%s, %s: %w", certFile, keyFile, err)
	}
	return ca, nil
}

// EnsureAgentCA returns the CA in the Secret AgentCASecretName of
// namespace, creating it on first start. Two hubs starting at once agree:
// the one whose create loses reads the winner's.
func EnsureAgentCA(ctx context.Context, c client.Client, reader client.Reader, namespace string) (*AgentCA, error) {
	key := client.ObjectKey{Namespace: namespace, Name: AgentCASecretName}
	for range 2 {
		sec := &corev1.Secret{}
		err := reader.Get(ctx, key, sec)
		if err == nil {
			ca, err := ParseAgentCA(sec.Data[corev1.TLSCertKey], sec.Data[corev1.TLSPrivateKeyKey])
			if err != nil {
				return nil, fmt.Errorf("secret %s/%s: %w", namespace, AgentCASecretName, err)
			}
			return ca, nil
		}
		if !apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("read agent CA secret: %w", err)
		}
		ca, err := NewAgentCA(time.Now())
		if err != nil {
			return nil, err
		}
		kder, err := x509.MarshalPKCS8PrivateKey(ca.Key)
		if err != nil {
			return nil, err
		}
		sec = &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: AgentCASecretName},
			Type:       corev1.SecretTypeTLS,
			Data: map[string][]byte{
				corev1.TLSCertKey:       ca.CertPEM,
				corev1.TLSPrivateKeyKey: pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}),
			},
		}
		err = c.Create(ctx, sec)
		if err == nil {
			return ca, nil
		}
		if !apierrors.IsAlreadyExists(err) {
			return nil, fmt.Errorf("create agent CA secret: %w", err)
		}
	}
	return nil, fmt.Errorf("agent CA secret %s/%s: created and deleted concurrently", namespace, AgentCASecretName)
}

// Pool is a certificate pool of the CA alone, for tls.Config.ClientCAs.
func (ca *AgentCA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.Cert)
	return p
}

// SignAgentCSR signs a client certificate for the HostAgent named agent
// with the public key of csrPEM (whose self-signature must hold). Whatever
// names the CSR asks for are ignored: the certificate names agent, in its
// CN and in a URI SAN (AgentURIPrefix + agent).
func (ca *AgentCA) SignAgentCSR(csrPEM []byte, agent string, ttl time.Duration, now time.Time) ([]byte, error) {
	csr, err := parseCSR(csrPEM)
	if err != nil {
		return nil, err
	}
	notAfter := ca.clientCertNotAfter(ttl, now)
	tmpl := &x509.Certificate{
		SerialNumber: randomSerial(),
		Subject:      pkix.Name{CommonName: agent, Organization: []string{"faultline agents"}},
		URIs:         []*url.URL{{Scheme: "urn", Opaque: "faultline:agent:" + agent}},
		NotBefore:    now.Add(-5 * time.Minute),
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, csr.PublicKey, ca.Key)
	if err != nil {
		return nil, fmt.Errorf("sign client certificate for %s: %w", agent, err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), nil
}

// clientCertNotAfter is when a client certificate signed at now with ttl
// (0: DefaultAgentClientCertTTL) expires: never after the CA itself.
func (ca *AgentCA) clientCertNotAfter(ttl time.Duration, now time.Time) time.Time {
	if ttl <= 0 {
		ttl = DefaultAgentClientCertTTL
	}
	return minTime(now.Add(ttl), ca.Cert.NotAfter)
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// parseCSR reads a PEM certificate request and checks its signature, which
// proves the requester holds the private key.
func parseCSR(csrPEM []byte) (*x509.CertificateRequest, error) {
	block, _ := pem.Decode(csrPEM)
	if block == nil || block.Type != "CERTIFICATE REQUEST" {
		return nil, errors.New("field csr: not a PEM CERTIFICATE REQUEST")
	}
	csr, err := x509.ParseCertificateRequest(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("field csr: %w", err)
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, fmt.Errorf("field csr: signature: %w", err)
	}
	switch csr.PublicKeyAlgorithm {
	case x509.ECDSA, x509.Ed25519, x509.RSA:
	default:
		return nil, fmt.Errorf("field csr: unsupported public key algorithm %v", csr.PublicKeyAlgorithm)
	}
	return csr, nil
}

func randomSerial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		// crypto/rand does not fail on Linux; a fixed serial would still
		// be a valid certificate.
		return big.NewInt(time.Now().UnixNano())
	}
	return n
}

// clientCertAgent returns the agent a verified client certificate names,
// or "" when the request came without one. Only a CN and URI SAN that
// agree name an agent.
func clientCertAgent(r *http.Request) (agent string, present bool) {
	if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 || len(r.TLS.VerifiedChains[0]) == 0 {
		return "", false
	}
	leaf := r.TLS.VerifiedChains[0][0]
	cn := leaf.Subject.CommonName
	for _, u := range leaf.URIs {
		if u.String() == AgentURIPrefix+cn {
			return cn, true
		}
	}
	return "", true
}

// ConfigureTLS makes cfg (the agent API server's) ask for client
// certificates from the agent CA: verified when given, and when
// RequireClientCert is set, needed for heartbeats and renewals
// (registration comes before an agent has one). A certificate from another CA fails the TLS
// handshake. It does nothing without a CA.
func (s *AgentServer) ConfigureTLS(cfg *tls.Config) {
	if s.CA == nil || cfg == nil {
		return
	}
	cfg.ClientCAs = s.CA.Pool()
	cfg.ClientAuth = tls.VerifyClientCertIfGiven
}
