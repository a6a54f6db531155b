package daemon_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fluxcd/pkg/runtime/conditions"
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

// serveEnv makes the test binary an HTTP server: a pod's container
// process in these tests.
const serveEnv = "FAULTLINE_TEST_SERVE"

// serveIfAsked serves "ok" over HTTP on $FAULTLINE_TEST_SERVE and never
// returns, if that is set.
func serveIfAsked() {
	addr := os.Getenv(serveEnv)
	if addr == "" {
		return
	}
	err := http.ListenAndServe(addr, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "ok")
	}))
	fmt.Fprintln(os.Stderr, err)
	os.Exit(2)
}

// startProc starts c and kills it when the test ends, stopped or not.
func startProc(t *testing.T, c *exec.Cmd) int {
	t.Helper()
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Process.Kill(); _ = c.Wait() })
	return c.Process.Pid
}

// startServer runs this test binary as an HTTP server on port 8080 inside
// h and waits until it answers from peer.
func startServer(t *testing.T, h, peer *netns.Host) (pid int, url string) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	c := h.Exec(context.Background(), exe)
	c.Env = append(os.Environ(), serveEnv+"=:8080")
	pid = startProc(t, c)
	url = "http://" + net.JoinHostPort(h.IP.String(), "8080") + "/"
	if !testground.Eventually(10*time.Second, func() bool { return httpGet(peer, url) == nil }) {
		t.Fatalf("the server in %s never answered: %v", h, httpGet(peer, url))
	}
	return pid, url
}

// startSleep runs a sleep inside h, once it really is the sleep (`ip netns
// exec` becomes its command by exec).
func startSleep(t *testing.T, h *netns.Host) int {
	t.Helper()
	pid := startProc(t, h.Exec(context.Background(), "sleep", "300"))
	if !testground.Eventually(5*time.Second, func() bool {
		raw, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/comm")
		return err == nil && strings.TrimSpace(string(raw)) == "sleep"
	}) {
		t.Fatal("the sleep never started")
	}
	return pid
}

// httpGet asks url from inside h with a one-second timeout.
func httpGet(h *netns.Host, url string) error {
	c := &http.Client{Timeout: time.Second, Transport: &http.Transport{DialContext: h.DialContext, DisableKeepAlives: true}}
	resp, err := c.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK || string(body) != "ok" {
		return fmt.Errorf("%s: %s %q", url, resp.Status, body)
	}
	return nil
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// stopped reads the process state from /proc: T (or t) is stopped.
func stopped(t testing.TB, pid int) bool {
	t.Helper()
	raw, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		t.Fatalf("pid %d: %v", pid, err)
	}
	s := raw[strings.LastIndexByte(string(raw), ')')+2]
	return s == 'T' || s == 't'
}

func podFailure(names ...string) v1alpha1.FaultSpec {
	return v1alpha1.FaultSpec{Pod: &v1alpha1.PodFault{Action: v1alpha1.PodFailure, ContainerNames: names}}
}

