package writeback

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/faultline-dev/faultline/crds/v1alpha1"
)

// TokenKey is the key of the API token in a commit status Secret.
const TokenKey = "token"

// ForSource builds the commit status provider a ChaosSource asks for, with
// the token from the Secret named by spec.commitStatus.secretRef in the
// source's namespace. It returns nil, nil when the source sets no
// commitStatus.
func ForSource(ctx context.Context, c client.Reader, src *v1alpha1.ChaosSource, httpClient *http.Client) (Provider, error) {
	spec := src.Spec.CommitStatus
	if spec == nil {
		return nil, nil
	}
	f, err := ResolveForge(*spec, src.Spec.URL)
	if err != nil {
		return nil, err
	}
	token, err := Token(ctx, c, src.Namespace, spec.SecretRef.Name)
	if err != nil {
		return nil, err
	}
	return New(f, token, httpClient)
}

// Token reads the API token from a Secret's "token" key.
func Token(ctx context.Context, c client.Reader, namespace, name string) (string, error) {
	var s corev1.Secret
	if err := c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, &s); err != nil {
		return "", fmt.Errorf("commit status secret %s/%s: %w", namespace, name, err)
	}
	tok := strings.TrimSpace(string(s.Data[TokenKey]))
	if tok == "" {
		return "", fmt.Errorf("commit status secret %s/%s: no %q key", namespace, name, TokenKey)
	}
	return tok, nil
}
