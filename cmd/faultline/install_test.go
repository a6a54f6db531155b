package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/faultline-dev/faultline/internal/testground/cluster"
)

// install applies the CRDs with server-side apply and is idempotent: the
// second run changes nothing and still succeeds.
func TestInstallIsIdempotent(t *testing.T) {
	member := cluster.Start(t, "member")[0]
	// Start from a cluster without our CRDs, as a fresh member would be.
	crds := &apiextensionsv1.CustomResourceDefinitionList{}
	if err := member.Client.List(t.Context(), crds); err != nil {
		t.Fatal(err)
	}
	for i := range crds.Items {
		if err := member.Client.Delete(t.Context(), &crds.Items[i]); err != nil {
			t.Fatal(err)
		}
	}
	kc := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(kc, member.KubeConfig, 0o600); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		out := run(t, "install", "--kubeconfig", kc, "--timeout", "60s")
		if n := strings.Count(out, "established"); n != 7 {
			t.Fatalf("install reported %d established CRDs, want 7:\n%s", n, out)
		}
	}
	got := &apiextensionsv1.CustomResourceDefinition{}
	if err := member.Client.Get(t.Context(), client.ObjectKey{Name: "injections.faultline.dev"}, got); err != nil {
		t.Fatal(err)
	}
	if got.DeletionTimestamp != nil {
		t.Fatal("injections CRD is being deleted")
	}
}
