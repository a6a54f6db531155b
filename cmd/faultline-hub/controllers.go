package main

import (
	"fmt"

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
	if err := (&reconciler.ExperimentReconciler{
		Client:   mgr.GetClient(),
		Clusters: clusters,
		Lease:    o.injectionLease,
	}).SetupWithManager(mgr); err != nil {
		return fmt.Errorf("setting up the Experiment controller: %w", err)
	}
	return nil
}
