package chart_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fluxcd/pkg/apis/meta"
	"github.com/fluxcd/pkg/runtime/conditions"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/faultline-dev/faultline/crds/v1alpha1"
	"github.com/faultline-dev/faultline/federation"
	"github.com/faultline-dev/faultline/hostagent/agentapi"
	"github.com/faultline-dev/faultline/internal/testground"
	"github.com/faultline-dev/faultline/internal/testground/cluster"
)

// fieldOwner is the field manager the test applies the chart with.
const fieldOwner = "faultline-chart-test"

// The chart's objects are accepted by a real API server: with the defaults,
// then upgraded to every optional feature (ServiceMonitors included, on a
// server that serves their kind). Then the binaries run with the rendered
// arguments as the chart's ServiceAccounts, so the chart's RBAC is all they
// get: the hub must become ready, win the leader election, reconcile each
// kind, register and heartbeat a host agent (TLS, mTLS), inspect a member
// cluster through the member-access role; an experiment then runs end to end
// through the hub, the member-access role and the daemon binary; nobody is
// ever refused.
func TestChartAppliesAndHubRunsWithItsRBAC(t *testing.T) {
	bin := helmBinary(t)
	defObjs := render(t, bin, defaults)
	allObjs := render(t, bin, everything)
	hubBin := binary(t, "faultline-hub")

	c := cluster.Start(t, "chart")[0]
	ctx := t.Context()
	installServiceMonitorCRD(t, c)
	mustCreate(t, c.Client, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}})

	for _, s := range []struct {
		name string
		objs []*unstructured.Unstructured
	}{{defaults.name, defObjs}, {everything.name, allObjs}} {
		applyAll(t, c, s.name, s.objs)
	}
	if got := len(find(allObjs, "ServiceMonitor", "")); got != 2 {
		t.Fatalf("applied %d ServiceMonitors, want 2", got)
	}

	t.Run("binaries run with the chart's RBAC", func(t *testing.T) {
		saUser := "system:serviceaccount:" + namespace + ":faultline-hub"
		hubKC := impersonating(t, c, saUser)

		// Control: the API server does enforce RBAC, so a missing rule
		// would show below. The hub is granted nothing on nodes.
		hubClient := impersonatingClient(t, c, saUser)
		if err := hubClient.List(ctx, &corev1.NodeList{}); !apierrors.IsForbidden(err) {
			t.Fatalf("listing nodes as the hub: %v, want forbidden (is RBAC on?)", err)
		}

		h := startHub(t, hubBin, hubKC, container(t, one(t, allObjs, "Deployment", "faultline-hub")))
		waitHTTP(t, h, "http://"+h.healthAddr+"/readyz")
		eventually(t, h, 60*time.Second, "the hub holds the leader-election lease", func() error {
			l := &coordinationv1.Lease{}
			if err := c.Client.Get(ctx, client.ObjectKey{Namespace: namespace, Name: "faultline-hub-leader-election"}, l); err != nil {
				return err
			}
			if l.Spec.HolderIdentity == nil || *l.Spec.HolderIdentity == "" {
				return fmt.Errorf("no holder")
			}
			return nil
		})

		mustCreate(t, c.Client, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team-a"}})

		// ChaosSource: a fetch that fails still ends in status and an event.
		mustCreate(t, c.Client, &v1alpha1.ChaosSource{
			ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "unreachable"},
			Spec:       v1alpha1.ChaosSourceSpec{URL: "http://127.0.0.1:9/chaos.git", Interval: metav1.Duration{Duration: time.Minute}},
		})
		eventually(t, h, 60*time.Second, "ChaosSource status written", func() error {
			src := &v1alpha1.ChaosSource{}
			if err := c.Client.Get(ctx, client.ObjectKey{Namespace: "team-a", Name: "unreachable"}, src); err != nil {
				return err
			}
			if conditions.Get(src, meta.ReadyCondition) == nil {
				return fmt.Errorf("no Ready condition yet")
			}
			return nil
		})
		eventually(t, h, 60*time.Second, "an event on the ChaosSource", func() error {
			evs := &eventsv1.EventList{}
			if err := c.Client.List(ctx, evs, client.InNamespace("team-a")); err != nil {
				return err
			}
			if !slices.ContainsFunc(evs.Items, func(e eventsv1.Event) bool { return e.Regarding.Name == "unreachable" }) {
				return fmt.Errorf("%d events, none on the source", len(evs.Items))
			}
			return nil
		})

		// ChaosPolicy: compiled, status written.
		mustCreate(t, c.Client, &v1alpha1.ChaosPolicy{
			ObjectMeta: metav1.ObjectMeta{Name: "chart-test"},
			Spec: v1alpha1.ChaosPolicySpec{Modules: []v1alpha1.PolicyModule{{Name: "allow",
				Rego: "package faultline.chart\n\ndeny contains msg if {\n\tfalse\n\tmsg := \"never\"\n}\n"}}},
		})
		eventually(t, h, 60*time.Second, "ChaosPolicy status written", func() error {
			p := &v1alpha1.ChaosPolicy{}
			if err := c.Client.Get(ctx, client.ObjectKey{Name: "chart-test"}, p); err != nil {
				return err
			}
			if conditions.Get(p, meta.ReadyCondition) == nil {
				return fmt.Errorf("no Ready condition yet")
			}
			return nil
		})

		// MemberCluster: this same API server, reached as the chart's
		// member-access ServiceAccount, is inspected and becomes Ready.
		memberKC := impersonating(t, c, "system:serviceaccount:"+namespace+":faultline-member-access")
		mustCreate(t, c.Client, &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "self-kubeconfig"},
			Data:       map[string][]byte{cluster.KubeConfigSecretKey: memberKC},
		})
		mustCreate(t, c.Client, &v1alpha1.MemberCluster{
			ObjectMeta: metav1.ObjectMeta{Name: "self", Labels: map[string]string{"env": "chart"}},
			Spec: v1alpha1.MemberClusterSpec{
				KubeConfigSecretRef: v1alpha1.SecretKeyReference{Namespace: "team-a", Name: "self-kubeconfig"},
				InjectionNamespace:  namespace,
			},
		})
		eventually(t, h, 90*time.Second, "MemberCluster inspected and Ready", func() error {
			mc := &v1alpha1.MemberCluster{}
			if err := c.Client.Get(ctx, client.ObjectKey{Name: "self"}, mc); err != nil {
				return err
			}
			if !conditions.IsTrue(mc, meta.ReadyCondition) || !mc.Status.CRDsInstalled {
				return fmt.Errorf("Ready: %q, crdsInstalled %v", conditions.GetMessage(mc, meta.ReadyCondition), mc.Status.CRDsInstalled)
			}
			return nil
		})

		// Host agent, as the chart configures the agent API (TLS, mTLS):
		// register with a single-use join token and a CSR, get a client
		// certificate, heartbeat with it (not without), and be Ready.
		token := "chart-test-join-token"
		mustCreate(t, c.Client, federation.JoinTokenSecret(namespace, "join-1", token, time.Now().Add(time.Hour), true))
		agentKey, csr := certificateRequest(t, "host-1")
		var reg agentapi.RegisterResponse
		postJSON(t, h, agentapi.RegisterPath, token, agentapi.RegisterRequest{Hostname: "host-1", OS: "linux", CSR: csr}, &reg)
		err := c.Client.Get(ctx, client.ObjectKey{Namespace: namespace, Name: "join-1"}, &corev1.Secret{})
		if !apierrors.IsNotFound(err) {
			t.Errorf("single-use join token after registration: %v, want it deleted", err)
		}
		if reg.Certificate == "" {
			t.Fatal("the hub signed no client certificate at registration")
		}
		if code, body, err := h.post(t, agentapi.HeartbeatPath, reg.Credential, agentapi.HeartbeatRequest{Agent: reg.Agent, Seq: 1}); err == nil && code == http.StatusOK {
			t.Errorf("a heartbeat without the client certificate was accepted: %d %s (is --agent-mtls passed?)", code, body)
		}
		clientCert, err := tls.X509KeyPair([]byte(reg.Certificate), agentKey)
		if err != nil {
			t.Fatalf("the signed certificate does not go with the agent's key: %v", err)
		}
		// A new transport: the old one would reuse its certificate-less connection.
		h.agentClient = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{
			RootCAs: h.agentClient.Transport.(*http.Transport).TLSClientConfig.RootCAs, Certificates: []tls.Certificate{clientCert}}}}
		postJSON(t, h, agentapi.HeartbeatPath, reg.Credential, agentapi.HeartbeatRequest{Agent: reg.Agent, Seq: 2}, &agentapi.HeartbeatResponse{})
		eventually(t, h, 60*time.Second, "HostAgent Ready", func() error {
			ha := &v1alpha1.HostAgent{}
			if err := c.Client.Get(ctx, client.ObjectKey{Name: reg.Agent}, ha); err != nil {
				return err
			}
			if !conditions.IsTrue(ha, meta.ReadyCondition) {
				return fmt.Errorf("not Ready: %q", conditions.GetMessage(ha, meta.ReadyCondition))
			}
			return nil
		})
		// The hub created its agent CA in its own namespace.
		if err := c.Client.Get(ctx, client.ObjectKey{Namespace: namespace, Name: federation.AgentCASecretName}, &corev1.Secret{}); err != nil {
			t.Errorf("agent CA Secret: %v", err)
		}

		// An experiment end to end, every process with its chart identity:
		// the hub writes the Injection into the member as
		// faultline-member-access, the daemon binary (DaemonSet arguments,
		// faultline-daemon's RBAC, upgraded to allow pod/kill) takes it,
		// kills the pod and reports, and on completion the hub removes the
		// Injection and the daemon lets it go.
		testground.RequireRoot(t) // the daemon's fault engine probes the kernel as root
		podKill := render(t, bin, everything, "--set", "daemon.allowPodKill=true")
		applyAll(t, c, "all-features with pod/kill", podKill)
		runningPod(t, c, "team-a", "web-0", "node-1")
		d := startDaemon(t, binary(t, "faultline-daemon"), impersonating(t, c, "system:serviceaccount:"+namespace+":faultline-daemon"),
			container(t, one(t, podKill, "DaemonSet", federation.DaemonSetName)), "node-1", "team-a/web-0")
		waitHTTP(t, h, "http://"+d.healthAddr+"/readyz")
		grace := int64(0)
		mustCreate(t, c.Client, &v1alpha1.Experiment{
			ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "kill-web"},
			Spec: v1alpha1.ExperimentSpec{
				Placement: &v1alpha1.Placement{Clusters: &metav1.LabelSelector{MatchLabels: map[string]string{"env": "chart"}}},
				Selector:  v1alpha1.PodSelector{Namespaces: []string{"team-a"}, LabelSelectors: map[string]string{"app": "web"}},
				Mode:      v1alpha1.ModeAll,
				Fault:     v1alpha1.FaultSpec{Pod: &v1alpha1.PodFault{Action: v1alpha1.PodKill, GracePeriodSeconds: &grace}},
				Duration:  &metav1.Duration{Duration: 3 * time.Second},
			},
		})
		eventually(t, h, 60*time.Second, "the daemon killed the pod", func() error {
			err := c.Client.Get(ctx, client.ObjectKey{Namespace: "team-a", Name: "web-0"}, &corev1.Pod{})
			if apierrors.IsNotFound(err) {
				return nil
			}
			return fmt.Errorf("pod still there (%v)", err)
		})
		eventually(t, h, 90*time.Second, "the experiment completed and its Injections are gone", func() error {
			exp := &v1alpha1.Experiment{}
			if err := c.Client.Get(ctx, client.ObjectKey{Namespace: "team-a", Name: "kill-web"}, exp); err != nil {
				return err
			}
			injs := &v1alpha1.InjectionList{}
			if err := c.Client.List(ctx, injs, client.InNamespace(namespace)); err != nil {
				return err
			}
			if exp.Status.Phase != v1alpha1.PhaseCompleted || len(injs.Items) > 0 {
				return fmt.Errorf("phase %q, %d injections left; Ready: %q", exp.Status.Phase, len(injs.Items), conditions.GetMessage(exp, meta.ReadyCondition))
			}
			return nil
		})

		for name, out := range map[string]string{"hub": h.out.String(), "daemon": d.out.String()} {
			if strings.Contains(strings.ToLower(out), "forbidden") {
				var lines []string
				for l := range strings.Lines(out) {
					if strings.Contains(strings.ToLower(l), "forbidden") {
						lines = append(lines, l)
					}
				}
				t.Errorf("the %s was refused with the chart's RBAC:\n%s", name, strings.Join(lines, ""))
			}
		}
	})
}

