package main

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"time"

	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/faultline-dev/faultline/federation"
	"github.com/faultline-dev/faultline/reconciler"
)

// setupControllers registers every hub controller with the manager.
func setupControllers(mgr ctrl.Manager, o *options) error {
	clusters := federation.NewClusterCache(mgr.GetScheme(), mgr.GetLogger().WithName("clustercache"), federation.ClusterCacheOptions{
		ProbeInterval: o.memberProbeInterval,
		QPS:           o.client.QPS,
		Burst:         o.client.Burst,
	})
	if err := (&federation.MemberClusterReconciler{
		Client:   mgr.GetClient(),
		Cache:    clusters,
		Recorder: mgr.GetEventRecorder("faultline-hub"),
	}).SetupWithManager(mgr); err != nil {
		return fmt.Errorf("setting up the MemberCluster controller: %w", err)
	}
	if err := (&reconciler.ChaosSourceReconciler{
		Client:    mgr.GetClient(),
		CacheRoot: o.sourceCacheDir,
	}).SetupWithManager(mgr); err != nil {
		return fmt.Errorf("setting up the ChaosSource controller: %w", err)
	}
	admitter, err := setupPolicy(mgr)
	if err != nil {
		return err
	}
	agents, err := addAgentAPI(mgr, o)
	if err != nil {
		return err
	}
	if err := (&reconciler.ExperimentReconciler{
		Client:   mgr.GetClient(),
		Clusters: clusters,
		Admitter: admitter,
		Agents:   agentFleet(agents),
		Lease:    o.injectionLease,
		WriteBack: &reconciler.WriteBack{
			Client:     mgr.GetClient(),
			AuditNotes: o.auditNotes,
		},
	}).SetupWithManager(mgr); err != nil {
		return fmt.Errorf("setting up the Experiment controller: %w", err)
	}
	return addWebhookReceiver(mgr, o)
}

// addWebhookReceiver serves push webhooks so a push reconciles its sources
// at once instead of at their next interval.
func addWebhookReceiver(mgr ctrl.Manager, o *options) error {
	if o.webhookAddr == "0" || o.webhookAddr == "" {
		return nil
	}
	var secret []byte
	if o.webhookSecretFile != "" {
		raw, err := os.ReadFile(o.webhookSecretFile)
		if err != nil {
			return fmt.Errorf("reading --webhook-secret-file: %w", err)
		}
		secret = bytes.TrimSpace(raw)
	}
	mux := http.NewServeMux()
	mux.Handle("/hook/", &reconciler.Receiver{Client: mgr.GetClient(), Secret: secret, Log: mgr.GetLogger().WithName("receiver")})
	srv := &http.Server{Addr: o.webhookAddr, Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	return mgr.Add(serveOnEveryReplica("webhook receiver", srv))
}

// agentFleet keeps a disabled agent API a nil interface, not a typed nil.
func agentFleet(a *federation.AgentServer) reconciler.AgentFleet {
	if a == nil {
		return nil
	}
	return a
}
