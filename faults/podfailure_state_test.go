package faults

import (
	"context"
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func startSleep(t *testing.T) *exec.Cmd {
	t.Helper()
	c := exec.Command("sleep", "300")
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Process.Kill(); _ = c.Wait() })
	return c
}

func stateOf(t *testing.T, pid int) byte {
	t.Helper()
	st, err := readProcStat(pid)
	if err != nil {
		t.Fatal(err)
	}
	return st.state
}

func waitState(t *testing.T, pid int, want func(byte) bool) bool {
	t.Helper()
	for range 200 {
		if want(stateOf(t, pid)) {
			return true
		}
		time.Sleep(10 * time.Millisecond)
	}
	return false
}

// Recovery works from the journaled record alone and continues only the
// very processes it names: a pid whose start time differs (the kernel gave
// the pid to another process) is never signalled, and a process that is
// gone counts as recovered.
func TestPodFailureRecoverSkipsRecycledPid(t *testing.T) {
	c := startSleep(t)
	pid := c.Process.Pid
	if err := unix.Kill(pid, unix.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	if !waitState(t, pid, stopped) {
		t.Fatal("the sleep never stopped")
	}
	inst, err := InstanceOf(pid)
	if err != nil {
		t.Fatal(err)
	}
	gone := startSleep(t)
	goneInst, err := InstanceOf(gone.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	_ = gone.Process.Kill()
	_ = gone.Wait()

	h := PodFailure()
	recoverWith := func(procs ...Instance) error {
		raw, err := json.Marshal(podFailureState{Pod: "ns/web", Procs: procs})
		if err != nil {
			t.Fatal(err)
		}
		return h.Recover(context.Background(), &Env{}, raw)
	}
	// The journal says this pid, but it started at another time: it is
	// another process now and must stay as it is.
	if err := recoverWith(Instance{Pid: pid, Start: inst.Start + 1}, goneInst); err != nil {
		t.Fatalf("recover: %v", err)
	}
	time.Sleep(200 * time.Millisecond)
	if s := stateOf(t, pid); !stopped(s) {
		t.Fatalf("a recycled pid was continued (state %c)", s)
	}
	// Recovering twice is fine, and the right record continues it.
	for range 2 {
		if err := recoverWith(inst, goneInst); err != nil {
			t.Fatalf("recover: %v", err)
		}
	}
	if !waitState(t, pid, func(s byte) bool { return !stopped(s) }) {
		t.Errorf("the journaled process is still stopped after recover (state %c)", stateOf(t, pid))
	}
}

// Container names select among the target's containers; a name the pod
// does not have is an error naming the field and listing what it has.
func TestChooseContainers(t *testing.T) {
	tg := Target{Key: "ns/web", Containers: []Container{{Name: "app", Pids: []int{1}}, {Name: "sidecar", Pids: []int{2}}}}
	got, err := chooseContainers(tg, []string{"sidecar", "sidecar"})
	if err != nil || len(got) != 1 || got[0].Name != "sidecar" {
		t.Errorf("chooseContainers(sidecar, sidecar) = %v, %v", got, err)
	}
	if got, err := chooseContainers(tg, nil); err != nil || len(got) != 2 {
		t.Errorf("no names: %v, %v; want every container", got, err)
	}
	_, err = chooseContainers(tg, []string{"app", "db"})
	if err == nil || !strings.HasPrefix(err.Error(), "spec.fault.pod.containerNames[1]: ") || !strings.Contains(err.Error(), `"db"`) || !strings.Contains(err.Error(), "app, sidecar") {
		t.Errorf("unknown name: %v", err)
	}
	_, err = chooseContainers(Target{Key: "ns/web"}, []string{"app"})
	if err == nil || !strings.HasPrefix(err.Error(), "spec.fault.pod.containerNames[0]: ") {
		t.Errorf("names without known containers: %v", err)
	}
}
