package policy_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1alpha1 "github.com/faultline-dev/faultline/crds/v1alpha1"
	"github.com/faultline-dev/faultline/policy"
)

// thursdayNoon is inside the office-hours window the test parameters set.
var thursdayNoon = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

const testRevision = "main@sha1:0123456789abcdef0123456789abcdef01234567"

// params sets every library rule so that the baseline input passes all.
const params = `{
  "maxDuration": {"max": "30m"},
  "maxBlastRadius": {"maxPercent": 50, "maxTargets": 10},
  "changeWindow": {"timeZone": "Europe/Berlin", "windows": [{"days": ["Mon","Tue","Wed","Thu","Fri"], "start": "09:00", "end": "17:00"}]},
  "freezePeriod": {"periods": [{"start": "2026-12-20T00:00:00Z", "end": "2027-01-04T00:00:00Z", "reason": "year end"}]},
  "approvalRequired": {"group": "sre", "count": 1},
  "maxConcurrent": {"perCluster": 2}
}`

func library(t testing.TB, enforcement v1alpha1.Enforcement) *policy.Policy {
	t.Helper()
	p, err := policy.Compile(context.Background(), policy.Spec{
		Name:        "platform",
		Library:     []string{policy.LibraryAll},
		Parameters:  []byte(params),
		Enforcement: enforcement,
	})
	if err != nil {
		t.Fatalf("compiling the library: %v", err)
	}
	return p
}

// baseline is a staging experiment every library rule admits.
func baseline() *policy.Input {
	d := metav1.Duration{Duration: 10 * time.Minute}
	exp := &v1alpha1.Experiment{
		ObjectMeta: metav1.ObjectMeta{Name: "checkout-latency", Namespace: "team-shop"},
		Spec: v1alpha1.ExperimentSpec{
			Selector: v1alpha1.PodSelector{Namespaces: []string{"shop"}, LabelSelectors: map[string]string{"app": "checkout"}},
			Mode:     v1alpha1.ModeFixedPercent,
			Value:    "25",
			Duration: &d,
			Fault: v1alpha1.FaultSpec{Network: &v1alpha1.NetworkFault{
				Action:  v1alpha1.NetworkDelay,
				Latency: &metav1.Duration{Duration: 100 * time.Millisecond},
			}},
			Probes:        []v1alpha1.Probe{{Name: "errors", Mode: v1alpha1.ProbeDuring}},
			AbortOnBreach: true,
		},
	}
	return &policy.Input{
		Experiment: policy.ExperimentFrom(exp),
		Source:     policy.SourceInput{Namespace: "team-shop", Name: "chaos", URL: "https://git.example/shop/chaos.git", Revision: testRevision},
		Placement: policy.PlacementInput{
			Targets: []policy.TargetInput{{Kind: policy.KindMemberCluster, Name: "staging-eu", Labels: map[string]string{"env": "staging"}}},
		},
		BlastRadius: []policy.BlastRadius{policy.EstimateBlastRadius(&exp.Spec, "MemberCluster", "staging-eu", 8)},
		Now:         policy.NewNow(thursdayNoon),
	}
}

func toProd(in *policy.Input) {
	in.Placement.Targets[0] = policy.TargetInput{Kind: policy.KindMemberCluster, Name: "prod-eu", Labels: map[string]string{"env": "prod"}}
	in.BlastRadius[0].Name = "prod-eu"
}

func TestBaselineIsAllowed(t *testing.T) {
	d, err := library(t, "").Evaluate(t.Context(), baseline())
	if err != nil {
		t.Fatal(err)
	}
	if !d.Allowed || len(d.Denials) > 0 || len(d.ApprovalsRequired) > 0 {
		t.Fatalf("baseline not allowed: %+v", d)
	}
}

