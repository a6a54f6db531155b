package main

import (
	"context"
	"fmt"
	"net/http"
	"time"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
)

// addProbes registers liveness and readiness checks. Readiness waits for the
// informer caches, so a hub that cannot list its kinds is not sent traffic.
// It answers within two seconds either way: a probe that hangs tells the
// caller nothing, and kubelet would give up on it after its own timeout.
// (fluxcd/pkg/runtime/probes.SetupChecks exits the process on error; the hub
// returns errors instead.)
func addProbes(mgr ctrl.Manager) error {
	if err := mgr.AddHealthzCheck("ping", healthz.Ping); err != nil {
		return fmt.Errorf("adding health check: %w", err)
	}
	if err := mgr.AddReadyzCheck("informers", func(req *http.Request) error {
		ctx, cancel := context.WithTimeout(req.Context(), 2*time.Second)
		defer cancel()
		if !mgr.GetCache().WaitForCacheSync(ctx) {
			return fmt.Errorf("informer caches not synced")
		}
		return nil
	}); err != nil {
		return fmt.Errorf("adding ready check: %w", err)
	}
	return nil
}
