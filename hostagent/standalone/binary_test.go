package standalone_test

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/faultline-dev/faultline/faults"
	"github.com/faultline-dev/faultline/hostagent/standalone"
	"github.com/faultline-dev/faultline/internal/testground"
	"github.com/faultline-dev/faultline/internal/testground/netns"
)

// TestStandaloneBinary runs the built agent binary standalone inside
// network-namespace hosts, driven by its CLI.
func TestStandaloneBinary(t *testing.T) {
	testground.RequireRoot(t)
	bin := testground.BuildBinary(t, "github.com/faultline-dev/faultline/cmd/faultline-agent")
	t.Run("attacks", func(t *testing.T) { testBinaryAttacks(t, bin) })
	t.Run("schedule survives restart", func(t *testing.T) { testBinaryScheduleSurvivesRestart(t, bin) })
}

// The agent binary, standalone inside a network-namespace host, driven by
// its own CLI: the API listens on loopback only; a malformed attack is
// refused and applies nothing; a delay attack is measured active and gone
// once recovered; kill -9 mid-attack leaves the fault, and the restarted
// agent reaps it from the journal, applies again what is still before its
// deadline, and leaves nothing after; SIGTERM recovers everything.
func testBinaryAttacks(t *testing.T, bin string) {
	n := netns.New(t, []string{"a", "b"})
	a, b := n.Host("a"), n.Host("b")
	echo := netns.RTEcho(t, b)
	base := netns.MedianRTT(t, a, echo, 9)
	dir := t.TempDir()
	journal := filepath.Join(dir, "journal.db")
	first := startAgent(t, a, bin, journal, "agent")

	// Loopback by default: nothing answers on the host's own address.
	_, port, _ := net.SplitHostPort(standalone.DefaultListen)
	if !refused(t, b, net.JoinHostPort(a.IP.String(), port)) || !refused(t, a, net.JoinHostPort(a.IP.String(), port)) {
		t.Errorf("the API answers on %s:%s; want loopback only by default", a.IP, port)
	}

	// Malformed: refused with the field named, nothing applied.
	_, errOut, err := cli(t, a, bin, "attack", "network", "delay", "--latency", "100ms", "--device", "nosuch0", "--duration", "1m")
	if err == nil || !strings.Contains(errOut, "fault.network.device") || !strings.Contains(errOut, "HTTP 400") {
		t.Errorf("attack on a missing device: err %v, stderr %q; want HTTP 400 naming fault.network.device", err, errOut)
	}
	if as := listAttacks(t, a, bin); len(as) != 0 || netns.FaultsLeft(t, a.NsName, faults.TablePrefix) != "" {
		t.Fatalf("a refused attack left %v and %q", as, netns.FaultsLeft(t, a.NsName, faults.TablePrefix))
	}

	// Delay through the CLI, measured; recovered through the CLI.
	id := strings.TrimSpace(mustCLI(t, a, bin, "attack", "network", "delay", "--device", a.Iface, "--latency", "100ms", "--duration", "1m"))
	rtt := netns.MedianRTT(t, a, echo, 9)
	t.Logf("baseline RTT %v; with a 100ms delay attack %v (+%v)", base, rtt, rtt-base)
	if inc := rtt - base; inc < 90*time.Millisecond || inc > 130*time.Millisecond {
		t.Errorf("RTT rose by %v with the attack, want about 100ms", inc)
	}
	if got := listAttacks(t, a, bin)[id]; got.Phase != standalone.PhaseInjected || got.Kind != "network/delay" {
		t.Errorf("list shows %s as %s %s, want network/delay Injected", id, got.Kind, got.Phase)
	}
	if out := mustCLI(t, a, bin, "recover", id); !strings.Contains(out, "recovered") {
		t.Errorf("recover printed %q", out)
	}
	if left := netns.FaultsLeft(t, a.NsName, faults.TablePrefix); left != "" {
		t.Errorf("left after recover:\n%s", left)
	}
	if after := netns.MedianRTT(t, a, echo, 9); after > base+20*time.Millisecond {
		t.Errorf("RTT %v after recover, %v before", after, base)
	}
	if out := mustCLI(t, a, bin, "recover", id, "a-000000000000"); !strings.Contains(out, "already Recovered") || !strings.Contains(out, "nothing to recover") {
		t.Errorf("recovering again printed %q; want success for recovered and unknown attacks", out)
	}

	// kill -9 mid-attack: a delay to last past the restart and a fill
	// whose deadline passes while the agent is down.
	fillDir := mkdir(t, dir, "fill")
	delayID := strings.TrimSpace(mustCLI(t, a, bin, "attack", "network", "delay", "--latency", "100ms", "--duration", "25s"))
	delayDeadline := listAttacks(t, a, bin)[delayID].Deadline
	// The fill is made last, right before the kill, so that nothing slow
	// runs between them and the live agent cannot reach its deadline.
	fillID := strings.TrimSpace(mustCLI(t, a, bin, "attack", "disk", "fill", "--path", fillDir, "--size", "1Mi", "--duration", "2s"))
	first.kill9(t)
	if netns.FaultsLeft(t, a.NsName, faults.TablePrefix) == "" {
		t.Fatal("nothing of the delay left after kill -9: the test would prove nothing")
	}
	time.Sleep(3 * time.Second) // the fill's deadline passes while the agent is down
	if len(fillFiles(fillDir)) != 1 {
		t.Fatalf("fill files while the agent is down: %v", fillFiles(fillDir))
	}
	second := startAgent(t, a, bin, journal, "restarted agent")
	if left := fillFiles(fillDir); len(left) != 0 {
		t.Errorf("fill file left after restart: %v", left)
	}
	as := listAttacks(t, a, bin)
	if f := as[fillID]; f.Phase != standalone.PhaseRecovered || !strings.Contains(f.Message, "while the agent was down") {
		t.Errorf("fill after restart: %s %q, want Recovered while the agent was down", f.Phase, f.Message)
	}
	if d := as[delayID]; d.Phase != standalone.PhaseInjected || !d.Deadline.Equal(delayDeadline) {
		t.Errorf("delay after restart: %s until %v, want Injected until %v", d.Phase, d.Deadline, delayDeadline)
	}
	inc := netns.MedianRTT(t, a, echo, 9) - base
	t.Logf("after kill -9 and restart: RTT +%v until the deadline", inc)
	if inc < 90*time.Millisecond || inc > 130*time.Millisecond {
		t.Errorf("RTT rose by %v after the restart, want the delay honoured (about 100ms) until its deadline", inc)
	}
	time.Sleep(time.Until(delayDeadline))
	if !testground.Eventually(5*time.Second, func() bool { return netns.FaultsLeft(t, a.NsName, faults.TablePrefix) == "" }) {
		t.Errorf("left after the deadline:\n%s", netns.FaultsLeft(t, a.NsName, faults.TablePrefix))
	}
	if d := listAttacks(t, a, bin)[delayID]; d.Phase != standalone.PhaseRecovered || d.RecoveredAt == nil || d.RecoveredAt.Sub(delayDeadline) > 2*time.Second {
		t.Errorf("delay after its deadline: %s at %v, want Recovered at %v", d.Phase, d.RecoveredAt, delayDeadline)
	}
	if after := netns.MedianRTT(t, a, echo, 9); after > base+20*time.Millisecond {
		t.Errorf("RTT %v after the deadline, %v before", after, base)
	}

	if st, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", second.cmd.Process.Pid)); err == nil {
		for _, l := range strings.Split(string(st), "\n") {
			if strings.HasPrefix(l, "VmRSS:") {
				t.Logf("idle standalone agent (no attack, no schedule) %s", strings.Join(strings.Fields(l), " "))
			}
		}
	}

	// SIGTERM recovers everything still running.
	mustCLI(t, a, bin, "attack", "network", "delay", "--latency", "50ms", "--duration", "5m")
	mustCLI(t, a, bin, "attack", "disk", "fill", "--path", fillDir, "--size", "1Mi", "--duration", "5m")
	if err := second.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-second.exited:
		if second.waitErr != nil {
			t.Errorf("agent exited with %v after SIGTERM", second.waitErr)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("agent did not stop within 30s of SIGTERM")
	}
	if left := netns.FaultsLeft(t, a.NsName, faults.TablePrefix); left != "" || len(fillFiles(fillDir)) != 0 {
		t.Errorf("left after SIGTERM:\n%s %v", left, fillFiles(fillDir))
	}
}

