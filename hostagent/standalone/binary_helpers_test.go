package standalone_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/faultline-dev/faultline/faults"
	"github.com/faultline-dev/faultline/hostagent/standalone"
	"github.com/faultline-dev/faultline/internal/testground"
	"github.com/faultline-dev/faultline/internal/testground/netns"
)

// agentProc is the agent binary running standalone inside a host.
type agentProc struct {
	cmd     *exec.Cmd
	exited  chan struct{}
	waitErr error
	started time.Time
}

// startAgent runs `faultline-agent standalone` in h with default flags but
// the journal, and waits until its API answers on h's loopback.
func startAgent(t *testing.T, h *netns.Host, bin, journal, name string) *agentProc {
	t.Helper()
	out := &testground.Output{}
	p := &agentProc{exited: make(chan struct{}), started: time.Now()}
	p.cmd = h.Exec(context.WithoutCancel(t.Context()), bin, "standalone", "--journal", journal, "--hostname", "host-a", "--max-duration", "10m")
	p.cmd.Stdout, p.cmd.Stderr = out, out
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.waitErr = p.cmd.Wait(); close(p.exited) }()
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		<-p.exited
		if t.Failed() {
			t.Logf("%s output:\n%s", name, out.String())
		}
	})
	c := apiClient(h)
	if !testground.Eventually(30*time.Second, func() bool {
		_, err := c.Attacks(t.Context())
		return err == nil
	}) {
		t.Fatalf("%s never answered on 127.0.0.1:7410:\n%s", name, out.String())
	}
	return p
}

// kill9 kills the agent as a crash would.
func (p *agentProc) kill9(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-p.exited
}

// apiClient reaches the agent's default address from inside h.
func apiClient(h *netns.Host) *standalone.Client {
	c := standalone.NewClient("http://" + standalone.DefaultListen)
	c.HTTP = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DialContext: h.DialContext, DisableKeepAlives: true}}
	return c
}

// cli runs the agent's CLI inside h against the default address.
func cli(t *testing.T, h *netns.Host, bin string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	var o, e bytes.Buffer
	cmd := h.Exec(ctx, bin, args...)
	cmd.Stdout, cmd.Stderr = &o, &e
	err = cmd.Run()
	return o.String(), e.String(), err
}

// mustCLI runs the CLI and fails the test if it fails.
func mustCLI(t *testing.T, h *netns.Host, bin string, args ...string) string {
	t.Helper()
	out, errOut, err := cli(t, h, bin, args...)
	if err != nil {
		t.Fatalf("faultline-agent %s: %v\n%s%s", strings.Join(args, " "), err, out, errOut)
	}
	return out
}

func listAttacks(t *testing.T, h *netns.Host, bin string) map[string]standalone.Attack {
	t.Helper()
	var as []standalone.Attack
	if err := json.Unmarshal([]byte(mustCLI(t, h, bin, "list", "-o", "json")), &as); err != nil {
		t.Fatal(err)
	}
	out := map[string]standalone.Attack{}
	for _, a := range as {
		out[a.ID] = a
	}
	return out
}

func fillFiles(dir string) []string {
	m, _ := filepath.Glob(filepath.Join(dir, faults.FillPrefix+"*"))
	return m
}

func mkdir(t *testing.T, parent, name string) string {
	t.Helper()
	dir := filepath.Join(parent, name)
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	return dir
}

// refused reports whether dialing addr from h is refused.
func refused(t *testing.T, h *netns.Host, addr string) bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
	defer cancel()
	c, err := h.DialContext(ctx, "tcp", addr)
	if err == nil {
		c.Close()
		return false
	}
	return errors.Is(err, syscall.ECONNREFUSED)
}
