package hostagent_test

import (
	"context"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"

	"github.com/faultline-dev/faultline/crds/v1alpha1"
	"github.com/faultline-dev/faultline/faults"
	"github.com/faultline-dev/faultline/hostagent"
	"github.com/faultline-dev/faultline/internal/testground"
	"github.com/faultline-dev/faultline/internal/testground/netns"
)

// An agent registers with a join token, gets a delay injection in a
// heartbeat answer and runs it (measured between two hosts); when the hub
// goes away, the agent recovers the fault within lease + 1s and reports it
// once the hub is back.
func TestAgentRunsHubInjectionAndDeadMansSwitch(t *testing.T) {
	testground.RequireRoot(t)
	const lease = 2 * time.Second
	n := netns.New(t, []string{"a", "b"})
	a, b := n.Host("a"), n.Host("b")
	h := startHub(t, lease)
	h.token(t, "join", "s3cret-join", true)
	ts, caFile := tlsServer(t, h, net.IPv4(127, 0, 0, 1))
	httpc, err := hostagent.NewHTTPClient(caFile, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	echo := tcpEcho(t, b)
	base := medianRTT(t, a, echo)

	ctx, cancel := context.WithCancel(t.Context())
	agent := hostagent.New(hostagent.Options{
		Hub: ts.URL, Token: "s3cret-join", Labels: map[string]string{"rack": "r1"},
		JournalPath: filepath.Join(t.TempDir(), "journal.db"), Interval: 200 * time.Millisecond,
		HTTPClient: httpc, Hostname: "host-a", HostNetns: a.Path(), Log: testr.New(t),
	})
	done := make(chan error, 1)
	go func() { done <- agent.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("agent: %v", err)
		}
		if left := netns.FaultsLeft(t, a.NsName, faults.TablePrefix); left != "" {
			t.Errorf("left behind in %s after the agent stopped:\n%s", a.NsName, left)
		}
	})

	ha := h.waitAgent(t, "host-a")
	if ha.Labels["rack"] != "r1" || ha.Spec.OS != "linux" || ha.Spec.KernelVersion == "" {
		t.Errorf("HostAgent %+v labels %v", ha.Spec, ha.Labels)
	}
	h.srv.SetDesired("host-a", []v1alpha1.Injection{delayInjection("slow-link", "host-a", 100*time.Millisecond, b.IP)})
	got := h.waitInjected(t, "host-a", "slow-link")
	with := medianRTT(t, a, echo)
	t.Logf("median RTT a→b %v before, %v with the injection (path %s)", base, with, got.Status.Targets[0].Path)
	if inc := with - base; inc < 90*time.Millisecond || inc > 130*time.Millisecond {
		t.Errorf("RTT rose by %v, want about 100ms", inc)
	}

	// The hub goes away: every hub-issued fault must be gone once the lease
	// runs out (the slack is for a loaded machine; the log shows the time).
	stopped := time.Now()
	ts.Close()
	if !testground.Eventually(lease+5*time.Second, func() bool { return netns.FaultsLeft(t, a.NsName, faults.TablePrefix) == "" }) {
		t.Fatalf("fault still in place %v after the hub stopped (lease %v):\n%s", time.Since(stopped), lease, netns.FaultsLeft(t, a.NsName, faults.TablePrefix))
	}
	t.Logf("recovered %v after the hub stopped (lease %v)", time.Since(stopped), lease)
	if after := medianRTT(t, a, echo); after > base+20*time.Millisecond {
		t.Errorf("RTT %v after recovery, %v before", after, base)
	}

	// The hub comes back on the same address: the agent reports what it
	// recovered on its own.
	ln, err := net.Listen("tcp", ts.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	newServerOn(t, h, ln, ts)
	if !testground.Eventually(10*time.Second, func() bool {
		rec := h.srv.SelfRecovered("host-a")
		return len(rec) == 1 && rec[0] == "slow-link"
	}) {
		t.Errorf("agent never reported recovering slow-link on its own")
	}
	h.waitInjected(t, "host-a", "slow-link")
}
