package sources

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/Masterminds/semver/v3"
	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/transport"
	"github.com/go-git/go-git/v5/storage/memory"

	v1alpha1 "github.com/faultline-dev/faultline/crds/v1alpha1"
)

// DefaultBranch is checked out when a source names no ref.
const DefaultBranch = "main"

// Revision is one resolved ref: what the user asked for and the commit it
// points at, written as Flux writes it: main@sha1:<hash>, v1.2.0@sha1:<hash>,
// or sha1:<hash> for a pinned commit.
type Revision struct {
	// Name is the branch or tag name; empty for a pinned commit.
	Name string
	// Commit is the commit's hash.
	Commit string
	// Tag is the hash of the annotated tag object, when Name is a tag that
	// has one (its signature is what tag verification checks).
	Tag string
	// RefName is the full reference fetched, such as refs/heads/main.
	RefName plumbing.ReferenceName
}

func (r Revision) String() string {
	if r.Name == "" {
		return "sha1:" + r.Commit
	}
	return r.Name + "@sha1:" + r.Commit
}

// Repository is one source's view of a remote and its on-disk cache.
type Repository struct {
	// URL of the remote: https://, http:// or ssh://.
	URL string
	// Ref to follow; nil means DefaultBranch.
	Ref *v1alpha1.GitRef
	// Auth for the remote; nil for anonymous access.
	Auth transport.AuthMethod
	// CacheDir holds this source's clone; kept across reconciles so only
	// new objects travel. It must belong to this source alone.
	CacheDir string
}

// ErrRefNotFound means the remote has no such branch or tag, or no tag in
// the semver range: a configuration problem, not a transient one.
var ErrRefNotFound = errors.New("reference not found on the remote")

// Resolve asks the remote which commit the ref points at, without fetching
// any object: this is the whole cost of a reconcile when nothing changed.
// A pinned commit resolves without asking.
func (r *Repository) Resolve(ctx context.Context) (Revision, error) {
	ref := r.Ref
	if ref == nil {
		ref = &v1alpha1.GitRef{}
	}
	if ref.Commit != "" {
		return Revision{Commit: ref.Commit}, nil
	}
	remote := git.NewRemote(memory.NewStorage(), &config.RemoteConfig{Name: "origin", URLs: []string{r.URL}})
	refs, err := remote.ListContext(ctx, &git.ListOptions{Auth: r.Auth, PeelingOption: git.AppendPeeled})
	if err != nil {
		return Revision{}, fmt.Errorf("listing refs of %s: %w", r.URL, err)
	}
	byName := make(map[string]string, len(refs))
	for _, rf := range refs {
		if rf.Type() == plumbing.HashReference {
			byName[rf.Name().String()] = rf.Hash().String()
		}
	}
	tag := ref.Tag
	if ref.SemVer != "" {
		if tag, err = latestTag(ref.SemVer, byName); err != nil {
			return Revision{}, err
		}
	}
	if tag != "" {
		name := "refs/tags/" + tag
		obj, ok := byName[name]
		if !ok {
			return Revision{}, fmt.Errorf("tag %q: %w", tag, ErrRefNotFound)
		}
		if peeled, annotated := byName[name+"^{}"]; annotated {
			return Revision{Name: tag, Commit: peeled, Tag: obj, RefName: plumbing.ReferenceName(name)}, nil
		}
		return Revision{Name: tag, Commit: obj, RefName: plumbing.ReferenceName(name)}, nil
	}
	branch := ref.Branch
	if branch == "" {
		branch = DefaultBranch
	}
	name := plumbing.NewBranchReferenceName(branch)
	hash, ok := byName[name.String()]
	if !ok {
		return Revision{}, fmt.Errorf("branch %q: %w", branch, ErrRefNotFound)
	}
	return Revision{Name: branch, Commit: hash, RefName: name}, nil
}

// latestTag picks the highest tag satisfying the range.
func latestTag(rng string, refs map[string]string) (string, error) {
	c, err := semver.NewConstraint(rng)
	if err != nil {
		return "", fmt.Errorf("semver range %q: %w", rng, err)
	}
	type cand struct {
		v   *semver.Version
		tag string
	}
	var cands []cand
	for name := range refs {
		tag, ok := strings.CutPrefix(name, "refs/tags/")
		if !ok || strings.HasSuffix(tag, "^{}") {
			continue
		}
		v, err := semver.NewVersion(tag)
		if err != nil || !c.Check(v) {
			continue
		}
		cands = append(cands, cand{v, tag})
	}
	if len(cands) == 0 {
		return "", fmt.Errorf("no tag in range %q: %w", rng, ErrRefNotFound)
	}
	sort.Slice(cands, func(i, j int) bool { return cands[i].v.GreaterThan(cands[j].v) })
	return cands[0].tag, nil
}

