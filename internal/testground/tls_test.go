package testground_test

import (
	"crypto/tls"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/faultline-dev/faultline/internal/testground"
)

// A client trusting only the returned pool reaches a server using the
// written files over TLS on 127.0.0.1, and PostJSON carries the bearer and
// the JSON body.
func TestServingCertServesTLSAndPostJSON(t *testing.T) {
	certFile, keyFile, pool := testground.ServingCert(t, t.TempDir())
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	if !pair.Leaf.IPAddresses[0].Equal(net.IPv4(127, 0, 0, 1)) || time.Until(pair.Leaf.NotAfter) > time.Hour {
		t.Errorf("certificate for %v until %v, want 127.0.0.1 for at most an hour", pair.Leaf.IPAddresses, pair.Leaf.NotAfter)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer tok" || r.Header.Get("Content-Type") != "application/json" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"seen":true}`))
	}))
	srv.TLS = &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{pair}}
	srv.StartTLS()
	t.Cleanup(srv.Close)

	trusting := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: pool}}}
	code, out, err := testground.PostJSON(t.Context(), trusting, srv.URL, "tok", map[string]int{"seq": 1})
	if err != nil || code != http.StatusOK || string(out) != `{"seen":true}` {
		t.Fatalf("POST: %d %s %v, want 200 {\"seen\":true}", code, out, err)
	}
	// A client with the system roots refuses the handshake: the pool is what
	// makes the certificate trusted.
	if _, _, err := testground.PostJSON(t.Context(), &http.Client{}, srv.URL, "tok", nil); err == nil {
		t.Error("a client without the pool accepted the self-signed certificate")
	}
}

// The certificate names the addresses asked for.
func TestServingCertForOtherIP(t *testing.T) {
	ip := net.IPv4(10, 1, 2, 3)
	certFile, keyFile, _ := testground.ServingCert(t, t.TempDir(), ip)
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := pair.Leaf.VerifyHostname(ip.String()); err != nil {
		t.Error(err)
	}
	if err := pair.Leaf.VerifyHostname("127.0.0.1"); err == nil {
		t.Error("a certificate for 10.1.2.3 also names 127.0.0.1")
	}
}
