package gitserver_test

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/go-git/go-billy/v5/memfs"
	"github.com/go-git/go-billy/v5/util"
	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	"github.com/go-git/go-git/v5/storage/memory"

	"github.com/faultline-dev/faultline/internal/testground/gitserver"
)

const (
	user = "alice"
	pass = "s3cret"
)

func TestCommitThenCloneWithGoGitAndCLI(t *testing.T) {
	srv := gitserver.Start(t, gitserver.WithBasicAuth(user, pass))
	url := srv.CreateRepo(t, "experiments")
	if want := srv.URL() + "/experiments.git"; url != want {
		t.Fatalf("CreateRepo URL = %q, want %q", url, want)
	}

	first := srv.Commit(t, "experiments", "main", map[string]string{
		"README.md":                "hello\n",
		"experiments/latency.yaml": "kind: Experiment\n",
	}, "add experiments")
	second := srv.Commit(t, "experiments", "main", map[string]string{
		"README.md":   "", // delete
		"policy.rego": "package faultline\n",
	}, "drop readme")

	// go-git clone over the real HTTP endpoint.
	repo, err := git.Clone(memory.NewStorage(), memfs.New(), &git.CloneOptions{URL: url, Auth: srv.Auth()})
	if err != nil {
		t.Fatalf("go-git clone: %v", err)
	}
	head, err := repo.Head()
	if err != nil {
		t.Fatalf("head: %v", err)
	}
	if head.Name() != plumbing.NewBranchReferenceName(gitserver.DefaultBranch) || head.Hash().String() != second {
		t.Fatalf("HEAD = %s at %s, want main at %s", head.Name(), head.Hash(), second)
	}
	commit, err := repo.CommitObject(head.Hash())
	if err != nil {
		t.Fatalf("commit object: %v", err)
	}
	if commit.Author.Name != gitserver.TestAuthorName || commit.Author.Email != gitserver.TestAuthorEmail {
		t.Errorf("author = %s <%s>", commit.Author.Name, commit.Author.Email)
	}
	if commit.NumParents() != 1 || commit.ParentHashes[0].String() != first {
		t.Errorf("parents = %v, want [%s]", commit.ParentHashes, first)
	}
	wt, _ := repo.Worktree()
	assertMemFile(t, wt, "experiments/latency.yaml", "kind: Experiment\n")
	assertMemFile(t, wt, "policy.rego", "package faultline\n")
	if _, err := wt.Filesystem.Stat("README.md"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("README.md should be deleted, stat err = %v", err)
	}

	// git CLI clone of the same repository.
	dir := filepath.Join(t.TempDir(), "clone")
	runGit(t, "", "clone", "--quiet", srv.CloneURL("experiments"), dir)
	if got := runGit(t, dir, "rev-parse", "HEAD"); got != second {
		t.Errorf("CLI clone HEAD = %s, want %s", got, second)
	}
	assertFile(t, filepath.Join(dir, "experiments", "latency.yaml"), "kind: Experiment\n")
	if _, err := os.Stat(filepath.Join(dir, "README.md")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("README.md in CLI clone: stat err = %v", err)
	}
}

// TestLargePushes proves that bodies over git's 1 MiB http.postBuffer, which
// the git CLI sends chunked, make it through net/http/cgi.
func TestLargePushes(t *testing.T) {
	srv := gitserver.Start(t, gitserver.WithBasicAuth(user, pass))
	srv.CreateRepo(t, "big")
	srv.Commit(t, "big", "main", map[string]string{"seed.txt": "seed\n"}, "seed")

	dir := filepath.Join(t.TempDir(), "clone")
	runGit(t, "", "clone", "--quiet", srv.CloneURL("big"), dir)
	blob := randomBytes(t, 3<<20)
	if err := os.WriteFile(filepath.Join(dir, "blob.bin"), blob, 0o644); err != nil {
		t.Fatal(err)
	}
	runGit(t, dir, "add", "blob.bin")
	runGit(t, dir, "commit", "--quiet", "-m", "3 MiB of noise")
	runGit(t, dir, "push", "--quiet", "origin", "main")
	cliSHA := runGit(t, dir, "rev-parse", "HEAD")
	if got, err := srv.ResolveRef("big", "refs/heads/main"); err != nil || got != cliSHA {
		t.Fatalf("server main = %s (%v), want CLI push %s", got, err, cliSHA)
	}

	// go-git sends Content-Length, but a large helper commit must work too,
	// and must build on the CLI's push.
	blob2 := randomBytes(t, 3<<20)
	sha := srv.Commit(t, "big", "main", map[string]string{"blob2.bin": string(blob2)}, "more noise")

	repo, err := git.Clone(memory.NewStorage(), memfs.New(), &git.CloneOptions{URL: srv.RepoURL("big"), Auth: srv.Auth()})
	if err != nil {
		t.Fatalf("go-git clone: %v", err)
	}
	c, err := repo.CommitObject(plumbing.NewHash(sha))
	if err != nil {
		t.Fatal(err)
	}
	if c.ParentHashes[0].String() != cliSHA {
		t.Errorf("helper commit parent = %s, want CLI commit %s", c.ParentHashes[0], cliSHA)
	}
	wt, _ := repo.Worktree()
	for name, want := range map[string][]byte{"blob.bin": blob, "blob2.bin": blob2} {
		got, err := util.ReadFile(wt.Filesystem, name)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s: %d bytes (err %v), want %d identical bytes", name, len(got), err, len(want))
		}
	}

	// And the CLI fetches it all back (large upload-pack negotiation).
	runGit(t, dir, "pull", "--quiet", "--ff-only")
	if got := runGit(t, dir, "rev-parse", "HEAD"); got != sha {
		t.Errorf("CLI pull HEAD = %s, want %s", got, sha)
	}
}

