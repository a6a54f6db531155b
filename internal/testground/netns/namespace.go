package netns

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	vnetns "github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// netnsDir is where iproute2 looks for named namespaces; creating ours there
// makes `ip netns exec NAME` and `ip -n NAME` work on them.
const netnsDir = "/run/netns"

// prepareNetnsDir makes netnsDir a shared mount point, as `ip netns add`
// does, so that namespace bind mounts made later propagate to other mount
// namespaces (those `ip netns exec` creates, for one). Call it under the
// machine lock: two processes doing it at once would stack mounts.
func prepareNetnsDir() error {
	if err := os.MkdirAll(netnsDir, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", netnsDir, err)
	}
	err := unix.Mount("", netnsDir, "none", unix.MS_SHARED|unix.MS_REC, "")
	if err == nil {
		return nil
	}
	if !errors.Is(err, unix.EINVAL) {
		return fmt.Errorf("make %s shared: %w", netnsDir, err)
	}
	// EINVAL: not a mount point yet. Bind it onto itself, then share it.
	if err := unix.Mount(netnsDir, netnsDir, "none", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("bind-mount %s: %w", netnsDir, err)
	}
	if err := unix.Mount("", netnsDir, "none", unix.MS_SHARED|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("make %s shared: %w", netnsDir, err)
	}
	return nil
}

func nsPath(name string) string { return filepath.Join(netnsDir, name) }

// openNS returns a handle to one of our named namespaces.
func openNS(name string) (vnetns.NsHandle, error) {
	h, err := vnetns.GetFromPath(nsPath(name))
	if err != nil {
		return vnetns.None(), fmt.Errorf("open network namespace %s: %w", name, err)
	}
	return h, nil
}

// createNamedNS creates a network namespace pinned at /run/netns/name and
// returns an open handle to it (the caller closes it).
func createNamedNS(name string) (vnetns.NsHandle, error) {
	h := vnetns.None()
	err := onNSThread(func() error {
		var err error
		h, err = vnetns.NewNamed(name) // also switches this thread into it
		return err
	}, func() error { return nil })
	if err != nil {
		if h.IsOpen() {
			h.Close()
		}
		return vnetns.None(), fmt.Errorf("create network namespace %s: %w", name, err)
	}
	return h, nil
}

// deleteNamedNS ends the processes still inside the namespace, which would
// otherwise keep it (and its veth) alive after its name is gone, then
// unmounts and removes its name. A name that is already gone is not an error.
func deleteNamedNS(name string) error {
	path := nsPath(name)
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	killErr := killProcessesIn(path)
	if err := unix.Unmount(path, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		return errors.Join(killErr, fmt.Errorf("unmount %s: %w", path, err))
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return errors.Join(killErr, fmt.Errorf("remove %s: %w", path, err))
	}
	return killErr
}

// killProcessesIn sends SIGKILL to every process whose network namespace is
// the one pinned at path, like `ip netns pids` followed by kill, and waits
// briefly for them to go.
func killProcessesIn(path string) error {
	var target unix.Stat_t
	if err := unix.Stat(path, &target); err != nil {
		return fmt.Errorf("stat %s: %w", path, err)
	}
	var errs []error
	var killed []int
	procs, err := os.ReadDir("/proc")
	if err != nil {
		return fmt.Errorf("list processes: %w", err)
	}
	self := os.Getpid()
	for _, p := range procs {
		pid, err := strconv.Atoi(p.Name())
		if err != nil || pid == self {
			continue
		}
		var st unix.Stat_t
		if unix.Stat(filepath.Join("/proc", p.Name(), "ns", "net"), &st) != nil {
			continue // gone already, or a kernel thread
		}
		if st.Dev != target.Dev || st.Ino != target.Ino {
			continue
		}
		if err := unix.Kill(pid, syscall.SIGKILL); err != nil && !errors.Is(err, unix.ESRCH) {
			errs = append(errs, fmt.Errorf("kill pid %d in %s: %w", pid, path, err))
			continue
		}
		killed = append(killed, pid)
	}
	waitGone(killed, 5*time.Second)
	return errors.Join(errs...)
}

// waitGone polls until the processes have exited or the timeout passes. A
// killed child of ours lingers as a zombie until its parent reaps it, and
// zombies hold no namespace, so they count as gone.
func waitGone(pids []int, timeout time.Duration) {
	deadline := time.Now().Add(timeout)
	for _, pid := range pids {
		for time.Now().Before(deadline) && processRunning(pid) {
			time.Sleep(10 * time.Millisecond)
		}
	}
}

func processRunning(pid int) bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// The state follows the parenthesised command name: "pid (comm) S ...".
	for i := len(stat) - 1; i >= 0; i-- {
		if stat[i] == ')' {
			return i+2 < len(stat) && stat[i+2] != 'Z' && stat[i+2] != 'X'
		}
	}
	return true
}

// processAlive reports whether pid exists; a permission error still means it
// does.
func processAlive(pid int) bool {
	err := unix.Kill(pid, 0)
	return err == nil || errors.Is(err, unix.EPERM)
}
