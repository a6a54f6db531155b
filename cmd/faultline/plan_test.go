package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	v1alpha1 "github.com/faultline-dev/faultline/crds/v1alpha1"
	"github.com/faultline-dev/faultline/policy"
)

// runCLI runs the CLI in-process and returns stdout, stderr and the exit code
// main would use.
func runCLI(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	var errOut syncBuffer
	out, code := runCLIStderr(t, &errOut, args...)
	return out, errOut.String(), code
}

// runCLIStderr is runCLI writing standard error to errOut, which another
// goroutine may read while the command runs.
func runCLIStderr(t *testing.T, errOut *syncBuffer, args ...string) (string, int) {
	t.Helper()
	var out bytes.Buffer
	cmd := newRootCommand()
	cmd.SetOut(&out)
	cmd.SetErr(errOut)
	cmd.SetArgs(args)
	err := cmd.Execute()
	code := 0
	if err != nil {
		_, _ = errOut.Write([]byte(err.Error()))
		code = 1
		var coded interface{ ExitCode() int }
		if errors.As(err, &coded) {
			code = coded.ExitCode()
		}
	}
	return out.String(), code
}

const planFleet = `- name: staging-eu
  labels: {env: staging}
  targets: 6
- name: prod-eu-1
  labels: {env: prod, canary: "true", region: eu-west}
  targets: 12
- name: prod-eu-2
  labels: {env: prod, region: eu-west}
  targets: 12
`

func planFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

const planKubeDNS = `apiVersion: faultline.dev/v1alpha1
kind: Experiment
metadata:
  name: dns-chaos
  namespace: team-a
  labels: {team: cart}
spec:
  placement:
    clusters: {matchLabels: {env: staging}}
  selector:
    namespaces: [kube-system]
  fault:
    pod: {action: kill}
  duration: 1m
`

