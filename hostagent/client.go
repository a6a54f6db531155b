package hostagent

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/faultline-dev/faultline/hostagent/agentapi"
)

// HubError is a non-2xx answer of the hub.
type HubError struct {
	Code    int
	Message string
}

func (e *HubError) Error() string { return fmt.Sprintf("hub answered %d: %s", e.Code, e.Message) }

// IsUnauthorized tells whether err is a 401 from the hub.
func IsUnauthorized(err error) bool {
	var he *HubError
	return errors.As(err, &he) && he.Code == http.StatusUnauthorized
}

// NewHTTPClient returns an HTTP client for the hub that trusts the CA
// certificates in caFile, or the system roots when caFile is empty.
func NewHTTPClient(caFile string, timeout time.Duration) (*http.Client, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("read CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("CA file %s: no PEM certificate in it", caFile)
		}
		tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: pool}
	}
	return &http.Client{Transport: tr, Timeout: timeout}, nil
}

// withClientCertificate returns a copy of hc whose TLS handshakes present
// the certificate get returns (none while it returns nil), so an agent that
// registers mid-run starts using its certificate on its next connection.
// A client whose transport is not an *http.Transport is returned as is.
func withClientCertificate(hc *http.Client, get func() *tls.Certificate) *http.Client {
	tr, ok := hc.Transport.(*http.Transport)
	if hc.Transport == nil {
		tr, ok = http.DefaultTransport.(*http.Transport), true
	}
	if !ok {
		return hc
	}
	tr = tr.Clone()
	if tr.TLSClientConfig == nil {
		tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	tr.TLSClientConfig.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
		if c := get(); c != nil {
			return c, nil
		}
		return &tls.Certificate{}, nil // none: the hub decides whether that will do
	}
	out := *hc
	out.Transport = tr
	return &out
}

// post sends body as JSON to the hub and decodes a 2xx answer into out.
func post(ctx context.Context, c *http.Client, hub, path, bearer string, body, out any) error {
	raw, err := json.Marshal(body)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(hub, "/")+path, bytes.NewReader(raw))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return fmt.Errorf("read hub answer: %w", err)
	}
	if resp.StatusCode/100 != 2 {
		var e agentapi.Error
		if json.Unmarshal(data, &e) != nil || e.Error == "" {
			e.Error = strings.TrimSpace(string(data))
		}
		return &HubError{Code: resp.StatusCode, Message: e.Error}
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("decode hub answer to %s: %w", path, err)
	}
	return nil
}
