// Package chart_test renders the faultline chart with a real helm (built
// from the module proxy into bin/helm by `make helm`), checks what it
// renders against the code it deploys (flags, webhook, CRDs, RBAC, metrics),
// and applies every object to a real API server.
package chart_test

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/yaml"

	"github.com/faultline-dev/faultline/internal/testground"
	"github.com/faultline-dev/faultline/internal/testground/cluster"
)

const (
	release   = "faultline"
	namespace = "faultline-system"
	// allFeatures turns every optional feature on.
	allFeatures = "testdata/all-features.yaml"
	// monitoringAPI is the Prometheus operator's API the ServiceMonitors need.
	monitoringAPI = "monitoring.coreos.com/v1"
)

// scenario is one way to install the chart.
type scenario struct {
	name string
	args []string // extra `helm template` arguments
}

var (
	defaults = scenario{name: "defaults"}
	// everything: every optional feature, on a cluster serving ServiceMonitors.
	everything = scenario{name: "all-features", args: []string{"-f", allFeatures, "--api-versions", monitoringAPI}}
)

// repoRoot is the module root, two levels up from the chart.
func repoRoot(t testing.TB) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// helmBinary returns bin/helm ($FAULTLINE_HELM overrides). Without it the
// test skips, or fails under CI, where `make test` builds it first.
func helmBinary(t testing.TB) string {
	t.Helper()
	if testground.UnitOnly() {
		t.Skip("needs bin/helm; skipped in unit-only runs")
	}
	path := os.Getenv("FAULTLINE_HELM")
	if path == "" {
		path = filepath.Join(repoRoot(t), "bin", "helm")
	}
	if _, err := os.Stat(path); err != nil {
		testground.RequireTool(t, fmt.Errorf("no helm at %s (run `make helm`): %w", path, err))
	}
	return path
}

// helm runs the helm binary in the chart's directory and returns stdout;
// stderr goes into the error.
func helm(t testing.TB, bin string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), bin, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	// helm keeps caches and a repository config; none of it is the user's.
	home := t.TempDir()
	cmd.Env = append(os.Environ(), "HELM_CACHE_HOME="+home+"/cache", "HELM_CONFIG_HOME="+home+"/config", "HELM_DATA_HOME="+home+"/data")
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("helm %s: %w\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String(), nil
}

// render runs `helm template` for s (CRDs included) against the Kubernetes
// version of the test ground, and decodes every object it renders.
func render(t testing.TB, bin string, s scenario, extra ...string) []*unstructured.Unstructured {
	t.Helper()
	args := append([]string{"template", release, ".", "--namespace", namespace, "--include-crds",
		"--kube-version", cluster.KubernetesVersion}, s.args...)
	out, err := helm(t, bin, append(args, extra...)...)
	if err != nil {
		t.Fatal(err)
	}
	objs, err := decode(out)
	if err != nil {
		t.Fatalf("%s: %v", s.name, err)
	}
	if len(objs) == 0 {
		t.Fatalf("%s: helm template rendered nothing", s.name)
	}
	return objs
}

// decode splits a YAML stream into objects, strictly: a duplicated key or
// an object without apiVersion, kind or name is an error.
func decode(stream string) ([]*unstructured.Unstructured, error) {
	r := utilyaml.NewYAMLReader(bufio.NewReader(strings.NewReader(stream)))
	var out []*unstructured.Unstructured
	for i := 0; ; i++ {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("document %d: %w", i, err)
		}
		if len(bytes.TrimSpace(stripComments(doc))) == 0 {
			continue
		}
		js, err := yaml.YAMLToJSONStrict(doc)
		if err != nil {
			return nil, fmt.Errorf("document %d: %w\n%s", i, err, doc)
		}
		u := &unstructured.Unstructured{}
		if err := u.UnmarshalJSON(js); err != nil {
			return nil, fmt.Errorf("document %d: %w\n%s", i, err, doc)
		}
		if u.GetAPIVersion() == "" || u.GetKind() == "" || u.GetName() == "" {
			return nil, fmt.Errorf("document %d has no apiVersion, kind or name:\n%s", i, doc)
		}
		out = append(out, u)
	}
}

// stripComments drops comment and document-separator lines.
func stripComments(doc []byte) []byte {
	var b bytes.Buffer
	for line := range bytes.Lines(doc) {
		if t := bytes.TrimSpace(line); len(t) > 0 && t[0] != '#' && string(t) != "---" {
			b.Write(line)
		}
	}
	return b.Bytes()
}

// find returns the rendered objects of kind, or the one named name.
func find(objs []*unstructured.Unstructured, kind, name string) []*unstructured.Unstructured {
	var out []*unstructured.Unstructured
	for _, o := range objs {
		if o.GetKind() == kind && (name == "" || o.GetName() == name) {
			out = append(out, o)
		}
	}
	return out
}

func one(t testing.TB, objs []*unstructured.Unstructured, kind, name string) *unstructured.Unstructured {
	t.Helper()
	got := find(objs, kind, name)
	if len(got) != 1 {
		t.Fatalf("want one %s %s, rendered %d", kind, name, len(got))
	}
	return got[0]
}

// binaries builds faultline-hub and faultline-daemon once per test run.
var binaries = struct {
	once sync.Once
	dir  string
	err  error
}{}

// binary returns the path of cmd/<name> built from this tree.
func binary(t testing.TB, name string) string {
	t.Helper()
	binaries.once.Do(func() {
		binaries.dir, binaries.err = os.MkdirTemp("", "faultline-chart-bin-")
		if binaries.err != nil {
			return
		}
		cmd := exec.Command("go", "build", "-o", binaries.dir+string(filepath.Separator),
			"./cmd/faultline-hub", "./cmd/faultline-daemon")
		cmd.Dir = repoRoot(t)
		if out, err := cmd.CombinedOutput(); err != nil {
			binaries.err = fmt.Errorf("go build: %w\n%s", err, out)
		}
	})
	if binaries.err != nil {
		t.Fatal(binaries.err)
	}
	return filepath.Join(binaries.dir, name)
}

func TestMain(m *testing.M) {
	// envtest logs through controller-runtime's logger; the tests read
	// objects, not its log.
	ctrllog.SetLogger(logr.Discard())
	code := m.Run()
	if binaries.dir != "" {
		_ = os.RemoveAll(binaries.dir)
	}
	os.Exit(code)
}
