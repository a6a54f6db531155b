package crds

import (
	"bytes"
	"testing"

	v1alpha1 "github.com/faultline-dev/faultline/crds/v1alpha1"
)

// Every kind registered in the Go scheme must have a generated CRD, or the
// API server would refuse objects the binaries happily build.
func TestEveryKindHasACRD(t *testing.T) {
	crds, err := CustomResourceDefinitions()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, c := range crds {
		if c.Spec.Group != v1alpha1.GroupVersion.Group {
			t.Errorf("%s: group %q", c.Name, c.Spec.Group)
		}
		if len(c.Spec.Versions) != 1 || c.Spec.Versions[0].Subresources == nil || c.Spec.Versions[0].Subresources.Status == nil {
			t.Errorf("%s: want one version with a status subresource", c.Name)
		}
		got[c.Spec.Names.Kind] = true
	}
	for _, kind := range []string{"ChaosSource", "ChaosPolicy", "MemberCluster", "HostAgent", "Approval", "Experiment", "Injection"} {
		if !got[kind] {
			t.Errorf("no CRD for kind %s", kind)
		}
	}
	m, err := Manifests()
	if err != nil {
		t.Fatal(err)
	}
	if n := bytes.Count(m, []byte("kind: CustomResourceDefinition")); n != len(crds) {
		t.Errorf("manifest stream has %d CRDs, want %d", n, len(crds))
	}
}