// runningPod creates a pod on node that looks Running (there is no kubelet).
func runningPod(t *testing.T, c *cluster.Cluster, ns, name, node string) {
	t.Helper()
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: map[string]string{"app": "web"}},
		Spec:       corev1.PodSpec{NodeName: node, Containers: []corev1.Container{{Name: "app", Image: "registry.invalid/web"}}},
	}
	mustCreate(t, c.Client, p)
	p.Status = corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "192.0.2.10",
		ContainerStatuses: []corev1.ContainerStatus{{Name: "app", ContainerID: "containerd://web0"}}}
	if err := c.Client.Status().Update(t.Context(), p); err != nil {
		t.Fatal(err)
	}
}

// daemonProcess is a running faultline-daemon binary.
type daemonProcess struct {
	out        *testground.Output
	healthAddr string
}

// startDaemon runs the daemon with the DaemonSet's arguments: addresses and
// the journal path are the test's, $(NODE_NAME) is node, and the CRI
// runtime is replaced by the static-targets binding naming pods.
func startDaemon(t *testing.T, bin string, kubeconfig []byte, c corev1.Container, node string, pods ...string) *daemonProcess {
	t.Helper()
	dir := t.TempDir()
	kc, targets := filepath.Join(dir, "kubeconfig"), filepath.Join(dir, "targets.json")
	static := map[string]any{}
	for _, p := range pods {
		static[p] = map[string]any{}
	}
	raw, err := json.Marshal(static)
	if err != nil {
		t.Fatal(err)
	}
	for path, data := range map[string][]byte{kc: kubeconfig, targets: raw} {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	d := &daemonProcess{out: &testground.Output{}, healthAddr: testground.FreeAddr(t)}
	replace := map[string]string{
		"--node-name": node, "--journal": filepath.Join(dir, "daemon.db"),
		"--metrics-addr": testground.FreeAddr(t), "--health-addr": d.healthAddr,
		"--runtime-endpoint": "", // dropped: --static-targets instead
	}
	args := []string{"--kubeconfig=" + kc, "--static-targets=" + targets}
	for _, a := range c.Args {
		name, _, _ := strings.Cut(a, "=")
		if v, ok := replace[name]; ok {
			delete(replace, name)
			if v == "" {
				continue
			}
			a = name + "=" + v
		}
		args = append(args, a)
	}
	if len(replace) > 0 {
		t.Fatalf("the DaemonSet no longer passes %v; the test replaces them", replace)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = d.out, d.out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(45 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
			t.Error("the daemon did not stop within 45s of SIGTERM")
		}
		if t.Failed() {
			t.Logf("daemon errors:\n%s", errorLines(d.out.String()))
		}
	})
	return d
}

