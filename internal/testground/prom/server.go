package prom

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/faultline-dev/faultline/internal/testground"
)

// ScrapeInterval is how often the Prometheus started by Start scrapes its targets.
const ScrapeInterval = time.Second

// Server is a running Prometheus.
type Server struct {
	// URL is the base URL of its HTTP API, e.g. http://127.0.0.1:40123.
	URL string

	cmd  *exec.Cmd
	out  *testground.Output
	done chan struct{}
	err  error // set before done is closed
}

// Binary locates Prometheus: $FAULTLINE_PROMETHEUS, /usr/bin/prometheus, or
// prometheus on PATH.
func Binary() (string, error) {
	if p := os.Getenv("FAULTLINE_PROMETHEUS"); p != "" {
		return p, nil
	}
	if _, err := os.Stat("/usr/bin/prometheus"); err == nil {
		return "/usr/bin/prometheus", nil
	}
	p, err := exec.LookPath("prometheus")
	if err != nil {
		return "", errors.New("no prometheus binary: install Debian package prometheus (hack/ci-packages.sh) or set FAULTLINE_PROMETHEUS")
	}
	return p, nil
}

// Start runs Prometheus scraping the given loopback targets (host:port, path
// /metrics) every ScrapeInterval, waits until it is ready, and stops it when
// the test ends. It skips in unit-only runs; a missing binary fails the test
// under CI and skips it elsewhere.
func Start(t testing.TB, targets ...string) *Server {
	t.Helper()
	if testground.UnitOnly() {
		t.Skip("needs Prometheus; skipped in unit-only runs")
	}
	bin, err := Binary()
	testground.RequireTool(t, err)
	dir := t.TempDir()
	s, err := start(bin, dir, targets)
	if err != nil {
		t.Fatalf("prometheus: %v", err)
	}
	t.Cleanup(func() {
		if err := s.stop(); err != nil {
			t.Errorf("prometheus: stop: %v", err)
		}
		if t.Failed() {
			t.Logf("prometheus output:\n%s", s.out.String())
		}
	})
	return s
}

// New runs Prometheus from bin with its configuration and data in dir,
// scraping the given loopback targets every ScrapeInterval, and waits until
// it is ready. It listens on addr (host:port), or on a free loopback port
// when addr is empty. The caller must Stop it. This is Start without a test,
// for programs such as the demo.
func New(bin, dir, addr string, targets ...string) (*Server, error) {
	if addr == "" {
		return start(bin, dir, targets)
	}
	if err := writeConfig(dir, targets); err != nil {
		return nil, err
	}
	return launch(bin, dir, filepath.Join(dir, "prometheus.yml"), addr)
}

// Output is what Prometheus has printed so far, for a failure report.
func (s *Server) Output() string { return s.out.String() }

func writeConfig(dir string, targets []string) error {
	for _, tg := range targets {
		host, _, err := net.SplitHostPort(tg)
		if err != nil || !net.ParseIP(host).IsLoopback() {
			return fmt.Errorf("target %q: only loopback host:port targets are allowed", tg)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), config(targets), 0o644); err != nil {
		return fmt.Errorf("write config: %w", err)
	}
	return nil
}

func start(bin, dir string, targets []string) (*Server, error) {
	if err := writeConfig(dir, targets); err != nil {
		return nil, err
	}
	cfg := filepath.Join(dir, "prometheus.yml")
	// A free port can be taken between our probe and Prometheus' bind; try a few.
	var lastErr error
	for range 3 {
		port, err := testground.FreePort()
		if err != nil {
			return nil, err
		}
		s, err := launch(bin, dir, cfg, fmt.Sprintf("127.0.0.1:%d", port))
		if err == nil {
			return s, nil
		}
		lastErr = err
	}
	return nil, lastErr
}

func launch(bin, dir, cfg, addr string) (*Server, error) {
	s := &Server{URL: "http://" + addr, out: &testground.Output{}, done: make(chan struct{})}
	s.cmd = exec.Command(bin,
		"--config.file="+cfg,
		"--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr,
		"--log.level=warn",
	)
	s.cmd.Stdout, s.cmd.Stderr = s.out, s.out
	// Its own process group, so a stop reaches it even if it forks.
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	go func() { s.err = s.cmd.Wait(); close(s.done) }()

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := s.waitReady(ctx); err != nil {
		stopErr := s.stop()
		return nil, errors.Join(fmt.Errorf("%w; output:\n%s", err, s.out.String()), stopErr)
	}
	if err := s.isOurs(ctx, filepath.Join(dir, "data")); err != nil {
		stopErr := s.stop()
		return nil, errors.Join(err, stopErr)
	}
	return s, nil
}

// isOurs checks that the Prometheus answering on the address is the one
// just started: another test package's may have taken the port between
// picking it and binding it, and then answers the readiness probe while
// this one exits.
func (s *Server) isOurs(ctx context.Context, dataDir string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+"/api/v1/status/flags", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("prometheus flags: %w", err)
	}
	defer resp.Body.Close()
	var flags struct {
		Data map[string]string `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&flags); err != nil {
		return fmt.Errorf("prometheus flags: %w", err)
	}
	if got := flags.Data["storage.tsdb.path"]; got != dataDir {
		return fmt.Errorf("another Prometheus (data in %q) answers on %s", got, s.URL)
	}
	return nil
}

func (s *Server) waitReady(ctx context.Context) error {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+"/-/ready", nil)
		if err != nil {
			return err
		}
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-s.done:
			return fmt.Errorf("prometheus exited before it was ready: %v", s.err)
		case <-ctx.Done():
			return fmt.Errorf("prometheus not ready at %s: %w", s.URL, ctx.Err())
		case <-tick.C:
		}
	}
}

// stop sends SIGTERM to the process group and SIGKILL if it lingers.
func (s *Server) stop() error {
	select {
	case <-s.done:
		return nil // already gone (e.g. it failed to start)
	default:
	}
	pgid := s.cmd.Process.Pid
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-s.done:
		return nil
	case <-time.After(15 * time.Second):
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-s.done
		return errors.New("did not stop on SIGTERM within 15s; killed")
	}
}

// Stop stops Prometheus now, before the test ends, e.g. to test probes
// against an unreachable server. It is safe to call again from cleanup.
func (s *Server) Stop() error { return s.stop() }

func config(targets []string) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "global:\n  scrape_interval: %s\n  scrape_timeout: %s\n  evaluation_interval: %s\n",
		ScrapeInterval, ScrapeInterval, ScrapeInterval)
	b.WriteString("scrape_configs:\n  - job_name: test\n    static_configs:\n      - targets: [")
	for i, tg := range targets {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%q", tg)
	}
	b.WriteString("]\n")
	return []byte(b.String())
}

// PID is the process id of Prometheus (also its process group), for
// programs that must be able to find it again after a crash.
func (s *Server) PID() int { return s.cmd.Process.Pid }
