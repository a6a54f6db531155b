package chart_test

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/faultline-dev/faultline/federation"
	"github.com/faultline-dev/faultline/internal/testground/cluster"
	"github.com/faultline-dev/faultline/reconciler"
)

// helm lint --strict passes with the defaults and with every feature on.
func TestChartLints(t *testing.T) {
	bin := helmBinary(t)
	for _, values := range [][]string{nil, {"-f", allFeatures}} {
		args := append([]string{"lint", ".", "--strict", "--namespace", namespace, "--kube-version", cluster.KubernetesVersion}, values...)
		if out, err := helm(t, bin, args...); err != nil {
			t.Errorf("%v\n%s", err, out)
		}
	}
}

// Optional parts appear exactly when asked for; the ServiceMonitor also
// needs the cluster to serve the Prometheus operator's API.
func TestChartRendersOptionalPartsOnlyWhenEnabled(t *testing.T) {
	bin := helmBinary(t)
	def := render(t, bin, defaults)
	for _, kind := range []string{"ServiceMonitor", "MutatingWebhookConfiguration", "PodDisruptionBudget", "ConfigMap"} {
		if got := find(def, kind, ""); len(got) != 0 {
			t.Errorf("defaults render a %s", kind)
		}
	}
	if got := find(def, "Service", "faultline-hub-agents"); len(got) != 0 {
		t.Error("defaults expose the agent API")
	}
	if got := len(find(def, "CustomResourceDefinition", "")); got != 7 {
		t.Errorf("defaults render %d CRDs, want 7", got)
	}

	noAPI := render(t, bin, scenario{name: "servicemonitor-without-api"}, "--set", "serviceMonitor.enabled=true")
	if got := find(noAPI, "ServiceMonitor", ""); len(got) != 0 {
		t.Errorf("serviceMonitor.enabled renders %d ServiceMonitors on a cluster without %s", len(got), monitoringAPI)
	}

	all := render(t, bin, everything)
	if got := len(find(all, "ServiceMonitor", "")); got != 2 {
		t.Errorf("all features render %d ServiceMonitors, want 2 (hub, daemon)", got)
	}
	one(t, all, "PodDisruptionBudget", "faultline-hub")
	one(t, all, "Service", "faultline-hub-agents")
	one(t, all, "Service", "faultline-hub-webhook-admission")
	one(t, all, "ServiceAccount", "faultline-member-access")

	// The dashboard ConfigMap carries the file as it is, for the sidecar.
	cm := one(t, all, "ConfigMap", "faultline-dashboards")
	if cm.GetLabels()["grafana_dashboard"] != "1" {
		t.Errorf("dashboard ConfigMap labels: %v", cm.GetLabels())
	}
	want, err := os.ReadFile(dashboardPath)
	if err != nil {
		t.Fatal(err)
	}
	got, _, _ := unstructured.NestedString(cm.Object, "data", "faultline.json")
	if strings.TrimSpace(got) != strings.TrimSpace(string(want)) || !json.Valid([]byte(got)) {
		t.Error("the dashboard ConfigMap does not hold dashboards/faultline.json as it is")
	}
}

// A configuration the hub would refuse at start is refused at install, with
// the value to set.
func TestChartRefusesIncompleteConfiguration(t *testing.T) {
	bin := helmBinary(t)
	for _, c := range []struct{ set, want string }{
		{"hub.agentAPI.enabled=true", "hub.agentAPI.tls.secretName"},
		{"hub.admissionWebhook.enabled=true", "hub.admissionWebhook.certSecretName"},
		{"hub.agentAPI.enabled=true,hub.agentAPI.insecure=true,hub.agentAPI.mtls=true", "hub.agentAPI.mtls needs TLS"},
		{"daemon.runtimeEndpoint=tcp://10.0.0.1:1234", "daemon.runtimeEndpoint must be a unix:// socket"},
	} {
		_, err := helm(t, bin, "template", release, ".", "--namespace", namespace, "--set", c.set)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("--set %s: got %v, want an error naming %q", c.set, err, c.want)
		}
	}
}

