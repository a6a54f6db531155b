package federation

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/fluxcd/pkg/apis/meta"
	"github.com/fluxcd/pkg/runtime/conditions"
	"github.com/fluxcd/pkg/runtime/patch"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	kerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/recorder"
	"sigs.k8s.io/controller-runtime/pkg/source"

	v1alpha1 "github.com/faultline-dev/faultline/crds/v1alpha1"
)

// Reasons of MemberCluster conditions.
const (
	ReasonKubeConfigMissing = "KubeConfigMissing"
	ReasonKubeConfigInvalid = "KubeConfigInvalid"
	ReasonUnreachable       = "Unreachable"
	ReasonReachable         = "Reachable"
	ReasonCRDsMissing       = "CRDsMissing"
	ReasonInspectFailed     = "InspectFailed"
	ReasonSuspended         = "Suspended"
)

const memberClusterFieldOwner = "faultline-hub"

// secretIndexKey indexes MemberClusters by the Secret (namespace/name) that
// holds their kubeconfig, so a rotated kubeconfig reconnects at once.
const secretIndexKey = ".spec.kubeConfigSecretRef"

// MemberClusterReconciler connects the hub to each member cluster through the
// ClusterCache and reports what it finds: reachability, Kubernetes version,
// node count, whether faultline's CRDs and daemon are there.
type MemberClusterReconciler struct {
	client.Client
	// APIReader reads kubeconfig Secrets straight from the API server, so
	// the hub caches only Secrets' metadata, never every Secret's data.
	// Nil: the manager's.
	APIReader client.Reader
	Cache     *ClusterCache
	Recorder  recorder.EventRecorder
	// ResyncInterval re-inspects a reachable member (default 1m); health
	// changes in between arrive from the cache's probes.
	ResyncInterval time.Duration
}

// SetupWithManager registers the controller and the cache's probe loops.
func (r *MemberClusterReconciler) SetupWithManager(mgr ctrl.Manager) error {
	if r.ResyncInterval <= 0 {
		r.ResyncInterval = time.Minute
	}
	if r.APIReader == nil {
		r.APIReader = mgr.GetAPIReader()
	}
	if err := mgr.Add(r.Cache); err != nil {
		return fmt.Errorf("adding cluster cache: %w", err)
	}
	if err := mgr.GetFieldIndexer().IndexField(context.Background(), &v1alpha1.MemberCluster{}, secretIndexKey,
		func(o client.Object) []string {
			ref := o.(*v1alpha1.MemberCluster).Spec.KubeConfigSecretRef
			return []string{ref.Namespace + "/" + ref.Name}
		}); err != nil {
		return fmt.Errorf("indexing member clusters by secret: %w", err)
	}
	return ctrl.NewControllerManagedBy(mgr).
		For(&v1alpha1.MemberCluster{}, builder.WithPredicates(predicate.Or(predicate.GenerationChangedPredicate{}, predicate.AnnotationChangedPredicate{}))).
		// Metadata only: a change is all we need to know; connect reads
		// the one Secret it needs.
		Watches(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(r.clustersForSecret), builder.OnlyMetadata).
		WatchesRawSource(source.Channel(r.Cache.changes, &handler.EnqueueRequestForObject{})).
		Complete(r)
}

func (r *MemberClusterReconciler) clustersForSecret(ctx context.Context, o client.Object) []reconcile.Request {
	list := &v1alpha1.MemberClusterList{}
	if err := r.List(ctx, list, client.MatchingFields{secretIndexKey: o.GetNamespace() + "/" + o.GetName()}); err != nil {
		return nil
	}
	reqs := make([]reconcile.Request, 0, len(list.Items))
	for _, mc := range list.Items {
		reqs = append(reqs, reconcile.Request{NamespacedName: types.NamespacedName{Name: mc.Name}})
	}
	return reqs
}

