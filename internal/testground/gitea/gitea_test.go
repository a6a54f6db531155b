package gitea_test

import (
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/faultline-dev/faultline/internal/testground/gitea"
)

// TestGitea checks the helper: the admin token works, a pushed commit is
// Gitea's branch head, a plain git clone sees it, and a status posted to the
// API reads back with its state in "status".
func TestGitea(t *testing.T) {
	g := gitea.Start(t)
	url := g.CreateRepo(t, "chaos")
	sha := g.Commit(t, "chaos", map[string]string{"README.md": "hello\n"}, "first")
	sha2 := g.Commit(t, "chaos", map[string]string{"b.txt": "b\n"}, "second")

	var branch struct {
		Commit struct {
			ID string `json:"id"`
		} `json:"commit"`
	}
	if err := g.API(t.Context(), http.MethodGet, "/repos/"+gitea.AdminUser+"/chaos/branches/main", nil, http.StatusOK, &branch); err != nil {
		t.Fatal(err)
	}
	if branch.Commit.ID != sha2 || sha == sha2 {
		t.Errorf("main is at %s, want the second commit %s", branch.Commit.ID, sha2)
	}

	dir := filepath.Join(t.TempDir(), "clone")
	cmd := exec.Command("git", "clone", "--quiet", url, dir)
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir(), "GIT_CONFIG_NOSYSTEM=1", "GIT_TERMINAL_PROMPT=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("git clone %s: %v\n%s", url, err, out)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "README.md")); err != nil || string(b) != "hello\n" {
		t.Errorf("clone README.md = %q, %v", b, err)
	}

	body := map[string]string{"state": "failure", "context": "ctx/a", "description": "d"}
	if err := g.API(t.Context(), http.MethodPost, "/repos/"+gitea.AdminUser+"/chaos/statuses/"+sha, body, http.StatusCreated, nil); err != nil {
		t.Fatal(err)
	}
	st := g.CommitStatuses(t, "chaos", sha)
	if len(st) != 1 || st[0].State != "failure" || st[0].Context != "ctx/a" || !strings.HasPrefix(st[0].Description, "d") {
		t.Errorf("statuses %+v", st)
	}
}
