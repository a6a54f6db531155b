package federation_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"syscall"
	"testing"
	"time"
)

// newFleetSim returns the simulator process: this test binary again, told
// by the environment to simulate the fleet in cfgFile. It is killed when
// the benchmark ends, should it still run.
func newFleetSim(tb testing.TB, cfgFile string) *exec.Cmd {
	tb.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), fleetSimEnv+"="+cfgFile)
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	tb.Cleanup(func() {
		if cmd.Process != nil && cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	return cmd
}

// processCPU is the CPU time (user + system) this process used so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// startProfiles writes a CPU profile of the measured window, and a heap
// profile at its end, into $FAULTLINE_FLEET_PROFILE when set.
func startProfiles(tb testing.TB) (stop func()) {
	dir := os.Getenv("FAULTLINE_FLEET_PROFILE")
	if dir == "" {
		return func() {}
	}
	cpu, err := os.Create(filepath.Join(dir, "hub-cpu.pprof"))
	if err != nil {
		tb.Fatal(err)
	}
	if err := pprof.StartCPUProfile(cpu); err != nil {
		tb.Fatal(err)
	}
	return func() {
		pprof.StopCPUProfile()
		_ = cpu.Close()
		heap, err := os.Create(filepath.Join(dir, "hub-heap.pprof"))
		if err != nil {
			tb.Error(err)
			return
		}
		defer heap.Close()
		if err := pprof.Lookup("heap").WriteTo(heap, 0); err != nil {
			tb.Error(err)
		}
	}
}
