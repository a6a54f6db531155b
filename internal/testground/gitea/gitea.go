package gitea

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/faultline-dev/faultline/internal/testground"
)

// Version is the Gitea release hack/gitea.sh builds.
const Version = "1.26.0"

// Admin user Start creates.
const (
	AdminUser     = "faultline"
	AdminPassword = "faultline-test-password"
	AdminEmail    = "faultline@faultline.invalid"
)

// Server is a running Gitea.
type Server struct {
	// URL is the base URL, such as http://127.0.0.1:40123 (no trailing slash).
	URL string
	// Token is an access token of AdminUser with every scope.
	Token string

	bin, dir, cfg string
	env           []string
	cmd           *exec.Cmd
	out           *testground.Output
	done          chan struct{}
	waitErr       error
}

// Binary locates the gitea binary: $FAULTLINE_GITEA, else the cache
// hack/gitea.sh fills.
func Binary() (string, error) {
	if p := os.Getenv("FAULTLINE_GITEA"); p != "" {
		return p, nil
	}
	cache, err := testground.CacheDir()
	if err != nil {
		return "", err
	}
	p := filepath.Join(cache, "gitea", Version, "gitea")
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("no gitea at %s: run `make gitea-assets` (or set FAULTLINE_GITEA): %w", p, err)
	}
	return p, nil
}

// Start runs a Gitea for the test and stops it when the test ends. It skips
// in unit-only runs; a missing binary fails the test under CI and skips it
// elsewhere.
func Start(t testing.TB) *Server {
	t.Helper()
	if testground.UnitOnly() {
		t.Skip("needs Gitea; skipped in unit-only runs")
	}
	bin, err := Binary()
	testground.RequireTool(t, err)
	s, err := New(bin, t.TempDir())
	if err != nil {
		t.Fatalf("gitea: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("gitea: stop: %v", err)
		}
		if t.Failed() {
			t.Logf("gitea output:\n%s", s.out.String())
		}
	})
	return s
}

// New prepares a Gitea in dir (configuration, database, admin user with a
// token) and starts it on a free loopback port. The caller must Close it.
func New(bin, dir string) (*Server, error) {
	static := filepath.Dir(bin)
	if _, err := os.Stat(filepath.Join(static, "templates")); err != nil {
		return nil, fmt.Errorf("gitea's templates/ are not next to %s (hack/gitea.sh puts them there): %w", bin, err)
	}
	var lastErr error
	for range 3 { // a free port can be taken before Gitea binds it
		port, err := testground.FreePort()
		if err != nil {
			return nil, err
		}
		s := &Server{bin: bin, dir: dir, out: &testground.Output{}, done: make(chan struct{})}
		if err := s.configure(static, port); err != nil {
			return nil, err
		}
		if err := s.createAdmin(); err != nil {
			return nil, err
		}
		if lastErr = s.start(); lastErr == nil {
			return s, nil
		}
		if err := os.RemoveAll(dir); err != nil {
			return nil, errors.Join(lastErr, err)
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, errors.Join(lastErr, err)
		}
	}
	return nil, lastErr
}