// installServiceMonitorCRD serves monitoring.coreos.com/v1 ServiceMonitor,
// with a schema that keeps every field: enough to apply the chart's objects.
func installServiceMonitorCRD(t *testing.T, c *cluster.Cluster) {
	t.Helper()
	preserve := true
	crd := &apiextensionsv1.CustomResourceDefinition{
		ObjectMeta: metav1.ObjectMeta{Name: "servicemonitors.monitoring.coreos.com"},
		Spec: apiextensionsv1.CustomResourceDefinitionSpec{
			Group: "monitoring.coreos.com",
			Names: apiextensionsv1.CustomResourceDefinitionNames{Kind: "ServiceMonitor", ListKind: "ServiceMonitorList", Plural: "servicemonitors", Singular: "servicemonitor"},
			Scope: apiextensionsv1.NamespaceScoped,
			Versions: []apiextensionsv1.CustomResourceDefinitionVersion{{
				Name: "v1", Served: true, Storage: true,
				Schema: &apiextensionsv1.CustomResourceValidation{OpenAPIV3Schema: &apiextensionsv1.JSONSchemaProps{
					Type: "object",
					Properties: map[string]apiextensionsv1.JSONSchemaProps{
						"spec": {Type: "object", XPreserveUnknownFields: &preserve},
					},
				}},
			}},
		},
	}
	mustCreate(t, c.Client, crd)
	waitEstablished(t, c, crd.Name)
}

