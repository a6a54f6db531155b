package daemon

import (
	"context"
	"errors"
	"fmt"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/faultline-dev/faultline/crds/v1alpha1"
	"github.com/faultline-dev/faultline/faults"
)

// Config is what a daemon needs.
type Config struct {
	NodeName    string
	RestConfig  *rest.Config
	JournalPath string
	Resolver    Resolver
	// MetricsAddr and HealthAddr as for controller-runtime ("0" disables).
	MetricsAddr string
	HealthAddr  string
	// Metrics is where the engine's metrics go; nil means
	// controller-runtime's registry, which the metrics endpoint serves.
	Metrics prometheus.Registerer
	// NodeCollectors are the node_exporter collectors served with the
	// engine's metrics (see DefaultNodeCollectors); empty: none.
	NodeCollectors []string
	// HelperPath is the binary re-executed for helpers; empty: this one.
	HelperPath string
	// SkipNameValidation lets several daemons run in one process (tests).
	SkipNameValidation bool
	Log                logr.Logger
}

// Daemon is a node executor ready to start.
type Daemon struct {
	Manager    ctrl.Manager
	Engine     *faults.Engine
	Reconciler *InjectionReconciler
	Reaped     faults.ReapReport
}

// Scheme returns the daemon's scheme: core types and faultline's.
func Scheme() (*runtime.Scheme, error) {
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		return nil, err
	}
	if err := v1alpha1.AddToScheme(s); err != nil {
		return nil, err
	}
	return s, nil
}

// New opens the engine first, so the journal is reaped before anything
// else happens (before even connecting to the API server), then builds a
// manager whose cache holds only this node's Injections.
func New(ctx context.Context, cfg Config) (*Daemon, error) {
	if cfg.NodeName == "" {
		return nil, errors.New("daemon: node name is required")
	}
	if cfg.Resolver == nil {
		return nil, errors.New("daemon: a resolver is required")
	}
	reg := cfg.Metrics
	if reg == nil {
		reg = ctrlmetrics.Registry
	}
	metrics, err := faults.NewMetrics(reg)
	if err != nil {
		return nil, fmt.Errorf("daemon: metrics: %w", err)
	}
	if len(cfg.NodeCollectors) > 0 {
		if err := registerNodeCollectors(reg, cfg.NodeCollectors, cfg.Log.WithName("node-exporter")); err != nil {
			return nil, fmt.Errorf("daemon: %w", err)
		}
	}
	rec := &InjectionReconciler{Resolver: cfg.Resolver, NodeName: cfg.NodeName}
	registry := faults.Builtin()
	// pod/failure undoes from the journal alone, so it is registered before
	// Open: a crashed daemon's frozen pods are continued by the reaper.
	if err := registry.Register("pod/failure", faults.PodFailure()); err != nil {
		return nil, fmt.Errorf("daemon: %w", err)
	}

	engine, report, err := faults.Open(ctx, faults.Options{
		JournalPath: cfg.JournalPath, Registry: registry, Metrics: metrics,
		HelperPath: cfg.HelperPath, Log: cfg.Log.WithName("faults"),
		OnRecovered: func(id, reason string) { rec.OnRecovered(id, reason) },
	})
	if err != nil {
		return nil, err
	}
	cfg.Log.Info("journal reaped", "recovered", len(report.Recovered), "failed", len(report.Failed), "capabilities", engine.Capabilities().String())

	scheme, err := Scheme()
	if err != nil {
		return nil, errors.Join(err, engine.Close(ctx))
	}
	mgr, err := ctrl.NewManager(cfg.RestConfig, ctrl.Options{
		Scheme:                 scheme,
		Logger:                 cfg.Log,
		Metrics:                metricsserver.Options{BindAddress: cfg.MetricsAddr},
		HealthProbeBindAddress: cfg.HealthAddr,
		Cache: cache.Options{ByObject: map[client.Object]cache.ByObject{
			&v1alpha1.Injection{}: {Label: labels.SelectorFromSet(labels.Set{v1alpha1.NodeLabel: cfg.NodeName})},
		}},
		Controller: ctrlControllerOptions(cfg.SkipNameValidation),
	})
	if err != nil {
		return nil, errors.Join(fmt.Errorf("daemon: manager: %w", err), engine.Close(ctx))
	}
	// pod/kill needs the API client, so it comes after the manager; it has
	// nothing to undo, so the reaper never needs it.
	if err := registry.Register("pod/kill", PodKillFault(mgr.GetClient())); err != nil {
		return nil, errors.Join(err, engine.Close(ctx))
	}
	rec.Client, rec.Engine = mgr.GetClient(), engine
	if err := rec.SetupWithManager(mgr); err != nil {
		return nil, errors.Join(err, engine.Close(ctx))
	}
	if cfg.HealthAddr != "" && cfg.HealthAddr != "0" {
		if err := mgr.AddHealthzCheck("ping", healthz.Ping); err != nil {
			return nil, errors.Join(err, engine.Close(ctx))
		}
		if err := mgr.AddReadyzCheck("ping", healthz.Ping); err != nil {
			return nil, errors.Join(err, engine.Close(ctx))
		}
	}
	return &Daemon{Manager: mgr, Engine: engine, Reconciler: rec, Reaped: report}, nil
}

// Run runs the manager until ctx ends, then recovers every fault the
// engine holds (a daemon that stops on purpose leaves nothing behind; its
// successor re-applies what the API still asks for) and closes the journal.
func (d *Daemon) Run(ctx context.Context) error {
	err := d.Manager.Start(ctx)
	return errors.Join(err, d.Engine.Close(context.WithoutCancel(ctx)))
}
