package faults_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/faultline-dev/faultline/crds/v1alpha1"
	"github.com/faultline-dev/faultline/faults"
	"github.com/faultline-dev/faultline/internal/testground"
	"github.com/faultline-dev/faultline/internal/testground/netns"
)

// startProc starts c and kills it when the test ends, stopped or not.
func startProc(t *testing.T, c *exec.Cmd) int {
	t.Helper()
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Process.Kill(); _ = c.Wait() })
	return c.Process.Pid
}

// waitComm waits until pid runs comm (`ip netns exec` becomes its command
// by exec).
func waitComm(t *testing.T, pid int, comm string) {
	t.Helper()
	if !testground.Eventually(5*time.Second, func() bool {
		raw, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/comm")
		return err == nil && strings.TrimSpace(string(raw)) == comm
	}) {
		t.Fatalf("pid %d never became %s", pid, comm)
	}
}

// childOf waits for pid's one child and returns it.
func childOf(t *testing.T, pid int) int {
	t.Helper()
	child := 0
	if !testground.Eventually(5*time.Second, func() bool {
		entries, _ := os.ReadDir("/proc")
		for _, e := range entries {
			raw, err := os.ReadFile("/proc/" + e.Name() + "/stat")
			if err != nil {
				continue
			}
			f := strings.Fields(string(raw[strings.LastIndexByte(string(raw), ')')+2:]))
			if f[1] == strconv.Itoa(pid) {
				child, _ = strconv.Atoi(e.Name())
				return true
			}
		}
		return false
	}) {
		t.Fatalf("pid %d never started a child", pid)
	}
	return child
}

func isStopped(t *testing.T, pid int) bool {
	s := procState(t, pid)
	return s == 'T' || s == 't'
}

// waitStopped waits until every pid is stopped (want) or none is (!want).
func waitStopped(t *testing.T, want bool, pids ...int) bool {
	t.Helper()
	return testground.Eventually(3*time.Second, func() bool {
		for _, p := range pids {
			if isStopped(t, p) != want {
				return false
			}
		}
		return true
	})
}

// openPodEngine opens an engine that runs pod/failure (the daemon's
// registry), closed (recovering all) when the test ends.
func openPodEngine(t *testing.T) *faults.Engine {
	t.Helper()
	reg := faults.Builtin()
	if err := reg.Register("pod/failure", faults.PodFailure()); err != nil {
		t.Fatal(err)
	}
	return openEngineWith(t, faults.Options{Registry: reg, Capabilities: &faults.Capabilities{}})
}

func podFailureReq(id string, tg faults.Target, names ...string) *faults.Request {
	return &faults.Request{ID: id, Injection: "test/" + id, Target: tg, Deadline: time.Now().Add(time.Minute),
		Fault: v1alpha1.FaultSpec{Pod: &v1alpha1.PodFault{Action: v1alpha1.PodFailure, ContainerNames: names}}}
}

