package federation

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Join tokens are Secrets in the AgentServer's namespace carrying this
// label, with the token in data[JoinTokenKey] and an RFC 3339 time in
// data[JoinTokenExpiresAtKey]; a token without a readable expiry is refused,
// so every token expires. Optionally data[JoinTokenUsesLeftKey] holds how
// many more registrations the token admits (a decimal count, decremented on
// each use, the Secret deleted with the last one), and "true" in
// data[JoinTokenSingleUseKey] means exactly one use. A token with neither
// admits any number of registrations until it expires.
const (
	JoinTokenLabel        = "faultline.dev/join-token"
	JoinTokenKey          = "token"
	JoinTokenExpiresAtKey = "expiresAt"
	JoinTokenSingleUseKey = "singleUse"
	JoinTokenUsesLeftKey  = "usesLeft"
)

// Per-agent credential Secrets hold only the credential's SHA-256.
const (
	agentSecretPrefix  = "faultline-agent-"
	agentCredentialKey = "credentialSHA256"
	agentLabel         = "faultline.dev/agent"
)

// errBadToken is answered with 401; its text never says which check failed.
var errBadToken = errors.New("join token is unknown, expired or used")

// tokenConflictRetries bounds how often a registration retries spending a
// use of a contended limited token before giving up with 500 (the agent
// retries on its next interval).
const tokenConflictRetries = 8

// consumeToken checks a join token and spends one use of it when its uses
// are limited. The write carries the Secret's resourceVersion (and the
// delete its UID too), so agents racing for the last use cannot both win.
func (s *AgentServer) consumeToken(ctx context.Context, token string) error {
	if token == "" {
		return errBadToken
	}
	for range tokenConflictRetries {
		err := s.consumeTokenOnce(ctx, token)
		if !apierrors.IsConflict(err) {
			return err
		}
	}
	return fmt.Errorf("join token contended by %d concurrent registrations, try again", tokenConflictRetries)
}

func (s *AgentServer) consumeTokenOnce(ctx context.Context, token string) error {
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
		if _, limited, err := usesLeft(sec); err != nil {
			return errBadToken
		} else if !limited {
			return nil
		}
		return s.spendTokenUse(ctx, client.ObjectKeyFromObject(sec))
	}
	return errBadToken
}

// spendTokenUse spends one use of a limited token. Registrations of one hub
// take turns, so a fleet coming online with one token does not fight over
// its count; a conflict can then only come from another hub process.
func (s *AgentServer) spendTokenUse(ctx context.Context, key client.ObjectKey) error {
	s.tokenMu.Lock()
	defer s.tokenMu.Unlock()
	sec := &corev1.Secret{}
	if err := s.secrets().Get(ctx, key, sec); err != nil {
		if apierrors.IsNotFound(err) {
			return errBadToken // the last use went to someone else
		}
		return fmt.Errorf("read join token %s: %w", key.Name, err)
	}
	left, limited, err := usesLeft(sec)
	switch {
	case err != nil || (limited && left < 1):
		return errBadToken
	case !limited:
		return nil
	case left == 1:
		uid, rv := sec.UID, sec.ResourceVersion
		err = s.Client.Delete(ctx, sec, client.Preconditions{UID: &uid, ResourceVersion: &rv})
	default:
		sec.Data[JoinTokenUsesLeftKey] = []byte(strconv.Itoa(left - 1))
		err = s.Client.Update(ctx, sec) // resourceVersion set: optimistic
	}
	switch {
	case err == nil:
		return nil
	case apierrors.IsConflict(err):
		return err // another hub process spent a use: look again
	case apierrors.IsNotFound(err):
		return errBadToken
	default:
		return fmt.Errorf("spend a use of join token %s: %w", sec.Name, err)
	}
}

// usesLeft reads a token Secret's remaining uses; limited is false for a
// token good until it expires. An unreadable count refuses the token.
func usesLeft(sec *corev1.Secret) (left int, limited bool, _ error) {
	if raw, ok := sec.Data[JoinTokenUsesLeftKey]; ok {
		n, err := strconv.Atoi(string(raw))
		if err != nil {
			return 0, true, fmt.Errorf("join token %s: %s is not a count: %w", sec.Name, JoinTokenUsesLeftKey, err)
		}
		return n, true, nil
	}
	if string(sec.Data[JoinTokenSingleUseKey]) == "true" {
		return 1, true, nil
	}
	return 0, false, nil
}

func sha(b []byte) []byte {
	sum := sha256.Sum256(b)
	return sum[:]
}

// JoinTokenSecret returns the Secret that makes token a join token in
// namespace, valid until expiresAt, consumed on first use when singleUse.
func JoinTokenSecret(namespace, name, token string, expiresAt time.Time, singleUse bool) *corev1.Secret {
	uses := 0
	if singleUse {
		uses = 1
	}
	return LimitedJoinTokenSecret(namespace, name, token, expiresAt, uses)
}

// LimitedJoinTokenSecret returns the Secret that makes token a join token in
// namespace, valid until expiresAt for at most uses registrations; uses < 1
// means any number until it expires.
func LimitedJoinTokenSecret(namespace, name, token string, expiresAt time.Time, uses int) *corev1.Secret {
	sec := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name, Labels: map[string]string{JoinTokenLabel: "true"}},
		Data: map[string][]byte{
			JoinTokenKey:          []byte(token),
			JoinTokenExpiresAtKey: []byte(expiresAt.UTC().Format(time.RFC3339)),
		},
	}
	switch {
	case uses == 1:
		sec.Data[JoinTokenSingleUseKey] = []byte("true")
	case uses > 1:
		sec.Data[JoinTokenUsesLeftKey] = []byte(strconv.Itoa(uses))
	}
	return sec
}
