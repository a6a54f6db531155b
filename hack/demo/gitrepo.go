package main

import (
	"context"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/faultline-dev/faultline/internal/testground/gitea"
)

const (
	repoName = "chaos"
	prBranch = "add-checkout-latency"
)

// The demo's pull request adds the checkout-latency experiment (its base
// and the staging and prod patches) and the host experiments (hosts/).
// Main before it is examples/ without those files and without the
// kustomization lines naming them.
func isPRFile(path string) bool {
	return filepath.Base(path) == "checkout-latency.yaml" || strings.HasPrefix(filepath.ToSlash(path), "hosts/")
}

// beforePR returns a file's content on main before the pull request.
func beforePR(path string, content []byte) []byte {
	if filepath.Base(path) != "kustomization.yaml" {
		return content
	}
	var kept []string
	for _, line := range strings.Split(string(content), "\n") {
		switch strings.TrimSpace(line) {
		case "- checkout-latency.yaml", "- path: checkout-latency.yaml", "- ../../hosts":
			continue
		}
		kept = append(kept, line)
	}
	return []byte(strings.Join(kept, "\n"))
}

// repo is the demo's clone of the Gitea repository, where the developer
// works.
type repo struct {
	dir   string
	git   *git.Repository
	forge *gitea.Server
}

var (
	developer = &object.Signature{Name: "Dana Developer", Email: "dana@shop.example"}
)

// initRepo creates the repository in Gitea, with a push webhook to the
// hub's receiver, and pushes examples/ as it was before the pull request
// to main.
func initRepo(ctx context.Context, forge *gitea.Server, examples, dir, hookURL, secret string) (*repo, string, error) {
	body := map[string]any{"name": repoName, "private": true, "auto_init": false, "default_branch": "main",
		"description": "Chaos experiments of the shop (faultline examples/)"}
	if err := forge.API(ctx, http.MethodPost, "/user/repos", body, http.StatusCreated, nil); err != nil {
		return nil, "", fmt.Errorf("creating the repository: %w", err)
	}
	hook := map[string]any{"type": "gitea", "active": true, "events": []string{"push"},
		"config": map[string]string{"url": hookURL, "content_type": "json", "secret": secret}}
	if err := forge.API(ctx, http.MethodPost, "/repos/"+gitea.AdminUser+"/"+repoName+"/hooks", hook, http.StatusCreated, nil); err != nil {
		return nil, "", fmt.Errorf("creating the push webhook: %w", err)
	}
	g, err := git.PlainInitWithOptions(dir, &git.PlainInitOptions{InitOptions: git.InitOptions{DefaultBranch: plumbing.NewBranchReferenceName("main")}})
	if err != nil {
		return nil, "", err
	}
	if _, err := g.CreateRemote(&config.RemoteConfig{Name: "origin", URLs: []string{forge.RepoURL(repoName)}}); err != nil {
		return nil, "", err
	}
	r := &repo{dir: dir, git: g, forge: forge}
	if err := copyTree(examples, dir, true); err != nil {
		return nil, "", err
	}
	sha, err := r.commitAndPush(ctx, "main", "Chaos experiments of the shop\n\nExperiments, kustomize overlays per environment, host experiments.")
	return r, sha, err
}

// copyTree copies examples/ into the work tree, as before the pull request
// (before) or as it is.
func copyTree(src, dst string, before bool) error {
	return filepath.WalkDir(src, func(path string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		if before && isPRFile(rel) {
			return nil
		}
		raw, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if before {
			raw = beforePR(rel, raw)
		}
		out := filepath.Join(dst, rel)
		if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
			return err
		}
		return os.WriteFile(out, raw, 0o644)
	})
}

