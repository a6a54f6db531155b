package gitserver

import (
	"errors"
	"fmt"

	"github.com/go-git/go-billy/v5/memfs"
	"github.com/go-git/go-git/v5"
	gitconfig "github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/transport"
	"github.com/go-git/go-git/v5/storage/memory"
)

const remoteName = "origin"

// fetchWorkspace makes an in-memory clone of repo holding all of its
// branches. Working in memory, and from scratch on every helper call, means
// the helpers always build on what the server has now (including pushes made
// by the system under test) and leave nothing on disk to clean up.
func (s *Server) fetchWorkspace(repo string) (*git.Repository, error) {
	if _, err := s.repoPath(repo); err != nil {
		return nil, err
	}
	r, err := git.Init(memory.NewStorage(), memfs.New())
	if err != nil {
		return nil, fmt.Errorf("init workspace: %w", err)
	}
	if _, err := r.CreateRemote(&gitconfig.RemoteConfig{Name: remoteName, URLs: []string{s.RepoURL(repo)}}); err != nil {
		return nil, fmt.Errorf("add remote: %w", err)
	}
	err = r.Fetch(&git.FetchOptions{
		RemoteName: remoteName,
		RefSpecs:   []gitconfig.RefSpec{"+refs/heads/*:refs/remotes/origin/*"},
		Auth:       s.Auth(),
		Tags:       git.NoTags,
	})
	if err != nil && !errors.Is(err, git.NoErrAlreadyUpToDate) && !errors.Is(err, transport.ErrEmptyRemoteRepository) {
		return nil, fmt.Errorf("fetch %s: %w", s.RepoURL(repo), err)
	}
	return r, nil
}

// checkoutBranch points HEAD and the worktree at branch. A branch the server
// does not have yet starts from DefaultBranch, like a feature branch; in an
// empty repository it becomes the first, parentless commit.
func checkoutBranch(r *git.Repository, branch string) (*git.Worktree, error) {
	wt, err := r.Worktree()
	if err != nil {
		return nil, fmt.Errorf("worktree: %w", err)
	}
	ref := plumbing.NewBranchReferenceName(branch)
	var base *plumbing.Reference
	for _, candidate := range []string{branch, DefaultBranch} {
		base, err = r.Reference(plumbing.NewRemoteReferenceName(remoteName, candidate), true)
		if err == nil {
			break
		}
		if !errors.Is(err, plumbing.ErrReferenceNotFound) {
			return nil, fmt.Errorf("look up %s: %w", candidate, err)
		}
	}
	if base == nil {
		if err := r.Storer.SetReference(plumbing.NewSymbolicReference(plumbing.HEAD, ref)); err != nil {
			return nil, fmt.Errorf("start branch %s: %w", branch, err)
		}
		return wt, nil
	}
	if err := wt.Checkout(&git.CheckoutOptions{Branch: ref, Hash: base.Hash(), Create: true}); err != nil {
		return nil, fmt.Errorf("check out %s at %s: %w", branch, base.Hash(), err)
	}
	return wt, nil
}

// push sends refspec src:src to the server.
func (s *Server) push(r *git.Repository, ref plumbing.ReferenceName) error {
	err := r.Push(&git.PushOptions{
		RemoteName: remoteName,
		RefSpecs:   []gitconfig.RefSpec{gitconfig.RefSpec(ref + ":" + ref)},
		Auth:       s.Auth(),
	})
	if err != nil {
		return fmt.Errorf("push %s: %w", ref, err)
	}
	return nil
}
