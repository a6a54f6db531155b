package testground

import (
	"os/exec"
	"path"
	"path/filepath"
	"testing"
)

// BuildBinary builds the main package pkg (a full import path) from this
// tree into a temporary directory of t and returns the binary's path: the
// tests that run our binaries run what the tree holds now.
func BuildBinary(t testing.TB, pkg string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), path.Base(pkg))
	out, err := exec.CommandContext(t.Context(), "go", "build", "-o", bin, pkg).CombinedOutput()
	if err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, out)
	}
	return bin
}