// Reconcile is a short chain: connect, inspect, summarise; the deferred
// patch writes status and conditions whatever happens.
func (r *MemberClusterReconciler) Reconcile(ctx context.Context, req ctrl.Request) (result ctrl.Result, retErr error) {
	mc := &v1alpha1.MemberCluster{}
	if err := r.Get(ctx, req.NamespacedName, mc); err != nil {
		if apierrors.IsNotFound(err) {
			r.Cache.Disconnect(req.Name)
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	logger := log.FromContext(ctx).WithValues("memberCluster", klog.KObj(mc))
	if !mc.DeletionTimestamp.IsZero() {
		r.Cache.Disconnect(mc.Name)
		return ctrl.Result{}, nil
	}

	patcher := patch.NewSerialPatcher(mc, r.Client)
	defer func() {
		ready := conditions.IsTrue(mc, meta.ReadyCondition)
		conditions.Delete(mc, meta.ReconcilingCondition)
		opts := []patch.Option{
			patch.WithOwnedConditions{Conditions: []string{meta.ReadyCondition, meta.ReconcilingCondition, meta.StalledCondition, v1alpha1.ReachableCondition}},
			patch.WithFieldOwner(memberClusterFieldOwner),
		}
		if ready || conditions.IsTrue(mc, meta.StalledCondition) {
			opts = append(opts, patch.WithStatusObservedGeneration{})
		}
		if err := patcher.Patch(ctx, mc, opts...); err != nil {
			retErr = kerrors.NewAggregate([]error{retErr, err})
		}
	}()

	if mc.Spec.Suspend {
		conditions.MarkFalse(mc, meta.ReadyCondition, ReasonSuspended, "member cluster is suspended")
		return ctrl.Result{}, nil
	}

	if err := r.connect(ctx, mc); err != nil {
		var stall *stallError
		if errors.As(err, &stall) {
			// The kubeconfig itself is wrong: nothing changes until someone
			// fixes the Secret, whose update triggers us again.
			conditions.MarkStalled(mc, stall.reason, "%s", stall.Error())
			conditions.MarkFalse(mc, meta.ReadyCondition, stall.reason, "%s", stall.Error())
			conditions.MarkUnknown(mc, v1alpha1.ReachableCondition, stall.reason, "no usable kubeconfig")
			r.event(mc, corev1.EventTypeWarning, stall.reason, stall.Error())
			return ctrl.Result{}, nil
		}
		return ctrl.Result{}, err
	}
	conditions.Delete(mc, meta.StalledCondition)

	h, err := r.Cache.Health(mc.Name)
	if err != nil {
		return ctrl.Result{}, err
	}
	now := metav1.Now()
	mc.Status.LastProbeTime = &now
	if !h.Reachable {
		wasReady := conditions.IsTrue(mc, meta.ReadyCondition)
		conditions.MarkFalse(mc, v1alpha1.ReachableCondition, ReasonUnreachable, "%s", h.LastError)
		conditions.MarkFalse(mc, meta.ReadyCondition, ReasonUnreachable, "API server unreachable: %s", h.LastError)
		if wasReady {
			r.event(mc, corev1.EventTypeWarning, ReasonUnreachable, "API server unreachable: "+h.LastError)
		}
		logger.V(1).Info("member unreachable", "error", h.LastError)
		// The cache's probes notify us when it is back; this is a safety net.
		return ctrl.Result{RequeueAfter: r.ResyncInterval}, nil
	}
	conditions.MarkTrue(mc, v1alpha1.ReachableCondition, ReasonReachable, "API server %s answers", h.Version)
	mc.Status.KubernetesVersion = h.Version

	if err := r.inspect(ctx, mc); err != nil {
		conditions.MarkFalse(mc, meta.ReadyCondition, ReasonInspectFailed, "%s", err.Error())
		return ctrl.Result{}, err
	}
	return ctrl.Result{RequeueAfter: r.ResyncInterval}, nil
}

// connect reads the kubeconfig Secret and hands it to the cache.
func (r *MemberClusterReconciler) connect(ctx context.Context, mc *v1alpha1.MemberCluster) error {
	ref := mc.Spec.KubeConfigSecretRef
	key := ref.Key
	if key == "" {
		key = "value"
	}
	sec := &corev1.Secret{}
	if err := r.APIReader.Get(ctx, types.NamespacedName{Namespace: ref.Namespace, Name: ref.Name}, sec); err != nil {
		if apierrors.IsNotFound(err) {
			return &stallError{reason: ReasonKubeConfigMissing, err: fmt.Errorf("secret %s/%s not found", ref.Namespace, ref.Name)}
		}
		return fmt.Errorf("reading kubeconfig secret: %w", err)
	}
	raw, ok := sec.Data[key]
	if !ok || len(raw) == 0 {
		return &stallError{reason: ReasonKubeConfigMissing, err: fmt.Errorf("secret %s/%s has no key %q", ref.Namespace, ref.Name, key)}
	}
	if err := r.Cache.Connect(ctx, mc.Name, raw); err != nil {
		return &stallError{reason: ReasonKubeConfigInvalid, err: err}
	}
	return nil
}

func (r *MemberClusterReconciler) event(mc *v1alpha1.MemberCluster, typ, reason, msg string) {
	if r.Recorder != nil {
		r.Recorder.Eventf(mc, nil, typ, reason, "Probe", "%s", msg)
	}
}

// stallError is an error that retrying cannot fix.
type stallError struct {
	reason string
	err    error
}

func (e *stallError) Error() string { return e.err.Error() }
func (e *stallError) Unwrap() error { return e.err }
