package sources

import (
	"os"
	"path/filepath"
	"testing"
)

// writeTree writes files (slash paths relative to a new temporary
// directory) and returns the directory.
func writeTree(t testing.TB, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// buildErrors runs Build and returns its errors as strings; it fails the
// test when Build succeeds or fails otherwise.
func buildErrors(t *testing.T, dir string, opts BuildOptions) []string {
	t.Helper()
	res, err := Build(t.Context(), dir, opts)
	if err == nil {
		t.Fatalf("Build succeeded with %d experiments; want errors", len(res.Experiments))
	}
	be, ok := AsBuildErrors(err)
	if !ok {
		t.Fatalf("Build: %v (%T); want *BuildErrors", err, err)
	}
	if res != nil {
		t.Fatalf("Build returned a partial result beside its errors")
	}
	out := make([]string, len(be.Errors))
	for i, e := range be.Errors {
		out[i] = e.Error()
	}
	return out
}

const validExperiment = `apiVersion: faultline.dev/v1alpha1
kind: Experiment
metadata:
  name: checkout-delay
spec:
  selector:
    namespaces: [shop]
    labelSelectors:
      app: checkout
  mode: fixed-percent
  value: "50"
  fault:
    network:
      action: delay
      latency: 100ms
  duration: 2m
`

// writeInto copies the tree at src to dst.
func writeInto(t testing.TB, dst, src string) {
	t.Helper()
	if err := os.CopyFS(dst, os.DirFS(src)); err != nil {
		t.Fatal(err)
	}
}

func symlink(t testing.TB, target, link string) {
	t.Helper()
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
}
