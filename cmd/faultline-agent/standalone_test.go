package main

import (
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// Attack arguments become the fault the hub would send for the same thing.
func TestAttackArgs(t *testing.T) {
	cmd := &cobra.Command{}
	cmd.SetErr(io.Discard)
	for _, c := range []struct {
		args []string
		want string // fields of the request as JSON, in part
	}{
		{[]string{"network", "delay", "--device", "eth0", "--latency", "100ms", "--duration", "1m"}, `{"fault":{"network":{"action":"delay","latency":"100ms","device":"eth0"}},"duration":"1m0s"}`},
		{[]string{"network", "loss", "--percent", "10", "--peer", "10.0.0.0/24", "--port", "443"}, `{"fault":{"network":{"action":"loss","percent":"10","externalTargets":["10.0.0.0/24"],"ports":[443]}}}`},
		{[]string{"network", "bandwidth", "--rate", "1mbit", "--limit", "20000"}, `{"fault":{"network":{"action":"bandwidth","bandwidth":{"rate":"1mbit","limit":20000}}}}`},
		{[]string{"stress", "cpu", "--workers", "2", "--load", "50"}, `{"fault":{"stress":{"action":"cpu","workers":2,"load":50}}}`},
		{[]string{"stress", "memory", "--size", "256Mi"}, `{"fault":{"stress":{"action":"memory","size":"256Mi"}}}`},
		{[]string{"process", "kill", "--name", "nginx", "--signal", "15"}, `{"fault":{"process":{"action":"kill","process":"nginx","signal":15}}}`},
		{[]string{"process", "kill", "--pid", "42"}, `{"fault":{"process":{"action":"kill","pid":42,"signal":9}}}`},
		{[]string{"disk", "fill", "--path", "/var/tmp", "--size", "1Gi", "--label", "fill"}, `{"name":"fill","fault":{"disk":{"action":"fill","path":"/var/tmp","size":"1Gi"}}}`},
	} {
		req, err := attackFromArgs(cmd, c.args)
		if err != nil {
			t.Errorf("%v: %v", c.args, err)
			continue
		}
		if got := string(mustJSON(t, req)); got != c.want {
			t.Errorf("%v:\n got %s\nwant %s", c.args, got, c.want)
		}
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"network", "delay"}, "--latency"},
		{[]string{"network", "loss"}, "--percent"},
		{[]string{"process", "kill", "--name", "x", "--pid", "1"}, "exactly one of --name or --pid"},
		{[]string{"disk", "fill", "--path", "/tmp", "--size", "lots"}, "--size"},
		{[]string{"network"}, "not an attack"},
		{[]string{"teleport"}, "unknown command"},
		{[]string{"network", "delay", "--latency", "1ms", "--jiter", "1ms"}, "unknown flag: --jiter"},
	} {
		if _, err := attackFromArgs(cmd, c.args); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: error %v, want one naming %s", c.args, err, c.want)
		}
	}
}

// schedule add -f takes an Experiment (its schedule is the default cron)
// or a bare attack request.
func TestAttackFromFile(t *testing.T) {
	dir := t.TempDir()
	exp := filepath.Join(dir, "exp.yaml")
	if err := os.WriteFile(exp, []byte(`apiVersion: faultline.dev/v1alpha1
kind: Experiment
metadata: {name: slow}
spec:
  schedule: "@hourly"
  duration: 30s
  fault: {network: {action: delay, latency: 100ms}}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	req, cron, err := attackFromFile(exp)
	if err != nil || cron != "@hourly" || req.Duration != "30s" || req.Fault.Kind() != "network/delay" || req.Name != "slow" {
		t.Errorf("experiment file: %+v %q %v", req, cron, err)
	}
	bare := filepath.Join(dir, "attack.yaml")
	if err := os.WriteFile(bare, []byte("fault: {stress: {action: cpu}}\nduration: 1m\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if req, cron, err = attackFromFile(bare); err != nil || cron != "" || req.Fault.Kind() != "stress/cpu" || req.Duration != "1m" {
		t.Errorf("attack file: %+v %q %v", req, cron, err)
	}
	if err := os.WriteFile(bare, []byte("fault: {stress: {action: cpu}}\nduraton: 1m\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err = attackFromFile(bare); err == nil || !strings.Contains(err.Error(), "duraton") {
		t.Errorf("attack file with a typo: %v, want an error naming duraton", err)
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	raw, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}
