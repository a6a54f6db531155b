package gitserver_test

import (
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/go-git/go-billy/v5/util"
	"github.com/go-git/go-git/v5"
)

// gitCmd prepares a git CLI command isolated from the machine's
// configuration that never prompts for credentials.
func gitCmd(t *testing.T, dir string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(),
		"HOME="+t.TempDir(),
		"GIT_CONFIG_NOSYSTEM=1",
		"GIT_CONFIG_GLOBAL=/dev/null",
		"GIT_TERMINAL_PROMPT=0",
		"GIT_ASKPASS=",
		"GIT_AUTHOR_NAME=CLI", "GIT_AUTHOR_EMAIL=cli@faultline.invalid",
		"GIT_COMMITTER_NAME=CLI", "GIT_COMMITTER_EMAIL=cli@faultline.invalid",
	)
	return cmd
}

// runGit runs git and returns its trimmed standard output, failing the test
// on a non-zero exit.
func runGit(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := gitCmd(t, dir, args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return strings.TrimSpace(string(out))
}

// lsRemote maps ref names to hashes as the git CLI sees them.
func lsRemote(t *testing.T, url string) map[string]string {
	t.Helper()
	refs := map[string]string{}
	for _, line := range strings.Split(runGit(t, "", "ls-remote", url), "\n") {
		if sha, ref, ok := strings.Cut(line, "\t"); ok {
			refs[ref] = sha
		}
	}
	return refs
}

func assertFile(t *testing.T, path, want string) {
	t.Helper()
	got, err := os.ReadFile(path)
	if err != nil || string(got) != want {
		t.Errorf("%s = %q (err %v), want %q", path, got, err, want)
	}
}

func assertMemFile(t *testing.T, wt *git.Worktree, name, want string) {
	t.Helper()
	got, err := util.ReadFile(wt.Filesystem, name)
	if err != nil || string(got) != want {
		t.Errorf("%s = %q (err %v), want %q", name, got, err, want)
	}
}

func armorPublicKey(w io.Writer) (io.WriteCloser, error) {
	return armor.Encode(w, openpgp.PublicKeyType, nil)
}
