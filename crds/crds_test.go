package crds

import (
	"bytes"
	"reflect"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/runtime"

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
	scheme := runtime.NewScheme()
	if err := v1alpha1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	kinds := 0
	ours := reflect.TypeFor[v1alpha1.Experiment]().PkgPath()
	for gvk, typ := range scheme.AllKnownTypes() {
		// metav1.AddToGroupVersion also registers meta kinds (WatchEvent,
		// options) in our group; only types of our package need CRDs.
		if typ.PkgPath() != ours || strings.HasSuffix(gvk.Kind, "List") {
			continue
		}
		kinds++
		if !got[gvk.Kind] {
			t.Errorf("kind %s is registered in the scheme but has no CRD", gvk.Kind)
		}
	}
	if kinds != 7 || len(crds) != 7 {
		t.Errorf("%d kinds in the scheme and %d CRDs; DESIGN.md names 7", kinds, len(crds))
	}
	m, err := Manifests()
	if err != nil {
		t.Fatal(err)
	}
	if n := bytes.Count(m, []byte("kind: CustomResourceDefinition")); n != len(crds) {
		t.Errorf("manifest stream has %d CRDs, want %d", n, len(crds))
	}
}
