package hostagent

import (
	"crypto/tls"
	"crypto/x509"
	"testing"
	"time"
)

// Renewal falls due at two thirds of the lifetime counted from when the
// agent received the certificate, or from NotBefore for a credential file
// written before IssuedAt was kept; never without a certificate.
func TestRenewalDue(t *testing.T) {
	received := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	// As the hub signs it: NotBefore backdated 5 minutes for clock skew.
	cert := &tls.Certificate{Leaf: &x509.Certificate{NotBefore: received.Add(-5 * time.Minute), NotAfter: received.Add(3 * time.Hour)}}
	for _, tc := range []struct {
		name     string
		cert     *tls.Certificate
		issuedAt time.Time
		at       time.Duration // after received
		want     bool
	}{
		{"fresh", cert, received, time.Minute, false},
		{"just before two thirds", cert, received, 2*time.Hour - time.Second, false},
		{"just after two thirds", cert, received, 2*time.Hour + time.Second, true},
		{"expired", cert, received, 4 * time.Hour, true},
		// From NotBefore, the lifetime is 3h05m: two thirds of it ends
		// 1h58m20s after received.
		{"old file, just before two thirds of NotBefore..NotAfter", cert, time.Time{}, time.Hour + 58*time.Minute + 19*time.Second, false},
		{"old file, just after two thirds of NotBefore..NotAfter", cert, time.Time{}, time.Hour + 58*time.Minute + 21*time.Second, true},
		{"no certificate", nil, received, 10 * 365 * 24 * time.Hour, false},
		{"no certificate, old file", nil, time.Time{}, 10 * 365 * 24 * time.Hour, false},
	} {
		if got := renewalDue(tc.cert, tc.issuedAt, received.Add(tc.at)); got != tc.want {
			t.Errorf("%s: due %v at received+%v, want %v", tc.name, got, tc.at, tc.want)
		}
	}
}