// commitAndPush commits every change of the work tree onto branch and
// pushes it.
func (r *repo) commitAndPush(ctx context.Context, branch, message string) (string, error) {
	wt, err := r.git.Worktree()
	if err != nil {
		return "", err
	}
	if err := wt.AddWithOptions(&git.AddOptions{All: true}); err != nil {
		return "", err
	}
	sig := *developer
	sig.When = time.Now()
	h, err := wt.Commit(message, &git.CommitOptions{Author: &sig, Committer: &sig})
	if err != nil {
		return "", err
	}
	spec := config.RefSpec("refs/heads/" + branch + ":refs/heads/" + branch)
	if err := r.git.PushContext(ctx, &git.PushOptions{RemoteName: "origin", Auth: r.forge.Auth(), RefSpecs: []config.RefSpec{spec}}); err != nil {
		return "", fmt.Errorf("git push %s: %w", branch, err)
	}
	return h.String(), nil
}

// openPR makes the pull-request branch: examples/ as it is now.
func (r *repo) openPR(ctx context.Context, examples string) (string, int, error) {
	wt, err := r.git.Worktree()
	if err != nil {
		return "", 0, err
	}
	if err := wt.Checkout(&git.CheckoutOptions{Branch: plumbing.NewBranchReferenceName(prBranch), Create: true}); err != nil {
		return "", 0, err
	}
	if err := copyTree(examples, r.dir, false); err != nil {
		return "", 0, err
	}
	sha, err := r.commitAndPush(ctx, prBranch, "Add checkout-latency and payments-db-cpu\n\n"+
		"checkout-latency: 100ms on one checkout pod in staging, 50ms in prod (approval by SRE).\n"+
		"payments-db-cpu: one CPU 30% busy on the staging database hosts.")
	if err != nil {
		return "", 0, err
	}
	var pr struct {
		Number int `json:"number"`
	}
	body := map[string]any{"head": prBranch, "base": "main", "title": "Add checkout-latency and payments-db-cpu",
		"body": "Checks that checkout's callers do not notice one slow checkout pod, first in staging, then in prod."}
	if err := r.forge.API(ctx, http.MethodPost, "/repos/"+gitea.AdminUser+"/"+repoName+"/pulls", body, http.StatusCreated, &pr); err != nil {
		return "", 0, fmt.Errorf("opening the pull request: %w", err)
	}
	return sha, pr.Number, nil
}

// comment posts text on the pull request, as a CI job posts the plan.
func (r *repo) comment(ctx context.Context, pr int, text string) error {
	return r.forge.API(ctx, http.MethodPost, fmt.Sprintf("/repos/%s/%s/issues/%d/comments", gitea.AdminUser, repoName, pr),
		map[string]string{"body": text}, http.StatusCreated, nil)
}

// merge merges the pull request with a merge commit and returns its SHA.
// Gitea checks mergeability in the background first, so it may ask to wait.
func (r *repo) merge(ctx context.Context, pr int) (string, error) {
	path := fmt.Sprintf("/repos/%s/%s/pulls/%d", gitea.AdminUser, repoName, pr)
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := r.forge.API(ctx, http.MethodPost, path+"/merge", map[string]any{"Do": "merge",
			"merge_message_field": fmt.Sprintf("Merge pull request #%d: add checkout-latency and payments-db-cpu", pr)}, http.StatusOK, nil)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("merging pull request #%d: %w", pr, err)
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(300 * time.Millisecond):
		}
	}
	var got struct {
		Merged         bool   `json:"merged"`
		MergeCommitSHA string `json:"merge_commit_sha"`
	}
	if err := r.forge.API(ctx, http.MethodGet, path, nil, http.StatusOK, &got); err != nil {
		return "", err
	}
	if !got.Merged || got.MergeCommitSHA == "" {
		return "", fmt.Errorf("pull request #%d is not merged", pr)
	}
	return got.MergeCommitSHA, nil
}

// statuses reads the newest commit status of every context on sha.
func statuses(ctx context.Context, forge *gitea.Server, sha string) ([]gitea.CommitStatus, error) {
	var combined struct {
		Statuses []gitea.CommitStatus `json:"statuses"`
	}
	err := forge.API(ctx, http.MethodGet, "/repos/"+gitea.AdminUser+"/"+repoName+"/commits/"+sha+"/status", nil, http.StatusOK, &combined)
	return combined.Statuses, err
}
