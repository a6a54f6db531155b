package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/fluxcd/pkg/apis/meta"
	"github.com/fluxcd/pkg/runtime/conditions"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	v1alpha1 "github.com/faultline-dev/faultline/crds/v1alpha1"
	"github.com/faultline-dev/faultline/faults"
	"github.com/faultline-dev/faultline/federation"
	"github.com/faultline-dev/faultline/internal/testground"
	"github.com/faultline-dev/faultline/internal/testground/cluster"
	"github.com/faultline-dev/faultline/internal/testground/gitea"
	"github.com/faultline-dev/faultline/internal/testground/netns"
	"github.com/faultline-dev/faultline/internal/testground/prom"
	"github.com/faultline-dev/faultline/reconciler"
)

// The demo's fleet: where things are.
const (
	systemNS   = "faultline-system" // the hub's own namespace (join tokens, kubeconfig Secrets)
	appNS      = "shop"             // the service's namespace on the members, the source's on the hub
	podsPerEnv = 3                  // checkout pods per member: one of three is 33%, under the approval bar of 40%
	approver   = "alice"            // the SRE who approves, through impersonation
	// hubWebhookPort is controller-runtime's default webhook port, which
	// faultline-hub serves its Approval webhook on.
	hubWebhookPort = "9443"
)

// policyLibrary is the built-in rules the demo's hub enforces: all but
// change-window and freeze-period, which would make the demo depend on the
// hour and the date it runs at.
var policyLibrary = []string{"approval-required", "fault-kinds", "max-blast-radius", "max-concurrent", "max-duration", "prod-probe", "protected-namespaces"}

var envs = []string{"staging", "prod"}

type fleet struct {
	hub      *cluster.Cluster
	members  map[string]*cluster.Cluster
	kubeconf map[string]string // cluster name -> kubeconfig file
	forge    *gitea.Server
	prom     *prom.Server
	net      *netns.Net
	shop     *shop
	pods     map[string][]pod // env -> pods
	hubProc  *child
	daemons  map[string]*child
	agents   map[string]*child

	hubMetrics, hubHealth, webhookAddr, agentAddr string
	webhookSecret                                 string
}

func (d *demo) startFleet(ctx context.Context, examples string) (*fleet, error) {
	f := &fleet{members: map[string]*cluster.Cluster{}, kubeconf: map[string]string{}, pods: map[string][]pod{},
		daemons: map[string]*child{}, agents: map[string]*child{}}
	var err error
	if f.hubMetrics, err = freeAddr("127.0.0.1"); err != nil {
		return nil, err
	}
	if f.hubHealth, err = freeAddr("127.0.0.1"); err != nil {
		return nil, err
	}
	if f.webhookAddr, err = freeAddr("127.0.0.1"); err != nil {
		return nil, err
	}
	if l, err := net.Listen("tcp", ":"+hubWebhookPort); err != nil {
		return nil, fmt.Errorf("port %s (the hub's Approval webhook) is taken: %w", hubWebhookPort, err)
	} else {
		l.Close()
	}

	// The slow parts start together: control planes, Gitea, the network.
	var wg sync.WaitGroup
	var clusterErr, forgeErr, netErr error
	wg.Go(func() {
		var cs []*cluster.Cluster
		cs, clusterErr = cluster.StartAll(append([]string{"hub"}, envs...)...)
		if clusterErr != nil {
			return
		}
		for _, c := range cs {
			d.onTeardown(func() { _ = c.Stop() })
		}
		f.hub = cs[0]
		for i, env := range envs {
			f.members[env] = cs[i+1]
		}
	})
	wg.Go(func() {
		bin, err := gitea.Binary()
		if err != nil {
			forgeErr = err
			return
		}
		dir := filepath.Join(d.dir, "gitea")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			forgeErr = err
			return
		}
		f.forge, forgeErr = gitea.New(bin, dir)
		if forgeErr == nil {
			_ = d.st.addProc("gitea", f.forge.PID(), "")
			d.onTeardown(func() { _ = f.forge.Close() })
		}
	})
	if d.root {
		wg.Go(func() { netErr = d.startNetwork(f) })
	}
	wg.Wait()
	if err := errors.Join(clusterErr, forgeErr, netErr); err != nil {
		return nil, err
	}
	d.step("API servers hub, staging, prod; Gitea at %s; %s", f.forge.URL, d.netSummary(f))

	if err := d.startPrometheus(f); err != nil {
		return nil, err
	}
	if err := d.writeKubeconfigs(f); err != nil {
		return nil, err
	}
	if err := d.setupMembers(ctx, f); err != nil {
		return nil, err
	}
	if err := d.setupHub(ctx, f, examples); err != nil {
		return nil, err
	}
	if d.root {
		for _, env := range envs {
			if err := d.startDaemon(ctx, f, env); err != nil {
				return nil, err
			}
		}
	}
	if err := d.startHub(ctx, f); err != nil {
		return nil, err
	}
	if err := d.waitMembers(ctx, f); err != nil {
		return nil, err
	}
	if d.root {
		// Host agents are one more part of the story, not its spine: if
		// they cannot run, say so and go on without the host experiment.
		if err := d.startAgents(ctx, f); err != nil {
			if ctx.Err() != nil {
				return nil, err
			}
			first, _, _ := strings.Cut(err.Error(), "\n")
			d.note("host agents could not start (%s; logs in %s); the host experiment is skipped", first, d.rel(d.logs))
			for _, c := range f.agents {
				c.stop(5 * time.Second)
			}
			f.agents = nil
		}
	}
	return f, nil
}

