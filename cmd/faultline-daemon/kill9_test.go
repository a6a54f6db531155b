package main

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/faultline-dev/faultline/crds/v1alpha1"
	"github.com/faultline-dev/faultline/faults"
	"github.com/faultline-dev/faultline/internal/testground"
	"github.com/faultline-dev/faultline/internal/testground/cluster"
	"github.com/faultline-dev/faultline/internal/testground/netns"
)

const node = "node-1"

func poll(timeout time.Duration, cond func() bool) error {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			return errors.New("timed out")
		}
		time.Sleep(20 * time.Millisecond)
	}
	return nil
}

func ours(t *testing.T, nsName string) (tables, qdiscs bool) {
	rs, qs := netns.Ruleset(t, nsName), netns.Qdiscs(t, nsName)
	return strings.Contains(rs, faults.TablePrefix), strings.Contains(qs, "fa00:")
}

// helpers lists the pids of the running fault helpers that this test's
// daemons started.
func helpers() []string {
	var pids []string
	for _, p := range testground.OwnProcs(faults.HelperArg0) {
		pids = append(pids, strings.SplitN(p, ":", 2)[0])
	}
	return pids
}

// TestDaemonSurvivesKill9 runs the real faultline-daemon binary against a
// real member API server, with the static-targets test binding mapping two
// pods to network namespaces. It SIGKILLs the daemon 20 times — half of them
// right after start (mid-reap or mid-apply), half once every fault is in
// place — and restarts it each time; every restart must reap and re-apply.
// Then the Injections are deleted while no daemon runs, a last daemon
// finalizes them and is SIGKILLed too: nothing of ours may be left.
func TestDaemonSurvivesKill9(t *testing.T) {
	n := netns.New(t, []string{"pod-a", "pod-b"})
	a, b := n.Host("pod-a"), n.Host("pod-b")
	member := cluster.Start(t, "member-a")[0]
	ctx := t.Context()
	dir := t.TempDir()

	bin := testground.BuildBinary(t, "github.com/faultline-dev/faultline/cmd/faultline-daemon")
	kubeconfig := filepath.Join(dir, "kubeconfig")
	targets := filepath.Join(dir, "targets.json")
	journal := filepath.Join(dir, "journal.db")
	if err := os.WriteFile(kubeconfig, member.KubeConfig, 0o600); err != nil {
		t.Fatal(err)
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "chaos-"}}
	if err := member.Client.Create(ctx, ns); err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(map[string]faults.Target{
		ns.Name + "/pod-a": {NetnsPath: a.Path()},
		ns.Name + "/pod-b": {NetnsPath: b.Path()},
	})
	if err := os.WriteFile(targets, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	launch := func() *exec.Cmd {
		cmd := exec.Command(bin, "--node-name", node, "--kubeconfig", kubeconfig, "--journal", journal,
			"--static-targets", targets, "--metrics-addr", "0", "--health-addr", "0")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd
	}
	kill := func(cmd *exec.Cmd) {
		_ = cmd.Process.Signal(syscall.SIGKILL)
		_ = cmd.Wait()
	}
	t.Cleanup(func() {
		// Whatever happened: a daemon with no Injections left recovers
		// everything in its journal on start; stop it gracefully.
		_ = member.Client.DeleteAllOf(context.Background(), &v1alpha1.Injection{}, client.InNamespace(ns.Name))
		cmd := launch()
		time.Sleep(3 * time.Second)
		_ = cmd.Process.Signal(syscall.SIGTERM)
		exited := make(chan struct{})
		go func() { _ = cmd.Wait(); close(exited) }()
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
			t.Error("the last daemon did not stop within 30s of SIGTERM")
		}
	})
	// start launches a daemon that is killed when the test ends, should a
	// failure end it first (the cleanup above needs the journal free).
	start := func() *exec.Cmd {
		cmd := launch()
		t.Cleanup(func() {
			if cmd.ProcessState == nil {
				kill(cmd)
			}
		})
		return cmd
	}

	mkInj := func(name, pod string, f v1alpha1.FaultSpec) *v1alpha1.Injection {
		return &v1alpha1.Injection{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, Name: name, Labels: map[string]string{v1alpha1.NodeLabel: node}},
			Spec: v1alpha1.InjectionSpec{
				Fault: f, NodeName: node, Deadline: metav1.NewTime(time.Now().Add(10 * time.Minute)),
				Peers:   []string{b.IP.String()},
				Targets: []v1alpha1.InjectionTarget{{Key: ns.Name + "/" + pod, Kind: v1alpha1.TargetPod, Namespace: ns.Name, Name: pod}},
				Owner:   v1alpha1.InjectionOwner{Experiment: ns.Name + "/exp"},
			},
		}
	}
	injs := []*v1alpha1.Injection{
		mkInj("delay", "pod-a", v1alpha1.FaultSpec{Network: &v1alpha1.NetworkFault{Action: v1alpha1.NetworkDelay, Latency: &metav1.Duration{Duration: 30 * time.Millisecond}}}),
		mkInj("cpu", "pod-a", v1alpha1.FaultSpec{Stress: &v1alpha1.StressFault{Action: v1alpha1.StressCPU, Workers: 1, Load: 10}}),
		mkInj("bandwidth", "pod-b", v1alpha1.FaultSpec{Network: &v1alpha1.NetworkFault{Action: v1alpha1.NetworkBandwidth, Bandwidth: &v1alpha1.BandwidthSpec{Rate: "10mbit"}}}),
	}
	injs[2].Spec.Peers = nil
	for _, inj := range injs {
		if err := member.Client.Create(ctx, inj); err != nil {
			t.Fatal(err)
		}
	}
	allActive := func() bool {
		ta, _ := ours(t, a.NsName)
		_, qb := ours(t, b.NsName)
		return ta && qb && len(helpers()) == 1
	}

	for cycle := range 20 {
		cmd := start()
		if cycle%2 == 0 {
			time.Sleep(time.Duration(50+cycle*25) * time.Millisecond)
		} else if err := poll(30*time.Second, allActive); err != nil {
			kill(cmd)
			t.Fatalf("cycle %d: the restarted daemon did not re-apply every fault", cycle)
		}
		kill(cmd)
	}

	for _, inj := range injs {
		if err := member.Client.Delete(ctx, inj); err != nil {
			t.Fatal(err)
		}
	}
	cmd := start()
	if err := poll(30*time.Second, func() bool {
		var l v1alpha1.InjectionList
		return member.Client.List(ctx, &l, client.InNamespace(ns.Name)) == nil && len(l.Items) == 0
	}); err != nil {
		kill(cmd)
		t.Fatal("deleted Injections were not finalized")
	}
	kill(cmd)

	for _, h := range []*netns.Host{a, b} {
		if tb, qd := ours(t, h.NsName); tb || qd {
			t.Errorf("%s: nftables table of ours %t, qdisc of ours %t", h.Name, tb, qd)
		}
	}
	if err := poll(3*time.Second, func() bool { return len(helpers()) == 0 }); err != nil {
		t.Errorf("stress helpers left: %v", helpers())
	}
	var inj v1alpha1.Injection
	if err := member.Client.Get(ctx, client.ObjectKeyFromObject(injs[0]), &inj); !apierrors.IsNotFound(err) {
		t.Errorf("injection still there: %v", err)
	}
}
