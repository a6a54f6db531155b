package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	v1alpha1 "github.com/faultline-dev/faultline/crds/v1alpha1"
	"github.com/faultline-dev/faultline/internal/testground/cluster"
)

const statusSHA = "3f2c1ab9d0e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4"

// statusFixture is a hub holding experiments in the states a user meets:
// mid-rollout, finished with a verdict, waiting for approval, and not yet
// seen by the hub. It returns the hub and a kubeconfig file for it.
func statusFixture(t *testing.T) (*cluster.Cluster, string) {
	t.Helper()
	hub := cluster.Start(t, "hub")[0]
	ctx := t.Context()
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(kubeconfig, hub.KubeConfig, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, ns := range []string{"shop", "payments"} {
		if err := hub.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
			t.Fatal(err)
		}
	}
	now := metav1.NewTime(time.Now().Add(-2 * time.Minute).Truncate(time.Second))
	rev := "main@sha1:" + statusSHA
	podKill := v1alpha1.FaultSpec{Pod: &v1alpha1.PodFault{Action: v1alpha1.PodKill}}
	delay := v1alpha1.FaultSpec{Network: &v1alpha1.NetworkFault{Action: v1alpha1.NetworkDelay, Latency: &metav1.Duration{Duration: 100 * time.Millisecond}}}
	value := 0.21
	cond := func(typ string, status metav1.ConditionStatus, reason, msg string) metav1.Condition {
		return metav1.Condition{Type: typ, Status: status, Reason: reason, Message: msg, LastTransitionTime: now}
	}
	for _, x := range []struct {
		ns, name string
		fault    v1alpha1.FaultSpec
		probes   []v1alpha1.Probe
		status   *v1alpha1.ExperimentStatus
	}{
		{"shop", "checkout-latency", delay, []v1alpha1.Probe{{Name: "p99", Mode: v1alpha1.ProbeDuring,
			Prometheus: &v1alpha1.PrometheusProbe{Address: "http://127.0.0.1:9090", Query: "p99", ThresholdRange: v1alpha1.ThresholdRange{Max: &value}}}},
			&v1alpha1.ExperimentStatus{
				Phase: v1alpha1.PhaseRunning, Revision: rev, Run: "g1", Waves: []string{"staging", "prod"}, CurrentWave: ptrTo(int32(0)), StartTime: &now,
				Targets: []v1alpha1.TargetSummary{
					{Kind: "MemberCluster", Name: "staging-eu", Wave: "staging", Selected: 3, Injected: 3, State: v1alpha1.MemberRunning, StartTime: &now},
					{Kind: "HostAgent", Name: "db-1", Wave: "staging", Selected: 1, Injected: 1, State: v1alpha1.MemberRunning, Unreachable: true},
					{Kind: "MemberCluster", Name: "prod-eu-1", Wave: "prod", State: v1alpha1.MemberWaiting},
				},
				Conditions: []metav1.Condition{cond("Ready", metav1.ConditionUnknown, "Progressing", "wave staging (1 of 2): Running")},
			}},
		{"shop", "cart-kill", podKill, nil, &v1alpha1.ExperimentStatus{
			Phase: v1alpha1.PhaseCompleted, Revision: rev, Run: "g3", Waves: []string{"wave-1"}, StartTime: &now, EndTime: &now,
			Targets: []v1alpha1.TargetSummary{{Kind: "MemberCluster", Name: "staging-eu", Wave: "wave-1", Selected: 2, Injected: 2, Recovered: 2, State: v1alpha1.MemberDone}},
			Verdict: &v1alpha1.Verdict{Result: v1alpha1.VerdictFailed, Reason: "ProbeFailed", Message: "p99 (during): 0.49 > max 0.3", Time: &now,
				Evidence: []v1alpha1.ProbeEvidence{{Probe: "p99", Mode: v1alpha1.ProbeDuring, Result: v1alpha1.VerdictFailed,
					Samples: []v1alpha1.ProbeSample{{Time: now, Value: &value}, {Time: now, Value: ptrTo(0.49), Breach: true}}}}},
			History: []v1alpha1.RunRecord{{Run: "g2", StartTime: &now, EndTime: &now, Verdict: v1alpha1.VerdictPassed, Message: "held"}},
		}},
		{"payments", "prod-loss", podKill, nil, &v1alpha1.ExperimentStatus{
			Phase: v1alpha1.PhaseAwaitingApproval, Revision: rev, Run: "g1",
			Conditions: []metav1.Condition{
				cond("Admitted", metav1.ConditionFalse, "AwaitingApproval", "awaiting approval by group sre (1)"),
				cond("Ready", metav1.ConditionFalse, "AwaitingApproval", "awaiting approval by group sre (1)"),
			},
		}},
		{"payments", "fresh", podKill, nil, nil},
	} {
		exp := &v1alpha1.Experiment{ObjectMeta: metav1.ObjectMeta{Namespace: x.ns, Name: x.name},
			Spec: v1alpha1.ExperimentSpec{Fault: x.fault, Probes: x.probes}}
		if err := hub.Client.Create(ctx, exp); err != nil {
			t.Fatalf("%s/%s: %v", x.ns, x.name, err)
		}
		if x.status != nil {
			exp.Status = *x.status
			if err := hub.Client.Status().Update(ctx, exp); err != nil {
				t.Fatalf("%s/%s status: %v", x.ns, x.name, err)
			}
		}
	}
	appr := &v1alpha1.Approval{ObjectMeta: metav1.ObjectMeta{Namespace: "payments", Name: "prod-loss-old"},
		Spec: v1alpha1.ApprovalSpec{Experiment: "prod-loss", Revision: "1111111", Approver: &v1alpha1.UserIdentity{Username: "alice"}}}
	if err := hub.Client.Create(ctx, appr); err != nil {
		t.Fatal(err)
	}
	appr.Status.Conditions = []metav1.Condition{cond("Ready", metav1.ConditionFalse, "Superseded", "the experiment is at another revision")}
	if err := hub.Client.Status().Update(ctx, appr); err != nil {
		t.Fatal(err)
	}
	return hub, kubeconfig
}

