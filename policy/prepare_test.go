package policy_test

import (
	"testing"

	"github.com/faultline-dev/faultline/policy"
)

// Rules that partial evaluation leaves behind are computed at compile time
// only when no branch can depend on the input: here an else branch reads
// the experiment's name, so each decision must still see its own name
// (evaluated without an input, the rule would say "nameless").
func TestInputDependentRulesAreNotFolded(t *testing.T) {
	src := `package team.naming

name := data.parameters.fixed if data.parameters.fixed
else := input.experiment.metadata.name if input.experiment.metadata.name
else := "nameless"

deny contains name if true
`
	for _, tc := range []struct {
		params string
		want   map[string]string // experiment name -> denial message
	}{
		{`{}`, map[string]string{"a": "a", "b": "b"}},
		{`{"fixed": "x"}`, map[string]string{"a": "x", "b": "x"}},
	} {
		p, err := policy.Compile(t.Context(), policy.Spec{Name: "team", Modules: []policy.Module{{Name: "n.rego", Source: src}}, Parameters: []byte(tc.params)})
		if err != nil {
			t.Fatal(err)
		}
		for name, want := range tc.want {
			in := baseline()
			in.Experiment.Metadata.Name = name
			d, err := p.Evaluate(t.Context(), in)
			if err != nil {
				t.Fatal(err)
			}
			if len(d.Denials) != 1 || d.Denials[0].Message != want {
				t.Errorf("params %s, experiment %s: denials %v, want one saying %q", tc.params, name, d.Denials, want)
			}
		}
	}
}

// A multi-value rule is the union of its bodies: two bodies producing the
// same denial make one denial, as OPA's own rule evaluation does.
func TestRuleBodiesUnite(t *testing.T) {
	p, err := policy.Compile(t.Context(), policy.Spec{Name: "team", Modules: []policy.Module{{Name: "u.rego", Source: `package team.twice

deny contains {"field": "metadata", "message": "same"} if input.experiment.metadata.name == "checkout-latency"

deny contains {"field": "metadata", "message": "same"} if input.experiment.metadata.namespace == "team-shop"

deny contains {"field": "metadata", "message": "other"} if input.experiment.metadata.namespace == "nowhere"
`}}})
	if err != nil {
		t.Fatal(err)
	}
	d, err := p.Evaluate(t.Context(), baseline())
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Denials) != 1 || d.Denials[0].Message != "same" || d.Denials[0].Rule != "twice" {
		t.Fatalf("denials = %v, want one \"same\" by rule twice", d.Denials)
	}
}