func (d *demo) netSummary(f *fleet) string {
	if f.net == nil {
		return "no network namespaces (not root)"
	}
	return fmt.Sprintf("network %s: %d checkout pods, a load generator, 2 agent hosts", f.net.Subnet(), podsPerEnv*len(envs))
}

// startNetwork makes the namespace hosts: checkout pods per env, the load
// generator and two agent hosts, on one bridge linked to the root
// namespace (where the hub's agent API listens), and starts the service.
func (d *demo) startNetwork(f *fleet) error {
	// The netns package names namespaces after this process: recorded
	// before any exists, so down finds them even if the demo dies midway.
	if err := d.st.update(func(s *state) { s.NetnsOwner = os.Getpid() }); err != nil {
		return err
	}
	var hosts []string
	for _, env := range envs {
		for i := range podsPerEnv {
			hosts = append(hosts, fmt.Sprintf("%s-checkout-%d", env, i))
		}
	}
	hosts = append(hosts, "loadgen", "staging-db-1", "prod-db-1")
	n, err := netns.Create(hosts, netns.WithRootLink())
	if err != nil {
		return err
	}
	f.net = n
	d.onTeardown(func() { _ = n.Close() })
	names := []string{n.SwitchNS()}
	for _, h := range n.Hosts() {
		names = append(names, h.NsName)
	}
	if err := d.st.addNetns(names...); err != nil {
		return err
	}
	if err := d.st.update(func(s *state) { s.Links = append(s.Links, n.RootIface()) }); err != nil {
		return err
	}
	var all []pod
	for _, env := range envs {
		for i := range podsPerEnv {
			p := pod{Cluster: env, Name: fmt.Sprintf("checkout-%d", i), Host: n.Host(fmt.Sprintf("%s-checkout-%d", env, i))}
			f.pods[env] = append(f.pods[env], p)
			all = append(all, p)
		}
	}
	s, err := startShop(all, n.Host("loadgen"))
	if err != nil {
		return err
	}
	f.shop = s
	d.onTeardown(s.close)
	return nil
}

