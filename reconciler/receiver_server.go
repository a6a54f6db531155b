package reconciler

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/fluxcd/pkg/apis/meta"
	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/klog/v2"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/faultline-dev/faultline/crds/v1alpha1"
)

// Receiver turns forge push webhooks into immediate ChaosSource reconciles,
// as Flux's notification-controller Receiver does: a push whose signature
// or token is right makes every ChaosSource of that repository reconcile
// now instead of at its next interval, by setting the
// reconcile.fluxcd.io/requestedAt annotation (which survives hub restarts
// and works with any replica holding the lease).
//
// Routes (POST): /hook/github (X-Hub-Signature-256), /hook/gitlab
// (X-Gitlab-Token), /hook/gitea (X-Gitea-Signature), /hook/generic
// (X-Signature: sha256=<hex HMAC of the body>, with {"url": "..."} as body).
// A request without a valid signature gets 401 and changes nothing.
type Receiver struct {
	Client client.Client
	// Secret is the shared webhook secret (HMAC key or GitLab token).
	Secret []byte
	// Log for requests; the zero value discards.
	Log logr.Logger
	// Now is the clock of requestedAt values; nil means time.Now.
	Now func() time.Time
}

// maxHookBody bounds a webhook payload; forges send well under this.
const maxHookBody = 5 << 20

// ServeHTTP authenticates, parses and dispatches one hook.
func (rc *Receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if req.Method != http.MethodPost {
		http.Error(w, "POST only", http.StatusMethodNotAllowed)
		return
	}
	if len(rc.Secret) == 0 {
		http.Error(w, "receiver has no secret configured", http.StatusServiceUnavailable)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, req.Body, maxHookBody))
	if err != nil {
		http.Error(w, "body too large or unreadable", http.StatusRequestEntityTooLarge)
		return
	}
	provider := strings.TrimPrefix(req.URL.Path, "/hook/")
	var (
		ok     bool
		isPush bool
	)
	switch provider {
	case "github":
		ok = validPrefixedHMAC(req.Header.Get("X-Hub-Signature-256"), rc.Secret, body)
		ev := req.Header.Get("X-GitHub-Event")
		isPush = ev == "push" || ev == "create"
	case "gitlab":
		ok = subtle.ConstantTimeCompare([]byte(req.Header.Get("X-Gitlab-Token")), rc.Secret) == 1
		ev := req.Header.Get("X-Gitlab-Event")
		isPush = ev == "Push Hook" || ev == "Tag Push Hook"
	case "gitea":
		ok = validHMAC(sha256.New, req.Header.Get("X-Gitea-Signature"), rc.Secret, body)
		ev := req.Header.Get("X-Gitea-Event")
		isPush = ev == "push" || ev == "create"
	case "generic":
		ok = validPrefixedHMAC(req.Header.Get("X-Signature"), rc.Secret, body)
		isPush = true
	default:
		http.NotFound(w, req)
		return
	}
	if !ok {
		rc.Log.Info("webhook refused: bad signature", "provider", provider, "remote", req.RemoteAddr)
		http.Error(w, "invalid signature", http.StatusUnauthorized)
		return
	}
	if !isPush {
		w.WriteHeader(http.StatusOK) // ping and other events: acknowledged, nothing to do
		return
	}
	urls, err := repositoryURLs(provider, body)
	if err != nil || len(urls) == 0 {
		http.Error(w, "payload names no repository", http.StatusBadRequest)
		return
	}
	n, err := rc.trigger(req.Context(), urls)
	if err != nil {
		rc.Log.Error(err, "webhook: requesting reconciles")
		http.Error(w, "requesting reconciles failed", http.StatusInternalServerError)
		return
	}
	w.WriteHeader(http.StatusAccepted)
	fmt.Fprintf(w, "%d source(s) requested to reconcile\n", n)
}

// trigger annotates every ChaosSource whose URL is one of urls.
func (rc *Receiver) trigger(ctx context.Context, urls []string) (int, error) {
	want := map[string]bool{}
	for _, u := range urls {
		want[normalizeRepoURL(u)] = true
	}
	list := &v1alpha1.ChaosSourceList{}
	if err := rc.Client.List(ctx, list); err != nil {
		return 0, err
	}
	now := time.Now
	if rc.Now != nil {
		now = rc.Now
	}
	n := 0
	for i := range list.Items {
		src := &list.Items[i]
		if !want[normalizeRepoURL(src.Spec.URL)] {
			continue
		}
		patch := fmt.Appendf(nil, `{"metadata":{"annotations":{%q:%q}}}`, meta.ReconcileRequestAnnotation, now().Format(time.RFC3339Nano))
		if err := rc.Client.Patch(ctx, src, client.RawPatch(types.MergePatchType, patch)); client.IgnoreNotFound(err) != nil {
			return n, fmt.Errorf("annotating %s: %w", klog.KObj(src), err)
		}
		rc.Log.Info("webhook: reconcile requested", "source", klog.KObj(src))
		n++
	}
	return n, nil
}

// validPrefixedHMAC checks "sha256=<hex>" or "sha512=<hex>".
func validPrefixedHMAC(header string, secret, body []byte) bool {
	algo, sig, found := strings.Cut(header, "=")
	if !found {
		return false
	}
	switch algo {
	case "sha256":
		return validHMAC(sha256.New, sig, secret, body)
	case "sha512":
		return validHMAC(sha512.New, sig, secret, body)
	}
	return false
}

func validHMAC(h func() hash.Hash, sigHex string, secret, body []byte) bool {
	sig, err := hex.DecodeString(sigHex)
	if err != nil || len(sig) == 0 {
		return false
	}
	mac := hmac.New(h, secret)
	mac.Write(body)
	return hmac.Equal(sig, mac.Sum(nil))
}

// repositoryURLs reads the repository's addresses from a push payload.
func repositoryURLs(provider string, body []byte) ([]string, error) {
	var p struct {
		URL        string `json:"url"` // generic
		Repository struct {
			CloneURL string `json:"clone_url"`
			HTMLURL  string `json:"html_url"`
			SSHURL   string `json:"ssh_url"`
		} `json:"repository"`
		Project struct {
			HTTPURL string `json:"git_http_url"`
			SSHURL  string `json:"git_ssh_url"`
			WebURL  string `json:"web_url"`
		} `json:"project"`
	}
	if err := json.Unmarshal(body, &p); err != nil {
		return nil, err
	}
	var out []string
	for _, u := range []string{p.URL, p.Repository.CloneURL, p.Repository.HTMLURL, p.Repository.SSHURL, p.Project.HTTPURL, p.Project.SSHURL, p.Project.WebURL} {
		if u != "" {
			out = append(out, u)
		}
	}
	return out, nil
}

// normalizeRepoURL reduces a repository address to host/path, so that
// https://, ssh:// and scp-like forms of one repository compare equal.
func normalizeRepoURL(s string) string {
	s = strings.TrimSpace(s)
	if !strings.Contains(s, "://") {
		if at := strings.Index(s, "@"); at >= 0 && strings.Contains(s[at:], ":") {
			s = "ssh://" + strings.Replace(s, ":", "/", 1) // git@host:org/repo
		}
	}
	u, err := url.Parse(s)
	if err != nil {
		return strings.ToLower(s)
	}
	host := u.Hostname()
	if p := u.Port(); p != "" && u.Scheme != "ssh" {
		host += ":" + p
	}
	path := strings.TrimSuffix(strings.TrimSuffix(u.Path, "/"), ".git")
	return strings.ToLower(host + path)
}
