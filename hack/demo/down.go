package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/faultline-dev/faultline/faults"
	"github.com/faultline-dev/faultline/internal/testground/netns"
)

// down removes what the run recorded in st: it stops a `demo up` that
// still runs (which then cleans up itself), kills every process of the
// run, deletes its network namespaces and links and its data, and then
// checks that nothing is left. It returns the leftovers as an error.
func down(st *state, out io.Writer) error {
	if up := (proc{PID: st.PID, Start: st.Start}); st.PID != os.Getpid() && up.alive() {
		fmt.Fprintf(out, "stopping demo up (pid %d) ...\n", st.PID)
		_ = syscall.Kill(st.PID, syscall.SIGTERM)
		deadline := time.Now().Add(90 * time.Second)
		for up.alive() && time.Now().Before(deadline) {
			time.Sleep(200 * time.Millisecond)
		}
		if up.alive() {
			_ = syscall.Kill(st.PID, syscall.SIGKILL)
			time.Sleep(200 * time.Millisecond)
		}
	}
	var errs []error
	// Processes first: they hold namespaces, journals and ports.
	for _, p := range st.Procs {
		if p.alive() {
			_ = syscall.Kill(-p.PID, syscall.SIGTERM)
			_ = syscall.Kill(p.PID, syscall.SIGTERM)
		}
	}
	waitFor(10*time.Second, func() bool {
		for _, p := range st.Procs {
			if p.alive() {
				return false
			}
		}
		return true
	})
	for _, p := range st.Procs {
		if p.alive() {
			_ = syscall.Kill(-p.PID, syscall.SIGKILL)
			_ = syscall.Kill(p.PID, syscall.SIGKILL)
		}
	}
	// Whatever else carries the run's marker (etcd, kube-apiserver,
	// helpers): SIGTERM, then SIGKILL. Without a run id (no state), nothing
	// is killed: leftovers reports what it finds.
	for i := 0; i < 2 && st.Run != ""; i++ {
		for _, pid := range markedProcesses(st.Run) {
			_ = syscall.Kill(pid, syscall.SIGTERM)
		}
		waitFor(5*time.Second, func() bool { return len(markedProcesses(st.Run)) == 0 })
	}
	if st.Run != "" {
		for _, pid := range markedProcesses(st.Run) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		waitFor(5*time.Second, func() bool { return len(markedProcesses(st.Run)) == 0 })
	}

	// Namespaces of a dead owner are what netns.Sweep removes; ours are
	// named after `demo up`'s PID, which is gone by now. Names recorded
	// otherwise are deleted one by one.
	// Without root the demo made no namespaces, and could not remove any.
	if os.Geteuid() == 0 {
		if err := netns.Sweep(); err != nil {
			errs = append(errs, fmt.Errorf("sweeping network namespaces: %w", err))
		}
	}
	for _, n := range st.Netns {
		if _, err := os.Stat(filepath.Join("/run/netns", n)); err == nil {
			if out, err := exec.Command("ip", "netns", "delete", n).CombinedOutput(); err != nil {
				errs = append(errs, fmt.Errorf("ip netns delete %s: %v: %s", n, err, out))
			}
		}
	}
	for _, l := range st.Links {
		if link, err := netlink.LinkByName(l); err == nil {
			if err := netlink.LinkDel(link); err != nil {
				errs = append(errs, fmt.Errorf("deleting link %s: %w", l, err))
			}
		}
	}
	for _, d := range st.Dirs {
		if err := os.RemoveAll(d); err != nil {
			errs = append(errs, err)
		}
	}
	if left := leftovers(st); len(left) > 0 {
		errs = append(errs, fmt.Errorf("left behind:\n  %s", strings.Join(left, "\n  ")))
	}
	return errors.Join(errs...)
}

// leftovers lists what of the run still exists.
func leftovers(st *state) []string {
	var left []string
	for _, p := range st.Procs {
		if p.alive() {
			left = append(left, fmt.Sprintf("process %s (pid %d)", p.Name, p.PID))
		}
	}
	for _, pid := range markedProcesses(st.Run) {
		left = append(left, fmt.Sprintf("process pid %d (%s)", pid, cmdline(pid)))
	}
	owned := regexp.MustCompile(fmt.Sprintf(`^flt[0-9a-f]{6}-%d[-.]`, st.NetnsOwner))
	entries, _ := os.ReadDir("/run/netns")
	for _, e := range entries {
		recorded := false
		for _, n := range st.Netns {
			recorded = recorded || n == e.Name()
		}
		if recorded || (st.NetnsOwner != 0 && owned.MatchString(e.Name())) {
			left = append(left, "network namespace "+e.Name())
		}
	}
	for _, l := range st.Links {
		if _, err := netlink.LinkByName(l); err == nil {
			left = append(left, "link "+l)
		}
	}
	// Faults are applied inside the pods' and agents' namespaces; none may
	// have reached the root namespace.
	if raw, err := exec.Command("nft", "list", "tables").Output(); err == nil && strings.Contains(string(raw), faults.TablePrefix) {
		left = append(left, "nftables table in the root namespace: "+strings.TrimSpace(string(raw)))
	}
	if raw, err := exec.Command("tc", "qdisc", "show").Output(); err == nil && strings.Contains(string(raw), "qdisc netem fa00:") {
		left = append(left, "netem qdisc in the root namespace")
	}
	for _, d := range st.Dirs {
		if _, err := os.Stat(d); err == nil {
			left = append(left, "directory "+d)
		}
	}
	return left
}

func waitFor(timeout time.Duration, ok func() bool) {
	deadline := time.Now().Add(timeout)
	for !ok() && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
}

func cmdline(pid int) string {
	raw, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	s := strings.ReplaceAll(strings.TrimRight(string(raw), "\x00"), "\x00", " ")
	if len(s) > 100 {
		s = s[:100] + "..."
	}
	return s
}
