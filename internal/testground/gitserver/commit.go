package gitserver

import (
	"fmt"
	"io/fs"
	"maps"
	"path"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/go-git/go-billy/v5/util"
	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// The fixed identity of commits and tags made by the helpers, so tests can
// assert on authorship (e.g. the author a source reports for a revision).
const (
	TestAuthorName  = "Faultline Test"
	TestAuthorEmail = "test@faultline.invalid"
)

// CommitOption adjusts one commit made by Commit or CommitFiles.
type CommitOption func(*commitConfig)

type commitConfig struct {
	name, email string
	when        time.Time
	signKey     *openpgp.Entity
}

// SignCommit signs the commit with an OpenPGP key that has its private key
// decrypted, for tests of signature verification.
func SignCommit(key *openpgp.Entity) CommitOption {
	return func(c *commitConfig) { c.signKey = key }
}

// CommitAuthor replaces the test author (and committer), for tests that
// tell people apart, such as approvals or policy on authors.
func CommitAuthor(name, email string) CommitOption {
	return func(c *commitConfig) { c.name, c.email = name, email }
}

// CommitTime sets author and committer time instead of now, which makes the
// commit hash reproducible for identical content and parents.
func CommitTime(when time.Time) CommitOption {
	return func(c *commitConfig) { c.when = when }
}

// Commit is CommitFiles for tests: it ends the test on failure.
func (s *Server) Commit(t testing.TB, repo, branch string, files map[string]string, message string, opts ...CommitOption) string {
	t.Helper()
	sha, err := s.CommitFiles(repo, branch, files, message, opts...)
	if err != nil {
		t.Fatalf("gitserver: %v", err)
	}
	return sha
}

// CommitFiles makes one commit on branch of repo and pushes it over HTTP,
// exactly as a developer would, and returns its hash. Each entry of files
// writes a file (slash-separated path relative to the repository root) with
// that content, or deletes it when the content is empty; deleting a file that
// does not exist is an error, to catch typos in tests. A branch the server
// lacks starts from DefaultBranch; no files makes an empty commit.
func (s *Server) CommitFiles(repo, branch string, files map[string]string, message string, opts ...CommitOption) (string, error) {
	cfg := commitConfig{name: TestAuthorName, email: TestAuthorEmail, when: time.Now()}
	for _, o := range opts {
		o(&cfg)
	}

	s.mu.Lock()
	defer s.mu.Unlock()

	r, err := s.fetchWorkspace(repo)
	if err != nil {
		return "", fmt.Errorf("commit to %s: %w", repo, err)
	}
	wt, err := checkoutBranch(r, branch)
	if err != nil {
		return "", fmt.Errorf("commit to %s: %w", repo, err)
	}
	if err := applyFiles(wt, files); err != nil {
		return "", fmt.Errorf("commit to %s: %w", repo, err)
	}
	sig := &object.Signature{Name: cfg.name, Email: cfg.email, When: cfg.when}
	hash, err := wt.Commit(message, &git.CommitOptions{
		Author:            sig,
		Committer:         sig,
		SignKey:           cfg.signKey,
		AllowEmptyCommits: true,
	})
	if err != nil {
		return "", fmt.Errorf("commit to %s: %w", repo, err)
	}
	if err := s.push(r, plumbing.NewBranchReferenceName(branch)); err != nil {
		return "", fmt.Errorf("commit to %s: %w", repo, err)
	}
	return hash.String(), nil
}

// applyFiles writes and deletes files in sorted order, so a failure always
// names the same file.
func applyFiles(wt *git.Worktree, files map[string]string) error {
	for _, name := range slices.Sorted(maps.Keys(files)) {
		if !fs.ValidPath(name) || name == "." || name == ".git" || strings.HasPrefix(name, ".git/") {
			return fmt.Errorf("invalid file path %q", name)
		}
		content := files[name]
		if content == "" {
			if _, err := wt.Remove(name); err != nil {
				return fmt.Errorf("delete %s: %w", name, err)
			}
			continue
		}
		if err := wt.Filesystem.MkdirAll(path.Dir(name), 0o755); err != nil {
			return fmt.Errorf("write %s: %w", name, err)
		}
		if err := util.WriteFile(wt.Filesystem, name, []byte(content), 0o644); err != nil {
			return fmt.Errorf("write %s: %w", name, err)
		}
		if _, err := wt.Add(name); err != nil {
			return fmt.Errorf("stage %s: %w", name, err)
		}
	}
	return nil
}
