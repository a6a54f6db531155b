package writeback

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/faultline-dev/faultline/crds/v1alpha1"
)

// New builds the provider for a forge; token is the API token (a GitHub
// token, a GitLab personal/project access token, a Gitea access token).
// httpClient nil means http.DefaultClient.
func New(f Forge, token string, httpClient *http.Client) (Provider, error) {
	if token == "" {
		return nil, fmt.Errorf("%s commit status: empty token", f.Provider)
	}
	if f.API == "" || f.Repository == "" {
		return nil, fmt.Errorf("%s commit status: API address and repository are required", f.Provider)
	}
	api := strings.TrimSuffix(f.API, "/")
	switch f.Provider {
	case v1alpha1.CommitStatusProvider("github"):
		owner, name, err := ownerName(f.Repository)
		if err != nil {
			return nil, err
		}
		return &repoStatuses{api: api, owner: owner, name: name, c: apiClient{provider: "GitHub", http: httpClient, header: http.Header{
			"Authorization":        {"Bearer " + token},
			"Accept":               {"application/vnd.github+json"},
			"X-Github-Api-Version": {"2022-11-28"},
		}}, unknownCommit: func(status int, body string) bool {
			return status == http.StatusUnprocessableEntity && strings.Contains(body, "No commit found")
		}}, nil
	case v1alpha1.CommitStatusProvider("gitlab"):
		return &GitLab{api: api, project: f.Repository, c: apiClient{provider: "GitLab", http: httpClient, header: http.Header{
			"Private-Token": {token},
		}}}, nil
	case v1alpha1.CommitStatusProvider("gitea"):
		owner, name, err := ownerName(f.Repository)
		if err != nil {
			return nil, err
		}
		return &repoStatuses{api: api, owner: owner, name: name, c: apiClient{provider: "Gitea", http: httpClient, header: http.Header{
			"Authorization": {"token " + token},
			"Accept":        {"application/json"},
		}}, unknownCommit: func(status int, body string) bool {
			// Gitea answers an unknown SHA with 500 "object does not exist".
			return status == http.StatusInternalServerError && strings.Contains(body, "object does not exist")
		}}, nil
	}
	return nil, fmt.Errorf("unknown commit status provider %q", f.Provider)
}

func ownerName(repo string) (string, string, error) {
	owner, name, ok := strings.Cut(repo, "/")
	if !ok || owner == "" || name == "" || strings.Contains(name, "/") {
		return "", "", fmt.Errorf("repository %q: want owner/name", repo)
	}
	return owner, name, nil
}

// statusBody is the request body GitHub and Gitea share.
type statusBody struct {
	State       State  `json:"state"`
	TargetURL   string `json:"target_url,omitempty"`
	Description string `json:"description"`
	Context     string `json:"context"`
}

// repoStatuses sets statuses through POST /repos/{owner}/{repo}/statuses/{sha}:
// GitHub's API, which Gitea copies (its answers call the state "status").
// They differ only in how they say the commit is unknown.
type repoStatuses struct {
	api, owner, name string
	c                apiClient
	unknownCommit    func(status int, body string) bool
}

// SetStatus implements Provider.
func (g *repoStatuses) SetStatus(ctx context.Context, s Status) error {
	if err := s.validate(); err != nil {
		return fmt.Errorf("%w: %w", errInvalid, err)
	}
	u := fmt.Sprintf("%s/repos/%s/%s/statuses/%s", g.api, url.PathEscape(g.owner), url.PathEscape(g.name), s.SHA)
	resp, body, err := g.c.postJSON(ctx, u, statusBody{State: s.State, TargetURL: s.TargetURL, Description: s.description(), Context: s.Context})
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusCreated {
		return g.c.apiError(resp, body, g.unknownCommit)
	}
	return nil
}

// GitLab sets statuses through POST /projects/{id}/statuses/{sha}, where
// the id is the URL-encoded project path and the context is the "name".
type GitLab struct {
	api, project string
	c            apiClient
}

// gitlabState maps our states to GitLab's pipeline-like ones; it has no
// "error", so errors are failures there.
var gitlabState = map[State]string{
	StatePending: "pending",
	StateSuccess: "success",
	StateFailure: "failed",
	StateError:   "failed",
}

// SetStatus implements Provider. Setting the state a context already has
// is not an error: GitLab refuses such a "transition" with 400, and the
// status is what we wanted.
func (g *GitLab) SetStatus(ctx context.Context, s Status) error {
	if err := s.validate(); err != nil {
		return fmt.Errorf("%w: %w", errInvalid, err)
	}
	u := fmt.Sprintf("%s/projects/%s/statuses/%s", g.api, url.PathEscape(g.project), s.SHA)
	body := struct {
		State       string `json:"state"`
		Name        string `json:"name"`
		Description string `json:"description"`
		TargetURL   string `json:"target_url,omitempty"`
	}{gitlabState[s.State], s.Context, s.description(), s.TargetURL}
	resp, out, err := g.c.postJSON(ctx, u, body)
	if err != nil {
		return err
	}
	switch {
	case resp.StatusCode == http.StatusCreated, resp.StatusCode == http.StatusOK:
		return nil
	case resp.StatusCode == http.StatusBadRequest && strings.Contains(string(out), "Cannot transition status"):
		return nil
	}
	return g.c.apiError(resp, out, func(status int, body string) bool {
		return status == http.StatusNotFound && strings.Contains(body, "References for commit")
	})
}
