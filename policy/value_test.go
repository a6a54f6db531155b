package policy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1alpha1 "github.com/faultline-dev/faultline/crds/v1alpha1"
)

// jsonToValue must agree with OPA's own conversion on everything
// encoding/json writes, and refuse what is not JSON.
func TestJSONToValueAgreesWithOPA(t *testing.T) {
	docs := []string{
		`{}`, `[]`, `null`, `true`, `"x"`, `0`, `-1.5e3`, `12345678901234567890`,
		`{"a": [1, 2.5, {"b": null, "c": false}], "d": "", "e": {}, "f": []}`,
		`"quote \" backslash \\ newline \n tab \t unicode \u00e9 \u2028 html \u003c\u003e\u0026"`,
		` { "spaced" : [ 1 , 2 ] } `,
	}
	in := Input{Experiment: ExperimentInput{FaultKind: "network/delay", Metadata: MetadataInput{Name: "a<b>&\"c\"", Labels: map[string]string{"é": "ü"}}}}
	raw, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	docs = append(docs, string(raw))
	for _, doc := range docs {
		want, err := ast.ValueFromReader(bytes.NewReader([]byte(doc)))
		if err != nil {
			t.Fatalf("OPA: %s: %v", doc, err)
		}
		got, err := jsonToValue([]byte(doc))
		if err != nil {
			t.Fatalf("%s: %v", doc, err)
		}
		if got.Compare(want) != 0 {
			t.Errorf("%s:\n got %v\nwant %v", doc, got, want)
		}
	}
	for _, bad := range []string{``, `{`, `[1,]`, `{"a" 1}`, `"open`, `tru`, `1x`, `{} {}`, `{"a":1,}`} {
		if _, err := jsonToValue([]byte(bad)); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

// toValue must give exactly what the JSON route gives, for every shape the
// input types hold: custom marshalers (durations, quantities, raw JSON),
// omitempty, nil and empty collections, floats, invalid UTF-8.
func TestToValueAgreesWithJSON(t *testing.T) {
	pid := int32(42)
	size := resource.MustParse("256Mi")
	inputs := []*Input{
		{},
		{
			Experiment: ExperimentInput{
				Metadata: MetadataInput{Name: "a<b>&\"c\"", Namespace: "ns", Labels: map[string]string{"é": "ü", "bad": "x\xffy"}, Annotations: map[string]string{}},
				Spec: v1alpha1.ExperimentSpec{
					Placement: &v1alpha1.Placement{
						Clusters: &metav1.LabelSelector{MatchLabels: map[string]string{"env": "prod"}, MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "k", Operator: "In", Values: []string{"a", "b"}}}},
						Agents:   &metav1.LabelSelector{},
						Waves:    []v1alpha1.Wave{{Name: "w1"}},
					},
					Selector: v1alpha1.PodSelector{Namespaces: []string{"a", "b"}, LabelSelectors: map[string]string{"app": "x"}},
					Mode:     v1alpha1.ModeFixedPercent, Value: "25",
					Duration: &metav1.Duration{Duration: 90 * time.Second},
					Schedule: "@hourly", HistoryLimit: 3,
					Fault: v1alpha1.FaultSpec{
						Network: &v1alpha1.NetworkFault{Action: v1alpha1.NetworkDelay, Latency: &metav1.Duration{Duration: time.Millisecond}},
						Stress:  &v1alpha1.StressFault{Action: v1alpha1.StressMemory, Size: &size},
						Process: &v1alpha1.ProcessFault{Action: v1alpha1.ProcessKill, Pid: &pid, Signal: -1},
						Disk:    &v1alpha1.DiskFault{Action: v1alpha1.DiskFill, Path: "/x", Size: size},
						Plugin:  &v1alpha1.PluginFault{Config: &apiextensionsv1.JSON{Raw: []byte(`{"a":[1,2.5e-9,"x"],"b":null}`)}},
					},
					Probes:        []v1alpha1.Probe{{Name: "p", Mode: v1alpha1.ProbeDuring}},
					AbortOnBreach: true,
				},
				FaultKind: "network/delay",
			},
			Source:            SourceInput{URL: "u", Revision: "r", Labels: map[string]string{}},
			Placement:         PlacementInput{Targets: []TargetInput{{Kind: KindHostAgent, Name: "h", Labels: nil}, {Kind: KindMemberCluster, Name: "c", Labels: map[string]string{"env": "prod"}, Wave: "w1"}}},
			BlastRadius:       []BlastRadius{{Kind: "MemberCluster", Name: "c", Selected: 3, Matching: 9, Percent: 100.0 / 3}, {Percent: 1e-7}, {Percent: 1e22}, {Percent: -0.5}},
			Now:               NewNow(time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)),
			Approvals:         []ApprovalInput{{Name: "a", Approver: v1alpha1.UserIdentity{Username: "u", Groups: []string{"sre"}, UID: "1"}, Revision: "r", Current: true}},
			ActiveExperiments: ActiveExperiments{Clusters: map[string]int{"c": 2}, Agents: map[string]int{}},
		},
	}
	for i, in := range inputs {
		if msg := valueDiffersFromJSON(t, in); msg != "" {
			t.Errorf("input %d:\n%s", i, msg)
		}
	}
}

// valueDiffersFromJSON converts in with Input.Value and compares it with
// what decoding its JSON gives; it returns how they differ ("" when equal).
func valueDiffersFromJSON(t *testing.T, in *Input) string {
	t.Helper()
	raw, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	want, err := jsonToValue(raw)
	if err != nil {
		t.Fatal(err)
	}
	got, err := in.Value()
	if err != nil {
		t.Fatal(err)
	}
	if got.Compare(want) != 0 || got.String() != want.String() {
		return fmt.Sprintf(" got %v\nwant %v", got, want)
	}
	return ""
}