// TestEveryLibraryRuleNamesRuleAndField breaks the baseline in one way per
// library rule and checks that exactly that rule denies, naming the field.
func TestEveryLibraryRuleNamesRuleAndField(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(*policy.Input)
		rule   string
		field  string
	}{
		{"kube-system selected", func(in *policy.Input) {
			in.Experiment.Spec.Selector.Namespaces = []string{"shop", "kube-system"}
		}, "protected-namespaces", "spec.selector.namespaces[1]"},
		{"too long", func(in *policy.Input) {
			in.Experiment.Spec.Duration = &metav1.Duration{Duration: 2 * time.Hour}
		}, "max-duration", "spec.duration"},
		{"too wide", func(in *policy.Input) {
			in.Experiment.Spec.Value = "80"
			in.BlastRadius[0] = policy.EstimateBlastRadius(&in.Experiment.Spec, "MemberCluster", "staging-eu", 8)
		}, "max-blast-radius", "spec.value"},
		{"reboot in prod", func(in *policy.Input) {
			in.Experiment.Spec.Fault = v1alpha1.FaultSpec{Host: &v1alpha1.HostFault{Action: v1alpha1.HostReboot}}
			in.Experiment.FaultKind = in.Experiment.Spec.Fault.Kind()
			in.Placement.Targets = append(in.Placement.Targets, policy.TargetInput{Kind: policy.KindHostAgent, Name: "db-1", Labels: map[string]string{"env": "prod"}})
		}, "fault-kinds", "spec.fault.host.action"},
		{"after hours in Berlin", func(in *policy.Input) {
			in.Now = policy.NewNow(time.Date(2026, 11, 26, 16, 30, 0, 0, time.UTC))
		}, "change-window", "spec.schedule"},
		{"year-end freeze", func(in *policy.Input) {
			in.Now = policy.NewNow(time.Date(2026, 12, 22, 12, 0, 0, 0, time.UTC))
		}, "freeze-period", "spec.schedule"},
		{"cluster busy", func(in *policy.Input) {
			in.ActiveExperiments.Clusters = map[string]int{"staging-eu": 2}
		}, "max-concurrent", "spec.placement"},
		{"prod without abortOnBreach", func(in *policy.Input) {
			toProd(in)
			in.Experiment.Spec.AbortOnBreach = false
			in.Approvals = []policy.ApprovalInput{{Name: "ok", Approver: v1alpha1.UserIdentity{Username: "alice", Groups: []string{"sre"}}, Current: true}}
		}, "prod-probe", "spec.abortOnBreach"},
	}
	p := library(t, "")
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in := baseline()
			tc.mutate(in)
			d, err := p.Evaluate(t.Context(), in)
			if err != nil {
				t.Fatal(err)
			}
			if d.Allowed {
				t.Fatalf("allowed, want denied by %s", tc.rule)
			}
			if len(d.Denials) != 1 {
				t.Fatalf("denials = %v, want one by %s", d.Denials, tc.rule)
			}
			got := d.Denials[0]
			if got.Policy != "platform" || got.Rule != tc.rule || got.Field != tc.field || got.Message == "" {
				t.Fatalf("denial = %+v, want policy platform, rule %s, field %s and a message", got, tc.rule, tc.field)
			}
		})
	}
}

func TestProdWaitsForApprovalOfCurrentRevision(t *testing.T) {
	p := library(t, "")
	in := baseline()
	toProd(in)

	d, err := p.Evaluate(t.Context(), in)
	if err != nil {
		t.Fatal(err)
	}
	if d.Allowed || len(d.Denials) > 0 || len(d.ApprovalsRequired) != 1 || d.ApprovalsRequired[0].Group != "sre" {
		t.Fatalf("want waiting for sre, got %+v", d)
	}

	approvals := []v1alpha1.Approval{{
		ObjectMeta: metav1.ObjectMeta{Name: "old"},
		Spec: v1alpha1.ApprovalSpec{Experiment: "checkout-latency", Revision: "fedcba9876543210fedcba9876543210fedcba98",
			Approver: &v1alpha1.UserIdentity{Username: "alice", Groups: []string{"sre"}}},
	}}
	in.Approvals = policy.ApprovalsFor(approvals, "checkout-latency", testRevision)
	if d, _ = p.Evaluate(t.Context(), in); d.Allowed {
		t.Fatalf("an approval of another revision released the experiment: %+v", d)
	}
	if len(d.Warnings) != 1 || !strings.Contains(d.Warnings[0], "not the current one") {
		t.Errorf("warnings = %q, want one about the stale approval", d.Warnings)
	}

	approvals = append(approvals, v1alpha1.Approval{
		ObjectMeta: metav1.ObjectMeta{Name: "current"},
		Spec: v1alpha1.ApprovalSpec{Experiment: "checkout-latency", Revision: "0123456",
			Approver: &v1alpha1.UserIdentity{Username: "bob", Groups: []string{"sre"}}},
	})
	in.Approvals = policy.ApprovalsFor(approvals, "checkout-latency", testRevision)
	if d, _ = p.Evaluate(t.Context(), in); !d.Allowed {
		t.Fatalf("an sre approval of the current revision did not release the experiment: %+v", d)
	}
}

