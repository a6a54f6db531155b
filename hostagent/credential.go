package hostagent

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// credential is what registration yields, kept next to the journal so a
// restarted agent heartbeats at once instead of registering again (its join
// token may have been single use). When the hub keeps an agent CA, it holds
// the agent's client certificate and key too (PEM); the file is the
// owner's alone.
type credential struct {
	Hub         string `json:"hub"`
	Agent       string `json:"agent"`
	Credential  string `json:"credential"`
	Certificate string `json:"certificate,omitempty"`
	Key         string `json:"key,omitempty"`
	// IssuedAt is the agent's clock when it received Certificate; renewal
	// counts the certificate's lifetime from it rather than from NotBefore,
	// which the hub backdates for clock skew. Zero in files written before
	// renewal existed.
	IssuedAt time.Time `json:"issuedAt,omitzero"`
}

// clientCertificate returns the credential's client certificate, nil when
// the hub issued none.
func (c *credential) clientCertificate() (*tls.Certificate, error) {
	if c.Certificate == "" {
		return nil, nil
	}
	pair, err := tls.X509KeyPair([]byte(c.Certificate), []byte(c.Key))
	if err != nil {
		return nil, fmt.Errorf("client certificate of %s: %w", c.Agent, err)
	}
	return &pair, nil
}

// certExpired tells whether the credential's client certificate has
// expired (then the hub refuses the TLS handshake: register again). Renewal
// replaces it long before; it runs out only on an agent that was down, or
// could not reach the hub, for the last third of its lifetime.
func certExpired(cert *tls.Certificate, now time.Time) bool {
	return cert != nil && cert.Leaf != nil && !now.Before(cert.Leaf.NotAfter)
}

// newClientKey generates the key of a client certificate and a CSR for it;
// the hub decides what the certificate names.
func newClientKey(hostname string) (keyPEM, csrPEM []byte, _ error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("generate client key: %w", err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: hostname}}, key)
	if err != nil {
		return nil, nil, fmt.Errorf("client certificate request: %w", err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}),
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}), nil
}

func loadCredential(path string) (*credential, error) {
	raw, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read credential: %w", err)
	}
	var c credential
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, fmt.Errorf("credential file %s: %w", path, err)
	}
	return &c, nil
}

// save writes the credential atomically, readable by the owner only.
func (c *credential) save(path string) error {
	raw, err := json.Marshal(c)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".credential-*")
	if err != nil {
		return fmt.Errorf("save credential: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(raw); err != nil {
		tmp.Close()
		return fmt.Errorf("save credential: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("save credential: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("save credential: %w", err)
	}
	return nil
}
