// Package testground holds what integration tests stand on: real control
// planes (cluster), a real smart-HTTP git server (gitserver) and network
// namespace hosts (netns). This file has the gates shared by all of them.
//
// Tests that need root or a control plane never skip silently in CI: when
// CI=true they fail if the machine lacks what they need, because a skipped
// integration test is a test that cannot fail.
package testground

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// UnitOnly reports whether the run asked for unit tests only
// (`make test-unit` sets FAULTLINE_UNIT_ONLY=1).
func UnitOnly() bool { return os.Getenv("FAULTLINE_UNIT_ONLY") == "1" }

// RequireRoot skips the test in unit-only runs, and fails it (in CI) or
// skips it (elsewhere) when the process is not root.
func RequireRoot(t testing.TB) {
	t.Helper()
	if UnitOnly() {
		t.Skip("needs root; skipped in unit-only runs")
	}
	if os.Geteuid() != 0 {
		if os.Getenv("CI") != "" {
			t.Fatal("needs root, and CI runs as root: refusing to skip")
		}
		t.Skip("needs root")
	}
}

// CacheDir is where the hack/ scripts cache what they build (control-plane
// binaries, Gitea): $FAULTLINE_CACHE, else $XDG_CACHE_HOME/faultline, else
// ~/.cache/faultline. The scripts and the helpers must agree on it.
func CacheDir() (string, error) {
	if dir := os.Getenv("FAULTLINE_CACHE"); dir != "" {
		return dir, nil
	}
	base := os.Getenv("XDG_CACHE_HOME")
	if base == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("locating the faultline cache: %w", err)
		}
		base = filepath.Join(home, ".cache")
	}
	return filepath.Join(base, "faultline"), nil
}

// RequireTool ends a test whose real component could not be found (err):
// it fails under CI, where every component is installed and a skip would go
// unnoticed, and skips elsewhere.
func RequireTool(t testing.TB, err error) {
	t.Helper()
	if err == nil {
		return
	}
	if os.Getenv("CI") != "" {
		t.Fatal(err)
	}
	t.Skip(err)
}

// Eventually polls cond every 20ms until it holds, and reports whether it
// did before timeout passed.
func Eventually(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
	return true
}

// WaitFor polls cond every 100ms until it holds, and fails the test after
// timeout with what it waited for and the last state cond described.
func WaitFor(t testing.TB, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last string
	for time.Now().Before(deadline) {
		ok, state := cond()
		if ok {
			return
		}
		last = state
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s; last state: %s", what, last)
}
