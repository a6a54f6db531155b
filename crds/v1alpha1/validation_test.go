package v1alpha1_test

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/faultline-dev/faultline/internal/testground/cluster"
)

// The API server itself rejects bad specs, naming the field. Each case edits
// the valid Experiment in one place.
func TestAPIServerRejectsBadExperiments(t *testing.T) {
	hub := cluster.Start(t, "hub")[0]
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	mustCreate(ctx, t, hub.Client, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop"}})

	raw, err := os.ReadFile("testdata/checkout-latency.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name      string
		edit      func(spec map[string]any)
		wantField string // the field path the error must name
		wantText  string // and a word of the reason
	}{
		{"fixed-percent above 100", func(s map[string]any) { s["value"] = "150" }, "spec.value", "percentage"},
		{"fixed-percent not a number", func(s map[string]any) { s["value"] = "half" }, "spec.value", "percentage"},
		{"fixed without value", func(s map[string]any) { s["mode"] = "fixed"; delete(s, "value") }, "spec.value", "positive integer"},
		{"mode all with a value", func(s map[string]any) { s["mode"] = "all"; s["value"] = "3" }, "spec.value", "take no value"},
		{"unknown mode", func(s map[string]any) { s["mode"] = "some" }, "spec.mode", "Unsupported value"},
		{"unknown fault action", func(s map[string]any) {
			s["fault"].(map[string]any)["network"].(map[string]any)["action"] = "explode"
		}, "spec.fault.network.action", "Unsupported value"},
		{"two faults at once", func(s map[string]any) {
			s["fault"].(map[string]any)["stress"] = map[string]any{"action": "cpu", "workers": 1}
		}, "spec.fault", "exactly one"},
		{"no fault", func(s map[string]any) { s["fault"] = map[string]any{} }, "spec.fault", "exactly one"},
		{"negative duration", func(s map[string]any) { s["duration"] = "-5m" }, "spec.duration", "should match"},
		{"zero duration", func(s map[string]any) { s["duration"] = "0s" }, "spec.duration", "must be positive"},
		{"delay without latency", func(s map[string]any) {
			delete(s["fault"].(map[string]any)["network"].(map[string]any), "latency")
		}, "spec.fault.network.latency", "delay needs latency"},
		{"probe with two backends", func(s map[string]any) {
			s["probes"].([]any)[0].(map[string]any)["http"] = map[string]any{"url": "http://checkout/healthz"}
		}, "spec.probes[0]", "exactly one of prometheus or http"},
		{"wave maxParallel 0", func(s map[string]any) {
			s["placement"].(map[string]any)["waves"].([]any)[1].(map[string]any)["maxParallel"] = 0
		}, "spec.placement.waves[1].maxParallel", "greater than or equal to 1"},
		{"bad cron", func(s map[string]any) { s["schedule"] = "every day" }, "spec.schedule", "cron"},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			u := &unstructured.Unstructured{}
			if err := yaml.Unmarshal(raw, &u.Object); err != nil {
				t.Fatal(err)
			}
			u.SetName("bad-" + strings.ReplaceAll(strings.ToLower(tc.name), " ", "-"))
			tc.edit(u.Object["spec"].(map[string]any))
			err := hub.Client.Create(ctx, u)
			if err == nil {
				t.Fatalf("case %d: the API server accepted it", i)
			}
			msg := err.Error()
			t.Log(msg)
			if !strings.Contains(msg, tc.wantField) || !strings.Contains(msg, tc.wantText) {
				t.Errorf("error does not name %q with %q:\n%s", tc.wantField, tc.wantText, msg)
			}
		})
	}
}
