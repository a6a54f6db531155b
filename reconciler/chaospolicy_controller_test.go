package reconciler_test

import (
	"strings"
	"testing"

	"github.com/fluxcd/pkg/apis/meta"
	"github.com/fluxcd/pkg/runtime/conditions"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/faultline-dev/faultline/crds/v1alpha1"
	"github.com/faultline-dev/faultline/policy"
	"github.com/faultline-dev/faultline/reconciler"
)

const brokenRego = `package team

deny contains msg if {
	msg := sprintf("no %s", [input.experiment.metadata.name]
}
`

const fixedRego = `package team

deny contains {"rule": "no-friday", "field": "spec.schedule", "message": "not on Fridays"} if {
	time.weekday(input.now.ns) == "Friday"
}
`

func policyReady(t *testing.T, h *policyHub, name string) func() (bool, string) {
	return func() (bool, string) {
		p := &v1alpha1.ChaosPolicy{}
		if err := h.admin.Get(t.Context(), client.ObjectKey{Name: name}, p); err != nil {
			return false, err.Error()
		}
		ok := conditions.IsTrue(p, meta.ReadyCondition) && p.Status.ObservedGeneration == p.Generation && p.Status.Digest != ""
		return ok, condString(conditions.Get(p, meta.ReadyCondition))
	}
}

func testChaosPolicySyntaxErrorNamesModuleAndLine(t *testing.T, h *policyHub) {
	ctx := t.Context()
	pol := &v1alpha1.ChaosPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "team"},
		Spec: v1alpha1.ChaosPolicySpec{
			Scope:   &v1alpha1.PolicyScope{Namespaces: []string{"team-b"}},
			Modules: []v1alpha1.PolicyModule{{Name: "team.rego", Rego: brokenRego}},
		},
	}
	polCreate(t, h.admin, pol)

	polEventually(t, "Ready=False naming the module and line", func() (bool, string) {
		got := &v1alpha1.ChaosPolicy{}
		if err := h.admin.Get(ctx, client.ObjectKeyFromObject(pol), got); err != nil {
			return false, err.Error()
		}
		c := conditions.Get(got, meta.ReadyCondition)
		ok := c != nil && c.Status == metav1.ConditionFalse && c.Reason == reconciler.ReasonPolicyCompileFailed &&
			strings.Contains(c.Message, "module team.rego line 5") &&
			conditions.IsStalled(got) && got.Status.ObservedGeneration == got.Generation
		return ok, condString(c)
	})
	// Meanwhile it fails closed: everything in its scope is denied.
	in := &policy.Input{Experiment: policy.ExperimentInput{Metadata: policy.MetadataInput{Namespace: "team-b", Name: "x"}}}
	d, err := h.policies.Set().Decide(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	if d.Allowed || len(d.Denials) != 1 || d.Denials[0].Rule != policy.RuleCompileFailed {
		t.Fatalf("decision while broken = %+v", d)
	}

	got := &v1alpha1.ChaosPolicy{}
	if err := h.admin.Get(ctx, client.ObjectKeyFromObject(pol), got); err != nil {
		t.Fatal(err)
	}
	got.Spec.Modules[0].Rego = fixedRego
	if err := h.admin.Update(ctx, got); err != nil {
		t.Fatal(err)
	}
	polEventually(t, "Ready=True once fixed", policyReady(t, h, "team"))
	if p, ok := h.policies.Get("team"); !ok || p.Broken() != nil {
		t.Fatal("the fixed policy is not the one deciding")
	}
}

func testChaosPolicyModuleFromConfigMap(t *testing.T, h *policyHub) {
	ctx := t.Context()
	polCreate(t, h.admin, &v1alpha1.ChaosPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "shared"},
		Spec: v1alpha1.ChaosPolicySpec{
			Scope:   &v1alpha1.PolicyScope{Namespaces: []string{"team-c"}},
			Modules: []v1alpha1.PolicyModule{{Name: "team.rego", ConfigMapRef: &v1alpha1.ConfigMapKeyReference{Name: "team-policy", Key: "team.rego"}}},
			Library: []string{"max-duration"},
		},
	})
	polEventually(t, "Ready=False while the ConfigMap is missing", func() (bool, string) {
		got := &v1alpha1.ChaosPolicy{}
		if err := h.admin.Get(ctx, client.ObjectKey{Name: "shared"}, got); err != nil {
			return false, err.Error()
		}
		c := conditions.Get(got, meta.ReadyCondition)
		return c != nil && c.Reason == reconciler.ReasonPolicyConfigMapMissing && strings.Contains(c.Message, "faultline-system/team-policy"), condString(c)
	})
	polCreate(t, h.admin, &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Namespace: "faultline-system", Name: "team-policy"},
		Data:       map[string]string{"team.rego": fixedRego},
	})
	polEventually(t, "Ready=True once the ConfigMap exists", policyReady(t, h, "shared"))
}

// The API server itself refuses a policy with nothing to evaluate.
func testChaosPolicyNeedsModulesOrLibrary(t *testing.T, h *policyHub) {
	err := h.admin.Create(t.Context(), &v1alpha1.ChaosPolicy{ObjectMeta: metav1.ObjectMeta{Name: "empty"}})
	if err == nil || !strings.Contains(err.Error(), "set modules, library or both") {
		t.Fatalf("err = %v", err)
	}
}