func (d *demo) startPrometheus(f *fleet) error {
	bin, err := prom.Binary()
	if err != nil {
		return err
	}
	dir := filepath.Join(d.dir, "prometheus")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	targets := []string{f.hubMetrics}
	if f.shop != nil {
		targets = append(targets, f.shop.MetricsAddr)
	}
	p, err := prom.New(bin, dir, d.promAddr, targets...)
	if err != nil {
		return fmt.Errorf("prometheus on %s (examples/overlays/demo points the probes there): %w", d.promAddr, err)
	}
	f.prom = p
	_ = d.st.addProc("prometheus", p.PID(), "")
	d.onTeardown(func() { _ = p.Stop() })
	return nil
}

func (d *demo) writeKubeconfigs(f *fleet) error {
	all := map[string]*cluster.Cluster{"hub": f.hub}
	for env, c := range f.members {
		all[env] = c
	}
	for name, c := range all {
		p := filepath.Join(d.dir, name+".kubeconfig")
		if err := os.WriteFile(p, c.KubeConfig, 0o600); err != nil {
			return err
		}
		f.kubeconf[name] = p
	}
	return nil
}

// setupMembers creates the checkout Pods in each member, as a kubelet would
// report them (envtest has no kubelet): on the member's one node, Running,
// Ready, with the namespace host's address as pod IP.
func (d *demo) setupMembers(ctx context.Context, f *fleet) error {
	for _, env := range envs {
		c := f.members[env].Client
		if err := create(ctx, c, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: appNS}}); err != nil {
			return err
		}
		if err := create(ctx, c, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: nodeName(env)}}); err != nil {
			return err
		}
		for i := range podsPerEnv {
			ip := fmt.Sprintf("192.0.2.%d", 10+i) // documentation range: no root, no traffic
			if d.root {
				ip = f.pods[env][i].Host.IP.String()
			}
			p := &corev1.Pod{
				ObjectMeta: metav1.ObjectMeta{Namespace: appNS, Name: fmt.Sprintf("checkout-%d", i),
					Labels: map[string]string{"app.kubernetes.io/name": "checkout"}},
				Spec: corev1.PodSpec{NodeName: nodeName(env), Containers: []corev1.Container{{Name: "checkout", Image: "registry.invalid/shop/checkout:1.0"}}},
			}
			if err := create(ctx, c, p); err != nil {
				return err
			}
			now := metav1.Now()
			p.Status = corev1.PodStatus{Phase: corev1.PodRunning, PodIP: ip, PodIPs: []corev1.PodIP{{IP: ip}}, StartTime: &now,
				Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: now}},
				ContainerStatuses: []corev1.ContainerStatus{{Name: "checkout", Ready: true, ContainerID: fmt.Sprintf("containerd://%s-checkout-%d", env, i),
					State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: now}}}}}
			if err := c.Status().Update(ctx, p); err != nil {
				return fmt.Errorf("pod %s/%s status: %w", env, p.Name, err)
			}
		}
	}
	return nil
}

func nodeName(env string) string { return env + "-node-1" }

