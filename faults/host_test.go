package faults_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/faultline-dev/faultline/crds/v1alpha1"
	"github.com/faultline-dev/faultline/faults"
	"github.com/faultline-dev/faultline/internal/testground"
	"github.com/faultline-dev/faultline/internal/testground/netns"
)

func hostReq(id string, f v1alpha1.FaultSpec) *faults.Request {
	return &faults.Request{ID: id, Injection: "test/" + id, Target: faults.Target{Key: "host"}, Fault: f, Deadline: time.Now().Add(time.Minute)}
}

// cpuTicks reads utime+stime of a process from /proc, independently of
// the engine's own measurement.
func cpuTicks(t *testing.T, pid int) uint64 {
	t.Helper()
	raw, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(raw[strings.LastIndexByte(string(raw), ')')+2:]))
	u, _ := strconv.ParseUint(f[11], 10, 64)
	s, _ := strconv.ParseUint(f[12], 10, 64)
	return u + s
}

// loadAverage is the machine's one-minute load average.
func loadAverage(t *testing.T) float64 {
	t.Helper()
	raw, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		t.Fatal(err)
	}
	v, err := strconv.ParseFloat(strings.Fields(string(raw))[0], 64)
	if err != nil {
		t.Fatalf("/proc/loadavg: %v", err)
	}
	return v
}

func helperPid(t *testing.T) int {
	t.Helper()
	procs := helperProcs()
	if len(procs) != 1 {
		t.Fatalf("want one helper process, have %q", procs)
	}
	pid, _ := strconv.Atoi(strings.SplitN(procs[0], ":", 2)[0])
	return pid
}

func TestStressCPUReachesLoad(t *testing.T) {
	testground.RequireRoot(t)
	e := openEngine(t)
	st, err := e.Apply(t.Context(), hostReq("cpu", v1alpha1.FaultSpec{Stress: &v1alpha1.StressFault{Action: v1alpha1.StressCPU, Workers: 1, Load: 50}}))
	if err != nil {
		t.Fatalf("apply: %v", err)
	}
	if st.Path != "helper" {
		t.Errorf("path %q, want helper", st.Path)
	}
	pid := helperPid(t)
	time.Sleep(300 * time.Millisecond)
	t0, c0 := time.Now(), cpuTicks(t, pid)
	time.Sleep(2 * time.Second)
	load := float64(cpuTicks(t, pid)-c0) / 100 / time.Since(t0).Seconds()
	// On a machine busier than its cores (other test packages run
	// beside this one) the helper cannot get its share, and catches up
	// after; only the bounds it controls are asserted then.
	low, high := 0.40, 0.60
	if busy := loadAverage(t); busy >= float64(runtime.NumCPU()) {
		low, high = 0, 0.70
		t.Logf("load average %.1f on %d CPUs: checking only that the helper stays under %.0f%%", busy, runtime.NumCPU(), 100*high)
	}
	t.Logf("helper %d: load %.1f%%", pid, 100*load)
	if load < low || load > high {
		t.Errorf("CPU load %.1f%%, want %.0f–%.0f%%", 100*load, 100*low, 100*high)
	}
	s, _ := e.Status("cpu")
	if v, ok := measured(s, faults.MeasuredCPULoadRatio); !ok || v < low || v > high {
		t.Errorf("measured cpu_load_ratio %v (%t), want %.2f–%.2f", v, ok, low, high)
	}
	if err := e.Recover(t.Context(), "cpu", "test"); err != nil {
		t.Fatal(err)
	}
	if p := helperProcs(); len(p) > 0 {
		t.Errorf("helpers left after recover: %q", p)
	}
}

