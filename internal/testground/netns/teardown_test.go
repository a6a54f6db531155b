package netns_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/faultline-dev/faultline/internal/testground/netns"
)

// TestTeardownLeavesNothing creates a network inside a subtest and checks,
// once the subtest's cleanups have run, that no namespace or link of it
// remains and that a process left running inside a host was ended.
func TestTeardownLeavesNothing(t *testing.T) {
	netns.RequireRoot(t)
	var nsNames []string
	var rootIface string
	var sleeper *exec.Cmd
	built := t.Run("build", func(t *testing.T) {
		n := netns.New(t, []string{"a", "b"}, netns.WithRootLink())
		rootIface = n.RootIface()
		nsNames = append(nsNames, n.SwitchNS())
		for _, h := range n.Hosts() {
			nsNames = append(nsNames, h.NsName)
		}
		assertPresent(t, nsNames, rootIface)
		// Forgotten by the test: teardown must end it, or it would pin the
		// namespace.
		sleeper = n.Host("a").Exec(context.Background(), "sleep", "300")
		if err := sleeper.Start(); err != nil {
			t.Fatal(err)
		}
	})
	if !built || sleeper == nil {
		t.FailNow()
	}
	assertGone(t, nsNames, rootIface)

	done := make(chan error, 1)
	go func() { done <- sleeper.Wait() }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		sleeper.Process.Kill()
		t.Error("process inside the host survived teardown")
	}
}

const panicChildEnv = "NETNS_TEST_PANIC_CHILD"

// TestTeardownAfterPanic re-runs this test binary with a test that builds a
// network, prints its names and panics; the cleanup must still remove it.
func TestTeardownAfterPanic(t *testing.T) {
	if os.Getenv(panicChildEnv) != "" {
		n := netns.New(t, []string{"p"}, netns.WithRootLink())
		fmt.Printf("NAMES %s %s %s\n", n.RootIface(), n.SwitchNS(), n.Host("p").NsName)
		panic("deliberate panic with a network up")
	}
	netns.RequireRoot(t)
	cmd := exec.Command(os.Args[0], "-test.run=^TestTeardownAfterPanic$", "-test.count=1")
	cmd.Env = append(os.Environ(), panicChildEnv+"=1")
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("child did not fail:\n%s", out)
	}
	var fields []string
	for _, line := range strings.Split(string(out), "\n") {
		if rest, ok := strings.CutPrefix(line, "NAMES "); ok {
			fields = strings.Fields(rest)
		}
	}
	if len(fields) != 3 || !strings.Contains(string(out), "deliberate panic") {
		t.Fatalf("unexpected child output:\n%s", out)
	}
	assertGone(t, fields[1:], fields[0])
}

// TestSweepRemovesOrphans fakes the leftovers of a crashed run (namespaces
// named after a dead process, a root link of that network) next to those of
// a live process, and checks Sweep removes exactly the former.
func TestSweepRemovesOrphans(t *testing.T) {
	netns.RequireRoot(t)
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	deadPID, livePID := dead.Process.Pid, os.Getpid()

	orphanID, liveID := randomID(t), randomID(t)
	orphanNS := fmt.Sprintf("flt%s-%d-crashed", orphanID, deadPID)
	orphanSwitch := fmt.Sprintf("flt%s-%d.switch", orphanID, deadPID)
	orphanLink := "flt" + orphanID
	liveNS := fmt.Sprintf("flt%s-%d-running", liveID, livePID)
	liveLink := "flt" + liveID
	t.Cleanup(func() {
		for _, ns := range []string{orphanNS, orphanSwitch, liveNS} {
			exec.Command("ip", "netns", "delete", ns).Run()
		}
		for _, l := range []string{orphanLink, liveLink} {
			exec.Command("ip", "link", "delete", l).Run()
		}
	})
	// Another test process's Sweep must not see half of the fake state.
	unlock, err := netns.LockMachine()
	if err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"netns", "add", orphanNS},
		{"netns", "add", orphanSwitch},
		{"netns", "add", liveNS},
		{"link", "add", orphanLink, "type", "bridge"},
		{"link", "add", liveLink, "type", "bridge"},
	} {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			unlock()
			t.Fatalf("ip %v: %v\n%s", args, err, out)
		}
	}
	unlock()

	if err := netns.Sweep(); err != nil {
		t.Fatalf("Sweep: %v", err)
	}
	assertGone(t, []string{orphanNS, orphanSwitch}, orphanLink)
	assertPresent(t, []string{liveNS}, liveLink)
}

func randomID(t *testing.T) string {
	t.Helper()
	b := make([]byte, 3)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

func assertPresent(t *testing.T, namespaces []string, link string) {
	t.Helper()
	nsList, links := ipState(t)
	for _, ns := range namespaces {
		if !strings.Contains(nsList, ns) {
			t.Errorf("namespace %s missing from `ip netns list`:\n%s", ns, nsList)
		}
	}
	if link != "" && !hasLink(links, link) {
		t.Errorf("link %s missing from `ip link`:\n%s", link, links)
	}
}

func assertGone(t *testing.T, namespaces []string, link string) {
	t.Helper()
	nsList, links := ipState(t)
	for _, ns := range namespaces {
		if strings.Contains(nsList, ns) {
			t.Errorf("namespace %s still in `ip netns list`:\n%s", ns, nsList)
		}
		if _, err := os.Stat("/run/netns/" + ns); !os.IsNotExist(err) {
			t.Errorf("/run/netns/%s still exists (stat err %v)", ns, err)
		}
	}
	if link != "" && hasLink(links, link) {
		t.Errorf("link %s still in `ip link`:\n%s", link, links)
	}
}

// hasLink finds name in `ip -o link` output, where a veth shows as
// "NAME@PEER:" and other devices as "NAME:".
func hasLink(links, name string) bool {
	return strings.Contains(links, " "+name+":") || strings.Contains(links, " "+name+"@")
}

func ipState(t *testing.T) (nsList, links string) {
	t.Helper()
	ns, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		t.Fatalf("ip netns list: %v", err)
	}
	l, err := exec.Command("ip", "-o", "link").Output()
	if err != nil {
		t.Fatalf("ip link: %v", err)
	}
	return string(ns), string(l)
}