func TestWrongPasswordIsRefused(t *testing.T) {
	srv := gitserver.Start(t, gitserver.WithBasicAuth(user, pass))
	srv.CreateRepo(t, "locked")
	before := srv.Commit(t, "locked", "main", map[string]string{"a.txt": "a\n"}, "a")

	infoRefs := srv.RepoURL("locked") + "/info/refs?service=git-receive-pack"
	for name, setAuth := range map[string]func(*http.Request){
		"no credentials": func(*http.Request) {},
		"wrong password": func(r *http.Request) { r.SetBasicAuth(user, "wrong") },
		"wrong user":     func(r *http.Request) { r.SetBasicAuth("mallory", pass) },
	} {
		req, _ := http.NewRequest(http.MethodGet, infoRefs, nil)
		setAuth(req)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s: status %d, want 401", name, resp.StatusCode)
		}
		if !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Basic ") {
			t.Errorf("%s: WWW-Authenticate = %q", name, resp.Header.Get("WWW-Authenticate"))
		}
	}

	// go-git push with a wrong password.
	repo, err := git.Clone(memory.NewStorage(), memfs.New(), &git.CloneOptions{URL: srv.RepoURL("locked"), Auth: srv.Auth()})
	if err != nil {
		t.Fatal(err)
	}
	wt, _ := repo.Worktree()
	if err := util.WriteFile(wt.Filesystem, "b.txt", []byte("b\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	wt.Add("b.txt")
	if _, err := wt.Commit("b", &git.CommitOptions{Author: &object.Signature{Name: "x", Email: "x@x", When: time.Now()}}); err != nil {
		t.Fatal(err)
	}
	err = repo.Push(&git.PushOptions{Auth: &githttp.BasicAuth{Username: user, Password: "wrong"}})
	if !errors.Is(err, transport.ErrAuthenticationRequired) && !errors.Is(err, transport.ErrAuthorizationFailed) {
		t.Errorf("go-git push with wrong password: err = %v, want an authentication error", err)
	}

	// git CLI push with a wrong password.
	dir := filepath.Join(t.TempDir(), "clone")
	runGit(t, "", "clone", "--quiet", srv.CloneURL("locked"), dir)
	if err := os.WriteFile(filepath.Join(dir, "c.txt"), []byte("c\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	runGit(t, dir, "add", "c.txt")
	runGit(t, dir, "commit", "--quiet", "-m", "c")
	wrongURL := strings.Replace(srv.CloneURL("locked"), ":"+pass+"@", ":wrong@", 1)
	out, err := gitCmd(t, dir, "push", wrongURL, "main").CombinedOutput()
	if err == nil {
		t.Errorf("CLI push with wrong password succeeded: %s", out)
	} else if !strings.Contains(string(out), "Authentication failed") {
		t.Errorf("CLI push output = %q, want an authentication failure", out)
	}

	if got, err := srv.ResolveRef("locked", "main"); err != nil || got != before {
		t.Errorf("server main = %s (%v), want unchanged %s", got, err, before)
	}
}

func TestLsRemoteShowsNewHead(t *testing.T) {
	srv := gitserver.Start(t, gitserver.WithBasicAuth(user, pass))
	srv.CreateRepo(t, "org/app")
	if out := runGit(t, "", "ls-remote", srv.CloneURL("org/app")); out != "" {
		t.Fatalf("ls-remote of empty repository = %q, want nothing", out)
	}

	for i, content := range []string{"v1\n", "v2\n"} {
		sha := srv.Commit(t, "org/app", "main", map[string]string{"version": content}, "release")
		refs := lsRemote(t, srv.CloneURL("org/app"))
		if refs["refs/heads/main"] != sha || refs["HEAD"] != sha {
			t.Errorf("commit %d: ls-remote = %v, want HEAD and refs/heads/main at %s", i, refs, sha)
		}
	}
}

func TestBranchesAndTags(t *testing.T) {
	srv := gitserver.Start(t) // anonymous: REMOTE_USER must still allow pushes
	srv.CreateRepo(t, "repo")
	main1 := srv.Commit(t, "repo", "main", map[string]string{"a": "1"}, "one")
	feature := srv.Commit(t, "repo", "feature/x", map[string]string{"b": "2"}, "feature")
	main2 := srv.Commit(t, "repo", "main", map[string]string{"a": "3"}, "three")

	srv.Tag(t, "repo", "v1.0.0", main1)
	srv.Tag(t, "repo", "v1.1.0", main2, gitserver.TagMessage("release 1.1"))

	refs := lsRemote(t, srv.CloneURL("repo"))
	if refs["refs/heads/main"] != main2 || refs["refs/heads/feature/x"] != feature || refs["refs/tags/v1.0.0"] != main1 {
		t.Errorf("ls-remote = %v", refs)
	}
	if refs["refs/tags/v1.1.0^{}"] != main2 || refs["refs/tags/v1.1.0"] == main2 {
		t.Errorf("annotated tag v1.1.0: refs = %v, want a tag object peeling to %s", refs, main2)
	}

	repo, err := git.Clone(memory.NewStorage(), memfs.New(), &git.CloneOptions{URL: srv.RepoURL("repo"), ReferenceName: "refs/heads/feature/x"})
	if err != nil {
		t.Fatal(err)
	}
	c, err := repo.CommitObject(plumbing.NewHash(feature))
	if err != nil {
		t.Fatal(err)
	}
	if c.ParentHashes[0].String() != main1 {
		t.Errorf("new branch starts at %s, want main's tip %s", c.ParentHashes[0], main1)
	}

	if err := srv.CreateTag("repo", "bad", strings.Repeat("0", 40)); err == nil {
		t.Error("tagging an unknown commit succeeded")
	}
	if _, err := srv.CommitFiles("repo", "main", map[string]string{"missing": ""}, "delete nothing"); err == nil {
		t.Error("deleting a missing file succeeded")
	}
	if _, err := srv.InitRepo("repo"); !errors.Is(err, os.ErrExist) {
		t.Errorf("InitRepo of an existing repository: err = %v, want ErrExist", err)
	}
	if _, err := srv.InitRepo("../escape"); err == nil {
		t.Error("InitRepo accepted a name outside the root")
	}
}

func TestSignedCommitAndTag(t *testing.T) {
	key, err := openpgp.NewEntity("Signer", "", "signer@faultline.invalid", nil)
	if err != nil {
		t.Fatal(err)
	}
	var armored bytes.Buffer
	w, err := armorPublicKey(&armored)
	if err != nil {
		t.Fatal(err)
	}
	if err := key.Serialize(w); err != nil {
		t.Fatal(err)
	}
	w.Close()

	srv := gitserver.Start(t)
	srv.CreateRepo(t, "signed")
	sha := srv.Commit(t, "signed", "main", map[string]string{"f": "x"}, "signed", gitserver.SignCommit(key))
	srv.Tag(t, "signed", "v1", sha, gitserver.SignTag(key))

	repo, err := git.Clone(memory.NewStorage(), memfs.New(), &git.CloneOptions{URL: srv.RepoURL("signed")})
	if err != nil {
		t.Fatal(err)
	}
	c, err := repo.CommitObject(plumbing.NewHash(sha))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Verify(armored.String()); err != nil {
		t.Errorf("commit signature does not verify: %v", err)
	}
	ref, err := repo.Tag("v1")
	if err != nil {
		t.Fatal(err)
	}
	tag, err := repo.TagObject(ref.Hash())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tag.Verify(armored.String()); err != nil {
		t.Errorf("tag signature does not verify: %v", err)
	}
}

// TestNewAndClose covers the constructor for programs without a testing.TB.
func TestNewAndClose(t *testing.T) {
	srv, err := gitserver.New(t.TempDir(), gitserver.WithLogf(t.Logf))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := srv.InitRepo("demo"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(srv.RepoPath("demo"), "HEAD")); err != nil {
		t.Errorf("bare repository missing on disk: %v", err)
	}
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	if err := srv.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := http.Get(srv.RepoURL("demo") + "/info/refs?service=git-upload-pack"); err == nil {
		t.Error("server still answers after Close")
	}
}

// TestChunkedBodyLimit sends a chunked body above the configured bound.
func TestChunkedBodyLimit(t *testing.T) {
	srv := gitserver.Start(t, gitserver.WithMaxBody(1024))
	srv.CreateRepo(t, "r")
	body := io.MultiReader(bytes.NewReader(make([]byte, 4096))) // unknown length: sent chunked
	resp, err := http.Post(srv.RepoURL("r")+"/git-upload-pack", "application/x-git-upload-pack-request", body)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("status = %d, want 413", resp.StatusCode)
	}
}

func randomBytes(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}
