package reconciler_test

import (
	"context"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fluxcd/pkg/apis/meta"
	"github.com/fluxcd/pkg/runtime/conditions"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/webhook"

	"github.com/faultline-dev/faultline/crds"
	v1alpha1 "github.com/faultline-dev/faultline/crds/v1alpha1"
	"github.com/faultline-dev/faultline/federation"
	"github.com/faultline-dev/faultline/internal/testground"
	"github.com/faultline-dev/faultline/internal/testground/cluster"
	"github.com/faultline-dev/faultline/policy"
	"github.com/faultline-dev/faultline/reconciler"
)

// policyHub is a real API server with the Approval webhook installed and
// served, and a manager running the ChaosPolicy, Approval and Experiment
// reconcilers, the last with the PolicyAdmitter.
type policyHub struct {
	admin    client.Client
	cfg      *rest.Config
	policies *policy.Registry
}

func startPolicyHub(t *testing.T) *policyHub {
	t.Helper()
	if testground.UnitOnly() {
		t.Skip("needs a control plane; skipped in unit-only runs")
	}
	assets, err := cluster.AssetsDir()
	if err != nil {
		t.Fatal(err)
	}
	defs, err := crds.CustomResourceDefinitions()
	if err != nil {
		t.Fatal(err)
	}
	scheme := cluster.Scheme()
	path := strings.TrimPrefix(reconciler.ApprovalWebhookPath, "/")
	env := &envtest.Environment{
		BinaryAssetsDirectory: assets,
		Scheme:                scheme,
		CRDInstallOptions:     envtest.CRDInstallOptions{CRDs: defs, Scheme: scheme},
		WebhookInstallOptions: envtest.WebhookInstallOptions{
			MutatingWebhooks: []*admissionregistrationv1.MutatingWebhookConfiguration{
				reconciler.ApprovalWebhookConfiguration("faultline-approvals", admissionregistrationv1.WebhookClientConfig{
					// envtest rewrites the service into a URL of its local server.
					Service: &admissionregistrationv1.ServiceReference{Namespace: "faultline-system", Name: "faultline-hub", Path: &path},
				}),
			},
		},
	}
	cfg, err := env.Start()
	if err != nil {
		_ = env.Stop()
		t.Fatalf("starting the API server: %v", err)
	}
	t.Cleanup(func() {
		if err := env.Stop(); err != nil {
			t.Errorf("stopping the API server: %v", err)
		}
	})
	admin, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}

	ctrl.SetLogger(zap.New(zap.WriteTo(io.Discard)))
	wh := env.WebhookInstallOptions
	skip := true
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                 scheme,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Controller:             config.Controller{SkipNameValidation: &skip},
		WebhookServer:          webhook.NewServer(webhook.Options{Host: wh.LocalServingHost, Port: wh.LocalServingPort, CertDir: wh.LocalServingCertDir}),
	})
	if err != nil {
		t.Fatal(err)
	}
	mgr.GetWebhookServer().Register(reconciler.ApprovalWebhookPath, reconciler.NewApprovalWebhook(scheme))
	h := &policyHub{admin: admin, cfg: cfg, policies: policy.NewRegistry()}
	if err := (&reconciler.ChaosPolicyReconciler{Client: mgr.GetClient(), Policies: h.policies, Namespace: "faultline-system"}).SetupWithManager(mgr); err != nil {
		t.Fatal(err)
	}
	if err := (&reconciler.ApprovalReconciler{Client: mgr.GetClient()}).SetupWithManager(mgr); err != nil {
		t.Fatal(err)
	}
	cache := federation.NewClusterCache(scheme, ctrl.Log.WithName("clustercache"), federation.ClusterCacheOptions{})
	admitter := &reconciler.PolicyAdmitter{Client: mgr.GetClient(), Policies: h.policies}
	if err := (&reconciler.ExperimentReconciler{Client: mgr.GetClient(), Clusters: cache, Admitter: admitter}).SetupWithManager(mgr); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("manager: %v", err)
		}
	})

	// Approvers: members of group sre may create Approvals.
	for _, ns := range []string{"faultline-system", "team"} {
		polCreate(t, admin, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
	}
	polCreate(t, admin, &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "faultline-approver"}, Rules: []rbacv1.PolicyRule{{
		APIGroups: []string{"faultline.dev"}, Resources: []string{"approvals"}, Verbs: []string{"create", "get", "list", "update", "patch"},
	}}})
	polCreate(t, admin, &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "faultline-approver"},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "faultline-approver"},
		Subjects:   []rbacv1.Subject{{Kind: "Group", APIGroup: "rbac.authorization.k8s.io", Name: "sre"}, {Kind: "Group", APIGroup: "rbac.authorization.k8s.io", Name: "dev"}},
	})
	// The webhook server starts with the manager; wait until it answers.
	polEventually(t, "the Approval webhook to serve", func() (bool, string) {
		a := approvalFor("probe", "0123456")
		err := admin.Create(ctx, a, client.DryRunAll)
		return err == nil, errString(err)
	})
	return h
}