// A pod whose "app" container is a real HTTP server and whose "sidecar"
// is a sleep, both in a network namespace, frozen through Injections on a
// real API server: a container name the pod lacks stalls the Injection
// and freezes nothing; containerNames freezes only that container's
// processes until the deadline; without names, every container until the
// Injection is deleted.
func TestDaemonPodFailureFreezesContainers(t *testing.T) {
	e := start(t)
	ctx := t.Context()
	app, url := startServer(t, e.a, e.b)
	sidecar := startSleep(t, e.a)
	e.resolver.Register(e.ns+"/web", faults.Target{NetnsPath: e.a.Path(), Containers: []faults.Container{
		{Name: "app", Pids: []int{app}}, {Name: "sidecar", Pids: []int{sidecar}},
	}})
	var got v1alpha1.Injection

	bad := e.injection("bad-name", node, podFailure("app", "db"), time.Minute, "web")
	if err := e.c.Create(ctx, bad); err != nil {
		t.Fatal(err)
	}
	testground.WaitFor(t, 20*time.Second, "the bad Injection to stall", func() (bool, string) {
		if err := e.c.Get(ctx, client.ObjectKeyFromObject(bad), &got); err != nil {
			return false, err.Error()
		}
		return conditions.IsStalled(&got) && len(got.Status.Targets) == 1 &&
			strings.Contains(got.Status.Targets[0].Message, "spec.fault.pod.containerNames[1]"), fmt.Sprintf("%+v", got.Status)
	})
	if stopped(t, app) || stopped(t, sidecar) {
		t.Error("a refused pod failure stopped a process")
	}
	if err := e.c.Delete(ctx, bad); err != nil {
		t.Fatal(err)
	}

	// Only the app container, until the deadline.
	inj := e.injection("freeze-app", node, podFailure("app"), 8*time.Second, "web")
	if err := e.c.Create(ctx, inj); err != nil {
		t.Fatal(err)
	}
	if !testground.Eventually(10*time.Second, func() bool { return stopped(t, app) }) {
		t.Fatal("the app was never stopped")
	}
	if stopped(t, sidecar) {
		t.Error("the sidecar was stopped; only app was named")
	}
	if err := httpGet(e.b, url); !isTimeout(err) {
		t.Errorf("request to the frozen app: %v, want a timeout", err)
	}
	testground.WaitFor(t, 5*time.Second, "status Injected with one stopped process", func() (bool, string) {
		if err := e.c.Get(ctx, client.ObjectKeyFromObject(inj), &got); err != nil || len(got.Status.Targets) != 1 {
			return false, fmt.Sprintf("%v %+v", err, got.Status)
		}
		ts := got.Status.Targets[0]
		for _, m := range ts.Measured {
			if m.Name == faults.MeasuredStoppedProcs {
				return ts.Phase == v1alpha1.InjectionInjected && ts.Path == "signal" && m.Value == 1, fmt.Sprintf("%+v", ts)
			}
		}
		return false, fmt.Sprintf("%+v", ts)
	})
	if !testground.Eventually(time.Until(inj.Spec.Deadline.Time)+5*time.Second, func() bool { return !stopped(t, app) }) {
		t.Fatal("the app is still stopped well after the deadline")
	}
	if late := time.Since(inj.Spec.Deadline.Time); late > time.Second {
		t.Errorf("continued %v after the deadline", late)
	}
	if err := httpGet(e.b, url); err != nil {
		t.Errorf("the app does not answer after recovery: %v", err)
	}
	testground.WaitFor(t, 10*time.Second, "status Recovered", func() (bool, string) {
		err := e.c.Get(ctx, client.ObjectKeyFromObject(inj), &got)
		return err == nil && got.Status.Phase == v1alpha1.InjectionRecovered, fmt.Sprintf("%v %+v", err, got.Status)
	})

	// Every container, aborted by deleting the Injection.
	all := e.injection("freeze-all", node, podFailure(), time.Minute, "web")
	if err := e.c.Create(ctx, all); err != nil {
		t.Fatal(err)
	}
	if !testground.Eventually(10*time.Second, func() bool { return stopped(t, app) && stopped(t, sidecar) }) {
		t.Fatalf("pod not frozen: app %t, sidecar %t", stopped(t, app), stopped(t, sidecar))
	}
	if err := e.c.Delete(ctx, all); err != nil {
		t.Fatal(err)
	}
	if !testground.Eventually(10*time.Second, func() bool { return !stopped(t, app) && !stopped(t, sidecar) }) {
		t.Fatal("pod still frozen after the Injection was deleted")
	}
	if err := poll(10*time.Second, 50*time.Millisecond, func() bool {
		return apierrors.IsNotFound(e.c.Get(ctx, client.ObjectKeyFromObject(all), &got))
	}); err != nil {
		t.Error("the Injection was not released after recovery")
	}
	if err := httpGet(e.b, url); err != nil {
		t.Errorf("the app does not answer after the abort: %v", err)
	}
}

