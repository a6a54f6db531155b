package gitserver

import (
	"fmt"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// TagOption adjusts a tag made by Tag or CreateTag.
type TagOption func(*tagConfig)

type tagConfig struct {
	message string
	signKey *openpgp.Entity
}

// TagMessage makes an annotated tag with this message, tagged by the test
// author, instead of a lightweight one.
func TagMessage(message string) TagOption {
	return func(c *tagConfig) { c.message = message }
}

// SignTag makes a signed annotated tag (with a default message unless
// TagMessage is given too).
func SignTag(key *openpgp.Entity) TagOption {
	return func(c *tagConfig) { c.signKey = key }
}

// Tag is CreateTag for tests: it ends the test on failure.
func (s *Server) Tag(t testing.TB, repo, name, sha string, opts ...TagOption) {
	t.Helper()
	if err := s.CreateTag(repo, name, sha, opts...); err != nil {
		t.Fatalf("gitserver: %v", err)
	}
}

// CreateTag pushes tag name pointing at commit sha over HTTP. The commit must
// be reachable from one of the repository's branches.
func (s *Server) CreateTag(repo, name, sha string, opts ...TagOption) error {
	if !plumbing.IsHash(sha) {
		return fmt.Errorf("tag %s in %s: invalid commit hash %q", name, repo, sha)
	}
	hash := plumbing.NewHash(sha)
	var cfg tagConfig
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.signKey != nil && cfg.message == "" {
		cfg.message = "tag " + name
	}

	s.mu.Lock()
	defer s.mu.Unlock()

	r, err := s.fetchWorkspace(repo)
	if err != nil {
		return fmt.Errorf("tag %s in %s: %w", name, repo, err)
	}
	if _, err := r.CommitObject(hash); err != nil {
		return fmt.Errorf("tag %s in %s: commit %s is on no branch: %w", name, repo, sha, err)
	}
	var tagOpts *git.CreateTagOptions
	if cfg.message != "" {
		tagOpts = &git.CreateTagOptions{
			Tagger:  &object.Signature{Name: TestAuthorName, Email: TestAuthorEmail, When: time.Now()},
			Message: cfg.message,
			SignKey: cfg.signKey,
		}
	}
	ref, err := r.CreateTag(name, hash, tagOpts)
	if err != nil {
		return fmt.Errorf("tag %s in %s: %w", name, repo, err)
	}
	if err := s.push(r, ref.Name()); err != nil {
		return fmt.Errorf("tag %s in %s: %w", name, repo, err)
	}
	return nil
}
