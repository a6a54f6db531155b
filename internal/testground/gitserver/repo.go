package gitserver

import (
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
)

// DefaultBranch is the branch HEAD of every new repository points to.
const DefaultBranch = "main"

// CreateRepo is InitRepo for tests: it ends the test if the repository
// cannot be created.
func (s *Server) CreateRepo(t testing.TB, name string) string {
	t.Helper()
	u, err := s.InitRepo(name)
	if err != nil {
		t.Fatalf("gitserver: %v", err)
	}
	return u
}

// InitRepo creates an empty bare repository called name (".git" is
// appended unless present; slashes make nested paths such as "org/app")
// whose HEAD is DefaultBranch and which accepts pushes over HTTP. It returns
// the repository's URL without credentials.
func (s *Server) InitRepo(name string) (string, error) {
	path, err := s.repoPath(name)
	if err != nil {
		return "", err
	}
	if _, err := os.Stat(path); err == nil {
		return "", fmt.Errorf("create repository %q: %w", name, fs.ErrExist)
	}
	if err := s.git("init", "--bare", "--quiet", "--initial-branch="+DefaultBranch, path); err != nil {
		return "", fmt.Errorf("create repository %q: %w", name, err)
	}
	if err := s.git("--git-dir="+path, "config", "http.receivepack", "true"); err != nil {
		return "", fmt.Errorf("enable pushes to %q: %w", name, err)
	}
	return s.RepoURL(name), nil
}

// RepoURL is the clone URL of the repository called name, without
// credentials (see CloneURL and Auth).
func (s *Server) RepoURL(name string) string {
	return s.url + "/" + repoDir(name)
}

// RepoPath is the bare repository's directory on disk, for assertions that
// look behind the server (e.g. at refs the system under test pushed). It
// returns "" for names that CreateRepo would reject.
func (s *Server) RepoPath(name string) string {
	path, err := s.repoPath(name)
	if err != nil {
		return ""
	}
	return path
}

// ResolveRef reads ref (a full name such as "refs/heads/main" or
// "refs/notes/faultline", or a short branch or tag name) straight from the
// bare repository, bypassing HTTP, and returns the hash it points to.
func (s *Server) ResolveRef(repo, ref string) (string, error) {
	path, err := s.repoPath(repo)
	if err != nil {
		return "", err
	}
	r, err := git.PlainOpen(path)
	if err != nil {
		return "", fmt.Errorf("open repository %q: %w", repo, err)
	}
	h, err := r.ResolveRevision(plumbing.Revision(ref))
	if err != nil {
		return "", fmt.Errorf("resolve %q in %q: %w", ref, repo, err)
	}
	return h.String(), nil
}

func (s *Server) repoPath(name string) (string, error) {
	dir := repoDir(name)
	if !fs.ValidPath(dir) || strings.HasPrefix(dir, ".") || strings.Contains(dir, "/.") {
		return "", fmt.Errorf("invalid repository name %q", name)
	}
	return filepath.Join(s.root, filepath.FromSlash(dir)), nil
}

func repoDir(name string) string {
	if strings.HasSuffix(name, ".git") {
		return name
	}
	return name + ".git"
}

// git runs the git CLI with the server's isolated configuration.
func (s *Server) git(args ...string) error {
	cmd := exec.Command("git", args...)
	cmd.Env = append(os.Environ(), s.gitEnv...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("git %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}
