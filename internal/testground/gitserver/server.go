package gitserver

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
)

// Server is a smart-HTTP Git server on 127.0.0.1 backed by bare repositories
// in a directory it owns.
type Server struct {
	cfg     config
	dir     string   // state directory given to New
	root    string   // GIT_PROJECT_ROOT: where the bare repositories live
	backend string   // path of git-http-backend
	gitEnv  []string // environment for every git process the server starts
	url     string

	ln  net.Listener
	srv *http.Server

	// mu serialises the commit and tag helpers so two helpers pushing to
	// the same branch do not race each other into a non-fast-forward.
	mu sync.Mutex

	closeOnce sync.Once
	closeErr  error
}

// shutdownTimeout bounds how long Close waits for in-flight requests (a
// running clone or push) before cutting them off.
const shutdownTimeout = 10 * time.Second

// Start runs a Server for the duration of the test: state lives in a
// t.TempDir, git's diagnostics go to t.Logf, and the server is closed in
// t.Cleanup. Setup failures end the test with t.Fatal.
func Start(t testing.TB, opts ...Option) *Server {
	t.Helper()
	opts = append([]Option{WithLogf(t.Logf)}, opts...)
	s, err := New(t.TempDir(), opts...)
	if err != nil {
		t.Fatalf("gitserver: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("gitserver: close: %v", err)
		}
	})
	return s
}

// New starts a Server that keeps its repositories and git configuration
// under dir (created if missing) and listens on a free loopback port. The
// caller owns dir and must call Close.
func New(dir string, opts ...Option) (*Server, error) {
	cfg := config{maxBody: defaultMaxBody, logf: log.Printf}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.user == "" && cfg.pass != "" {
		return nil, errors.New("basic auth needs a user name")
	}

	backend, err := findBackend(cfg.backendPath)
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, dir: dir, root: filepath.Join(dir, "repos"), backend: backend}
	if s.gitEnv, err = isolatedGitEnv(filepath.Join(dir, "home")); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(s.root, 0o755); err != nil {
		return nil, fmt.Errorf("create repository root: %w", err)
	}

	s.ln, err = net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listen on loopback: %w", err)
	}
	s.url = "http://" + s.ln.Addr().String()
	s.srv = &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := s.srv.Serve(s.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.cfg.logf("gitserver: serve: %v", err)
		}
	}()
	return s, nil
}

// Close stops the server, waiting briefly for in-flight requests. The
// repositories stay on disk. Close is safe to call more than once.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
		defer cancel()
		if err := s.srv.Shutdown(ctx); err != nil {
			s.closeErr = errors.Join(fmt.Errorf("shutdown: %w", err), s.srv.Close())
		}
	})
	return s.closeErr
}

// URL is the server's base URL, e.g. http://127.0.0.1:41234, without
// credentials.
func (s *Server) URL() string { return s.url }

// Auth returns the go-git credentials for this server, or nil when it does
// not require authentication, ready for CloneOptions.Auth and friends.
func (s *Server) Auth() transport.AuthMethod {
	if s.cfg.user == "" {
		return nil
	}
	return &githttp.BasicAuth{Username: s.cfg.user, Password: s.cfg.pass}
}

// CloneURL is RepoURL with the credentials embedded when authentication is
// on, for clients that only take a URL, such as the git CLI.
func (s *Server) CloneURL(name string) string {
	if s.cfg.user == "" {
		return s.RepoURL(name)
	}
	u, err := url.Parse(s.RepoURL(name))
	if err != nil {
		// RepoURL builds on a URL we formatted ourselves; it always parses.
		return s.RepoURL(name)
	}
	u.User = url.UserPassword(s.cfg.user, s.cfg.pass)
	return u.String()
}

// findBackend locates git-http-backend, which lives in git's exec path
// rather than on PATH.
func findBackend(override string) (string, error) {
	path := override
	if path == "" {
		out, err := exec.Command("git", "--exec-path").Output()
		if err != nil {
			return "", fmt.Errorf("run git --exec-path (is Debian package git installed?): %w", err)
		}
		path = filepath.Join(strings.TrimSpace(string(out)), "git-http-backend")
	}
	if _, err := os.Stat(path); err != nil {
		return "", fmt.Errorf("git http-backend: %w", err)
	}
	return path, nil
}

// isolatedGitEnv shields the server's git processes from the machine's
// system and user configuration, so a developer's ~/.gitconfig cannot change
// what a test observes. The global config it writes trusts every directory:
// the repositories may be created by a different user than the one serving
// them (e.g. root in CI, a developer locally).
func isolatedGitEnv(home string) ([]string, error) {
	if err := os.MkdirAll(home, 0o755); err != nil {
		return nil, fmt.Errorf("create git home: %w", err)
	}
	global := filepath.Join(home, "gitconfig")
	if err := os.WriteFile(global, []byte("[safe]\n\tdirectory = *\n"), 0o644); err != nil {
		return nil, fmt.Errorf("write git config: %w", err)
	}
	return []string{
		"HOME=" + home,
		"GIT_CONFIG_NOSYSTEM=1",
		"GIT_CONFIG_GLOBAL=" + global,
	}, nil
}