func TestEnforcementModes(t *testing.T) {
	in := baseline()
	in.Experiment.Spec.Selector.Namespaces = []string{"kube-system"}
	for _, e := range []v1alpha1.Enforcement{v1alpha1.EnforcementWarn, v1alpha1.EnforcementDryRun} {
		d, err := library(t, e).Evaluate(t.Context(), in)
		if err != nil {
			t.Fatal(err)
		}
		if !d.Allowed || len(d.Denials) != 1 || d.Denials[0].Enforcement != e || len(d.Warnings) != 1 {
			t.Errorf("%s: want allowed with the denial recorded and warned, got %+v", e, d)
		}
	}
}

func TestCompileErrorNamesModuleAndLine(t *testing.T) {
	_, err := policy.Compile(t.Context(), policy.Spec{Name: "broken", Modules: []policy.Module{
		{Name: "ok.rego", Source: "package ok\n\ndeny contains \"x\" if false\n"},
		{Name: "team.rego", Source: "package team\n\ndeny contains msg if {\n  msg := ==\n}\n"},
	}})
	var ce policy.CompileErrors
	if !errors.As(err, &ce) {
		t.Fatalf("err = %v, want CompileErrors", err)
	}
	if ce[0].Module != "team.rego" || ce[0].Line != 4 {
		t.Fatalf("err = %v, want team.rego line 4", err)
	}
	if !strings.Contains(err.Error(), "module team.rego line 4") {
		t.Errorf("message %q does not name module and line", err)
	}
}

func TestCompileErrorOfUnsafeVariable(t *testing.T) {
	_, err := policy.Compile(t.Context(), policy.Spec{Name: "broken", Modules: []policy.Module{
		{Name: "team.rego", Source: "package team\n\ndeny contains x if {\n  y == 1\n}\n"},
	}})
	if err == nil || !strings.Contains(err.Error(), "module team.rego line 3") {
		t.Fatalf("err = %v, want team.rego line 3", err)
	}
}

func TestCompileRejectsPolicyWithoutDecisionRules(t *testing.T) {
	_, err := policy.Compile(t.Context(), policy.Spec{Name: "typo", Modules: []policy.Module{
		{Name: "team.rego", Source: "package team\n\ndenny contains \"x\" if true\n"},
	}})
	if err == nil || !strings.Contains(err.Error(), "no module defines a deny") {
		t.Fatalf("err = %v", err)
	}
}

func TestUnknownLibraryRule(t *testing.T) {
	_, err := policy.Compile(t.Context(), policy.Spec{Name: "x", Library: []string{"no-such-rule"}})
	if err == nil || !strings.Contains(err.Error(), "protected-namespaces") {
		t.Fatalf("err = %v, want the known rules listed", err)
	}
}

// A malformed parameter must fail loudly instead of leaving the rule that
// reads it silently undefined (fail open); partial evaluation at compile time
// finds it before any decision.
func TestBadParameterFailsClosed(t *testing.T) {
	_, err := policy.Compile(t.Context(), policy.Spec{Name: "x", Library: []string{"max-duration"}, Parameters: []byte(`{"maxDuration": {"max": "one hour"}}`)})
	if err == nil || !strings.Contains(err.Error(), "max_duration.rego") || !strings.Contains(err.Error(), "one hour") {
		t.Fatalf("err = %v, want the malformed max duration named at compile time", err)
	}
}

func TestCustomModuleDefaultsRuleToPackage(t *testing.T) {
	p, err := policy.Compile(t.Context(), policy.Spec{Name: "team", Modules: []policy.Module{{Name: "owner.rego", Source: `package team.require_owner

deny contains "experiments need an owner label" if not input.experiment.metadata.labels.owner
`}}})
	if err != nil {
		t.Fatal(err)
	}
	d, err := p.Evaluate(t.Context(), baseline())
	if err != nil {
		t.Fatal(err)
	}
	if d.Allowed || len(d.Denials) != 1 || d.Denials[0].Rule != "require-owner" {
		t.Fatalf("got %+v", d)
	}
}

