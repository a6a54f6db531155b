package writeback

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/faultline-dev/faultline/crds/v1alpha1"
)

// Forge is where a provider talks to: the API base URL and the repository.
type Forge struct {
	Provider v1alpha1.CommitStatusProvider
	// API is the base URL of the REST API, such as https://api.github.com,
	// https://gitlab.example.com/api/v4 or http://127.0.0.1:3000/api/v1.
	API string
	// Repository is owner/name (GitLab: the full project path with groups).
	Repository string
}

// ResolveForge works out the API base and repository of a ChaosSource's
// commit status spec: given values win, and what is missing is derived
// from the repository URL (https, http or ssh):
//
//	github  https://github.com/o/r.git     → https://api.github.com, o/r
//	github  https://ghe.example.com/o/r    → https://ghe.example.com/api/v3, o/r
//	gitlab  https://gitlab.com/g/sub/p.git → https://gitlab.com/api/v4, g/sub/p
//	gitea   http://host:3000/o/r.git       → http://host:3000/api/v1, o/r
//	gitea   https://host/git/o/r           → https://host/git/api/v1, o/r
//
// An ssh:// URL gives an https API on the same host, without the ssh port.
// A given address without an API path gets the provider's (/api/v3 for
// GitHub Enterprise, /api/v4, /api/v1); https://github.com becomes
// https://api.github.com.
func ResolveForge(spec v1alpha1.CommitStatusSpec, repoURL string) (Forge, error) {
	f := Forge{Provider: spec.Provider, Repository: strings.Trim(spec.Repository, "/")}
	switch spec.Provider {
	case v1alpha1.CommitStatusProvider("github"), v1alpha1.CommitStatusProvider("gitlab"), v1alpha1.CommitStatusProvider("gitea"):
	default:
		return Forge{}, fmt.Errorf("commitStatus.provider: unknown provider %q (want github, gitlab or gitea)", spec.Provider)
	}
	var base *url.URL
	var prefix, repo string
	if spec.Address == "" || f.Repository == "" {
		u, err := url.Parse(repoURL)
		if err != nil || u.Host == "" {
			return Forge{}, fmt.Errorf("commitStatus: cannot derive the forge from repository URL %q: not an absolute URL", repoURL)
		}
		segs := strings.Split(strings.TrimSuffix(strings.Trim(u.Path, "/"), ".git"), "/")
		split := len(segs) - 2 // owner/name are the last two segments
		if spec.Provider == "gitlab" {
			split = 0 // GitLab: the whole path is the project (groups nest)
		}
		if len(segs) < 2 || split < 0 || slicesContainEmpty(segs) {
			return Forge{}, fmt.Errorf("commitStatus: cannot derive owner/name from repository URL %q", repoURL)
		}
		if spec.Provider == "github" && split > 0 {
			return Forge{}, fmt.Errorf("commitStatus: GitHub repository URL %q has more than owner/name in its path", repoURL)
		}
		prefix, repo = strings.Join(segs[:split], "/"), strings.Join(segs[split:], "/")
		base = &url.URL{Scheme: u.Scheme, Host: u.Host}
		if u.Scheme == "ssh" {
			base = &url.URL{Scheme: "https", Host: u.Hostname()}
		}
	}
	if f.Repository == "" {
		f.Repository = repo
	}
	if spec.Address != "" {
		u, err := url.Parse(strings.TrimSuffix(spec.Address, "/"))
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return Forge{}, fmt.Errorf("commitStatus.address %q: want an http(s) URL", spec.Address)
		}
		base, prefix = u, ""
	}
	f.API = apiBase(spec.Provider, base, prefix)
	return f, nil
}

func slicesContainEmpty(s []string) bool {
	for _, x := range s {
		if x == "" {
			return true
		}
	}
	return false
}

// apiBase appends the provider's API path unless the URL already ends in one.
func apiBase(p v1alpha1.CommitStatusProvider, base *url.URL, prefix string) string {
	u := *base
	u.User, u.RawQuery, u.Fragment = nil, "", ""
	path := strings.TrimSuffix(u.Path, "/")
	if prefix != "" {
		path += "/" + prefix
	}
	want := map[v1alpha1.CommitStatusProvider]string{"github": "/api/v3", "gitlab": "/api/v4", "gitea": "/api/v1"}[p]
	switch {
	case p == "github" && (u.Host == "github.com" || u.Host == "www.github.com") && path == "":
		u.Host = "api.github.com"
	case p == "github" && u.Host == "api.github.com":
	case strings.HasSuffix(path, want):
	default:
		path += want
	}
	u.Path = path
	return u.String()
}