// A schedule is kept in the journal: after kill -9 and a restart it is
// still there and fires again, not late for the firings missed meanwhile
// (@every 3s fires at the earliest 2s after the clock starts, on a whole
// second; a missed firing run late would come at once), and attacks of one
// schedule never overlap.
func testBinaryScheduleSurvivesRestart(t *testing.T, bin string) {
	n := netns.New(t, []string{"a"})
	a := n.Host("a")
	dir := t.TempDir()
	fillDir := mkdir(t, dir, "fill")
	journal := filepath.Join(dir, "journal.db")
	first := startAgent(t, a, bin, journal, "agent")

	// Each attack (4s) outlasts the interval (3s): every other firing
	// must be skipped.
	sid := strings.TrimSpace(mustCLI(t, a, bin, "schedule", "add", "--cron", "@every 3s", "--duration", "4s",
		"disk", "fill", "--path", fillDir, "--size", "64Ki"))
	fired := func() []standalone.Attack {
		var out []standalone.Attack
		for _, at := range listAttacks(t, a, bin) {
			if at.Schedule == sid {
				out = append(out, at)
			}
		}
		return out
	}
	if !testground.Eventually(20*time.Second, func() bool { return len(fired()) >= 2 }) {
		t.Fatalf("schedule %s fired %d times in 20s", sid, len(fired()))
	}
	first.kill9(t)
	time.Sleep(5 * time.Second) // firings are due while the agent is down
	restarted := time.Now()
	startAgent(t, a, bin, journal, "restarted agent")
	t.Logf("restarted agent answered %v after it was started", time.Since(restarted).Round(time.Millisecond))
	if out := mustCLI(t, a, bin, "schedule", "list"); !strings.Contains(out, sid) || !strings.Contains(out, "@every 3s") {
		t.Fatalf("schedule list after restart:\n%s", out)
	}
	var after []standalone.Attack
	if !testground.Eventually(20*time.Second, func() bool {
		after = after[:0]
		for _, at := range fired() {
			if at.CreatedAt.After(restarted) {
				after = append(after, at)
			}
		}
		return len(after) >= 2
	}) {
		t.Fatalf("schedule %s did not fire twice within 20s of the restart", sid)
	}
	slices.SortFunc(after, func(x, y standalone.Attack) int { return x.CreatedAt.Compare(y.CreatedAt) })
	if late := after[0].CreatedAt.Sub(restarted); late < 2*time.Second {
		t.Errorf("first firing %v after the restart: a missed firing ran late", late)
	}
	all := fired()
	slices.SortFunc(all, func(x, y standalone.Attack) int { return x.CreatedAt.Compare(y.CreatedAt) })
	for i := 1; i < len(all); i++ {
		prev, cur := all[i-1], all[i]
		if prev.RecoveredAt == nil || prev.RecoveredAt.After(*cur.InjectedAt) {
			t.Errorf("attacks %s (%v–%v) and %s (from %v) of one schedule overlap", prev.ID, prev.InjectedAt, prev.RecoveredAt, cur.ID, cur.InjectedAt)
		}
	}
	var scs []standalone.Schedule
	scs = append(scs, mustSchedules(t, a, bin)...)
	if len(scs) != 1 || scs[0].Skipped == 0 {
		t.Errorf("schedules %+v: want one, with skipped firings (attacks outlast the interval)", scs)
	}
	t.Logf("schedule %s: %d attacks, %d skipped firings; first firing %v after the restart", sid, scs[0].Fired, scs[0].Skipped, after[0].CreatedAt.Sub(restarted).Round(time.Millisecond))

	if out := mustCLI(t, a, bin, "schedule", "delete", sid); !strings.Contains(out, "deleted") {
		t.Errorf("schedule delete printed %q", out)
	}
	if !testground.Eventually(5*time.Second, func() bool { return len(fillFiles(fillDir)) == 0 }) {
		t.Errorf("fill left after the schedule was deleted: %v", fillFiles(fillDir))
	}
	if out := mustCLI(t, a, bin, "schedule", "list", "-o", "json"); strings.TrimSpace(out) != "[]" {
		t.Errorf("schedules after delete: %s", out)
	}
}

func mustSchedules(t *testing.T, h *netns.Host, bin string) []standalone.Schedule {
	t.Helper()
	scs, err := apiClient(h).Schedules(t.Context())
	if err != nil {
		t.Fatal(fmt.Errorf("schedules: %w", err))
	}
	return scs
}
