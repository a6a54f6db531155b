package sources

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	v1alpha1 "github.com/faultline-dev/faultline/crds/v1alpha1"
)

func TestBuildReadsRecursivelyAndSortsWithSourceLines(t *testing.T) {
	other := strings.ReplaceAll(validExperiment, "checkout-delay", "a-first")
	other = strings.ReplaceAll(other, "metadata:\n", "metadata:\n  namespace: team-a\n")
	dir := writeTree(t, map[string]string{
		"one.yaml":            validExperiment,
		"nested/deep/two.yml": "# a comment first\n---\n" + other,
		"notes.txt":           "not a manifest",
		".github/ci.yaml":     "this: is not an experiment",
	})
	res, err := Build(t.Context(), dir, BuildOptions{DefaultNamespace: "chaos"})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range res.Experiments {
		got = append(got, e.Namespace+"/"+e.Name+" "+e.Annotations[SourceFileAnnotation])
	}
	want := []string{"chaos/checkout-delay one.yaml:1", "team-a/a-first nested/deep/two.yml:3"}
	if !slices.Equal(got, want) {
		t.Fatalf("experiments %q, want %q", got, want)
	}
	e := res.Experiments[0]
	if e.Spec.Fault.Network == nil || e.Spec.Fault.Network.Latency.Duration != 100*time.Millisecond {
		t.Errorf("fault not decoded: %+v", e.Spec.Fault)
	}
	// Defaults come from the CRD, as the API server would apply them.
	if e.Spec.Fault.Network.Direction != v1alpha1.DirectionTo || e.Spec.HistoryLimit != 5 {
		t.Errorf("CRD defaults not applied: direction %q, historyLimit %d", e.Spec.Fault.Network.Direction, e.Spec.HistoryLimit)
	}
	if !strings.HasPrefix(res.Digest, "sha256:") || len(res.Digest) != 71 {
		t.Errorf("digest %q", res.Digest)
	}

	// The digest follows content, not file timestamps or walk order.
	again, err := Build(t.Context(), dir, BuildOptions{DefaultNamespace: "chaos"})
	if err != nil || again.Digest != res.Digest {
		t.Fatalf("second build: digest %v, err %v; want %s", again, err, res.Digest)
	}
	if err := os.WriteFile(filepath.Join(dir, "one.yaml"), []byte(strings.Replace(validExperiment, "100ms", "150ms", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	changed, err := Build(t.Context(), dir, BuildOptions{DefaultNamespace: "chaos"})
	if err != nil || changed.Digest == res.Digest {
		t.Fatalf("changed build: digest unchanged or err %v", err)
	}
}

func TestEveryErrorOfARevisionIsReported(t *testing.T) {
	dir := writeTree(t, map[string]string{
		"a.yaml":    strings.Replace(validExperiment, "mode: fixed-percent", "mode: half", 1),
		"b/b.yaml":  strings.Replace(validExperiment, "duration: 2m", "duraton: 2m", 1),
		"good.yaml": strings.ReplaceAll(validExperiment, "checkout-delay", "fine"),
		"dup.yaml":  validExperiment,
	})
	got := buildErrors(t, dir, BuildOptions{})
	want := []string{
		`a.yaml:10: spec.mode: Unsupported value: "half": supported values: "one", "all", "fixed", "fixed-percent", "random-max-percent"`,
		"b/b.yaml:16: spec.duraton: unknown field",
	}
	if !slices.Equal(got, want) {
		t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestDuplicateExperimentsAreRefused(t *testing.T) {
	dir := writeTree(t, map[string]string{"a.yaml": validExperiment, "b.yaml": validExperiment})
	got := buildErrors(t, dir, BuildOptions{})
	want := []string{"b.yaml:1: metadata.name: experiment default/checkout-delay is also declared at a.yaml:1"}
	if !slices.Equal(got, want) {
		t.Errorf("errors %q, want %q", got, want)
	}
}

func TestUnsupportedKindIsRefused(t *testing.T) {
	dir := writeTree(t, map[string]string{"cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n"})
	got := buildErrors(t, dir, BuildOptions{})
	if len(got) != 1 || !strings.HasPrefix(got[0], "cm.yaml:2: kind: unsupported kind v1 ConfigMap") {
		t.Errorf("errors %q", got)
	}
}

func TestAliasBombIsRefusedQuicklyInBoundedMemory(t *testing.T) {
	// Nine levels of nine aliases: 9^9 (387 million) nodes once expanded.
	var b strings.Builder
	b.WriteString("apiVersion: faultline.dev/v1alpha1\nkind: Experiment\nmetadata:\n  name: bomb\n")
	b.WriteString("a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n")
	for i := 1; i <= 9; i++ {
		fmt.Fprintf(&b, "a%d: &a%d [", i, i)
		for j := range 9 {
			if j > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "*a%d", i-1)
		}
		b.WriteString("]\n")
	}
	dir := writeTree(t, map[string]string{"bomb.yaml": b.String()})

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	start := time.Now()
	got := buildErrors(t, dir, BuildOptions{})
	elapsed := time.Since(start)
	runtime.ReadMemStats(&after)

	if len(got) != 1 || !strings.Contains(got[0], "through YAML aliases; refused") || !strings.HasPrefix(got[0], "bomb.yaml:") {
		t.Fatalf("errors %q", got)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 64<<20 {
		t.Errorf("refusing the bomb allocated %d MiB", alloc>>20)
	}
	if elapsed > 5*time.Second {
		t.Errorf("refusing the bomb took %v", elapsed)
	}
}

func TestSizeAndObjectLimits(t *testing.T) {
	dir := writeTree(t, map[string]string{
		"big.yaml": validExperiment + "# " + strings.Repeat("x", 2048) + "\n",
	})
	got := buildErrors(t, dir, BuildOptions{MaxFileBytes: 1024})
	if len(got) != 1 || got[0] != "big.yaml: file is larger than the limit of 1024 bytes; refused" {
		t.Errorf("file limit: %q", got)
	}

	files := map[string]string{}
	for i := range 3 {
		files[fmt.Sprintf("e%d.yaml", i)] = strings.ReplaceAll(validExperiment, "checkout-delay", fmt.Sprintf("e%d", i))
	}
	dir = writeTree(t, files)
	got = buildErrors(t, dir, BuildOptions{MaxTotalBytes: int64(2*len(validExperiment) + 10)})
	if len(got) != 1 || !strings.Contains(got[0], "exceed the limit of") {
		t.Errorf("total limit: %q", got)
	}
	got = buildErrors(t, dir, BuildOptions{MaxObjects: 2})
	if len(got) != 1 || got[0] != "e2.yaml:1: more than 2 objects in this build; refused" {
		t.Errorf("object limit: %q", got)
	}
}

func TestSymlinkOutOfTheCheckoutIsRefused(t *testing.T) {
	outside := writeTree(t, map[string]string{"secret.yaml": validExperiment})
	dir := writeTree(t, map[string]string{"ok.yaml": strings.ReplaceAll(validExperiment, "checkout-delay", "ok")})
	if err := os.Symlink(filepath.Join(outside, "secret.yaml"), filepath.Join(dir, "link.yaml")); err != nil {
		t.Fatal(err)
	}
	got := buildErrors(t, dir, BuildOptions{})
	if !slices.Equal(got, []string{"link.yaml: symlink target path escapes the checkout"}) {
		t.Errorf("errors %q", got)
	}
}

func TestIgnorePatterns(t *testing.T) {
	dir := writeTree(t, map[string]string{
		"keep.yaml":       validExperiment,
		"drafts/bad.yaml": "not: [valid",
	})
	if _, err := Build(t.Context(), dir, BuildOptions{Ignore: "# work in progress\ndrafts/\n"}); err != nil {
		t.Fatalf("ignored directory was read: %v", err)
	}
}

func TestExamplesBuild(t *testing.T) {
	res, err := Build(t.Context(), "../examples", BuildOptions{Root: ".."})
	if err != nil {
		t.Fatalf("examples/ does not build:\n%v", err)
	}
	byName := map[string]v1alpha1.Experiment{}
	for _, e := range res.Experiments {
		byName[e.Name] = e
	}
	for _, name := range []string{"checkout-network-delay", "cart-pod-kill", "catalog-cpu-stress", "staging-payments-packet-loss", "prod-payments-packet-loss"} {
		if _, ok := byName[name]; !ok {
			t.Errorf("examples: no experiment %s (have %d)", name, len(res.Experiments))
		}
	}
}

func TestJSONManifestsAreLocatedToo(t *testing.T) {
	dir := writeTree(t, map[string]string{"exp.json": `{
  "apiVersion": "faultline.dev/v1alpha1",
  "kind": "Experiment",
  "metadata": {"name": "from-json"},
  "spec": {
    "fault": {"pod": {"action": "explode"}}
  }
}
`})
	got := buildErrors(t, dir, BuildOptions{})
	want := []string{`exp.json:6: spec.fault.pod.action: Unsupported value: "explode": supported values: "kill", "failure"`}
	if !slices.Equal(got, want) {
		t.Errorf("errors %q, want %q", got, want)
	}
}

func TestBuildPathErrorsNameTheRepositoryPath(t *testing.T) {
	root := writeTree(t, map[string]string{"a/x.yaml": validExperiment})
	got := buildErrors(t, root+"/missing", BuildOptions{Root: root})
	if !slices.Equal(got, []string{"missing: no such directory"}) {
		t.Errorf("missing path: %q", got)
	}
	got = buildErrors(t, root+"/../elsewhere", BuildOptions{Root: root})
	if len(got) != 1 || !strings.HasSuffix(got[0], ": the build path escapes the checkout") || strings.Contains(got[0], root) {
		t.Errorf("escaping path: %q", got)
	}
}