// Commit describes the checked-out revision.
type Commit struct {
	Revision  Revision
	Author    string // "Name <email>"
	Committer string
	// CommitTime is when the commit was made (the committer's time).
	CommitTime time.Time
	Message    string // the subject line
	// Dir is the work tree: the checkout Build must stay inside.
	Dir string

	repo *git.Repository
}

// Checkout makes the cache hold rev and its work tree show exactly rev's
// files. The first call clones (shallow for branches and tags); later calls
// fetch only what is new. A damaged cache is discarded and cloned again.
func (r *Repository) Checkout(ctx context.Context, rev Revision) (*Commit, error) {
	c, err := r.checkout(ctx, rev)
	if err == nil || ctx.Err() != nil || errors.Is(err, transport.ErrAuthenticationRequired) ||
		errors.Is(err, transport.ErrAuthorizationFailed) || errors.Is(err, ErrRefNotFound) {
		return c, err
	}
	// A cache left half-written by a crash, or shallow history go-git
	// cannot extend: start over once.
	if rmErr := os.RemoveAll(r.CacheDir); rmErr != nil {
		return nil, errors.Join(err, rmErr)
	}
	return r.checkout(ctx, rev)
}

func (r *Repository) checkout(ctx context.Context, rev Revision) (*Commit, error) {
	repo, err := git.PlainOpen(r.CacheDir)
	if errors.Is(err, git.ErrRepositoryNotExists) {
		if err := os.MkdirAll(r.CacheDir, 0o700); err != nil {
			return nil, fmt.Errorf("creating the cache: %w", err)
		}
		repo, err = git.PlainInit(r.CacheDir, false)
		if err == nil {
			_, err = repo.CreateRemote(&config.RemoteConfig{Name: "origin", URLs: []string{r.URL}})
		}
	}
	if err != nil {
		return nil, fmt.Errorf("opening the cache: %w", err)
	}
	if remote, err := repo.Remote("origin"); err != nil || len(remote.Config().URLs) == 0 || remote.Config().URLs[0] != r.URL {
		return nil, fmt.Errorf("the cache at %s belongs to another URL", r.CacheDir)
	}
	hash := plumbing.NewHash(rev.Commit)
	_, missing := repo.CommitObject(hash)
	if rev.Tag != "" && missing == nil {
		_, missing = repo.TagObject(plumbing.NewHash(rev.Tag))
	}
	if missing != nil {
		if err := r.fetch(ctx, repo, rev); err != nil {
			return nil, err
		}
	}
	commit, err := repo.CommitObject(hash)
	if err != nil {
		return nil, fmt.Errorf("commit %s is not on the remote: %w", rev.Commit, ErrRefNotFound)
	}
	wt, err := repo.Worktree()
	if err != nil {
		return nil, err
	}
	if err := wt.Checkout(&git.CheckoutOptions{Hash: hash, Force: true}); err != nil {
		return nil, fmt.Errorf("checking out %s: %w", rev, err)
	}
	// Force does not remove untracked files; nothing should write there,
	// but a stale file must never reach a build.
	if err := wt.Clean(&git.CleanOptions{Dir: true}); err != nil {
		return nil, fmt.Errorf("cleaning the work tree: %w", err)
	}
	return &Commit{
		Revision:   rev,
		Author:     signatureString(commit.Author),
		Committer:  signatureString(commit.Committer),
		CommitTime: commit.Committer.When,
		Message:    subject(commit.Message),
		Dir:        r.CacheDir,
		repo:       repo,
	}, nil
}

// fetch brings rev's objects into the cache: only its ref, shallow, for
// branches and tags; every branch, with history, for a pinned commit (a
// server need not serve a commit by hash).
func (r *Repository) fetch(ctx context.Context, repo *git.Repository, rev Revision) error {
	opts := &git.FetchOptions{RemoteName: "origin", Auth: r.Auth, Force: true, Tags: git.NoTags}
	switch {
	case rev.RefName != "":
		opts.RefSpecs = []config.RefSpec{config.RefSpec(fmt.Sprintf("+%s:%s", rev.RefName, rev.RefName))}
		opts.Depth = 1
	default:
		opts.RefSpecs = []config.RefSpec{"+refs/heads/*:refs/remotes/origin/*"}
	}
	err := repo.FetchContext(ctx, opts)
	if err != nil && !errors.Is(err, git.NoErrAlreadyUpToDate) {
		return fmt.Errorf("fetching %s from %s: %w", rev, r.URL, err)
	}
	return nil
}

func signatureString(s object.Signature) string {
	return fmt.Sprintf("%s <%s>", s.Name, s.Email)
}

func subject(msg string) string {
	msg = strings.TrimSpace(msg)
	if i := strings.IndexByte(msg, '\n'); i >= 0 {
		msg = msg[:i]
	}
	return msg
}

// CacheDirFor is the cache directory of a source under root.
func CacheDirFor(root, namespace, name string) string {
	return filepath.Join(root, namespace, name)
}