func waitEstablished(t *testing.T, c *cluster.Cluster, name string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		crd := &apiextensionsv1.CustomResourceDefinition{}
		err := c.Client.Get(t.Context(), client.ObjectKey{Name: name}, crd)
		if err == nil && slices.ContainsFunc(crd.Status.Conditions, func(c apiextensionsv1.CustomResourceDefinitionCondition) bool {
			return c.Type == apiextensionsv1.Established && c.Status == apiextensionsv1.ConditionTrue
		}) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("CRD %s not established: %v", name, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// applyAll server-side applies every object, CRDs first (and waits for them
// to be served), as the chart's field manager; applying twice is a no-op.
func applyAll(t *testing.T, c *cluster.Cluster, scenario string, objs []*unstructured.Unstructured) {
	t.Helper()
	ordered := slices.Clone(objs)
	slices.SortStableFunc(ordered, func(a, b *unstructured.Unstructured) int {
		return boolRank(b.GetKind() == "CustomResourceDefinition") - boolRank(a.GetKind() == "CustomResourceDefinition")
	})
	for _, o := range ordered {
		ac := client.ApplyConfigurationFromUnstructured(o.DeepCopy())
		if err := c.Client.Apply(t.Context(), ac, client.FieldOwner(fieldOwner), client.ForceOwnership); err != nil {
			t.Fatalf("%s: applying %s %s/%s: %v", scenario, o.GetKind(), o.GetNamespace(), o.GetName(), err)
		}
		if o.GetKind() == "CustomResourceDefinition" {
			waitEstablished(t, c, o.GetName())
		}
	}
	// Read back: every object is there, in the namespace the chart meant.
	for _, o := range objs {
		got := &unstructured.Unstructured{}
		got.SetGroupVersionKind(o.GroupVersionKind())
		if err := c.Client.Get(t.Context(), client.ObjectKeyFromObject(o), got); err != nil {
			t.Errorf("%s: %s %s/%s after apply: %v", scenario, o.GetKind(), o.GetNamespace(), o.GetName(), err)
		}
	}
}

func boolRank(b bool) int {
	if b {
		return 1
	}
	return 0
}

func mustCreate(t *testing.T, c client.Client, obj client.Object) {
	t.Helper()
	if err := c.Create(t.Context(), obj); err != nil {
		t.Fatalf("creating %T %s: %v", obj, obj.GetName(), err)
	}
}

// impersonating returns the cluster's admin kubeconfig made to act as user
// (a ServiceAccount, with the groups the API server gives ServiceAccounts).
func impersonating(t *testing.T, c *cluster.Cluster, user string) []byte {
	t.Helper()
	cfg, err := clientcmd.Load(c.KubeConfig)
	if err != nil {
		t.Fatal(err)
	}
	groups := []string{"system:serviceaccounts", "system:authenticated"}
	if parts := strings.Split(user, ":"); len(parts) == 4 {
		groups = append(groups, "system:serviceaccounts:"+parts[2])
	}
	for _, ai := range cfg.AuthInfos {
		ai.Impersonate, ai.ImpersonateGroups = user, groups
	}
	out, err := clientcmd.Write(*cfg)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func impersonatingClient(t *testing.T, c *cluster.Cluster, user string) client.Client {
	t.Helper()
	rc, err := clientcmd.RESTConfigFromKubeConfig(impersonating(t, c, user))
	if err != nil {
		t.Fatal(err)
	}
	cl, err := client.New(rc, client.Options{Scheme: cluster.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	return cl
}

// hubProcess is a running faultline-hub binary.
type hubProcess struct {
	out                  *testground.Output
	healthAddr, agentURL string
	agentClient          *http.Client
	exited               chan struct{}
}

// startHub runs the hub with the Deployment's arguments; only addresses and
// paths are replaced by the test's own, and --kubeconfig is added.
func startHub(t *testing.T, bin string, kubeconfig []byte, c corev1.Container) *hubProcess {
	t.Helper()
	dir := t.TempDir()
	kc := filepath.Join(dir, "kubeconfig")
	secret := filepath.Join(dir, "webhook-secret")
	certFile, keyFile, pool := testground.ServingCert(t, dir)
	for path, data := range map[string][]byte{kc: kubeconfig, secret: []byte("s3cret\n")} {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	h := &hubProcess{out: &testground.Output{}, healthAddr: testground.FreeAddr(t), exited: make(chan struct{})}
	agentAddr := testground.FreeAddr(t)
	h.agentURL = "https://" + agentAddr
	h.agentClient = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	replace := map[string]string{
		"--metrics-addr": testground.FreeAddr(t), "--health-addr": h.healthAddr, "--webhook-addr": testground.FreeAddr(t),
		"--agent-addr": agentAddr, "--source-cache-dir": filepath.Join(dir, "sources"),
		"--webhook-secret-file": secret, "--agent-tls-cert": certFile, "--agent-tls-key": keyFile,
	}
	args := []string{"--kubeconfig=" + kc}
	for _, a := range c.Args {
		name, _, _ := strings.Cut(a, "=")
		if v, ok := replace[name]; ok {
			a = name + "=" + v
			delete(replace, name)
		}
		args = append(args, a)
	}
	if len(replace) > 0 {
		t.Fatalf("the Deployment no longer passes %v; the test replaces them", replace)
	}
	cmd := exec.Command(bin, args...)
	// POD_NAMESPACE as the downward API sets it; TMPDIR holds no webhook
	// certificate, so the Approval webhook server stays off.
	cmd.Env = append(os.Environ(), "POD_NAMESPACE="+namespace, "TMPDIR="+dir, "WEBHOOK_CERT_DIR="+filepath.Join(dir, "no-certs"))
	cmd.Stdout, cmd.Stderr = h.out, h.out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = cmd.Wait(); close(h.exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-h.exited:
		case <-time.After(45 * time.Second):
			_ = cmd.Process.Kill()
			<-h.exited
			t.Error("the hub did not stop within 45s of SIGTERM")
		}
		if t.Failed() {
			t.Logf("hub errors:\n%s", errorLines(h.out.String()))
		}
	})
	return h
}

// eventually polls f until it returns nil, failing with its last error.
func eventually(t *testing.T, h *hubProcess, timeout time.Duration, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := f()
		if err == nil {
			return
		}
		select {
		case <-h.exited:
			t.Fatalf("%s: the hub exited", what)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s: %v", what, timeout, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func waitHTTP(t *testing.T, h *hubProcess, url string) {
	t.Helper()
	eventually(t, h, 90*time.Second, url+" answers 200", func() error {
		resp, err := http.Get(url)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		return nil
	})
}

// postJSON posts body to the agent API with a bearer token and decodes the
// answer, retrying while the API is not up yet (it starts with the leader's
// runnables); any answer but 200 fails the test.
func postJSON(t *testing.T, h *hubProcess, path, bearer string, body, into any) {
	t.Helper()
	eventually(t, h, 30*time.Second, "POST "+path, func() error {
		code, raw, err := h.post(t, path, bearer, body)
		if err != nil {
			return err
		}
		if code != http.StatusOK {
			t.Fatalf("POST %s: %d %s", path, code, raw)
		}
		return json.Unmarshal(raw, into)
	})
}

func (h *hubProcess) post(t *testing.T, path, bearer string, body any) (int, []byte, error) {
	return testground.PostJSON(t.Context(), h.agentClient, h.agentURL+path, bearer, body)
}

// certificateRequest returns a new key (PEM) and a CSR for it (PEM), as an
// agent sends at registration.
func certificateRequest(t *testing.T, host string) (keyPEM []byte, csrPEM string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: host}}, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}),
		string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}))
}

// errorLines returns the first error-level lines of a JSON log: they tell
// why; the whole debug log would bury them.
func errorLines(log string) string {
	var out []string
	for l := range strings.Lines(log) {
		if strings.Contains(l, `"level":"error"`) && len(out) < 20 {
			out = append(out, l)
		}
	}
	return strings.Join(out, "")
}
