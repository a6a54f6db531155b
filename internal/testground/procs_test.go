package testground

import (
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// A process this binary starts is listed; one of the same name started
// without the mark (as another package's test binary would have) is not.
func TestOwnProcsKeepsThisRunsProcesses(t *testing.T) {
	const arg0 = "faultline-ownprocs-probe"
	start := func(env []string) int {
		cmd := exec.Command("sleep", "30")
		cmd.Args[0], cmd.Env = arg0, env
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
		return cmd.Process.Pid
	}
	ours := start(nil)
	var foreign []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, runMarkEnv+"=") {
			foreign = append(foreign, kv)
		}
	}
	theirs := start(append(foreign, runMarkEnv+"=another-run"))

	var pids []int
	for _, p := range OwnProcs(arg0) {
		pid, _ := strconv.Atoi(strings.SplitN(p, ":", 2)[0])
		pids = append(pids, pid)
	}
	if !slices.Contains(pids, ours) || slices.Contains(pids, theirs) {
		t.Errorf("OwnProcs(%q) = %v; want %d (ours) and not %d (another run's)", arg0, pids, ours, theirs)
	}
}
