package federation_test

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1alpha1 "github.com/faultline-dev/faultline/crds/v1alpha1"
	"github.com/faultline-dev/faultline/federation"
)

var fleet = []federation.Member{
	{Name: "prod-eu", Labels: map[string]string{"env": "prod", "region": "eu"}},
	{Name: "prod-us", Kind: federation.KindMemberCluster, Labels: map[string]string{"env": "prod", "region": "us"}},
	{Name: "staging", Labels: map[string]string{"env": "staging"}},
	{Name: "db-1", Kind: federation.KindHostAgent, Labels: map[string]string{"env": "prod", "role": "db"}},
	{Name: "ci-1", Kind: federation.KindHostAgent, Labels: map[string]string{"env": "ci"}},
}

func sel(kv ...string) *metav1.LabelSelector {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return &metav1.LabelSelector{MatchLabels: m}
}

// names renders waves as "wave: clusters | agents; ...", a compact form to compare.
func names(ws []federation.WaveTargets) string {
	var parts []string
	for _, w := range ws {
		var c, a []string
		for _, m := range w.Clusters {
			c = append(c, m.Name)
		}
		for _, m := range w.Agents {
			a = append(a, m.Name)
		}
		parts = append(parts, w.Name+": "+strings.Join(c, ",")+" | "+strings.Join(a, ","))
	}
	return strings.Join(parts, "; ")
}

func TestResolvePlacement(t *testing.T) {
	cases := []struct {
		name string
		p    *v1alpha1.Placement
		want string
	}{
		{"nil placement", nil, ""},
		{"nil selectors select nothing", &v1alpha1.Placement{}, ""},
		{"empty selector selects every cluster", &v1alpha1.Placement{Clusters: sel()}, "wave-1: prod-eu,prod-us,staging | "},
		{"labels", &v1alpha1.Placement{Clusters: sel("env", "prod"), Agents: sel("env", "prod")}, "wave-1: prod-eu,prod-us | db-1"},
		{"expressions", &v1alpha1.Placement{Clusters: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
			{Key: "env", Operator: metav1.LabelSelectorOpNotIn, Values: []string{"prod"}},
		}}}, "wave-1: staging | "},
		{"no match", &v1alpha1.Placement{Clusters: sel("env", "dev")}, ""},
		{"waves narrow the placement and default their names", &v1alpha1.Placement{
			Clusters: sel("env", "prod"),
			Agents:   sel(),
			Waves: []v1alpha1.Wave{
				{Name: "canary", Clusters: sel("region", "eu")},
				{Clusters: sel(), Agents: sel("role", "db")},
			},
		}, "canary: prod-eu | ; wave-2: prod-us | db-1"},
		{"a wave cannot reach beyond the placement", &v1alpha1.Placement{
			Clusters: sel("env", "prod"),
			Waves:    []v1alpha1.Wave{{Clusters: sel("env", "staging")}},
		}, "wave-1:  | "},
		{"a member belongs to the first wave that selects it", &v1alpha1.Placement{
			Clusters: sel(),
			Waves:    []v1alpha1.Wave{{Clusters: sel("env", "prod")}, {Clusters: sel()}},
		}, "wave-1: prod-eu,prod-us | ; wave-2: staging | "},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := federation.ResolvePlacement(tc.p, fleet)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, names(got)); diff != "" {
				t.Errorf("waves (-want +got):\n%s", diff)
			}
		})
	}
}

func TestResolvePlacementKeepsWaveSettings(t *testing.T) {
	two := int32(2)
	got, err := federation.ResolvePlacement(&v1alpha1.Placement{Clusters: sel(), Waves: []v1alpha1.Wave{{Clusters: sel(), MaxParallel: &two}}}, fleet)
	if err != nil {
		t.Fatal(err)
	}
	if got[0].MaxParallel == nil || *got[0].MaxParallel != 2 || got[0].Clusters[0].Kind != federation.KindMemberCluster {
		t.Fatalf("got %+v", got[0])
	}
}

func TestResolvePlacementErrorsNameTheField(t *testing.T) {
	bad := &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "env", Operator: "Near"}}}
	cases := []struct {
		p     *v1alpha1.Placement
		field string
	}{
		{&v1alpha1.Placement{Clusters: bad}, "placement.clusters"},
		{&v1alpha1.Placement{Agents: bad}, "placement.agents"},
		{&v1alpha1.Placement{Clusters: sel(), Waves: []v1alpha1.Wave{{Clusters: sel()}, {Clusters: bad}}}, "placement.waves[1].clusters"},
	}
	for _, tc := range cases {
		_, err := federation.ResolvePlacement(tc.p, fleet)
		if err == nil || !strings.HasPrefix(err.Error(), tc.field+":") {
			t.Errorf("err = %v, want it to start with %s", err, tc.field)
		}
	}
	_, err := federation.ResolvePlacement(&v1alpha1.Placement{Clusters: sel()}, []federation.Member{{Name: "x", Kind: "Toaster"}})
	if err == nil || !strings.Contains(err.Error(), "Toaster") {
		t.Errorf("err = %v, want the unknown kind named", err)
	}
}