func ptrTo[T any](v T) *T { return &v }

// tableRows splits a table into its header and rows of fields.
func tableRows(t *testing.T, out string) (header []string, rows map[string][]string) {
	t.Helper()
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	header = strings.Fields(lines[0])
	rows = map[string][]string{}
	for _, l := range lines[1:] {
		f := strings.Fields(l)
		if len(f) != len(header) {
			t.Fatalf("row has %d cells, header %d:\n%s", len(f), len(header), out)
		}
		rows[f[0]+" "+f[1]] = f
	}
	return header, rows
}

func TestStatusTable(t *testing.T) {
	_, kubeconfig := statusFixture(t)

	out := run(t, "status", "-A", "--kubeconfig", kubeconfig)
	t.Logf("faultline status -A\n%s", out)
	header, rows := tableRows(t, out)
	if got := strings.Join(header, " "); got != "NAMESPACE NAME FAULT PHASE REVISION WAVES VERDICT REASON AGE" {
		t.Fatalf("header %q", got)
	}
	want := map[string][]string{
		"shop checkout-latency": {"shop", "checkout-latency", "network/delay", "Running", "main@3f2c1ab", "staging:Running,prod:Waiting", "-", "Progressing"},
		"shop cart-kill":        {"shop", "cart-kill", "pod/kill", "Completed", "main@3f2c1ab", "wave-1:Done", "Failed", "ProbeFailed"},
		"payments prod-loss":    {"payments", "prod-loss", "pod/kill", "AwaitingApproval", "main@3f2c1ab", "-", "-", "AwaitingApproval"},
		"payments fresh":        {"payments", "fresh", "pod/kill", "-", "-", "-", "-", "-"},
	}
	if len(rows) != len(want) {
		t.Fatalf("%d rows, want %d:\n%s", len(rows), len(want), out)
	}
	for key, cells := range want {
		got := rows[key]
		if got == nil || strings.Join(got[:len(cells)], " ") != strings.Join(cells, " ") {
			t.Errorf("row %s = %q, want %q", key, got, cells)
		}
	}
	if !strings.HasPrefix(out, "NAMESPACE") || strings.Index(out, "payments") > strings.Index(out, "shop") {
		t.Errorf("rows are not sorted by namespace:\n%s", out)
	}

	// -n (and --context, the kubeconfig's context is named after the
	// cluster) scope to one namespace, without a NAMESPACE column.
	out = run(t, "status", "-n", "shop", "--context", "hub", "--kubeconfig", kubeconfig)
	if strings.Contains(out, "NAMESPACE") || strings.Contains(out, "prod-loss") || !strings.Contains(out, "checkout-latency") {
		t.Errorf("-n shop:\n%s", out)
	}
	if _, stderr, code := runCLI(t, "status", "--context", "no-such-context", "--kubeconfig", kubeconfig); code == 0 || !strings.Contains(stderr, "no-such-context") {
		t.Errorf("unknown --context: exit %d, %s", code, stderr)
	}

	out = run(t, "status", "-n", "shop", "-o", "wide", "--kubeconfig", kubeconfig)
	for _, want := range []string{"CLUSTERS", "staging-eu:Running,db-1:Running(unreachable),prod-eu-1:Waiting", "4/4", "p99 (during): 0.49 > max 0.3"} {
		if !strings.Contains(out, want) {
			t.Errorf("-o wide lacks %q:\n%s", want, out)
		}
	}

	// An empty namespace prints nothing on stdout, and says so on stderr.
	stdout, stderr, code := runCLI(t, "status", "-n", "default", "--kubeconfig", kubeconfig)
	if code != 0 || stdout != "" || !strings.Contains(stderr, "No experiments found in namespace default") {
		t.Errorf("empty namespace: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
}

func TestStatusDetail(t *testing.T) {
	_, kubeconfig := statusFixture(t)
	out := run(t, "status", "shop/checkout-latency", "--kubeconfig", kubeconfig)
	t.Logf("faultline status shop/checkout-latency\n%s", out)
	for _, want := range []string{
		"Phase:", "Running", "Revision:", "main@sha1:" + statusSHA,
		"Waves:", "staging   Running   staging-eu,db-1   <- current", "prod      Waiting   prod-eu-1",
		"HostAgent       db-1         staging   Running(unreachable)   1          1",
		"Probes:", "p99     during   Pending",
		"Conditions:", "Ready   Unknown   Progressing",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("detail lacks %q", want)
		}
	}
	out = run(t, "status", "-n", "payments", "prod-loss", "--kubeconfig", kubeconfig)
	for _, want := range []string{"Awaiting approval:", "group sre (1)", "pending", "prod-loss-old", "alice", "does not count (Superseded)"} {
		if !strings.Contains(out, want) {
			t.Errorf("detail of prod-loss lacks %q:\n%s", want, out)
		}
	}
	out = run(t, "status", "shop/cart-kill", "--kubeconfig", kubeconfig)
	for _, want := range []string{"Failed (ProbeFailed)", "p99     during   Failed   0.49", "Last runs:", "g2", "Passed"} {
		if !strings.Contains(out, want) {
			t.Errorf("detail of cart-kill lacks %q:\n%s", want, out)
		}
	}
	if _, stderr, code := runCLI(t, "status", "shop/nope", "--kubeconfig", kubeconfig); code == 0 || !strings.Contains(stderr, "not found") {
		t.Errorf("unknown experiment: exit %d, %s", code, stderr)
	}
	if _, _, code := runCLI(t, "status", "-A", "cart-kill", "--kubeconfig", kubeconfig); code == 0 {
		t.Errorf("NAME with -A: exit 0")
	}
}

// statusJSON is the documented shape of status -o json, as a script reads it.
type statusJSON struct {
	Experiments []struct {
		Namespace        string `json:"namespace"`
		Name             string `json:"name"`
		Phase            string `json:"phase"`
		Revision         string `json:"revision"`
		Fault            string `json:"fault"`
		Wave             string `json:"wave"`
		Verdict          string `json:"verdict"`
		Reason           string `json:"reason"`
		AwaitingApproval string `json:"awaitingApproval"`
		Waves            []struct {
			Name     string   `json:"name"`
			State    string   `json:"state"`
			Clusters []string `json:"clusters"`
		} `json:"waves"`
		Clusters []struct {
			Kind        string `json:"kind"`
			Name        string `json:"name"`
			Wave        string `json:"wave"`
			Phase       string `json:"phase"`
			Injected    int32  `json:"injected"`
			Unreachable bool   `json:"unreachable"`
		} `json:"clusters"`
		Approvals []struct {
			Name   string `json:"name"`
			Counts bool   `json:"counts"`
		} `json:"approvals"`
		Probes []struct {
			Name   string   `json:"name"`
			Result string   `json:"result"`
			Value  *float64 `json:"value"`
		} `json:"probes"`
	} `json:"experiments"`
}

func TestStatusJSONAndYAML(t *testing.T) {
	_, kubeconfig := statusFixture(t)
	for _, format := range []string{"json", "yaml"} {
		out := run(t, "status", "-A", "-o", format, "--kubeconfig", kubeconfig)
		var doc statusJSON
		var err error
		if format == "json" {
			err = json.Unmarshal([]byte(out), &doc)
		} else {
			err = yaml.UnmarshalStrict([]byte(out), &doc)
			if err != nil && strings.Contains(err.Error(), "unknown field") {
				err = yaml.Unmarshal([]byte(out), &doc) // the test's struct names only some fields
			}
		}
		if err != nil {
			t.Fatalf("-o %s: %v\n%s", format, err, out)
		}
		var names []string
		for _, e := range doc.Experiments {
			names = append(names, e.Namespace+"/"+e.Name)
		}
		if got := strings.Join(names, " "); got != "payments/fresh payments/prod-loss shop/cart-kill shop/checkout-latency" {
			t.Fatalf("-o %s lists %s", format, got)
		}
		fresh, prod, cart, checkout := doc.Experiments[0], doc.Experiments[1], doc.Experiments[2], doc.Experiments[3]
		if fresh.Phase != "" || fresh.Waves == nil || fresh.Clusters == nil {
			t.Errorf("-o %s: fresh = %+v, want empty phase and empty (not null) lists", format, fresh)
		}
		if prod.Phase != "AwaitingApproval" || prod.AwaitingApproval != "group sre (1)" || len(prod.Approvals) != 1 || prod.Approvals[0].Counts {
			t.Errorf("-o %s: prod-loss = %+v", format, prod)
		}
		if cart.Verdict != "Failed" || cart.Reason != "ProbeFailed" || len(cart.Probes) != 1 || cart.Probes[0].Value == nil || *cart.Probes[0].Value != 0.49 {
			t.Errorf("-o %s: cart-kill = %+v", format, cart)
		}
		if checkout.Revision != "main@sha1:"+statusSHA || checkout.Wave != "staging" || checkout.Fault != "network/delay" ||
			len(checkout.Waves) != 2 || checkout.Waves[0].State != "Running" || strings.Join(checkout.Waves[0].Clusters, ",") != "staging-eu,db-1" ||
			len(checkout.Clusters) != 3 || checkout.Clusters[1].Kind != "HostAgent" || !checkout.Clusters[1].Unreachable || checkout.Clusters[2].Phase != "Waiting" {
			t.Errorf("-o %s: checkout-latency = %+v", format, checkout)
		}
	}
	// One experiment has the same shape, with one entry.
	var one statusJSON
	if err := json.Unmarshal([]byte(run(t, "status", "shop/cart-kill", "-o", "json", "--kubeconfig", kubeconfig)), &one); err != nil || len(one.Experiments) != 1 {
		t.Errorf("status NAME -o json: %v, %+v", err, one)
	}
	var none statusJSON
	if out := run(t, "status", "-n", "default", "-o", "json", "--kubeconfig", kubeconfig); json.Unmarshal([]byte(out), &none) != nil || none.Experiments == nil {
		t.Errorf("empty namespace -o json: %q, want an empty list", out)
	}
}

// syncBuffer is written by the command's goroutine and read by the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startStatus runs the command until the returned cancel is called; wait
// returns its error.
func startStatus(t *testing.T, args ...string) (out *syncBuffer, cancel func(), wait func() error) {
	t.Helper()
	ctx, cancelCtx := context.WithCancel(t.Context())
	out = &syncBuffer{}
	cmd := newRootCommand()
	cmd.SetOut(out)
	cmd.SetErr(io.Discard)
	cmd.SetArgs(args)
	done := make(chan error, 1)
	go func() { done <- cmd.ExecuteContext(ctx) }()
	t.Cleanup(cancelCtx)
	return out, cancelCtx, func() error {
		select {
		case err := <-done:
			return err
		case <-time.After(10 * time.Second):
			return errors.New("the command did not return after its context was cancelled")
		}
	}
}

// waitFor polls out until cond holds for one of its lines.
func waitFor(t *testing.T, out *syncBuffer, what string, cond func(line string) bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		sc := bufio.NewScanner(strings.NewReader(out.String()))
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			if cond(sc.Text()) {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("no line with %s; output so far:\n%s", what, out.String())
}

func TestStatusWatchJSON(t *testing.T) {
	hub, kubeconfig := statusFixture(t)
	ctx := t.Context()
	out, cancel, wait := startStatus(t, "status", "-A", "--watch", "-o", "json", "--kubeconfig", kubeconfig)

	type event struct {
		Type       string `json:"type"`
		Experiment struct {
			Namespace string `json:"namespace"`
			Name      string `json:"name"`
			Phase     string `json:"phase"`
			Verdict   string `json:"verdict"`
		} `json:"experiment"`
	}
	parse := func(line string) event {
		var ev event
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatalf("not one JSON object per line: %v: %q", err, line)
		}
		return ev
	}
	waitFor(t, out, "all four experiments listed", func(string) bool {
		return strings.Count(out.String(), `"type":"ADDED"`) == 4
	})

	// The hub finishes checkout-latency's run.
	exp := &v1alpha1.Experiment{}
	if err := hub.Client.Get(ctx, client.ObjectKey{Namespace: "shop", Name: "checkout-latency"}, exp); err != nil {
		t.Fatal(err)
	}
	exp.Status.Phase = v1alpha1.PhaseCompleted
	exp.Status.Verdict = &v1alpha1.Verdict{Result: v1alpha1.VerdictPassed, Reason: "ProbesHeld"}
	if err := hub.Client.Status().Update(ctx, exp); err != nil {
		t.Fatal(err)
	}
	waitFor(t, out, "checkout-latency Completed/Passed", func(line string) bool {
		ev := parse(line)
		return ev.Type == "MODIFIED" && ev.Experiment.Name == "checkout-latency" && ev.Experiment.Phase == "Completed" && ev.Experiment.Verdict == "Passed"
	})
	// A deletion is a change too.
	if err := hub.Client.Delete(ctx, &v1alpha1.Experiment{ObjectMeta: metav1.ObjectMeta{Namespace: "payments", Name: "fresh"}}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, out, "fresh DELETED", func(line string) bool {
		ev := parse(line)
		return ev.Type == "DELETED" && ev.Experiment.Name == "fresh"
	})

	cancel()
	if err := wait(); err != nil {
		t.Fatalf("status --watch returned %v after cancel, want nil", err)
	}
	// Every line of the stream is one JSON object.
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		parse(line)
	}
}