// The chart ships the CRDs controller-gen generated, byte for byte (`make
// generate` copies them; this catches a forgotten copy before CI's
// check-generated does).
func TestChartCRDsAreTheGeneratedOnes(t *testing.T) {
	gen, err := filepath.Glob(filepath.Join(repoRoot(t), "crds", "bases", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	shipped, err := filepath.Glob(filepath.Join("crds", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	names := func(paths []string) []string {
		var out []string
		for _, p := range paths {
			out = append(out, filepath.Base(p))
		}
		return out
	}
	if !slices.Equal(names(gen), names(shipped)) {
		t.Fatalf("chart CRDs %v, generated %v: run `make generate`", names(shipped), names(gen))
	}
	for _, p := range gen {
		a, _ := os.ReadFile(p)
		b, _ := os.ReadFile(filepath.Join("crds", filepath.Base(p)))
		if !bytes.Equal(a, b) {
			t.Errorf("crds/%s differs from crds/bases: run `make generate`", filepath.Base(p))
		}
	}
}

// Every argument the chart passes is a flag the binaries accept with a value
// they parse: each binary runs with the rendered arguments and --help, which
// cobra answers only after parsing every flag.
func TestChartArgsAreAcceptedByTheBinaries(t *testing.T) {
	bin := helmBinary(t)
	for _, s := range []scenario{defaults, everything} {
		objs := render(t, bin, s)
		hub := container(t, one(t, objs, "Deployment", "faultline-hub"))
		runHelp(t, s.name, binary(t, "faultline-hub"), hub.Args)
		daemon := container(t, one(t, objs, "DaemonSet", federation.DaemonSetName))
		// The kubelet expands $(NODE_NAME) from the env var the chart sets.
		if !hasEnvFrom(daemon.Env, "NODE_NAME", "spec.nodeName") {
			t.Errorf("%s: daemon has no NODE_NAME from spec.nodeName", s.name)
		}
		args := make([]string, len(daemon.Args))
		for i, a := range daemon.Args {
			args[i] = strings.ReplaceAll(a, "$(NODE_NAME)", "node-1")
		}
		runHelp(t, s.name, binary(t, "faultline-daemon"), args)
	}
}

func runHelp(t *testing.T, scenario, bin string, args []string) {
	t.Helper()
	out, err := exec.CommandContext(t.Context(), bin, append(slices.Clone(args), "--help")...).CombinedOutput()
	if err != nil {
		t.Errorf("%s: %s %s: %v\n%s", scenario, filepath.Base(bin), strings.Join(args, " "), err, out)
	}
}

// What the hub needs to run safely, as rendered: leader election with two
// replicas, a non-root read-only container, its namespace from the downward
// API; the Approval webhook exactly as the hub's code defines it.
func TestChartHubDeployment(t *testing.T) {
	bin := helmBinary(t)
	for _, s := range []scenario{defaults, everything} {
		objs := render(t, bin, s)
		d := &appsv1.Deployment{}
		fromUnstructured(t, one(t, objs, "Deployment", "faultline-hub"), d)
		c := d.Spec.Template.Spec.Containers[0]
		if !slices.Contains(c.Args, "--enable-leader-election") {
			t.Errorf("%s: hub runs without leader election", s.name)
		}
		psc, csc := d.Spec.Template.Spec.SecurityContext, c.SecurityContext
		if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || csc == nil ||
			csc.ReadOnlyRootFilesystem == nil || !*csc.ReadOnlyRootFilesystem ||
			csc.AllowPrivilegeEscalation == nil || *csc.AllowPrivilegeEscalation ||
			csc.Capabilities == nil || !slices.Contains(csc.Capabilities.Drop, "ALL") {
			t.Errorf("%s: hub security context: pod %+v container %+v", s.name, psc, csc)
		}
		if !hasEnvFrom(c.Env, "POD_NAMESPACE", "metadata.namespace") {
			t.Errorf("%s: hub has no POD_NAMESPACE from the downward API", s.name)
		}
		// A read-only root: every path the hub writes is a volume.
		for _, dir := range []string{"/tmp", "/var/cache/faultline/sources"} {
			if !slices.ContainsFunc(c.VolumeMounts, func(m corev1.VolumeMount) bool { return m.MountPath == dir }) {
				t.Errorf("%s: %s is not a volume on a read-only root", s.name, dir)
			}
		}
	}

	objs := render(t, bin, everything)
	d := &appsv1.Deployment{}
	fromUnstructured(t, one(t, objs, "Deployment", "faultline-hub"), d)
	if *d.Spec.Replicas != 2 {
		t.Errorf("replicas %d, want 2", *d.Spec.Replicas)
	}
	mwc := &admissionregistrationv1.MutatingWebhookConfiguration{}
	fromUnstructured(t, one(t, objs, "MutatingWebhookConfiguration", ""), mwc)
	code := reconciler.ApprovalWebhookConfiguration(mwc.Name, admissionregistrationv1.WebhookClientConfig{})
	got, want := mwc.Webhooks[0], code.Webhooks[0]
	if got.Name != want.Name || got.ClientConfig.Service == nil || *got.ClientConfig.Service.Path != reconciler.ApprovalWebhookPath ||
		!jsonEqual(got.Rules, want.Rules) || *got.FailurePolicy != *want.FailurePolicy || *got.SideEffects != *want.SideEffects ||
		*got.ReinvocationPolicy != *want.ReinvocationPolicy || !slices.Equal(got.AdmissionReviewVersions, want.AdmissionReviewVersions) {
		t.Errorf("chart's Approval webhook differs from reconciler.ApprovalWebhookConfiguration:\nchart %s\ncode  %s", mustJSON(got), mustJSON(want))
	}
}

// The daemon gets the host namespaces and capabilities it needs and no
// more: not privileged, every other capability dropped, the journal on the
// node, the runtime's socket mounted where --runtime-endpoint points.
func TestChartDaemonSet(t *testing.T) {
	bin := helmBinary(t)
	objs := render(t, bin, everything)
	ds := &appsv1.DaemonSet{}
	fromUnstructured(t, one(t, objs, "DaemonSet", federation.DaemonSetName), ds)
	spec := ds.Spec.Template.Spec
	c := spec.Containers[0]
	if !spec.HostPID || !spec.HostNetwork {
		t.Errorf("hostPID %v hostNetwork %v", spec.HostPID, spec.HostNetwork)
	}
	sc := c.SecurityContext
	if sc == nil || sc.Capabilities == nil || (sc.Privileged != nil && *sc.Privileged) {
		t.Fatalf("daemon security context %+v", sc)
	}
	wantCaps := []corev1.Capability{"NET_ADMIN", "SYS_ADMIN", "SYS_PTRACE", "KILL", "DAC_OVERRIDE"}
	if !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || !slices.Equal(sc.Capabilities.Add, wantCaps) {
		t.Errorf("capabilities drop %v add %v, want drop [ALL] add %v", sc.Capabilities.Drop, sc.Capabilities.Add, wantCaps)
	}
	if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
		t.Error("daemon root filesystem is writable")
	}
	hostPaths := map[string]string{}
	for _, v := range spec.Volumes {
		if v.HostPath != nil {
			hostPaths[v.Name] = v.HostPath.Path
		}
	}
	if hostPaths["cri-socket"] != "/var/run/crio/crio.sock" || !slices.Contains(c.Args, "--runtime-endpoint=unix:///var/run/crio/crio.sock") {
		t.Errorf("CRI socket %q, args %v", hostPaths["cri-socket"], c.Args)
	}
	if hostPaths["journal"] != "/var/lib/faultline" || !slices.Contains(c.Args, "--journal=/var/lib/faultline/daemon.db") {
		t.Errorf("journal hostPath %q, args %v", hostPaths["journal"], c.Args)
	}
	if !slices.ContainsFunc(spec.Tolerations, func(t corev1.Toleration) bool { return t.Operator == corev1.TolerationOpExists && t.Key == "" }) {
		t.Errorf("daemon does not tolerate every taint: %v", spec.Tolerations)
	}

	// Its RBAC: its Injections and their status; pods only for pod/kill,
	// which all-features turns off.
	role := &rbacv1.ClusterRole{}
	fromUnstructured(t, one(t, objs, "ClusterRole", "faultline-daemon"), role)
	for _, r := range role.Rules {
		if slices.Contains(r.Resources, "pods") {
			t.Errorf("daemon.allowPodKill=false still grants %v on pods", r.Verbs)
		}
		if slices.Contains(r.Verbs, "*") || slices.Contains(r.Resources, "*") {
			t.Errorf("daemon rule with a wildcard: %+v", r)
		}
	}
	def := render(t, bin, defaults)
	fromUnstructured(t, one(t, def, "ClusterRole", "faultline-daemon"), role)
	if !slices.ContainsFunc(role.Rules, func(r rbacv1.PolicyRule) bool {
		return slices.Equal(r.Resources, []string{"pods"}) && slices.Equal(r.Verbs, []string{"delete"})
	}) {
		t.Errorf("defaults do not allow pod/kill: %+v", role.Rules)
	}
}

func container(t *testing.T, u *unstructured.Unstructured) corev1.Container {
	t.Helper()
	var spec corev1.PodTemplateSpec
	raw, found, err := unstructured.NestedMap(u.Object, "spec", "template")
	if err != nil || !found {
		t.Fatalf("%s %s has no pod template", u.GetKind(), u.GetName())
	}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructuredWithValidation(raw, &spec, true); err != nil {
		t.Fatalf("%s %s: %v", u.GetKind(), u.GetName(), err)
	}
	if len(spec.Spec.Containers) != 1 {
		t.Fatalf("%s %s: %d containers", u.GetKind(), u.GetName(), len(spec.Spec.Containers))
	}
	return spec.Spec.Containers[0]
}

func hasEnvFrom(env []corev1.EnvVar, name, fieldPath string) bool {
	return slices.ContainsFunc(env, func(e corev1.EnvVar) bool {
		return e.Name == name && e.ValueFrom != nil && e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == fieldPath
	})
}

// fromUnstructured converts strictly: a field the Go type lacks is an error.
func fromUnstructured(t testing.TB, u *unstructured.Unstructured, into any) {
	t.Helper()
	if err := runtime.DefaultUnstructuredConverter.FromUnstructuredWithValidation(u.Object, into, true); err != nil {
		t.Fatalf("%s %s: %v", u.GetKind(), u.GetName(), err)
	}
}

func jsonEqual(a, b any) bool { return mustJSON(a) == mustJSON(b) }

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return err.Error()
	}
	return string(b)
}