func TestStressMemoryHoldsBytes(t *testing.T) {
	testground.RequireRoot(t)
	e := openEngine(t)
	size := resource.MustParse("64Mi")
	req := hostReq("mem", v1alpha1.FaultSpec{Stress: &v1alpha1.StressFault{Action: v1alpha1.StressMemory, Size: &size}})
	if _, err := e.Apply(t.Context(), req); err != nil {
		t.Fatalf("apply: %v", err)
	}
	// A helper killed behind the engine's back (as the OOM killer would)
	// is replaced by the next Apply of the same spec.
	first := helperPid(t)
	inst, err := faults.InstanceOf(first)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(first, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	// Dead as the engine sees it (gone or a zombie). Its command line
	// empties earlier, while the kernel still frees its memory, and an
	// Apply in that window rightly finds the helper running.
	if !testground.Eventually(10*time.Second, func() bool { return !inst.Alive() }) {
		t.Fatalf("helper %d still alive 10s after SIGKILL", first)
	}
	if _, err := e.Apply(t.Context(), req); err != nil {
		t.Fatalf("apply again: %v", err)
	}
	if second := helperPid(t); second == first {
		t.Fatal("the killed helper was not replaced")
	}
	if !testground.Eventually(3*time.Second, func() bool {
		s, _ := e.Status("mem")
		v, ok := measured(s, faults.MeasuredMemoryBytes)
		return ok && v >= 64<<20
	}) {
		s, _ := e.Status("mem")
		t.Errorf("measured memory never reached 64Mi: %+v", s.Measured)
	}
	if err := e.Recover(t.Context(), "mem", "test"); err != nil {
		t.Fatal(err)
	}
	if p := helperProcs(); len(p) > 0 {
		t.Errorf("helpers left after recover: %q", p)
	}
}

func TestDiskFillAndRecoverFreesSpace(t *testing.T) {
	testground.RequireRoot(t)
	dir := t.TempDir()
	// A small tmpfs of our own: free space is then exact and ours alone.
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "size=64m"); err != nil {
		t.Fatalf("mount tmpfs: %v", err)
	}
	t.Cleanup(func() { _ = unix.Unmount(dir, unix.MNT_DETACH) })
	free := func() int64 {
		var st unix.Statfs_t
		if err := unix.Statfs(dir, &st); err != nil {
			t.Fatal(err)
		}
		return int64(st.Bavail) * st.Bsize
	}
	before := free()
	e := openEngine(t)
	if _, err := e.Apply(t.Context(), hostReq("disk", v1alpha1.FaultSpec{Disk: &v1alpha1.DiskFault{Action: v1alpha1.DiskFill, Path: dir, Size: resource.MustParse("32Mi")}})); err != nil {
		t.Fatalf("apply: %v", err)
	}
	if used := before - free(); used < 32<<20 {
		t.Errorf("fill used %d bytes, want ≥ 32Mi", used)
	}
	s, _ := e.Status("disk")
	if v, ok := measured(s, faults.MeasuredFilledBytes); !ok || v < 32<<20 {
		t.Errorf("measured filled_bytes %v, want ≥ 32Mi", v)
	}
	if err := e.Recover(t.Context(), "disk", "test"); err != nil {
		t.Fatal(err)
	}
	if after := free(); after != before {
		t.Errorf("free space %d after recover, %d before", after, before)
	}
	if m, _ := filepath.Glob(filepath.Join(dir, faults.FillPrefix+"*")); len(m) > 0 {
		t.Errorf("fill files left: %v", m)
	}
}

func procState(t *testing.T, pid int) byte {
	t.Helper()
	raw, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		t.Fatal(err)
	}
	return raw[strings.LastIndexByte(string(raw), ')')+2]
}