func TestStatusWatchTable(t *testing.T) {
	hub, kubeconfig := statusFixture(t)
	ctx := t.Context()
	out, cancel, wait := startStatus(t, "status", "-n", "payments", "-w", "--kubeconfig", kubeconfig)
	waitFor(t, out, "the initial table", func(line string) bool { return strings.HasPrefix(line, "fresh ") })

	exp := &v1alpha1.Experiment{}
	if err := hub.Client.Get(ctx, client.ObjectKey{Namespace: "payments", Name: "prod-loss"}, exp); err != nil {
		t.Fatal(err)
	}
	// A status write that changes nothing the row shows prints nothing.
	exp.Status.ObservedGeneration = 1
	if err := hub.Client.Status().Update(ctx, exp); err != nil {
		t.Fatal(err)
	}
	exp.Status.Phase = v1alpha1.PhaseInjecting
	exp.Status.Conditions = nil
	exp.Status.Waves = []string{"prod"}
	exp.Status.CurrentWave = ptrTo(int32(0))
	exp.Status.Targets = []v1alpha1.TargetSummary{{Kind: "MemberCluster", Name: "prod-eu-1", Wave: "prod", State: v1alpha1.MemberInjecting}}
	if err := hub.Client.Status().Update(ctx, exp); err != nil {
		t.Fatal(err)
	}
	waitFor(t, out, "prod-loss Injecting", func(line string) bool {
		return strings.HasPrefix(line, "prod-loss ") && strings.Contains(line, "Injecting") && strings.Contains(line, "prod:Injecting")
	})
	cancel()
	if err := wait(); err != nil {
		t.Fatalf("status -w returned %v after cancel, want nil", err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 4 || !strings.HasPrefix(lines[0], "NAME") {
		t.Errorf("want the header, two rows and one change, got:\n%s", out.String())
	}
	// Rows printed later line up under the header.
	if h, l := strings.Index(lines[0], "PHASE"), strings.Index(lines[3], "Injecting"); h != l {
		t.Errorf("PHASE at column %d, the change's phase at %d:\n%s", h, l, out.String())
	}

	// One experiment, watched, is shown again in detail on each change.
	out, cancel, wait = startStatus(t, "status", "payments/prod-loss", "-w", "--kubeconfig", kubeconfig)
	waitFor(t, out, "the detail", func(line string) bool {
		return strings.HasPrefix(line, "Phase:") && strings.Contains(line, "Injecting")
	})
	if err := hub.Client.Get(ctx, client.ObjectKey{Namespace: "payments", Name: "prod-loss"}, exp); err != nil {
		t.Fatal(err)
	}
	exp.Status.Phase = v1alpha1.PhaseCompleted
	exp.Status.Verdict = &v1alpha1.Verdict{Result: v1alpha1.VerdictPassed, Reason: "ProbesHeld"}
	if err := hub.Client.Status().Update(ctx, exp); err != nil {
		t.Fatal(err)
	}
	waitFor(t, out, "the new verdict", func(line string) bool {
		return strings.HasPrefix(line, "Verdict:") && strings.Contains(line, "Passed (ProbesHeld)")
	})
	cancel()
	if err := wait(); err != nil {
		t.Fatalf("status NAME -w returned %v after cancel, want nil", err)
	}
	if !strings.Contains(out.String(), " MODIFIED\n") {
		t.Errorf("the change is not marked:\n%s", out.String())
	}
}
