package faults_test

import (
	"bufio"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/faultline-dev/faultline/crds/v1alpha1"
	"github.com/faultline-dev/faultline/faults"
	"github.com/faultline-dev/faultline/internal/testground"
	"github.com/faultline-dev/faultline/internal/testground/netns"
)

type execRequest struct {
	faults.Request
	For time.Duration `json:"for"`
}

// TestKill9MidInjectionLeavesNothing kills a real executor process with
// SIGKILL 20 times, at varying points (during apply and after it), each
// time with network faults in two namespaces and stress helpers running,
// and starts it again. Each start reaps what the killed one left; after a
// final reap nothing of ours may remain in any namespace or process table.
func TestKill9MidInjectionLeavesNothing(t *testing.T) {
	n := netns.New(t, []string{"a", "b"})
	a, b := n.Host("a"), n.Host("b")
	bin := testground.BuildBinary(t, "github.com/faultline-dev/faultline/faults/internal/faultexec")
	dir := t.TempDir()
	journal := filepath.Join(dir, "journal.db")
	t.Cleanup(func() {
		// Whatever happens, leave nothing: reap once more.
		_ = exec.Command(bin, "--journal", journal, "--reap-only").Run()
	})
	mem := resource.MustParse("16Mi")
	reqs := []execRequest{
		{Request: faults.Request{ID: "delay-a", Target: netTarget(a), Peers: []string{b.IP.String()},
			Fault: v1alpha1.FaultSpec{Network: &v1alpha1.NetworkFault{Action: v1alpha1.NetworkDelay, Latency: dur(50 * time.Millisecond)}}}, For: time.Minute},
		{Request: faults.Request{ID: "bw-a", Target: netTarget(a),
			Fault: v1alpha1.FaultSpec{Network: &v1alpha1.NetworkFault{Action: v1alpha1.NetworkBandwidth, Bandwidth: &v1alpha1.BandwidthSpec{Rate: "10mbit"}}}}, For: time.Minute},
		{Request: faults.Request{ID: "loss-b", Target: netTarget(b),
			Fault: v1alpha1.FaultSpec{Network: &v1alpha1.NetworkFault{Action: v1alpha1.NetworkLoss, Percent: "5"}}}, For: time.Minute},
		{Request: faults.Request{ID: "part-b", Target: netTarget(b), Peers: []string{"203.0.113.7"},
			Fault: v1alpha1.FaultSpec{Network: &v1alpha1.NetworkFault{Action: v1alpha1.NetworkPartition, Direction: v1alpha1.DirectionBoth}}}, For: time.Minute},
		{Request: faults.Request{ID: "cpu", Target: faults.Target{Key: "host"},
			Fault: v1alpha1.FaultSpec{Stress: &v1alpha1.StressFault{Action: v1alpha1.StressCPU, Workers: 1, Load: 10}}}, For: time.Minute},
		{Request: faults.Request{ID: "mem", Target: faults.Target{Key: "host"},
			Fault: v1alpha1.FaultSpec{Stress: &v1alpha1.StressFault{Action: v1alpha1.StressMemory, Size: &mem}}}, For: time.Minute},
	}
	raw, err := json.Marshal(reqs)
	if err != nil {
		t.Fatal(err)
	}
	reqFile := filepath.Join(dir, "requests.json")
	if err := os.WriteFile(reqFile, raw, 0o600); err != nil {
		t.Fatal(err)
	}

	afterReady := 0
	for cycle := range 20 {
		cmd := exec.Command(bin, "--journal", journal, "--requests", reqFile)
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		var stderr strings.Builder
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		ready := make(chan bool, 1)
		go func() {
			sc := bufio.NewScanner(stdout)
			for sc.Scan() {
				if sc.Text() == "ready" {
					ready <- true
					return
				}
			}
			ready <- false
		}()
		if cycle%2 == 0 {
			// Mid-apply: kill at a point that moves through the apply.
			time.Sleep(time.Duration(20+cycle*8) * time.Millisecond)
		} else {
			select {
			case ok := <-ready:
				if !ok {
					_ = cmd.Wait()
					t.Fatalf("cycle %d: executor failed: %s", cycle, stderr.String())
				}
				afterReady++
			case <-time.After(20 * time.Second):
				t.Fatalf("cycle %d: executor not ready: %s", cycle, stderr.String())
			}
			if !strings.Contains(nftRuleset(t, a.NsName), faults.TablePrefix) || len(helperProcs()) != 2 {
				t.Fatalf("cycle %d: faults not in place after ready", cycle)
			}
		}
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		_ = cmd.Wait()
	}
	if afterReady != 10 {
		t.Fatalf("%d cycles reached ready, want 10", afterReady)
	}
	out, err := exec.Command(bin, "--journal", journal, "--reap-only").CombinedOutput()
	if err != nil {
		t.Fatalf("final reap: %v: %s", err, out)
	}
	t.Logf("final start: %s", strings.TrimSpace(string(out)))
	if !strings.Contains(string(out), "reaped 6") {
		t.Errorf("final start reaped %q, want the 6 faults of the last killed executor", strings.TrimSpace(string(out)))
	}
	assertNothingOurs(t, a.NsName, b.NsName)
	if !testground.Eventually(2*time.Second, func() bool { return len(helperProcs()) == 0 }) {
		t.Errorf("helper processes left: %q", helperProcs())
	}
}