func TestProcessStopAndContinue(t *testing.T) {
	n := netns.New(t, []string{"a"})
	a := n.Host("a")
	// A sleep inside the target's namespace, and one outside that must
	// not be touched although its name matches.
	inside := a.Exec(context.Background(), "sleep", "300")
	outside := exec.Command("sleep", "300")
	for _, c := range []*exec.Cmd{inside, outside} {
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Process.Kill(); _ = c.Wait() })
	}
	// `ip netns exec` becomes sleep by exec: wait until it has, or the
	// fault may look for "sleep" while the process is still called "ip".
	if !testground.Eventually(5*time.Second, func() bool {
		comm, err := os.ReadFile("/proc/" + strconv.Itoa(inside.Process.Pid) + "/comm")
		return err == nil && strings.TrimSpace(string(comm)) == "sleep"
	}) {
		t.Fatal("the target's sleep never started")
	}
	e := openEngine(t)
	req := &faults.Request{ID: "stop", Target: netTarget(a), Deadline: time.Now().Add(time.Minute),
		Fault: v1alpha1.FaultSpec{Process: &v1alpha1.ProcessFault{Action: v1alpha1.ProcessStop, Process: "sleep"}}}
	if _, err := e.Apply(t.Context(), req); err != nil {
		t.Fatalf("apply: %v", err)
	}
	if !testground.Eventually(2*time.Second, func() bool { return procState(t, inside.Process.Pid) == 'T' }) {
		t.Errorf("target process state %c, want T (stopped)", procState(t, inside.Process.Pid))
	}
	if s := procState(t, outside.Process.Pid); s == 'T' {
		t.Error("a process outside the target was stopped")
	}
	if err := e.Recover(t.Context(), "stop", "test"); err != nil {
		t.Fatal(err)
	}
	if !testground.Eventually(2*time.Second, func() bool { return procState(t, inside.Process.Pid) != 'T' }) {
		t.Error("process still stopped after recover")
	}
}

func TestProcessKillByPid(t *testing.T) {
	testground.RequireRoot(t)
	c := exec.Command("sleep", "300")
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Process.Kill() })
	e := openEngine(t)
	pid := int32(c.Process.Pid)
	if _, err := e.Apply(t.Context(), hostReq("kill", v1alpha1.FaultSpec{Process: &v1alpha1.ProcessFault{Action: v1alpha1.ProcessKill, Pid: &pid, Signal: 15}})); err != nil {
		t.Fatal(err)
	}
	err := c.Wait()
	if ws, ok := c.ProcessState.Sys().(syscall.WaitStatus); !ok || ws.Signal() != syscall.SIGTERM {
		t.Errorf("process ended with %v, want SIGTERM", err)
	}
}

// newCgroup makes a memory cgroup for the test (v2 if the machine has it,
// else the v1 memory hierarchy) and removes it afterwards.
func newCgroup(t *testing.T) string {
	t.Helper()
	root := "/sys/fs/cgroup"
	if _, err := os.Stat(filepath.Join(root, "cgroup.controllers")); err != nil {
		root = filepath.Join(root, "memory")
	}
	dir := filepath.Join(root, "faultline-test-"+strconv.Itoa(os.Getpid()))
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Skipf("cannot create a cgroup here: %v", err)
	}
	t.Cleanup(func() {
		_ = testground.Eventually(5*time.Second, func() bool { return os.Remove(dir) == nil })
	})
	return dir
}

func TestStressHelperJoinsTargetCgroup(t *testing.T) {
	testground.RequireRoot(t)
	cg := newCgroup(t)
	e := openEngine(t)
	size := resource.MustParse("8Mi")
	req := hostReq("cg", v1alpha1.FaultSpec{Stress: &v1alpha1.StressFault{Action: v1alpha1.StressMemory, Size: &size}})
	req.Target.CgroupPath = cg
	if _, err := e.Apply(t.Context(), req); err != nil {
		t.Fatalf("apply: %v", err)
	}
	procs, err := os.ReadFile(filepath.Join(cg, "cgroup.procs"))
	if err != nil {
		t.Fatal(err)
	}
	if want := strconv.Itoa(helperPid(t)); strings.TrimSpace(string(procs)) != want {
		t.Errorf("cgroup holds %q, want the helper %s", procs, want)
	}
	if err := e.Recover(t.Context(), "cg", "test"); err != nil {
		t.Fatal(err)
	}
}
