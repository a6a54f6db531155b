package main

import (
	"bytes"
	"strings"
	"testing"
)

func run(t *testing.T, args ...string) string {
	t.Helper()
	var out bytes.Buffer
	cmd := newRootCommand()
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(args)
	if err := cmd.Execute(); err != nil {
		t.Fatalf("faultline %s: %v\n%s", strings.Join(args, " "), err, out.String())
	}
	return out.String()
}

func TestHelpListsSubcommands(t *testing.T) {
	out := run(t, "--help")
	for _, sub := range []string{"version", "crds", "install"} {
		if !strings.Contains(out, "\n  "+sub+" ") {
			t.Errorf("--help does not list %q:\n%s", sub, out)
		}
	}
	for _, flag := range []string{"--kubeconfig", "--context", "--namespace"} {
		if !strings.Contains(out, flag) {
			t.Errorf("--help does not offer kubectl's %s", flag)
		}
	}
}

func TestVersion(t *testing.T) {
	for _, args := range [][]string{{"--version"}, {"version"}} {
		if out := run(t, args...); !strings.HasPrefix(out, "faultline ") {
			t.Errorf("faultline %v printed %q", args, out)
		}
	}
}

func TestCRDsPrintsEveryKind(t *testing.T) {
	out := run(t, "crds")
	for _, kind := range []string{"ChaosSource", "ChaosPolicy", "MemberCluster", "HostAgent", "Approval", "Experiment", "Injection"} {
		if !strings.Contains(out, "kind: "+kind+"\n") {
			t.Errorf("crds output lacks %s", kind)
		}
	}
}
