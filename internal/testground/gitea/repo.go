package gitea

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/go-git/go-billy/v5/memfs"
	"github.com/go-git/go-billy/v5/util"
	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	"github.com/go-git/go-git/v5/storage/memory"
)

// Auth is the admin's go-git credentials (the token as password).
func (s *Server) Auth() transport.AuthMethod {
	return &githttp.BasicAuth{Username: AdminUser, Password: s.Token}
}

// RepoURL is the clone URL of the admin's repository name.
func (s *Server) RepoURL(name string) string {
	return s.URL + "/" + AdminUser + "/" + name + ".git"
}

// CreateRepo creates an empty repository owned by the admin and returns its
// clone URL.
func (s *Server) CreateRepo(t testing.TB, name string) string {
	t.Helper()
	body := map[string]any{"name": name, "private": false, "auto_init": false, "default_branch": "main"}
	if err := s.API(t.Context(), http.MethodPost, "/user/repos", body, http.StatusCreated, nil); err != nil {
		t.Fatalf("gitea: create repository %s: %v", name, err)
	}
	return s.RepoURL(name)
}

// Commit pushes one commit of files onto branch main of the admin's
// repository over Gitea's smart HTTP, as a developer would, and returns
// its SHA.
func (s *Server) Commit(t testing.TB, repo string, files map[string]string, message string) string {
	t.Helper()
	sha, err := s.commit(t.Context(), repo, files, message)
	if err != nil {
		t.Fatalf("gitea: commit to %s: %v", repo, err)
	}
	return sha
}

func (s *Server) commit(ctx context.Context, repo string, files map[string]string, message string) (string, error) {
	fs := memfs.New()
	r, err := git.CloneContext(ctx, memory.NewStorage(), fs, &git.CloneOptions{URL: s.RepoURL(repo), Auth: s.Auth()})
	if err == transport.ErrEmptyRemoteRepository {
		if r, err = git.Init(memory.NewStorage(), fs); err == nil {
			_, err = r.CreateRemote(&config.RemoteConfig{Name: "origin", URLs: []string{s.RepoURL(repo)}})
		}
	}
	if err != nil {
		return "", err
	}
	wt, err := r.Worktree()
	if err != nil {
		return "", err
	}
	for name, content := range files {
		if err := util.WriteFile(fs, name, []byte(content), 0o644); err != nil {
			return "", err
		}
		if _, err := wt.Add(name); err != nil {
			return "", err
		}
	}
	sig := &object.Signature{Name: "Faultline Test", Email: "test@faultline.invalid", When: time.Now()}
	h, err := wt.Commit(message, &git.CommitOptions{Author: sig, Committer: sig, AllowEmptyCommits: true})
	if err != nil {
		return "", err
	}
	head, err := r.Head()
	if err != nil {
		return "", err
	}
	spec := config.RefSpec(head.Name().String() + ":refs/heads/main")
	err = r.PushContext(ctx, &git.PushOptions{Auth: s.Auth(), RefSpecs: []config.RefSpec{spec}})
	if err != nil {
		return "", fmt.Errorf("push: %w", err)
	}
	return h.String(), nil
}

// CommitStatus is a status as Gitea's API returns it (the state is in a
// field named "status", where GitHub says "state").
type CommitStatus struct {
	State       string `json:"status"`
	Context     string `json:"context"`
	Description string `json:"description"`
	TargetURL   string `json:"target_url"`
}

// CommitStatuses reads the newest status of every context on sha of the
// admin's repository through Gitea's combined status API.
func (s *Server) CommitStatuses(t testing.TB, repo, sha string) []CommitStatus {
	t.Helper()
	var combined struct {
		Statuses []CommitStatus `json:"statuses"`
	}
	if err := s.API(t.Context(), http.MethodGet, "/repos/"+AdminUser+"/"+url.PathEscape(repo)+"/commits/"+sha+"/status", nil, http.StatusOK, &combined); err != nil {
		t.Fatalf("gitea: read statuses of %s: %v", sha, err)
	}
	return combined.Statuses
}

// API calls Gitea's REST API (path below /api/v1) as the admin, checks the
// answer's status code and decodes its JSON into out when out is not nil.
func (s *Server) API(ctx context.Context, method, path string, body any, want int, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, s.URL+"/api/v1"+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "token "+s.Token)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != want {
		return fmt.Errorf("%s %s: HTTP %d, want %d: %s", method, path, resp.StatusCode, want, bytes.TrimSpace(b))
	}
	if out != nil {
		return json.Unmarshal(b, out)
	}
	return nil
}
