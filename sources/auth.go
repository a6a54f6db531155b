package sources

import (
	"fmt"
	"net/url"
	"os"
	"path/filepath"

	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	gitssh "github.com/go-git/go-git/v5/plumbing/transport/ssh"
)

// Keys of a ChaosSource's credentials Secret, as Flux's GitRepository uses them.
const (
	SecretUsername    = "username"
	SecretPassword    = "password"
	SecretBearerToken = "bearerToken"
	SecretIdentity    = "identity"
	SecretKnownHosts  = "known_hosts"
)

// AuthFromSecret builds go-git credentials for rawURL from a Secret's data:
// username and password (HTTP basic), bearerToken (HTTP), or identity (an
// SSH private key, with password as its passphrase) and known_hosts, which
// SSH requires: the host key is always checked. known_hosts is written to
// stateDir, since go-git reads host keys from files.
func AuthFromSecret(rawURL string, data map[string][]byte, stateDir string) (transport.AuthMethod, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("parsing the URL: %w", err)
	}
	switch u.Scheme {
	case "http", "https":
		if tok := data[SecretBearerToken]; len(tok) > 0 {
			return &githttp.TokenAuth{Token: string(tok)}, nil
		}
		if user := data[SecretUsername]; len(user) > 0 {
			return &githttp.BasicAuth{Username: string(user), Password: string(data[SecretPassword])}, nil
		}
		return nil, fmt.Errorf("the secret has neither %s nor %s", SecretBearerToken, SecretUsername)
	case "ssh":
		key := data[SecretIdentity]
		if len(key) == 0 {
			return nil, fmt.Errorf("the secret has no %s for an ssh:// URL", SecretIdentity)
		}
		hosts := data[SecretKnownHosts]
		if len(hosts) == 0 {
			return nil, fmt.Errorf("the secret has no %s: faultline never connects to an unknown SSH host", SecretKnownHosts)
		}
		user := u.User.Username()
		if user == "" {
			user = "git"
		}
		auth, err := gitssh.NewPublicKeys(user, key, string(data[SecretPassword]))
		if err != nil {
			return nil, fmt.Errorf("reading the SSH identity: %w", err)
		}
		if err := os.MkdirAll(stateDir, 0o700); err != nil {
			return nil, err
		}
		path := filepath.Join(stateDir, "known_hosts")
		if err := os.WriteFile(path, hosts, 0o600); err != nil {
			return nil, err
		}
		if auth.HostKeyCallback, err = gitssh.NewKnownHostsCallback(path); err != nil {
			return nil, fmt.Errorf("reading known_hosts: %w", err)
		}
		return auth, nil
	}
	return nil, fmt.Errorf("unsupported URL scheme %q", u.Scheme)
}
