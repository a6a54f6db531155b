package netns

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// lockPath is a machine-wide lock shared by every test process using this
// package. It serialises picking a subnet with claiming it in the root
// namespace, and preparing the /run/netns mount, both of which race across
// processes (go test runs packages in parallel).
const lockPath = "/run/faultline-netns.lock"

// lockMachine takes the machine-wide lock and returns its release function.
// flock is released by the kernel when the process dies, so a crashed test
// never leaves it held.
func lockMachine() (func(), error) {
	f, err := os.OpenFile(lockPath, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open lock %s: %w", lockPath, err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", lockPath, err)
	}
	return func() { f.Close() }, nil
}