func (s *Server) configure(static string, port int) error {
	u, err := user.Current()
	if err != nil {
		return fmt.Errorf("current user: %w", err)
	}
	s.URL = fmt.Sprintf("http://127.0.0.1:%d", port)
	custom := filepath.Join(s.dir, "custom")
	s.cfg = filepath.Join(custom, "conf", "app.ini")
	if err := os.MkdirAll(filepath.Dir(s.cfg), 0o755); err != nil {
		return fmt.Errorf("create config dir: %w", err)
	}
	ini := fmt.Sprintf(`APP_NAME = faultline test forge
RUN_USER = %[1]s
RUN_MODE = prod
WORK_PATH = %[2]s

[server]
PROTOCOL = http
HTTP_ADDR = 127.0.0.1
HTTP_PORT = %[3]d
DOMAIN = 127.0.0.1
ROOT_URL = %[4]s/
STATIC_ROOT_PATH = %[5]s
APP_DATA_PATH = %[2]s/data
DISABLE_SSH = true
START_SSH_SERVER = false
OFFLINE_MODE = true
LFS_START_SERVER = false

[database]
DB_TYPE = sqlite3
PATH = %[2]s/data/gitea.db
SQLITE_JOURNAL_MODE = WAL

[repository]
ROOT = %[2]s/repositories
DEFAULT_BRANCH = main

[security]
INSTALL_LOCK = true
SECRET_KEY = %[6]s

[oauth2]
ENABLED = false

[service]
DISABLE_REGISTRATION = true
DEFAULT_KEEP_EMAIL_PRIVATE = true

[mailer]
ENABLED = false

[session]
PROVIDER = memory

[cache]
ADAPTER = memory

[queue]
TYPE = channel

[indexer]
ISSUE_INDEXER_TYPE = db
REPO_INDEXER_ENABLED = false

[cron]
ENABLED = false

[cron.update_checker]
ENABLED = false

[actions]
ENABLED = false

[webhook]
; the hub's push receiver listens on loopback, as everything here does
ALLOWED_HOST_LIST = loopback

[log]
MODE = console
LEVEL = Warn
ROOT_PATH = %[2]s/log
`, u.Username, s.dir, port, s.URL, static, randomHex(32))
	if err := os.WriteFile(s.cfg, []byte(ini), 0o600); err != nil {
		return fmt.Errorf("write app.ini: %w", err)
	}
	s.env = append(os.Environ(),
		"HOME="+s.dir,
		"GITEA_WORK_DIR="+s.dir,
		"GITEA_CUSTOM="+custom,
		"GIT_CONFIG_NOSYSTEM=1",
	)
	if os.Geteuid() == 0 {
		// CI runs as root; Gitea refuses that unless told this is on purpose.
		s.env = append(s.env, "GITEA_I_AM_BEING_UNSAFE_RUNNING_AS_ROOT=true")
	}
	return nil
}

var tokenLine = regexp.MustCompile(`Access token was successfully created\.\.\. ([0-9a-f]{40})`)

// createAdmin migrates the database and creates the admin user with an
// access token, before the server starts (no web installer, no login).
func (s *Server) createAdmin() error {
	if _, err := s.run("migrate"); err != nil {
		return err
	}
	out, err := s.run("admin", "user", "create", "--username", AdminUser, "--password", AdminPassword,
		"--email", AdminEmail, "--admin", "--must-change-password=false", "--access-token", "--access-token-name", "faultline-test")
	if err != nil {
		return err
	}
	m := tokenLine.FindStringSubmatch(out)
	if m == nil {
		return fmt.Errorf("gitea admin user create printed no access token:\n%s", out)
	}
	s.Token = m[1]
	return nil
}

// run runs a gitea subcommand against this instance's configuration.
func (s *Server) run(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, s.bin, append([]string{"--config", s.cfg, "--work-path", s.dir}, args...)...)
	cmd.Env = s.env
	cmd.Dir = s.dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("gitea %s: %w\n%s", strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

func (s *Server) start() error {
	s.cmd = exec.Command(s.bin, "--config", s.cfg, "--work-path", s.dir, "web")
	s.cmd.Env = s.env
	s.cmd.Dir = s.dir
	s.cmd.Stdout, s.cmd.Stderr = s.out, s.out
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := s.cmd.Start(); err != nil {
		return fmt.Errorf("start gitea web: %w", err)
	}
	go func() { s.waitErr = s.cmd.Wait(); close(s.done) }()

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+"/api/v1/version", nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-s.done:
			return fmt.Errorf("gitea web exited before it was ready: %v\n%s", s.waitErr, s.out.String())
		case <-ctx.Done():
			return errors.Join(fmt.Errorf("gitea not ready at %s: %w\n%s", s.URL, ctx.Err(), s.out.String()), s.Close())
		case <-tick.C:
		}
	}
}

// Close stops Gitea: SIGTERM to its process group, SIGKILL if it lingers.
func (s *Server) Close() error {
	if s.cmd == nil || s.cmd.Process == nil {
		return nil
	}
	select {
	case <-s.done:
		return nil
	default:
	}
	pgid := s.cmd.Process.Pid
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-s.done:
		return nil
	case <-time.After(20 * time.Second):
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-s.done
		return errors.New("did not stop on SIGTERM within 20s; killed")
	}
}

// PID is the process id of gitea web (also its process group), for programs
// that must be able to find it again after a crash.
func (s *Server) PID() int {
	if s.cmd == nil || s.cmd.Process == nil {
		return 0
	}
	return s.cmd.Process.Pid
}

// Output is what gitea web has printed so far, for a failure report.
func (s *Server) Output() string { return s.out.String() }

func randomHex(n int) string {
	b := make([]byte, n/2)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
