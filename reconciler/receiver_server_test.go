package reconciler

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/fluxcd/pkg/apis/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/faultline-dev/faultline/crds/v1alpha1"
	"github.com/faultline-dev/faultline/internal/testground/cluster"
)

func hmacHex(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

func TestReceiverProviders(t *testing.T) {
	c := cluster.Start(t, "hub")[0].Client
	// Nothing reconciles these sources; the URLs are never contacted.
	target := &v1alpha1.ChaosSource{ObjectMeta: metav1.ObjectMeta{Name: "target"},
		Spec: v1alpha1.ChaosSourceSpec{URL: "https://git.example.test/team/chaos.git", Interval: metav1.Duration{Duration: time.Hour}}}
	other := &v1alpha1.ChaosSource{ObjectMeta: metav1.ObjectMeta{Name: "other"},
		Spec: v1alpha1.ChaosSourceSpec{URL: "https://git.example.test/team/other.git", Interval: metav1.Duration{Duration: time.Hour}}}
	createNamespace(t, c, "hooks", target, other)

	clock := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	rc := &Receiver{Client: c, Secret: []byte("s3cret"), Now: func() time.Time { clock = clock.Add(time.Second); return clock }}
	srv := httptest.NewServer(rc)
	defer srv.Close()

	requestedAt := func(name string) string {
		s := &v1alpha1.ChaosSource{}
		if err := c.Get(t.Context(), client.ObjectKey{Namespace: "hooks", Name: name}, s); err != nil {
			t.Fatal(err)
		}
		return s.Annotations[meta.ReconcileRequestAnnotation]
	}

	github := []byte(`{"ref":"refs/heads/main","repository":{"clone_url":"https://git.example.test/team/chaos.git","ssh_url":"git@git.example.test:team/chaos.git"}}`)
	gitlab := []byte(`{"object_kind":"push","project":{"git_http_url":"https://git.example.test/team/chaos.git"}}`)
	gitea := []byte(`{"ref":"refs/heads/main","repository":{"clone_url":"https://git.example.test/team/chaos"}}`)
	generic := []byte(`{"url":"ssh://git@git.example.test/team/chaos.git"}`)
	cases := []struct {
		name    string
		path    string
		body    []byte
		headers map[string]string
		want    int
	}{
		{"github signed", "github", github, map[string]string{"X-GitHub-Event": "push", "X-Hub-Signature-256": "sha256=" + hmacHex("s3cret", github)}, http.StatusAccepted},
		{"github wrong key", "github", github, map[string]string{"X-GitHub-Event": "push", "X-Hub-Signature-256": "sha256=" + hmacHex("guess", github)}, http.StatusUnauthorized},
		{"github unsigned", "github", github, map[string]string{"X-GitHub-Event": "push"}, http.StatusUnauthorized},
		{"github ping", "github", github, map[string]string{"X-GitHub-Event": "ping", "X-Hub-Signature-256": "sha256=" + hmacHex("s3cret", github)}, http.StatusOK},
		{"gitlab token", "gitlab", gitlab, map[string]string{"X-Gitlab-Event": "Push Hook", "X-Gitlab-Token": "s3cret"}, http.StatusAccepted},
		{"gitlab wrong token", "gitlab", gitlab, map[string]string{"X-Gitlab-Event": "Push Hook", "X-Gitlab-Token": "s3cre"}, http.StatusUnauthorized},
		{"gitea signed", "gitea", gitea, map[string]string{"X-Gitea-Event": "push", "X-Gitea-Signature": hmacHex("s3cret", gitea)}, http.StatusAccepted},
		{"gitea body tampered", "gitea", append([]byte(" "), gitea...), map[string]string{"X-Gitea-Event": "push", "X-Gitea-Signature": hmacHex("s3cret", gitea)}, http.StatusUnauthorized},
		{"generic hmac", "generic", generic, map[string]string{"X-Signature": "sha256=" + hmacHex("s3cret", generic)}, http.StatusAccepted},
		{"generic without algorithm", "generic", generic, map[string]string{"X-Signature": hmacHex("s3cret", generic)}, http.StatusUnauthorized},
		{"unknown provider", "bitbucket", generic, nil, http.StatusNotFound},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before, otherBefore := requestedAt("target"), requestedAt("other")
			req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, srv.URL+"/hook/"+tc.path, bytes.NewReader(tc.body))
			for k, v := range tc.headers {
				req.Header.Set(k, v)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.want)
			}
			after := requestedAt("target")
			if changed := after != before; changed != (tc.want == http.StatusAccepted) {
				t.Errorf("requestedAt %q -> %q; status %d", before, after, resp.StatusCode)
			}
			if requestedAt("other") != otherBefore {
				t.Errorf("a source of another repository was triggered")
			}
		})
	}
	if got := fmt.Sprint(normalizeRepoURL("git@Git.Example.test:team/chaos.git")); got != "git.example.test/team/chaos" {
		t.Errorf("normalize scp-like: %s", got)
	}
}
