package federation

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Join tokens are Secrets in the AgentServer's namespace carrying this
// label, with the token in data[JoinTokenKey], an RFC 3339 time in
// data[JoinTokenExpiresAtKey] and, optionally, "true" in
// data[JoinTokenSingleUseKey]. A single-use token's Secret is deleted when
// it is used.
const (
	JoinTokenLabel        = "faultline.dev/join-token"
	JoinTokenKey          = "token"
	JoinTokenExpiresAtKey = "expiresAt"
	JoinTokenSingleUseKey = "singleUse"
)

// Per-agent credential Secrets hold only the credential's SHA-256.
const (
	agentSecretPrefix  = "faultline-agent-"
	agentCredentialKey = "credentialSHA256"
	agentLabel         = "faultline.dev/agent"
)

// errBadToken is answered with 401; its text never says which check failed.
var errBadToken = errors.New("join token is unknown, expired or used")

// consumeToken checks a join token and, when single use, consumes it. The
// delete carries the Secret's UID and resourceVersion so two agents racing
// with one single-use token cannot both win.
func (s *AgentServer) consumeToken(ctx context.Context, token string) error {
	if token == "" {
		return errBadToken
	}
	var list corev1.SecretList
	if err := s.secrets().List(ctx, &list, client.InNamespace(s.Namespace), client.HasLabels{JoinTokenLabel}); err != nil {
		return fmt.Errorf("list join tokens: %w", err)
	}
	for i := range list.Items {
		sec := &list.Items[i]
		want := sec.Data[JoinTokenKey]
		if len(want) == 0 || subtle.ConstantTimeCompare(sha(want), sha([]byte(token))) != 1 {
			continue
		}
		exp, err := time.Parse(time.RFC3339, string(sec.Data[JoinTokenExpiresAtKey]))
		if err != nil || !s.now().Before(exp) {
			// A token without a readable expiry is treated as expired:
			// tokens must expire.
			return errBadToken
		}
		if string(sec.Data[JoinTokenSingleUseKey]) == "true" {
			uid, rv := sec.UID, sec.ResourceVersion
			if err := s.Client.Delete(ctx, sec, client.Preconditions{UID: &uid, ResourceVersion: &rv}); err != nil {
				return errBadToken
			}
		}
		return nil
	}
	return errBadToken
}

func sha(b []byte) []byte {
	sum := sha256.Sum256(b)
	return sum[:]
}

// JoinTokenSecret returns the Secret that makes token a join token in
// namespace, valid until expiresAt, consumed on first use when singleUse.
func JoinTokenSecret(namespace, name, token string, expiresAt time.Time, singleUse bool) *corev1.Secret {
	sec := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name, Labels: map[string]string{JoinTokenLabel: "true"}},
		Data: map[string][]byte{
			JoinTokenKey:          []byte(token),
			JoinTokenExpiresAtKey: []byte(expiresAt.UTC().Format(time.RFC3339)),
		},
	}
	if singleUse {
		sec.Data[JoinTokenSingleUseKey] = []byte("true")
	}
	return sec
}