// The real faultline-daemon binary, with a static-targets file naming the
// pod's containers, is SIGKILLed while the pod is frozen. Restarted, it
// continues the processes (its reaper) and freezes them again (the
// Injection still asks), then continues them at the deadline. Killed once
// more and restarted only after a deadline passed, it continues them as
// soon as it starts.
func TestDaemonPodFailureSurvivesKill9(t *testing.T) {
	n := netns.New(t, []string{"pod-a", "pod-b"})
	a, b := n.Host("pod-a"), n.Host("pod-b")
	member := cluster.Start(t, "member-a")[0]
	ctx := t.Context()
	dir := t.TempDir()
	bin := testground.BuildBinary(t, "github.com/faultline-dev/faultline/cmd/faultline-daemon")
	app, url := startServer(t, a, b)
	sidecar := startSleep(t, a)

	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "chaos-"}}
	if err := member.Client.Create(ctx, ns); err != nil {
		t.Fatal(err)
	}
	kubeconfig, targets, journal := filepath.Join(dir, "kubeconfig"), filepath.Join(dir, "targets.json"), filepath.Join(dir, "journal.db")
	if err := os.WriteFile(kubeconfig, member.KubeConfig, 0o600); err != nil {
		t.Fatal(err)
	}
	// The documented file format, written by hand.
	file := fmt.Sprintf(`{%q: {"netnsPath": %q, "containers": [{"name": "app", "pids": [%d]}, {"name": "sidecar", "pids": [%d]}]}}`,
		ns.Name+"/web", a.Path(), app, sidecar)
	if err := os.WriteFile(targets, []byte(file), 0o600); err != nil {
		t.Fatal(err)
	}
	var logs testground.Output
	startDaemon := func() *exec.Cmd {
		cmd := exec.Command(bin, "--node-name", node, "--kubeconfig", kubeconfig, "--journal", journal,
			"--static-targets", targets, "--metrics-addr", "0", "--health-addr", "0")
		cmd.Stdout, cmd.Stderr = &logs, &logs
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
		return cmd
	}
	kill9 := func(cmd *exec.Cmd) {
		_ = cmd.Process.Signal(syscall.SIGKILL)
		_ = cmd.Wait()
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("daemon logs:\n%s", logs.String())
		}
	})
	mkInj := func(name string, deadline time.Duration) *v1alpha1.Injection {
		inj := &v1alpha1.Injection{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, Name: name, Labels: map[string]string{v1alpha1.NodeLabel: node}},
			Spec: v1alpha1.InjectionSpec{
				Fault: podFailure("app"), NodeName: node, Deadline: metav1.NewTime(time.Now().Add(deadline)),
				Targets: []v1alpha1.InjectionTarget{{Key: ns.Name + "/web", Kind: v1alpha1.TargetPod, Namespace: ns.Name, Name: "web", UID: "uid-web"}},
				Owner:   v1alpha1.InjectionOwner{Experiment: ns.Name + "/exp"},
			},
		}
		if err := member.Client.Create(ctx, inj); err != nil {
			t.Fatal(err)
		}
		return inj
	}

	inj := mkInj("freeze", 25*time.Second)
	d := startDaemon()
	if !testground.Eventually(30*time.Second, func() bool { return stopped(t, app) }) {
		t.Fatal("the first daemon never stopped the app")
	}
	if stopped(t, sidecar) {
		t.Error("the sidecar was stopped; only app was named")
	}
	kill9(d)
	time.Sleep(300 * time.Millisecond)
	if !stopped(t, app) {
		t.Fatal("the app runs again with no daemon: nothing should have continued it but the journal's reaper")
	}
	d = startDaemon()
	// Reaped (continued) and frozen again: still stopped near the deadline.
	time.Sleep(time.Until(inj.Spec.Deadline.Time) - 4*time.Second)
	if !testground.Eventually(2*time.Second, func() bool { return stopped(t, app) }) {
		t.Fatal("the restarted daemon did not freeze the app again")
	}
	if err := httpGet(b, url); !isTimeout(err) {
		t.Errorf("request to the frozen app: %v, want a timeout", err)
	}
	if !testground.Eventually(time.Until(inj.Spec.Deadline.Time)+5*time.Second, func() bool { return !stopped(t, app) }) {
		t.Fatal("the app is still stopped well after the deadline")
	}
	if late := time.Since(inj.Spec.Deadline.Time); late > 1500*time.Millisecond {
		t.Errorf("continued %v after the deadline", late)
	}
	if err := httpGet(b, url); err != nil {
		t.Errorf("the app does not answer after recovery: %v", err)
	}

	// Killed again, and nobody restarts it before the deadline.
	inj = mkInj("freeze-again", 8*time.Second)
	if !testground.Eventually(10*time.Second, func() bool { return stopped(t, app) }) {
		t.Fatal("the daemon never stopped the app for the second Injection")
	}
	kill9(d)
	time.Sleep(time.Until(inj.Spec.Deadline.Time) + 500*time.Millisecond)
	if !stopped(t, app) {
		t.Fatal("the app runs again with no daemon")
	}
	started := time.Now()
	d = startDaemon()
	if !testground.Eventually(10*time.Second, func() bool { return !stopped(t, app) }) {
		t.Fatal("the restarted daemon did not continue the app its predecessor froze")
	}
	t.Logf("continued %v after the restart", time.Since(started).Round(time.Millisecond))
	if err := httpGet(b, url); err != nil {
		t.Errorf("the app does not answer after recovery: %v", err)
	}
	testground.WaitFor(t, 10*time.Second, "status Recovered", func() (bool, string) {
		var got v1alpha1.Injection
		err := member.Client.Get(ctx, client.ObjectKeyFromObject(inj), &got)
		return err == nil && got.Status.Phase == v1alpha1.InjectionRecovered, fmt.Sprintf("%v %+v", err, got.Status)
	})
	_ = d.Process.Signal(syscall.SIGTERM)
	_ = d.Wait()
}
