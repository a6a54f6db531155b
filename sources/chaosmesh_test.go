package sources

import (
	"slices"
	"strings"
	"testing"
	"time"

	v1alpha1 "github.com/faultline-dev/faultline/crds/v1alpha1"
)

func TestChaosMeshNetworkChaosDelayTranslates(t *testing.T) {
	res, err := Build(t.Context(), "../testdata/chaos-mesh", BuildOptions{Root: ".."})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Experiments) != 1 {
		t.Fatalf("%d experiments, want 1", len(res.Experiments))
	}
	e := res.Experiments[0]
	if e.Namespace != "chaos-testing" || e.Name != "delay" {
		t.Errorf("name %s/%s", e.Namespace, e.Name)
	}
	if e.Annotations[TranslatedFromAnnotation] != "chaos-mesh.org/v1alpha1/NetworkChaos" ||
		e.Annotations[SourceFileAnnotation] != "testdata/chaos-mesh/networkchaos-delay.yaml:3" {
		t.Errorf("annotations %v", e.Annotations)
	}
	if e.Spec.Mode != v1alpha1.ModeOne || !slices.Equal(e.Spec.Selector.Namespaces, []string{"default"}) ||
		e.Spec.Selector.LabelSelectors["app"] != "web-show" {
		t.Errorf("selector or mode lost: %s %+v", e.Spec.Mode, e.Spec.Selector)
	}
	if e.Spec.Duration == nil || e.Spec.Duration.Duration != 30*time.Second {
		t.Errorf("duration %v, want 30s", e.Spec.Duration)
	}
	n := e.Spec.Fault.Network
	if n == nil || n.Action != v1alpha1.NetworkDelay || n.Latency.Duration != 10*time.Millisecond ||
		n.Jitter == nil || n.Jitter.Duration != 0 || n.Correlation != "100" || n.Direction != v1alpha1.DirectionTo {
		t.Errorf("network fault %+v", n)
	}
}

func TestChaosMeshKindsTranslate(t *testing.T) {
	dir := writeTree(t, map[string]string{
		"pod.yaml": `apiVersion: chaos-mesh.org/v1alpha1
kind: PodChaos
metadata:
  name: pod-failure
spec:
  action: pod-failure
  mode: fixed
  value: "2"
  containerNames: [app]
  selector:
    labelSelectors:
      app: web
  duration: 1m
`,
		"stress.yaml": `apiVersion: chaos-mesh.org/v1alpha1
kind: StressChaos
metadata:
  name: memory
spec:
  mode: all
  selector:
    namespaces: [shop]
  stressors:
    memory:
      workers: 1
      size: 256MB
`,
		"schedule.yaml": `apiVersion: chaos-mesh.org/v1alpha1
kind: Schedule
metadata:
  name: nightly-loss
spec:
  schedule: "0 3 * * *"
  historyLimit: 3
  concurrencyPolicy: Forbid
  type: NetworkChaos
  networkChaos:
    action: loss
    mode: fixed-percent
    value: "20"
    selector:
      namespaces: [shop]
    loss:
      loss: "25"
      correlation: "10"
    duration: 5m
`,
	})
	res, err := Build(t.Context(), dir, BuildOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]v1alpha1.Experiment{}
	for _, e := range res.Experiments {
		got[e.Name] = e
	}
	pod := got["pod-failure"].Spec
	if pod.Fault.Pod == nil || pod.Fault.Pod.Action != v1alpha1.PodFailure || !slices.Equal(pod.Fault.Pod.ContainerNames, []string{"app"}) ||
		pod.Mode != v1alpha1.ModeFixed || pod.Value != "2" || pod.Duration.Duration != time.Minute {
		t.Errorf("PodChaos: %+v", pod)
	}
	mem := got["memory"].Spec
	if mem.Fault.Stress == nil || mem.Fault.Stress.Action != v1alpha1.StressMemory || mem.Fault.Stress.Size.String() != "256M" {
		t.Errorf("StressChaos: %+v", mem.Fault.Stress)
	}
	sch := got["nightly-loss"].Spec
	if sch.Schedule != "0 3 * * *" || sch.HistoryLimit != 3 || sch.Fault.Network == nil ||
		sch.Fault.Network.Action != v1alpha1.NetworkLoss || sch.Fault.Network.Percent != "25" ||
		sch.Fault.Network.Correlation != "10" || sch.Mode != v1alpha1.ModeFixedPercent || sch.Value != "20" {
		t.Errorf("Schedule: %+v %+v", sch, sch.Fault.Network)
	}
}

func TestChaosMeshErrorsPointAtTheChaosMeshFields(t *testing.T) {
	dir := writeTree(t, map[string]string{"bad.yaml": `apiVersion: chaos-mesh.org/v1alpha1
kind: NetworkChaos
metadata:
  name: bad
spec:
  action: delay
  mode: fixed-percent
  value: "300"
  selector:
    namespaces: [shop]
  delay:
    latency: 10ms
    reorder:
      reorder: "5"
---
apiVersion: chaos-mesh.org/v1alpha1
kind: PodChaos
metadata:
  name: ck
spec:
  action: container-kill
  mode: one
  selector: {}
`})
	got := buildErrors(t, dir, BuildOptions{})
	want := []string{
		"bad.yaml:13: spec.delay.reorder: unknown field",
		"bad.yaml:21: spec.action: container-kill has no faultline equivalent; use pod-failure with containerNames",
	}
	if !slices.Equal(got, want) {
		t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	// Once it decodes, validation errors land on the Chaos Mesh line.
	dir = writeTree(t, map[string]string{"bad.yaml": `apiVersion: chaos-mesh.org/v1alpha1
kind: NetworkChaos
metadata:
  name: bad
spec:
  action: delay
  mode: fixed-percent
  value: "300"
  selector:
    namespaces: [shop]
  delay:
    latency: 10ms
`})
	got = buildErrors(t, dir, BuildOptions{})
	want = []string{"bad.yaml:8: spec.value: with mode fixed-percent or random-max-percent, value must be a percentage from 1 to 100"}
	if !slices.Equal(got, want) {
		t.Errorf("errors %q, want %q", got, want)
	}
}