// setupHub creates what an operator would before starting the hub: member
// registrations, the approvers' RBAC, the Approval webhook, the policies
// and a join token for the host agents.
func (d *demo) setupHub(ctx context.Context, f *fleet, examples string) error {
	c := f.hub.Client
	for _, ns := range []string{systemNS, appNS} {
		if err := create(ctx, c, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
			return err
		}
	}
	for _, env := range envs {
		if err := create(ctx, c, f.members[env].KubeConfigSecret(systemNS, "member-"+env)); err != nil {
			return err
		}
		if err := create(ctx, c, &v1alpha1.MemberCluster{
			ObjectMeta: metav1.ObjectMeta{Name: env, Labels: map[string]string{"env": env, "region": "local"}},
			Spec:       v1alpha1.MemberClusterSpec{KubeConfigSecretRef: v1alpha1.SecretKeyReference{Namespace: systemNS, Name: "member-" + env}},
		}); err != nil {
			return err
		}
	}
	// Members of group sre may read experiments and approve them.
	if err := create(ctx, c, &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "faultline-approver"}, Rules: []rbacv1.PolicyRule{
		{APIGroups: []string{"faultline.dev"}, Resources: []string{"approvals"}, Verbs: []string{"create", "get", "list", "watch"}},
		{APIGroups: []string{"faultline.dev"}, Resources: []string{"experiments"}, Verbs: []string{"get", "list", "watch"}},
	}}); err != nil {
		return err
	}
	if err := create(ctx, c, &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "faultline-approver"},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "faultline-approver"},
		Subjects:   []rbacv1.Subject{{Kind: "Group", APIGroup: "rbac.authorization.k8s.io", Name: "sre"}},
	}); err != nil {
		return err
	}
	// The Approval webhook records who approved; it is served by the hub
	// with a certificate made here, in controller-runtime's default
	// directory (below TMPDIR, which is the run's).
	certDir := filepath.Join(os.TempDir(), "k8s-webhook-server", "serving-certs")
	_, _, caPEM, err := testground.WriteServingCert(certDir, 24*time.Hour)
	if err != nil {
		return err
	}
	url := "https://127.0.0.1:" + hubWebhookPort + reconciler.ApprovalWebhookPath
	if err := create(ctx, c, reconciler.ApprovalWebhookConfiguration("faultline-approvals",
		admissionregistrationv1.WebhookClientConfig{URL: &url, CABundle: caPEM})); err != nil {
		return err
	}
	// The policies: examples/policies as the hub's ChaosPolicy, made by the
	// CLI as an operator would.
	out, err := exec.CommandContext(ctx, filepath.Join(d.bin, "faultline"), "policy", "manifest", filepath.Join(examples, "policies"),
		"--name", "platform", "--library", strings.Join(policyLibrary, ",")).Output()
	if err != nil {
		return fmt.Errorf("faultline policy manifest: %w", exitText(err))
	}
	pol := &v1alpha1.ChaosPolicy{}
	if err := yaml.UnmarshalStrict(out, pol); err != nil {
		return fmt.Errorf("policy manifest: %w", err)
	}
	if err := create(ctx, c, pol); err != nil {
		return err
	}
	if err := create(ctx, c, federation.JoinTokenSecret(systemNS, "demo-join", "demo-join-token", time.Now().Add(time.Hour), false)); err != nil {
		return err
	}
	f.webhookSecret = hex8() + hex8()
	return os.WriteFile(filepath.Join(d.dir, "webhook-secret"), []byte(f.webhookSecret), 0o600)
}

func (d *demo) startDaemon(ctx context.Context, f *fleet, env string) error {
	dir := filepath.Join(d.dir, "daemon-"+env)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	targets := map[string]faults.Target{}
	for _, p := range f.pods[env] {
		targets[appNS+"/"+p.Name] = faults.Target{NetnsPath: p.Host.Path()}
	}
	raw, _ := json.MarshalIndent(targets, "", "  ")
	if err := os.WriteFile(filepath.Join(dir, "targets.json"), raw, 0o600); err != nil {
		return err
	}
	metrics, err := freeAddr("127.0.0.1")
	if err != nil {
		return err
	}
	health, err := freeAddr("127.0.0.1")
	if err != nil {
		return err
	}
	c, err := d.start("daemon-"+env, []string{filepath.Join(d.bin, "faultline-daemon"),
		"--node-name", nodeName(env), "--kubeconfig", f.kubeconf[env], "--journal", filepath.Join(dir, "journal.db"),
		"--static-targets", filepath.Join(dir, "targets.json"), "--metrics-addr", metrics, "--health-addr", health})
	if err != nil {
		return err
	}
	f.daemons[env] = c
	// Serving its probes means it bound its ports and its manager runs: a
	// daemon that could not start fails the setup here, naming itself,
	// instead of an experiment later.
	return waitHTTP(ctx, "http://"+health+"/healthz", c, 60*time.Second)
}

