package faults

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// HelperArg0 is argv[0] of every helper process the engine starts; with
// "--id=<id>" it is how the reaper recognises helpers nobody journaled a
// pid for (a crash between start and journal update).
const HelperArg0 = "faultline-helper"

// HelperMain turns this process into a helper if it was started as one,
// and then never returns. Every binary that embeds the engine calls it
// first thing in main (tests: in TestMain).
func HelperMain() {
	if len(os.Args) < 2 || os.Args[0] != HelperArg0 {
		return
	}
	if err := runHelper(os.Args[1], os.Args[2:]); err != nil {
		fmt.Fprintf(os.Stdout, "error: %v\n", err)
		os.Exit(2)
	}
	os.Exit(0)
}

func runHelper(mode string, args []string) error {
	fs := flag.NewFlagSet(HelperArg0, flag.ContinueOnError)
	id := fs.String("id", "", "fault id")
	deadline := fs.Int64("deadline", 0, "unix nanoseconds after which the helper exits on its own")
	workers := fs.Int("workers", 1, "cpu workers")
	load := fs.Int("load", 100, "busy percent per worker")
	size := fs.Int64("bytes", 0, "memory to hold")
	cgroup := fs.String("cgroup", "", "cgroup directory to join first")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *id == "" || *deadline == 0 {
		return errors.New("--id and --deadline are required")
	}
	if *cgroup != "" {
		if err := os.WriteFile(filepath.Join(*cgroup, "cgroup.procs"), []byte(strconv.Itoa(os.Getpid())), 0); err != nil {
			return fmt.Errorf("join cgroup %s: %w", *cgroup, err)
		}
	}
	var hold []byte
	switch mode {
	case "stress-cpu":
		if *workers < 1 || *load < 1 || *load > 100 {
			return fmt.Errorf("workers %d, load %d out of range", *workers, *load)
		}
		runtime.GOMAXPROCS(*workers + 1)
		for range *workers {
			go cpuWorker(float64(*load) / 100)
		}
	case "stress-memory":
		if *size <= 0 {
			return fmt.Errorf("bytes %d out of range", *size)
		}
		// Touch every page so the memory is resident, not just reserved.
		hold = make([]byte, *size)
		for i := 0; i < len(hold); i += 4096 {
			hold[i] = 1
		}
	default:
		return fmt.Errorf("unknown helper mode %q", mode)
	}
	fmt.Fprintln(os.Stdout, "ready")
	// Never write to the executor's pipe again: it may be gone.
	_ = os.Stdout.Close()
	time.Sleep(time.Until(time.Unix(0, *deadline)))
	runtime.KeepAlive(hold)
	return nil
}

// cpuWorker keeps its thread busy for share of the wall time. It compares
// its thread's CPU time with the wall time, so under contention it spins
// longer instead of settling below the load asked for.
func cpuWorker(share float64) {
	runtime.LockOSThread()
	start := time.Now()
	cpu0 := threadCPU()
	for {
		want := time.Duration(share * float64(time.Since(start)))
		if threadCPU()-cpu0 < want {
			for range 10000 { // a short spin between clock reads
			}
			continue
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func threadCPU() time.Duration {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts)
	return time.Duration(ts.Nano())
}

// startHelper starts a helper and waits for it to report ready.
func startHelper(env *Env, mode, id string, deadline time.Time, cgroup string, extra ...string) (Instance, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return Instance{}, err
	}
	defer r.Close()
	args := append([]string{HelperArg0, mode, "--id=" + id, "--deadline=" + strconv.FormatInt(deadline.UnixNano(), 10)}, extra...)
	if cgroup != "" {
		args = append(args, "--cgroup="+cgroup)
	}
	attr := &os.ProcAttr{Files: []*os.File{nil, w, nil}, Sys: &unix.SysProcAttr{Setsid: true}}
	p, err := os.StartProcess(env.HelperPath, args, attr)
	w.Close()
	if err != nil {
		return Instance{}, fmt.Errorf("start helper %s: %w", env.HelperPath, err)
	}
	go func() { _, _ = p.Wait() }() // reap it whenever it ends
	inst, ierr := InstanceOf(p.Pid)
	line := make(chan string, 1)
	go func() {
		s, _ := bufio.NewReader(r).ReadString('\n')
		line <- strings.TrimSpace(s)
	}()
	select {
	case s := <-line:
		if s == "ready" && ierr == nil {
			return inst, nil
		}
		_ = p.Kill()
		if ierr != nil {
			return Instance{}, fmt.Errorf("helper: %w", ierr)
		}
		return Instance{}, fmt.Errorf("helper %s: %s", mode, s)
	case <-time.After(10 * time.Second):
		_ = p.Kill()
		return Instance{}, fmt.Errorf("helper %s: not ready after 10s", mode)
	}
}

// findHelpers lists running helper processes of fault id.
func findHelpers(id string) []Instance {
	entries, _ := os.ReadDir("/proc")
	var out []Instance
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		raw, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err != nil {
			continue
		}
		argv := strings.Split(strings.TrimRight(string(raw), "\x00"), "\x00")
		if len(argv) < 3 || argv[0] != HelperArg0 || argv[2] != "--id="+id {
			continue
		}
		if inst, err := InstanceOf(pid); err == nil {
			out = append(out, inst)
		}
	}
	return out
}

// killHelpers SIGKILLs the given instances and every helper of id, then
// waits (up to 5s) until they are gone.
func killHelpers(id string, known []Instance) error {
	all := append(findHelpers(id), known...)
	for _, p := range all {
		if p.Alive() {
			_ = unix.Kill(p.Pid, unix.SIGKILL)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for _, p := range all {
		for p.Alive() {
			if time.Now().After(deadline) {
				return fmt.Errorf("helper %s survives SIGKILL", p)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	return nil
}
