package main

import (
	"bytes"
	"errors"
	"os"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// runBuild runs `faultline build` and returns stdout, stderr and the error.
func runBuild(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	cmd := newRootCommand()
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SetArgs(append([]string{"build"}, args...))
	err := cmd.Execute()
	return out.String(), errOut.String(), err
}

func TestBuildExamplesPasses(t *testing.T) {
	out, stderr, err := runBuild(t, "../../examples")
	if err != nil {
		t.Fatalf("faultline build examples/: %v\n%s", err, stderr)
	}
	for _, want := range []string{"checkout-network-delay", "network/delay", "cart-pod-kill", "pod/kill", "catalog-cpu-stress", "stress/cpu",
		"staging-payments-packet-loss", "prod-payments-packet-loss", "canary,region", "examples/base/payments-packet-loss.yaml:"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestBuildPrintsTranslatedChaosMesh(t *testing.T) {
	out, stderr, err := runBuild(t, "../../testdata/chaos-mesh", "-o", "yaml")
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	for _, want := range []string{"kind: Experiment", "name: delay", "namespace: chaos-testing", "latency: 10ms", "app: web-show", "duration: 30s",
		"faultline.dev/translated-from: chaos-mesh.org/v1alpha1/NetworkChaos"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "status:") {
		t.Errorf("offline output shows a status:\n%s", out)
	}
	if _, _, err := runBuild(t, "../../testdata/chaos-mesh", "-o", "json"); err != nil {
		t.Errorf("-o json: %v", err)
	}
}

func TestBuildFailsWithLocatedErrors(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	bad := "apiVersion: faultline.dev/v1alpha1\nkind: Experiment\nmetadata:\n  name: bad\nspec:\n  mode: sometimes\n  fault:\n    pod:\n      action: kill\n      grace: 1\n"
	if err := os.WriteFile("bad.yaml", []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	out, stderr, err := runBuild(t, ".")
	if !errors.Is(err, errBuildFailed) {
		t.Fatalf("err %v, want errBuildFailed (exit 1)", err)
	}
	want := "bad.yaml:6: spec.mode: Unsupported value: \"sometimes\": supported values: \"one\", \"all\", \"fixed\", \"fixed-percent\", \"random-max-percent\"\n" +
		"bad.yaml:10: spec.fault.pod.grace: unknown field\n"
	if stderr != want || out != "" {
		t.Errorf("stderr:\n%s\nwant:\n%s\nstdout: %q", stderr, want, out)
	}
}

// -o yaml and -o json are one v1 List (kubectl apply -f takes it); progress
// goes to stderr only when asked for off a terminal.
func TestBuildListAndProgress(t *testing.T) {
	for _, format := range []string{"yaml", "json"} {
		out, stderr, err := runBuild(t, "../../examples", "-o", format)
		if err != nil {
			t.Fatalf("-o %s: %v\n%s", format, err, stderr)
		}
		if stderr != "" {
			t.Errorf("-o %s wrote to stderr without --progress: %q", format, stderr)
		}
		var list struct {
			Kind  string `json:"kind"`
			Items []struct {
				Kind     string `json:"kind"`
				Metadata struct {
					Name string `json:"name"`
				} `json:"metadata"`
			} `json:"items"`
		}
		if err := yaml.Unmarshal([]byte(out), &list); err != nil {
			t.Fatalf("-o %s: %v\n%s", format, err, out)
		}
		if list.Kind != "List" || len(list.Items) < 3 || list.Items[0].Kind != "Experiment" || list.Items[0].Metadata.Name == "" {
			t.Errorf("-o %s: %+v", format, list)
		}
	}
	out, stderr, err := runBuild(t, "../../examples", "--progress")
	if err != nil || !strings.Contains(stderr, "faultline: building ../../examples…") || strings.Contains(out, "building") {
		t.Errorf("--progress: %v\nstdout %q\nstderr %q", err, out, stderr)
	}
}
