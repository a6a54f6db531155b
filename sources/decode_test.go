package sources

import (
	"slices"
	"strings"
	"testing"
)

func TestBadYAMLIsLocatedByFileLineAndField(t *testing.T) {
	head := "apiVersion: faultline.dev/v1alpha1\nkind: Experiment\nmetadata:\n  name: bad\n"
	cases := []struct {
		name string
		spec string // from line 5 on
		want []string
	}{{
		name: "wrong indentation moves a field to the wrong parent",
		spec: `spec:
  fault:
    network:
      action: delay
    latency: 100ms
`,
		want: []string{
			"exp.yaml:7: spec.fault.network.latency: delay needs latency",
			"exp.yaml:9: spec.fault.latency: unknown field",
		},
	}, {
		name: "wrong indentation breaks the syntax",
		spec: `spec:
  fault:
    network:
      action: delay
     latency: 100ms
`,
		want: []string{"exp.yaml:9: invalid YAML: did not find expected key"},
	}, {
		name: "unknown field",
		spec: `spec:
  fault:
    network:
      action: delay
      latncy: 100ms
`,
		want: []string{
			"exp.yaml:7: spec.fault.network.latency: delay needs latency",
			"exp.yaml:9: spec.fault.network.latncy: unknown field",
		},
	}, {
		name: "invalid enum",
		spec: `spec:
  mode: sometimes
  fault:
    pod:
      action: kill
`,
		want: []string{`exp.yaml:6: spec.mode: Unsupported value: "sometimes": supported values: "one", "all", "fixed", "fixed-percent", "random-max-percent"`},
	}, {
		name: "duplicate key",
		spec: `spec:
  duration: 1m
  fault:
    pod:
      action: kill
  duration: 5m
`,
		want: []string{"exp.yaml:10: spec.duration: duplicate key (first defined at line 6)"},
	}, {
		name: "mode and value disagree (CEL rule)",
		spec: `spec:
  mode: fixed-percent
  value: "150"
  fault:
    pod:
      action: kill
`,
		want: []string{"exp.yaml:7: spec.value: with mode fixed-percent or random-max-percent, value must be a percentage from 1 to 100"},
	}, {
		name: "two faults in one experiment",
		spec: `spec:
  fault:
    pod:
      action: kill
    stress:
      action: cpu
`,
		want: []string{"exp.yaml:6: spec.fault: exactly one of pod, network, stress, process, disk, http, dns, host or plugin must be set"},
	}, {
		name: "missing fault",
		spec: "spec:\n  mode: all\n",
		want: []string{"exp.yaml:5: spec.fault: required"},
	}, {
		name: "wrong type",
		spec: `spec:
  fault:
    stress:
      action: cpu
      workers: many
`,
		want: []string{"exp.yaml:9: spec.fault.stress.workers: wrong type: got string, want integer"},
	}, {
		name: "type errors do not hide unknown fields in list items",
		spec: `spec:
  selector:
    labelSelectors:
      app.kubernetes.io/name: [x]
  fault:
    pod:
      action: kill
  probes:
    - name: ok
      http:
        url: http://x
    - name: second
      htp:
        url: http://x
`,
		want: []string{
			"exp.yaml:8: spec.selector.labelSelectors.app.kubernetes.io/name: wrong type: got array, want string",
			"exp.yaml:16: spec.probes[1]: set exactly one of prometheus or http",
			"exp.yaml:17: spec.probes[1].htp: unknown field",
		},
	}, {
		name: "malformed duration",
		spec: `spec:
  duration: soon
  fault:
    pod:
      action: kill
`,
		want: []string{`exp.yaml:6: spec.duration: Invalid value: "soon": should match '^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$'`},
	}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := writeTree(t, map[string]string{"exp.yaml": head + tc.spec})
			got := buildErrors(t, dir, BuildOptions{})
			if !slices.Equal(got, tc.want) {
				t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}