// as returns a client authenticated as user in groups, through impersonation.
func (h *policyHub) as(t *testing.T, user string, groups ...string) client.Client {
	t.Helper()
	cfg := rest.CopyConfig(h.cfg)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: user, Groups: groups}
	c, err := client.New(cfg, client.Options{Scheme: cluster.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestPolicyHub runs the hub-side policy and approval tests against one
// API server, each subtest in its own objects and policy scope.
func TestPolicyHub(t *testing.T) {
	h := startPolicyHub(t)
	t.Run("approval webhook records the authenticated approver", func(t *testing.T) {
		testApprovalWebhookRecordsTheAuthenticatedApprover(t, h)
	})
	t.Run("prod experiment waits for an approval of its current revision", func(t *testing.T) {
		testProdExperimentWaitsForApprovalOfItsCurrentRevision(t, h)
	})
	t.Run("ChaosPolicy syntax error names module and line", func(t *testing.T) {
		testChaosPolicySyntaxErrorNamesModuleAndLine(t, h)
	})
	t.Run("ChaosPolicy module from a ConfigMap", func(t *testing.T) {
		testChaosPolicyModuleFromConfigMap(t, h)
	})
	t.Run("ChaosPolicy needs modules or library", func(t *testing.T) {
		testChaosPolicyNeedsModulesOrLibrary(t, h)
	})
}

// The admitter's input comes from the hub's objects: the experiment's source
// and the experiments holding faults now. No controller runs here, so that
// the statuses written stay as written.
func TestPolicyAdmitterInput(t *testing.T) {
	hub := cluster.Start(t, "hub")[0]
	h := &policyHub{admin: hub.Client, policies: policy.NewRegistry()}
	ctx := t.Context()
	polCreate(t, h.admin, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team-d"}})
	polCreate(t, h.admin, &v1alpha1.ChaosSource{
		ObjectMeta: metav1.ObjectMeta{Namespace: "team-d", Name: "chaos", Labels: map[string]string{"tier": "gold"}},
		Spec:       v1alpha1.ChaosSourceSpec{URL: "https://git.example/team-d/chaos.git", Interval: metav1.Duration{Duration: time.Hour}, Suspend: true},
	})
	exp := &v1alpha1.Experiment{ObjectMeta: metav1.ObjectMeta{Namespace: "team-d", Name: "next",
		Labels:      map[string]string{v1alpha1.SourceLabel: "chaos"},
		Annotations: map[string]string{v1alpha1.RevisionAnnotation: "main@sha1:3333333333333333333333333333333333333333"}}}
	admitter := &reconciler.PolicyAdmitter{Client: h.admin, Policies: h.policies,
		Now: func() time.Time { return time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC) }}
	waves := []federation.WaveTargets{{Name: "wave-1", Clusters: []federation.Member{{Name: "prod-eu", Kind: federation.KindMemberCluster, Labels: map[string]string{"env": "prod"}}}}}
	before, err := admitter.Input(ctx, exp, waves)
	if err != nil {
		t.Fatal(err)
	}

	// Another experiment starts holding faults on prod-eu and db-1.
	running := &v1alpha1.Experiment{
		ObjectMeta: metav1.ObjectMeta{Namespace: "team-d", Name: "running"},
		Spec:       v1alpha1.ExperimentSpec{Fault: v1alpha1.FaultSpec{Pod: &v1alpha1.PodFault{Action: v1alpha1.PodKill}}},
	}
	polCreate(t, h.admin, running)
	running.Status.Phase = v1alpha1.PhaseRunning
	running.Status.Targets = []v1alpha1.TargetSummary{{Kind: federation.KindMemberCluster, Name: "prod-eu"}, {Kind: federation.KindHostAgent, Name: "db-1"}}
	if err := h.admin.Status().Update(ctx, running); err != nil {
		t.Fatal(err)
	}
	in, err := admitter.Input(ctx, exp, waves)
	if err != nil {
		t.Fatal(err)
	}
	if in.Source.URL != "https://git.example/team-d/chaos.git" || in.Source.Labels["tier"] != "gold" || in.Source.Revision != exp.Annotations[v1alpha1.RevisionAnnotation] {
		t.Errorf("source = %+v", in.Source)
	}
	if in.ActiveExperiments.Clusters["prod-eu"] != before.ActiveExperiments.Clusters["prod-eu"]+1 || in.ActiveExperiments.Agents["db-1"] != before.ActiveExperiments.Agents["db-1"]+1 {
		t.Errorf("active before %+v, after %+v", before.ActiveExperiments, in.ActiveExperiments)
	}
	if len(in.Placement.Targets) != 1 || in.Placement.Targets[0].Wave != "wave-1" || in.Now.Time != "2026-11-26T12:00:00Z" {
		t.Errorf("input = %+v", in)
	}
}

func approvalFor(experiment, revision string) *v1alpha1.Approval {
	return &v1alpha1.Approval{
		ObjectMeta: metav1.ObjectMeta{Namespace: "team", GenerateName: experiment + "-"},
		Spec:       v1alpha1.ApprovalSpec{Experiment: experiment, Revision: revision},
	}
}

func testApprovalWebhookRecordsTheAuthenticatedApprover(t *testing.T, h *policyHub) {
	ctx := t.Context()

	a := approvalFor("cart", "0123456")
	// What the user types is not what counts.
	a.Spec.Approver = &v1alpha1.UserIdentity{Username: "the-cto", Groups: []string{"sre"}}
	if err := h.as(t, "mallory", "dev").Create(ctx, a); err != nil {
		t.Fatal(err)
	}
	got := &v1alpha1.Approval{}
	if err := h.admin.Get(ctx, client.ObjectKeyFromObject(a), got); err != nil {
		t.Fatal(err)
	}
	if ap := got.Spec.Approver; ap == nil || ap.Username != "mallory" || !slices.Contains(ap.Groups, "dev") || slices.Contains(ap.Groups, "sre") {
		t.Fatalf("approver = %+v, want mallory of group dev", got.Spec.Approver)
	}

	// Nobody rewrites it afterwards, not even an approver of the right group.
	got.Spec.Approver = &v1alpha1.UserIdentity{Username: "alice", Groups: []string{"sre"}}
	_ = h.as(t, "alice", "sre").Update(ctx, got)
	again := &v1alpha1.Approval{}
	if err := h.admin.Get(ctx, client.ObjectKeyFromObject(a), again); err != nil {
		t.Fatal(err)
	}
	if again.Spec.Approver.Username != "mallory" {
		t.Fatalf("approver rewritten to %+v", again.Spec.Approver)
	}
}

func testProdExperimentWaitsForApprovalOfItsCurrentRevision(t *testing.T, h *policyHub) {
	ctx := t.Context()
	const (
		oldRev = "main@sha1:1111111111111111111111111111111111111111"
		newRev = "main@sha1:2222222222222222222222222222222222222222"
	)
	polCreate(t, h.admin, &v1alpha1.ChaosPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "platform"},
		Spec: v1alpha1.ChaosPolicySpec{
			Scope:   &v1alpha1.PolicyScope{Namespaces: []string{"team"}},
			Library: []string{"approval-required", "protected-namespaces", "prod-probe"},
			Data:    &apiextensionsv1.JSON{Raw: []byte(`{"approvalRequired": {"group": "sre"}}`)},
		},
	})
	polEventually(t, "the policy to compile", func() (bool, string) {
		p, ok := h.policies.Get("platform")
		return ok && p.Broken() == nil, ""
	})
	polCreate(t, h.admin, &v1alpha1.MemberCluster{
		ObjectMeta: metav1.ObjectMeta{Name: "prod-eu", Labels: map[string]string{"env": "prod"}},
		Spec:       v1alpha1.MemberClusterSpec{KubeConfigSecretRef: v1alpha1.SecretKeyReference{Namespace: "faultline-system", Name: "prod-eu"}},
	})
	exp := &v1alpha1.Experiment{
		ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: "checkout", Annotations: map[string]string{v1alpha1.RevisionAnnotation: newRev}},
		Spec: v1alpha1.ExperimentSpec{
			Placement: &v1alpha1.Placement{Clusters: &metav1.LabelSelector{MatchLabels: map[string]string{"env": "prod"}}},
			Selector:  v1alpha1.PodSelector{Namespaces: []string{"shop"}},
			Fault:     v1alpha1.FaultSpec{Pod: &v1alpha1.PodFault{Action: v1alpha1.PodKill}},
			Probes: []v1alpha1.Probe{{Name: "up", Mode: v1alpha1.ProbeDuring,
				HTTP: &v1alpha1.HTTPProbe{URL: "http://checkout.shop.svc/healthz"}}},
			AbortOnBreach: true,
		},
	}
	polCreate(t, h.admin, exp)
	waiting := func() (bool, string) {
		got := &v1alpha1.Experiment{}
		if err := h.admin.Get(ctx, client.ObjectKeyFromObject(exp), got); err != nil {
			return false, err.Error()
		}
		c := conditions.Get(got, v1alpha1.AdmittedCondition)
		return got.Status.Phase == v1alpha1.PhaseAwaitingApproval && c != nil && strings.Contains(c.Message, "group sre"), string(got.Status.Phase) + " " + condString(c)
	}
	polEventually(t, "the experiment to wait for an sre approval", waiting)

	// An approval of the previous revision does not release it, and says so.
	stale := approvalFor("checkout", strings.TrimPrefix(oldRev, "main@sha1:"))
	if err := h.as(t, "alice", "sre").Create(ctx, stale); err != nil {
		t.Fatal(err)
	}
	polEventually(t, "the stale approval to be marked superseded", func() (bool, string) {
		got := &v1alpha1.Approval{}
		if err := h.admin.Get(ctx, client.ObjectKeyFromObject(stale), got); err != nil {
			return false, err.Error()
		}
		c := conditions.Get(got, meta.ReadyCondition)
		return c != nil && c.Reason == reconciler.ReasonApprovalSuperseded, condString(c)
	})
	// The Approval woke the experiment; give it time to (not) move.
	time.Sleep(2 * time.Second)
	if ok, state := waiting(); !ok {
		t.Fatalf("an approval of the previous revision released the experiment: %s", state)
	}

	// An approval of the current revision by someone outside the group does not either.
	if err := h.as(t, "mallory", "dev").Create(ctx, approvalFor("checkout", newRev)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second)
	if ok, state := waiting(); !ok {
		t.Fatalf("an approval by a non-member released the experiment: %s", state)
	}

	current := approvalFor("checkout", strings.TrimPrefix(newRev, "main@sha1:")[:7])
	if err := h.as(t, "alice", "sre").Create(ctx, current); err != nil {
		t.Fatal(err)
	}
	polEventually(t, "the experiment to be admitted", func() (bool, string) {
		got := &v1alpha1.Experiment{}
		if err := h.admin.Get(ctx, client.ObjectKeyFromObject(exp), got); err != nil {
			return false, err.Error()
		}
		c := conditions.Get(got, v1alpha1.AdmittedCondition)
		return conditions.IsTrue(got, v1alpha1.AdmittedCondition), string(got.Status.Phase) + " " + condString(c)
	})
	// The Approval's own status comes from another controller, which may
	// finish after the Experiment's.
	polEventually(t, "the current approval to be Ready", func() (bool, string) {
		got := &v1alpha1.Approval{}
		if err := h.admin.Get(ctx, client.ObjectKeyFromObject(current), got); err != nil {
			return false, err.Error()
		}
		return conditions.IsTrue(got, meta.ReadyCondition), condString(conditions.Get(got, meta.ReadyCondition))
	})
}

func polCreate(t *testing.T, c client.Client, obj client.Object) {
	t.Helper()
	if err := c.Create(context.Background(), obj); err != nil {
		t.Fatalf("creating %T %s: %v", obj, obj.GetName(), err)
	}
}

func polEventually(t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	testground.WaitFor(t, 60*time.Second, what, cond)
}

func condString(c *metav1.Condition) string {
	if c == nil {
		return "<no condition>"
	}
	return string(c.Status) + "/" + c.Reason + ": " + c.Message
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
