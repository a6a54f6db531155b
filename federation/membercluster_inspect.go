package federation

import (
	"context"
	"errors"
	"fmt"

	"github.com/fluxcd/pkg/apis/meta"
	"github.com/fluxcd/pkg/runtime/conditions"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/faultline-dev/faultline/crds/v1alpha1"
)

// DaemonSetName is the name of the faultline daemon's DaemonSet in a member.
const DaemonSetName = "faultline-daemon"

// inspect reads what the hub needs to know of a reachable member: its node
// count, whether it serves the Injection kind, and whether the daemon runs.
func (r *MemberClusterReconciler) inspect(ctx context.Context, mc *v1alpha1.MemberCluster) error {
	mcl, err := r.Cache.Client(mc.Name)
	if err != nil {
		return err
	}
	nodes := &metav1.PartialObjectMetadataList{}
	nodes.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("NodeList"))
	if err := mcl.List(ctx, nodes); err != nil {
		return fmt.Errorf("listing nodes: %w", err)
	}
	mc.Status.NodeCount = int32(len(nodes.Items))

	injections := &v1alpha1.InjectionList{}
	err = mcl.List(ctx, injections, client.InNamespace(injectionNamespace(mc)), client.Limit(1))
	switch {
	case err == nil:
		mc.Status.CRDsInstalled = true
	case apimeta.IsNoMatchError(err) || apierrors.IsNotFound(err):
		mc.Status.CRDsInstalled = false
	default:
		return fmt.Errorf("checking for the Injection kind: %w", err)
	}

	ds := &appsv1.DaemonSet{}
	err = mcl.Get(ctx, client.ObjectKey{Namespace: injectionNamespace(mc), Name: DaemonSetName}, ds)
	switch {
	case err == nil:
		mc.Status.DaemonReady = ds.Status.DesiredNumberScheduled > 0 && ds.Status.NumberReady == ds.Status.DesiredNumberScheduled
	case apierrors.IsNotFound(err):
		mc.Status.DaemonReady = false
	default:
		return fmt.Errorf("reading the daemon's DaemonSet: %w", errors.Unwrap(err))
	}

	if !mc.Status.CRDsInstalled {
		conditions.MarkFalse(mc, meta.ReadyCondition, ReasonCRDsMissing,
			"member does not serve injections.faultline.dev: run `faultline install` against it")
		return nil
	}
	msg := fmt.Sprintf("Kubernetes %s, %d nodes, daemon ", mc.Status.KubernetesVersion, mc.Status.NodeCount)
	if mc.Status.DaemonReady {
		msg += "ready"
	} else {
		msg += "not ready"
	}
	conditions.MarkTrue(mc, meta.ReadyCondition, meta.SucceededReason, "%s", msg)
	return nil
}

func injectionNamespace(mc *v1alpha1.MemberCluster) string {
	if mc.Spec.InjectionNamespace != "" {
		return mc.Spec.InjectionNamespace
	}
	return "faultline-system"
}
