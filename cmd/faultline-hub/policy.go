package main

import (
	"fmt"
	"os"
	"path/filepath"

	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/faultline-dev/faultline/policy"
	"github.com/faultline-dev/faultline/reconciler"
)

// setupPolicy registers the ChaosPolicy and Approval controllers and the
// Approval webhook, and returns the Admitter experiments are judged by.
func setupPolicy(mgr ctrl.Manager) (reconciler.Admitter, error) {
	policies := policy.NewRegistry()
	ns := os.Getenv("POD_NAMESPACE")
	if ns == "" {
		ns = "faultline-system"
	}
	if err := (&reconciler.ChaosPolicyReconciler{Client: mgr.GetClient(), Policies: policies, Namespace: ns}).SetupWithManager(mgr); err != nil {
		return nil, fmt.Errorf("setting up the ChaosPolicy controller: %w", err)
	}
	if err := (&reconciler.ApprovalReconciler{Client: mgr.GetClient()}).SetupWithManager(mgr); err != nil {
		return nil, fmt.Errorf("setting up the Approval controller: %w", err)
	}
	// The webhook needs serving certificates (mounted by the chart at
	// controller-runtime's default directory, or WEBHOOK_CERT_DIR when the
	// manager's webhook server is configured with another). Without them the
	// API server cannot reach it and, failing closed, refuses every Approval:
	// say so instead of crashing the hub. GetWebhookServer starts the server,
	// so it is only called when the certificate is there.
	certDir := os.Getenv("WEBHOOK_CERT_DIR")
	if certDir == "" {
		certDir = filepath.Join(os.TempDir(), "k8s-webhook-server", "serving-certs")
	}
	if _, err := os.Stat(filepath.Join(certDir, "tls.crt")); err == nil {
		mgr.GetWebhookServer().Register(reconciler.ApprovalWebhookPath, reconciler.NewApprovalWebhook(mgr.GetScheme()))
	} else {
		mgr.GetLogger().Info("no webhook serving certificate: Approvals cannot be created until it is mounted", "certDir", certDir)
	}
	return &reconciler.PolicyAdmitter{Client: mgr.GetClient(), Policies: policies}, nil
}