func (d *demo) startHub(ctx context.Context, f *fleet) error {
	args := []string{filepath.Join(d.bin, "faultline-hub"),
		"--kubeconfig", f.kubeconf["hub"],
		"--metrics-addr", f.hubMetrics, "--health-addr", f.hubHealth,
		"--webhook-addr", f.webhookAddr, "--webhook-secret-file", filepath.Join(d.dir, "webhook-secret"),
		"--source-cache-dir", filepath.Join(d.dir, "hub-sources"),
		"--member-probe-interval", "2s", "--injection-lease", "20s",
	}
	if f.net != nil {
		addr, err := freeAddr(f.net.RootIP().String())
		if err != nil {
			return err
		}
		f.agentAddr = addr
		args = append(args, "--agent-addr", addr, "--agent-insecure")
	}
	c, err := d.start("hub", args, "POD_NAMESPACE="+systemNS)
	if err != nil {
		return err
	}
	f.hubProc = c
	return waitHTTP(ctx, "http://"+f.hubHealth+"/readyz", c, 60*time.Second)
}

func (d *demo) waitMembers(ctx context.Context, f *fleet) error {
	return d.waitUntil(ctx, 60*time.Second, "member clusters Ready", f.hubProc, func() (bool, error) {
		for _, env := range envs {
			mc := &v1alpha1.MemberCluster{}
			if err := f.hub.Client.Get(ctx, client.ObjectKey{Name: env}, mc); err != nil {
				return false, nil
			}
			if !conditions.IsTrue(mc, meta.ReadyCondition) {
				return false, nil
			}
		}
		return true, nil
	})
}

// startAgents runs faultline-agent serve in the two agent hosts'
// namespaces, as on two database machines; each registers with the join
// token and heartbeats every second.
func (d *demo) startAgents(ctx context.Context, f *fleet) error {
	tokenFile := filepath.Join(d.dir, "join-token")
	if err := os.WriteFile(tokenFile, []byte("demo-join-token"), 0o600); err != nil {
		return err
	}
	for _, env := range envs {
		h := f.net.Host(env + "-db-1")
		dir := filepath.Join(d.dir, "agent-"+env)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		c, err := d.start("agent-"+env, []string{"ip", "netns", "exec", h.NsName, filepath.Join(d.bin, "faultline-agent"), "serve",
			"--hub", "http://" + f.agentAddr, "--token-file", tokenFile, "--labels", "env=" + env + ",role=database",
			"--journal", filepath.Join(dir, "journal.db"), "--hostname", env + "-db-1", "--interval", "1s"})
		if err != nil {
			return err
		}
		f.agents[env] = c
	}
	return d.waitUntil(ctx, 60*time.Second, "host agents Ready", f.hubProc, func() (bool, error) {
		for _, c := range f.agents {
			if err := c.exited(); err != nil {
				return false, err
			}
		}
		list := &v1alpha1.HostAgentList{}
		if err := f.hub.Client.List(ctx, list); err != nil {
			return false, nil
		}
		ready := 0
		for i := range list.Items {
			if conditions.IsTrue(&list.Items[i], meta.ReadyCondition) {
				ready++
			}
		}
		return ready == len(envs), nil
	})
}

// create creates obj; one that exists already is fine.
func create(ctx context.Context, c client.Client, obj client.Object) error {
	if err := c.Create(ctx, obj); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating %T %s: %w", obj, obj.GetName(), err)
	}
	return nil
}

func hex8() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return fmt.Sprintf("%x", b)
}

// exitText adds a failed command's stderr to its error.
func exitText(err error) error {
	var ee *exec.ExitError
	if errors.As(err, &ee) && len(bytes.TrimSpace(ee.Stderr)) > 0 {
		return fmt.Errorf("%w: %s", err, bytes.TrimSpace(ee.Stderr))
	}
	return err
}
