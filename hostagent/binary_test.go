package hostagent_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/faultline-dev/faultline/crds/v1alpha1"
	"github.com/faultline-dev/faultline/faults"
	"github.com/faultline-dev/faultline/internal/testground"
	"github.com/faultline-dev/faultline/internal/testground/netns"
)

// The agent binary runs inside a network-namespace host and reaches the
// hub over veth. Killed with SIGKILL mid-injection, it leaves the fault in
// place; restarted, it recovers it from its journal before anything else,
// heartbeats with its stored credential (the single-use token is spent),
// and leaves nothing once the hub no longer wants the fault.
func TestAgentBinaryKill9RecoversFromJournal(t *testing.T) {
	testground.RequireRoot(t)
	bin := testground.BuildBinary(t, "github.com/faultline-dev/faultline/cmd/faultline-agent")
	n := netns.New(t, []string{"a", "b"}, netns.WithRootLink())
	a, b := n.Host("a"), n.Host("b")
	h := startHub(t, 30*time.Second)
	h.token(t, "join", "one-time-token", true)
	ts, caFile := tlsServer(t, h, n.RootIP())
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte("one-time-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	echo := tcpEcho(t, b)
	base := medianRTT(t, a, echo)

	// start runs the agent; the returned channel is closed when it exits,
	// with its Wait error stored in *waitErr.
	start := func(name string) (cmd *exec.Cmd, exited <-chan struct{}, waitErr *error) {
		out := &testground.Output{}
		cmd = a.Exec(context.WithoutCancel(t.Context()), bin, "serve", "--hub", ts.URL, "--token-file", tokenFile,
			"--journal", filepath.Join(dir, "journal.db"), "--interval", "200ms", "--ca-file", caFile,
			"--hostname", "host-a", "--labels", "rack=r1")
		cmd.Stdout, cmd.Stderr = out, out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		waitErr = new(error)
		go func() { *waitErr = cmd.Wait(); close(done) }()
		t.Cleanup(func() {
			_ = cmd.Process.Kill()
			<-done
			if t.Failed() {
				t.Logf("%s output:\n%s", name, out.String())
			}
		})
		return cmd, done, waitErr
	}

	first, firstExited, _ := start("first agent")
	h.waitAgent(t, "host-a")
	h.srv.SetDesired("host-a", []v1alpha1.Injection{delayInjection("slow-link", "host-a", 100*time.Millisecond, b.IP)})
	h.waitInjected(t, "host-a", "slow-link")
	if inc := medianRTT(t, a, echo) - base; inc < 90*time.Millisecond || inc > 130*time.Millisecond {
		t.Errorf("RTT rose by %v with the injection, want about 100ms", inc)
	}

	if err := first.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-firstExited
	if netns.FaultsLeft(t, a.NsName, faults.TablePrefix) == "" {
		t.Fatal("nothing of the fault left after kill -9: the test would prove nothing")
	}

	// The hub no longer wants the fault; the restarted agent must clear it
	// from its journal and say so in a heartbeat.
	h.srv.SetDesired("host-a", nil)
	second, secondExited, secondErr := start("restarted agent")
	if !testground.Eventually(10*time.Second, func() bool { return netns.FaultsLeft(t, a.NsName, faults.TablePrefix) == "" }) {
		t.Fatalf("fault left after restart:\n%s", netns.FaultsLeft(t, a.NsName, faults.TablePrefix))
	}
	if !testground.Eventually(10*time.Second, func() bool {
		obs, reachable := h.srv.Observed("host-a")
		return reachable && len(obs) == 0
	}) {
		t.Errorf("restarted agent never heartbeated with its stored credential")
	}
	if after := medianRTT(t, a, echo); after > base+20*time.Millisecond {
		t.Errorf("RTT %v after restart, %v before the fault", after, base)
	}
	if st, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", second.Process.Pid)); err == nil {
		for _, l := range strings.Split(string(st), "\n") {
			if strings.HasPrefix(l, "VmRSS:") {
				t.Logf("idle agent (heartbeating, no fault) %s", strings.Join(strings.Fields(l), " "))
			}
		}
	}
	if err := second.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-secondExited:
		if *secondErr != nil {
			t.Errorf("agent exited with %v after SIGTERM", *secondErr)
		}
	case <-time.After(30 * time.Second):
		t.Error("agent did not stop within 30s of SIGTERM")
	}
	if left := netns.FaultsLeft(t, a.NsName, faults.TablePrefix); left != "" {
		t.Errorf("left behind after the agent stopped:\n%s", left)
	}
}