func TestPlanDeniesKubeSystem(t *testing.T) {
	dir := planFiles(t, map[string]string{"repo/dns.yaml": planKubeDNS, "fleet.yaml": planFleet})
	out, stderr, code := runCLI(t, "plan", filepath.Join(dir, "repo"), "--root", dir, "--policy", "../../examples/policies",
		"--library", "*", "--clusters", filepath.Join(dir, "fleet.yaml"))
	if code != 1 {
		t.Fatalf("exit %d, want 1\n%s\n%s", code, out, stderr)
	}
	for _, want := range []string{"Denied", "protected-namespaces at spec.selector.namespaces[0]", `namespace "kube-system" is protected`} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestPlanExamplesPassOrWaitForApproval(t *testing.T) {
	dir := planFiles(t, map[string]string{"fleet.yaml": planFleet})
	for _, format := range []string{"table", "markdown", "json", "yaml"} {
		out, stderr, code := runCLI(t, "plan", "../../examples/experiments", "--policy", "../../examples/policies", "--library", "*",
			"--clusters", filepath.Join(dir, "fleet.yaml"), "--now", "2026-11-26T10:00:00Z", "-o", format)
		if code != 0 {
			t.Fatalf("-o %s: exit %d\n%s\n%s", format, code, out, stderr)
		}
		switch format {
		case "json", "yaml":
			var doc struct {
				Denied      int `json:"denied"`
				Experiments []struct {
					Name     string `json:"name"`
					Verdict  string `json:"verdict"`
					Decision struct {
						ApprovalsRequired []policy.ApprovalRequirement `json:"approvalsRequired"`
					} `json:"decision"`
				} `json:"experiments"`
			}
			unmarshal := json.Unmarshal
			if format == "yaml" {
				unmarshal = func(b []byte, v any) error { return yaml.Unmarshal(b, v) }
			}
			if err := unmarshal([]byte(out), &doc); err != nil {
				t.Fatalf("-o %s: %v\n%s", format, err, out)
			}
			if len(doc.Experiments) != 3 || doc.Denied != 0 {
				t.Errorf("-o %s: %s", format, out)
			}
			for _, e := range doc.Experiments {
				if e.Verdict == "AwaitingApproval" && (len(e.Decision.ApprovalsRequired) == 0 || e.Decision.ApprovalsRequired[0].Group != "sre") {
					t.Errorf("%s waits without saying for whom: %+v", e.Name, e)
				}
			}
		case "markdown":
			if !strings.Contains(out, "| Experiment | Fault | Waves | Verdict | Why |") || !strings.Contains(out, "from **sre**") {
				t.Errorf("-o markdown:\n%s", out)
			}
		default:
			if !strings.Contains(out, "AwaitingApproval") || !strings.Contains(out, "approval 1 from group sre") {
				t.Errorf("-o table:\n%s", out)
			}
		}
	}
}

func TestPlanInputErrorsExit2(t *testing.T) {
	dir := planFiles(t, map[string]string{
		"repo/dns.yaml":     planKubeDNS,
		"repo-bad/bad.yaml": "apiVersion: faultline.dev/v1alpha1\nkind: Experiment\nmetadata: {name: x}\nspec:\n  mode: sometimes\n  fault: {pod: {action: kill}}\n",
		"broken/team.rego":  "package team\n\ndeny contains msg if {\n  msg := ==\n}\n",
		"fleet.yaml":        planFleet,
		"empty/README.md":   "no policy here",
	})
	repo := filepath.Join(dir, "repo")
	cases := map[string][]string{
		"policy does not compile":  {"plan", repo, "--root", dir, "--policy", filepath.Join(dir, "broken")},
		"experiments do not build": {"plan", filepath.Join(dir, "repo-bad"), "--root", dir, "--policy", "../../examples/policies"},
		"no policy":                {"plan", repo, "--root", dir, "--policy", filepath.Join(dir, "empty")},
		"no --policy":              {"plan", repo, "--root", dir},
		"bad output":               {"plan", repo, "--root", dir, "--policy", "../../examples/policies", "-o", "xml"},
		"unknown flag":             {"plan", repo, "--policies", "x"},
		"unknown library rule":     {"plan", repo, "--root", dir, "--policy", filepath.Join(dir, "empty"), "--library", "no-such-rule"},
		"missing clusters file":    {"plan", repo, "--root", dir, "--policy", "../../examples/policies", "--clusters", filepath.Join(dir, "nope.yaml")},
	}
	for name, args := range cases {
		t.Run(name, func(t *testing.T) {
			out, stderr, code := runCLI(t, args...)
			if code != 2 {
				t.Fatalf("exit %d, want 2\n%s\n%s", code, out, stderr)
			}
		})
	}
	_, stderr, _ := runCLI(t, cases["policy does not compile"]...)
	if !strings.Contains(stderr, "module team.rego line 4") {
		t.Errorf("compile error does not name module and line: %s", stderr)
	}
}

func TestPolicyTestCommand(t *testing.T) {
	if out, stderr, code := runCLI(t, "policy", "test", "../../examples/policies"); code != 0 || !strings.Contains(out, "PASS: ") {
		t.Fatalf("examples: exit %d\n%s\n%s", code, out, stderr)
	}
	if out, stderr, code := runCLI(t, "policy", "test", "builtin"); code != 0 {
		t.Fatalf("builtin: exit %d\n%s\n%s", code, out, stderr)
	}
	dir := planFiles(t, map[string]string{
		"none/x.rego":         "package x\n\nallow := true\n",
		"failing/x_test.rego": "package x_test\n\ntest_math if 1 + 1 == 3\n",
	})
	if _, stderr, code := runCLI(t, "policy", "test", filepath.Join(dir, "none")); code != 1 || !strings.Contains(stderr, "no Rego tests") {
		t.Errorf("no tests: exit %d, %s", code, stderr)
	}
	if out, _, code := runCLI(t, "policy", "test", filepath.Join(dir, "failing")); code != 1 || !strings.Contains(out, "test_math: FAIL") {
		t.Errorf("failing test: exit %d, %s", code, out)
	}
}

func TestPolicyManifestIsTheSamePolicy(t *testing.T) {
	out, stderr, code := runCLI(t, "policy", "manifest", "../../examples/policies", "--name", "platform", "--library", "*")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	obj := &v1alpha1.ChaosPolicy{}
	if err := yaml.UnmarshalStrict([]byte(out), obj); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if obj.Kind != "ChaosPolicy" || obj.Name != "platform" || len(obj.Spec.Modules) != 2 || obj.Spec.Library[0] != "*" {
		t.Fatalf("manifest = %+v", obj)
	}
	// Applied back through plan, it judges as the directory does.
	dir := planFiles(t, map[string]string{"pol/platform.yaml": out, "repo/dns.yaml": planKubeDNS, "fleet.yaml": planFleet})
	planOut, _, code := runCLI(t, "plan", filepath.Join(dir, "repo"), "--root", dir, "--policy", filepath.Join(dir, "pol"), "--clusters", filepath.Join(dir, "fleet.yaml"))
	if code != 1 || !strings.Contains(planOut, "platform/protected-namespaces") {
		t.Fatalf("exit %d:\n%s", code, planOut)
	}
}