func TestScope(t *testing.T) {
	deny := policy.Module{Name: "all.rego", Source: "package all\n\ndeny contains \"no\" if true\n"}
	p, err := policy.Compile(t.Context(), policy.Spec{Name: "scoped", Modules: []policy.Module{deny},
		Scope: &v1alpha1.PolicyScope{Namespaces: []string{"team-pay"}}})
	if err != nil {
		t.Fatal(err)
	}
	set := policy.NewSet(p)
	in := baseline()
	if d, _ := set.Decide(t.Context(), in); !d.Allowed {
		t.Fatalf("policy scoped to team-pay judged team-shop: %+v", d)
	}
	in.Experiment.Metadata.Namespace = "team-pay"
	if d, _ := set.Decide(t.Context(), in); d.Allowed {
		t.Fatal("policy scoped to team-pay did not judge team-pay")
	}
}

func TestConcurrentDecisions(t *testing.T) {
	set := policy.NewSet(library(t, ""))
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for i := range 16 {
		wg.Go(func() {
			in := baseline()
			if i%2 == 1 {
				in.Experiment.Spec.Selector.Namespaces = []string{"kube-system"}
			}
			for range 20 {
				d, err := set.Decide(context.Background(), in)
				if err != nil {
					errs <- err
					return
				}
				if d.Allowed != (i%2 == 0) {
					errs <- errors.New("decision depends on another goroutine's input")
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestRevisionMatches(t *testing.T) {
	for _, tc := range []struct {
		approved string
		want     bool
	}{
		{testRevision, true},
		{"0123456789abcdef0123456789abcdef01234567", true},
		{"0123456", true},
		{"012345", false}, // too short to name a commit
		{"1123456", false},
		{"main@sha1:fedcba9876543210fedcba9876543210fedcba98", false},
		{"", false},
	} {
		if got := policy.RevisionMatches(tc.approved, testRevision); got != tc.want {
			t.Errorf("RevisionMatches(%q) = %v, want %v", tc.approved, got, tc.want)
		}
	}
}

func TestRunTestsReportsFailuresAndMissingTests(t *testing.T) {
	failing := fstest.MapFS{"x_test.rego": {Data: []byte("package x_test\n\ntest_one if 1 == 2\n\ntest_two if true\n")}}
	rs, err := policy.RunTests(t.Context(), failing)
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 2 || rs[0].Passed() || !rs[1].Passed() {
		t.Fatalf("results = %v, want test_one failed and test_two passed", rs)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "x.rego"), []byte("package x\n\nallow := true\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := policy.RunTests(t.Context(), os.DirFS(dir)); !errors.Is(err, policy.ErrNoTests) {
		t.Fatalf("err = %v, want ErrNoTests", err)
	}
}

func TestEveryLibraryFileHasTests(t *testing.T) {
	entries, err := os.ReadDir("library")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		name := e.Name()
		if strings.HasSuffix(name, ".rego") && !strings.HasSuffix(name, "_test.rego") {
			if _, err := os.Stat(filepath.Join("library", strings.TrimSuffix(name, ".rego")+"_test.rego")); err != nil {
				t.Errorf("%s has no _test.rego beside it", name)
			}
		}
	}
}

type (
	policySet      = policy.Set
	policyInput    = policy.Input
	policyApproval = policy.ApprovalInput
)

var newPolicySet = policy.NewSet

func TestBrokenPolicyFailsClosed(t *testing.T) {
	set := policy.NewSet(policy.Broken("team", "", nil, errors.New("module team.rego line 3: unexpected }")))
	d, err := set.Decide(t.Context(), baseline())
	if err != nil {
		t.Fatal(err)
	}
	if d.Allowed || len(d.Denials) != 1 || d.Denials[0].Rule != policy.RuleCompileFailed || !strings.Contains(d.Denials[0].Message, "team.rego line 3") {
		t.Fatalf("got %+v", d)
	}
	warnOnly := policy.NewSet(policy.Broken("team", v1alpha1.EnforcementWarn, nil, errors.New("x")))
	if d, _ := warnOnly.Decide(t.Context(), baseline()); !d.Allowed || len(d.Warnings) != 1 {
		t.Fatalf("broken warn policy: %+v", d)
	}
}
