package main

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	runtimeclient "github.com/fluxcd/pkg/runtime/client"
	"github.com/fluxcd/pkg/runtime/leaderelection"
	"github.com/fluxcd/pkg/runtime/logger"
	"github.com/spf13/pflag"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	ctrl "sigs.k8s.io/controller-runtime"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	v1alpha1 "github.com/faultline-dev/faultline/crds/v1alpha1"
	"github.com/faultline-dev/faultline/federation"
)

// options are the hub's flags. Client, logging and leader-election flags come
// from fluxcd/pkg/runtime so they read the same as Flux controllers'.
type options struct {
	kubeconfig          string
	metricsAddr         string
	healthAddr          string
	leaderElectionNS    string
	gracefulShutdown    time.Duration
	memberProbeInterval time.Duration
	injectionLease      time.Duration
	sourceCacheDir      string
	webhookAddr         string
	webhookSecretFile   string
	auditNotes          bool
	agentAddr           string
	agentTLSCert        string
	agentTLSKey         string
	agentInsecure       bool
	agentMTLS           bool
	agentCACert         string
	agentCAKey          string
	agentStatusInterval time.Duration
	agentStatusQPS      float64
	client              runtimeclient.Options
	logging             logger.Options
	leaderElection      leaderelection.Options
}

func newOptions() *options { return &options{} }

func (o *options) bindFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.kubeconfig, "kubeconfig", "", "Path to a kubeconfig of the hub cluster. Empty: in-cluster config, then $KUBECONFIG.")
	fs.StringVar(&o.metricsAddr, "metrics-addr", ":8080", "Address the Prometheus metrics endpoint binds to; \"0\" disables it.")
	fs.StringVar(&o.healthAddr, "health-addr", ":9440", "Address the /healthz and /readyz probes bind to.")
	fs.StringVar(&o.leaderElectionNS, "leader-election-namespace", "", "Namespace of the leader-election Lease. Empty: the pod's namespace.")
	fs.DurationVar(&o.gracefulShutdown, "graceful-shutdown-timeout", 30*time.Second, "How long runnables get to stop on shutdown.")
	fs.DurationVar(&o.memberProbeInterval, "member-probe-interval", 10*time.Second, "How often the hub probes each member cluster's API server.")
	fs.DurationVar(&o.injectionLease, "injection-lease", 30*time.Second, "How far ahead Injection deadlines are set while the hub renews them; executors recover on their own when a lease lapses.")
	fs.StringVar(&o.sourceCacheDir, "source-cache-dir", filepath.Join(os.TempDir(), "faultline", "sources"), "Directory of the per-source Git caches.")
	fs.StringVar(&o.webhookAddr, "webhook-addr", ":9292", "Address of the push-webhook receiver (/hook/github, /hook/gitlab, /hook/gitea, /hook/generic); \"0\" disables it.")
	fs.StringVar(&o.webhookSecretFile, "webhook-secret-file", "", "File holding the webhook secret (HMAC key or GitLab token). Without it the receiver answers 503.")
	fs.BoolVar(&o.auditNotes, "audit-notes", true, "Push an audit record per finished run as a git note (refs/notes/faultline) with the source's credentials.")
	fs.StringVar(&o.agentAddr, "agent-addr", "", "Address of the host agents' API (registration, heartbeats); empty disables it.")
	fs.StringVar(&o.agentTLSCert, "agent-tls-cert", "", "TLS certificate of the agent API.")
	fs.StringVar(&o.agentTLSKey, "agent-tls-key", "", "TLS key of the agent API.")
	fs.BoolVar(&o.agentInsecure, "agent-insecure", false, "Serve the agent API without TLS (local trials only: credentials travel in the clear).")
	fs.BoolVar(&o.agentMTLS, "agent-mtls", false, "Require agents to present a client certificate from the agent CA (signed at registration, renewed by the agent at two thirds of its lifetime) on every heartbeat, besides their credential.")
	fs.StringVar(&o.agentCACert, "agent-ca-cert", "", "Certificate of the CA that signs agents' client certificates. Empty: the hub keeps its own in the Secret "+federation.AgentCASecretName+", created on first start.")
	fs.StringVar(&o.agentCAKey, "agent-ca-key", "", "Key of --agent-ca-cert.")
	fs.DurationVar(&o.agentStatusInterval, "agent-status-interval", federation.DefaultAgentStatusInterval, "Slow cadence of HostAgent status writes when nothing changed (changes are written at once).")
	fs.Float64Var(&o.agentStatusQPS, "agent-status-qps", federation.DefaultAgentStatusWriteQPS, "At most this many HostAgent status writes per second, whatever the fleet's size; changes go first and the slow cadence stretches to fit.")
	o.client.BindFlags(fs)
	o.logging.BindFlags(fs)
	o.leaderElection.BindFlags(fs)
}

func hubScheme() *runtime.Scheme {
	s := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(s))
	utilruntime.Must(v1alpha1.AddToScheme(s))
	return s
}

// restConfig loads the hub's kubeconfig and applies the client rate limits.
func (o *options) restConfig() (*rest.Config, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = o.kubeconfig
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{}).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("loading kubeconfig: %w", err)
	}
	cfg.QPS, cfg.Burst = o.client.QPS, o.client.Burst
	cfg.UserAgent = "faultline-hub"
	return cfg, nil
}

func newManager(o *options) (ctrl.Manager, error) {
	log := logger.NewLogger(o.logging)
	ctrl.SetLogger(log)
	cfg, err := o.restConfig()
	if err != nil {
		return nil, err
	}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                        hubScheme(),
		Logger:                        log,
		Metrics:                       metricsserver.Options{BindAddress: o.metricsAddr},
		HealthProbeBindAddress:        o.healthAddr,
		LeaderElection:                o.leaderElection.Enable,
		LeaderElectionID:              "faultline-hub-leader-election",
		LeaderElectionNamespace:       o.leaderElectionNS,
		LeaderElectionReleaseOnCancel: o.leaderElection.ReleaseOnCancel,
		LeaseDuration:                 &o.leaderElection.LeaseDuration,
		RenewDeadline:                 &o.leaderElection.RenewDeadline,
		RetryPeriod:                   &o.leaderElection.RetryPeriod,
		GracefulShutdownTimeout:       &o.gracefulShutdown,
	})
	if err != nil {
		return nil, fmt.Errorf("creating manager: %w", err)
	}
	if err := addProbes(mgr); err != nil {
		return nil, err
	}
	if err := setupControllers(mgr, o); err != nil {
		return nil, err
	}
	return mgr, nil
}