// A pod of two containers in a real network namespace: "app" is a shell
// with a child, "sidecar" a sleep; a sleep outside the pod must never be
// touched. containerNames chooses what freezes; recover continues exactly
// what was stopped; a bad name applies nothing.
func TestPodFailureFreezesChosenContainers(t *testing.T) {
	n := netns.New(t, []string{"a"})
	a := n.Host("a")
	app := startProc(t, a.Exec(context.Background(), "sh", "-c", "sleep 300 & wait"))
	sidecar := startProc(t, a.Exec(context.Background(), "sleep", "301"))
	outside := startProc(t, exec.Command("sleep", "302"))
	waitComm(t, app, "sh")
	waitComm(t, sidecar, "sleep")
	appChild := childOf(t, app)
	e := openPodEngine(t)
	pod := faults.Target{Key: "ns/web", NetnsPath: a.Path(), Pod: &faults.PodRef{Namespace: "ns", Name: "web"},
		Containers: []faults.Container{{Name: "app", Pids: []int{app}}, {Name: "sidecar", Pids: []int{sidecar}}}}

	// A container the pod does not have: an error naming the field, and
	// nothing stopped or journaled.
	_, err := e.Apply(t.Context(), podFailureReq("bad", pod, "app", "db"))
	if err == nil || !strings.Contains(err.Error(), "spec.fault.pod.containerNames[1]") {
		t.Fatalf("apply with an unknown container: %v", err)
	}
	time.Sleep(100 * time.Millisecond)
	for _, p := range []int{app, appChild, sidecar} {
		if isStopped(t, p) {
			t.Errorf("pid %d stopped by a refused pod failure", p)
		}
	}
	if act := e.Active(); len(act) != 0 {
		t.Errorf("active after a refused apply: %+v", act)
	}

	// "app" only: the shell and its child, not the sidecar.
	req := podFailureReq("app", pod, "app")
	st, err := e.Apply(t.Context(), req)
	if err != nil {
		t.Fatalf("apply: %v", err)
	}
	if !waitStopped(t, true, app, appChild) {
		t.Fatalf("app's processes not stopped: %c %c", procState(t, app), procState(t, appChild))
	}
	if isStopped(t, sidecar) || isStopped(t, outside) {
		t.Errorf("sidecar (%c) or outside process (%c) stopped", procState(t, sidecar), procState(t, outside))
	}
	if v, ok := measured(st, faults.MeasuredStoppedProcs); st.Path != "signal" || !ok || v != 2 {
		t.Errorf("status %+v: want path signal and 2 stopped processes", st)
	}
	// Someone continues the app behind the engine's back: the next Apply
	// of the same injection freezes it again.
	if err := syscall.Kill(app, syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	if !waitStopped(t, false, app) {
		t.Fatal("SIGCONT did not continue the app")
	}
	if _, err := e.Apply(t.Context(), req); err != nil {
		t.Fatalf("apply again: %v", err)
	}
	if !waitStopped(t, true, app, appChild) {
		t.Errorf("app not frozen again by a repeated apply: %c", procState(t, app))
	}
	if err := e.Recover(t.Context(), "app", "test"); err != nil {
		t.Fatal(err)
	}
	if !waitStopped(t, false, app, appChild) {
		t.Errorf("app's processes still stopped after recover: %c %c", procState(t, app), procState(t, appChild))
	}

	// No names and no known containers: every process of the pod's
	// network namespace, still nothing outside it.
	pod.Containers = nil
	if _, err := e.Apply(t.Context(), podFailureReq("all", pod)); err != nil {
		t.Fatalf("apply: %v", err)
	}
	if !waitStopped(t, true, app, appChild, sidecar) {
		t.Errorf("pod not frozen: %c %c %c", procState(t, app), procState(t, appChild), procState(t, sidecar))
	}
	if isStopped(t, outside) {
		t.Error("a process outside the pod was stopped")
	}
	if err := e.Recover(t.Context(), "all", "test"); err != nil {
		t.Fatal(err)
	}
	if !waitStopped(t, false, app, appChild, sidecar) {
		t.Error("pod still frozen after recover")
	}
}

// A container given by its cgroup (as the CRI resolver finds it): every
// process in the cgroup freezes, none outside it.
func TestPodFailureCgroupContainer(t *testing.T) {
	testground.RequireRoot(t)
	cg := newCgroup(t)
	in := startProc(t, exec.Command("sleep", "300"))
	out := startProc(t, exec.Command("sleep", "301"))
	if err := os.WriteFile(filepath.Join(cg, "cgroup.procs"), []byte(strconv.Itoa(in)), 0); err != nil {
		t.Fatal(err)
	}
	e := openPodEngine(t)
	pod := faults.Target{Key: "ns/web", Pod: &faults.PodRef{Namespace: "ns", Name: "web"},
		Containers: []faults.Container{{Name: "app", CgroupPath: cg}}}
	if _, err := e.Apply(t.Context(), podFailureReq("cg", pod, "app")); err != nil {
		t.Fatalf("apply: %v", err)
	}
	if !waitStopped(t, true, in) {
		t.Errorf("process in the container's cgroup not stopped: %c", procState(t, in))
	}
	if isStopped(t, out) {
		t.Error("a process outside the container's cgroup was stopped")
	}
	if err := e.Recover(t.Context(), "cg", "test"); err != nil {
		t.Fatal(err)
	}
	if !waitStopped(t, false, in) {
		t.Error("still stopped after recover")
	}
}
