package reconciler

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/fluxcd/pkg/apis/meta"
	"github.com/fluxcd/pkg/runtime/conditions"
	"github.com/fluxcd/pkg/runtime/patch"
	"github.com/fluxcd/pkg/runtime/predicates"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/recorder"

	v1alpha1 "github.com/faultline-dev/faultline/crds/v1alpha1"
	"github.com/faultline-dev/faultline/sources"
)

// ChaosSourceController is the controller's name: the field owner of the
// Experiments it applies and the source of its events.
const ChaosSourceController = "faultline-chaossource"

// chaosSourceOwnedConditions are the conditions this reconciler writes; the
// deferred patch overwrites them even when another writer raced it.
var chaosSourceOwnedConditions = []string{
	meta.ReadyCondition, meta.ReconcilingCondition, meta.StalledCondition,
	v1alpha1.FetchFailedCondition, v1alpha1.VerificationFailedCondition, v1alpha1.BuildFailedCondition,
}

// ChaosSourceReconciler pulls a ChaosSource's repository, verifies and
// builds the revision, and makes the source's Experiments exactly what the
// revision declares. A revision with any error is rejected whole and the
// last good one stays applied.
type ChaosSourceReconciler struct {
	client.Client
	// APIReader reads Secrets without caching every Secret of the cluster.
	// Nil: Client.
	APIReader client.Reader
	// EventRecorder records events on sources. Nil: no events.
	EventRecorder recorder.EventRecorder
	// CacheRoot holds one Git cache per source (CacheRoot/namespace/name).
	// Empty: $TMPDIR/faultline/sources. A lost cache only costs a clone.
	CacheRoot string
	// BuildOptions are the limits of each build; namespace and root are
	// set per source.
	BuildOptions sources.BuildOptions
}

// SetupWithManager registers the reconciler. Only spec changes and
// reconcile requests wake a source, so status writes do not loop; changes
// to the Experiments it owns wake it too, so a hand-deleted or edited
// Experiment is put back as Git says.
func (r *ChaosSourceReconciler) SetupWithManager(mgr ctrl.Manager) error {
	if r.CacheRoot == "" {
		r.CacheRoot = filepath.Join(os.TempDir(), "faultline", "sources")
	}
	if r.APIReader == nil {
		r.APIReader = mgr.GetAPIReader()
	}
	if r.EventRecorder == nil {
		r.EventRecorder = mgr.GetEventRecorder(ChaosSourceController)
	}
	return ctrl.NewControllerManagedBy(mgr).
		Named("chaossource").
		For(&v1alpha1.ChaosSource{}, builder.WithPredicates(
			predicate.Or(predicate.GenerationChangedPredicate{}, predicates.ReconcileRequestedPredicate{}))).
		Owns(&v1alpha1.Experiment{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Complete(r)
}

// +kubebuilder:rbac:groups=faultline.dev,resources=chaossources,verbs=get;list;watch;patch
// +kubebuilder:rbac:groups=faultline.dev,resources=chaossources/status,verbs=get;patch;update
// +kubebuilder:rbac:groups=faultline.dev,resources=experiments,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// Reconcile runs one pass for a source and patches its status once, at the
// end, whatever happened. The webhook Receiver makes a source reconcile at
// once by setting reconcile.fluxcd.io/requestedAt, which the predicate
// above lets through; the handled value lands in status.lastHandledReconcileAt.
func (r *ChaosSourceReconciler) Reconcile(ctx context.Context, req ctrl.Request) (result ctrl.Result, retErr error) {
	log := ctrl.LoggerFrom(ctx)
	obj := &v1alpha1.ChaosSource{}
	if err := r.Get(ctx, req.NamespacedName, obj); err != nil {
		if apierrors.IsNotFound(err) {
			// Gone: its Experiments go with it (owner references); the
			// cache is ours to remove.
			return ctrl.Result{}, os.RemoveAll(sources.CacheDirFor(r.CacheRoot, req.Namespace, req.Name))
		}
		return ctrl.Result{}, err
	}
	if obj.Spec.Suspend {
		log.V(1).Info("suspended; leaving experiments as they are", "source", klog.KObj(obj))
		return ctrl.Result{}, nil
	}

	patcher := patch.NewSerialPatcher(obj, r.Client)
	// A source that was failing and now succeeds gets a Recovered event.
	wasFailing := conditions.IsFalse(obj, meta.ReadyCondition)
	defer func() {
		retErr = r.finalize(ctx, obj, patcher, wasFailing, retErr)
	}()

	if token, ok := meta.ReconcileAnnotationValue(obj.GetAnnotations()); ok {
		obj.Status.SetLastHandledReconcileRequest(token)
	}
	return r.reconcile(ctx, obj)
}

// reconcile is the chain of sub-steps. Each returns a typed error that
// decides the outcome: stall, reject the revision, or retry with backoff.
func (r *ChaosSourceReconciler) reconcile(ctx context.Context, obj *v1alpha1.ChaosSource) (ctrl.Result, error) {
	interval := obj.Spec.Interval.Duration
	if interval <= 0 {
		interval = time.Minute
	}
	if obj.Generation != obj.Status.ObservedGeneration {
		conditions.MarkReconciling(obj, meta.ProgressingReason, "reconciling generation %d", obj.Generation)
	}

	rs := &sourceRun{obj: obj}
	for _, step := range []func(context.Context, *sourceRun) error{
		r.stepResolve,
		r.stepCheckout,
		r.stepVerify,
		r.stepBuild,
		r.stepApply,
	} {
		if err := step(ctx, rs); err != nil {
			if errors.Is(err, errUpToDate) {
				break
			}
			var re *revisionError
			if errors.As(err, &re) || isStalling(err) {
				// Nothing to retry: wait for a new commit or spec.
				return ctrl.Result{RequeueAfter: interval}, err
			}
			return ctrl.Result{}, err
		}
	}
	return ctrl.Result{RequeueAfter: interval}, nil
}

// finalize sets the summary conditions from the outcome and patches.
func (r *ChaosSourceReconciler) finalize(ctx context.Context, obj *v1alpha1.ChaosSource, patcher *patch.SerialPatcher, wasFailing bool, recErr error) error {
	opts := []patch.Option{
		patch.WithOwnedConditions{Conditions: chaosSourceOwnedConditions},
		patch.WithFieldOwner(ChaosSourceController),
	}
	var re *revisionError
	switch {
	case recErr == nil:
		conditions.Delete(obj, meta.ReconcilingCondition)
		conditions.Delete(obj, meta.StalledCondition)
		conditions.Delete(obj, v1alpha1.FetchFailedCondition)
		conditions.Delete(obj, v1alpha1.VerificationFailedCondition)
		conditions.Delete(obj, v1alpha1.BuildFailedCondition)
		msg := "no revision applied"
		if a := obj.Status.Artifact; a != nil {
			msg = fmt.Sprintf("stored revision %s: %d experiment(s)", a.Revision, len(obj.Status.Experiments))
		}
		conditions.MarkTrue(obj, meta.ReadyCondition, meta.SucceededReason, "%s", msg)
		opts = append(opts, patch.WithStatusObservedGeneration{})
		if wasFailing {
			r.event(obj, corev1.EventTypeNormal, "Recovered", "Ready", "%s", msg)
		}
	case errors.As(recErr, &re) || isStalling(recErr):
		// The spec was processed as far as it can be: stalled until Git or
		// the spec changes. The last good revision stays applied.
		reason, msg := reasonOf(recErr), recErr.Error()
		conditions.Delete(obj, meta.ReconcilingCondition)
		conditions.MarkStalled(obj, reason, "%s", msg)
		conditions.MarkFalse(obj, meta.ReadyCondition, reason, "%s", msg)
		opts = append(opts, patch.WithStatusObservedGeneration{})
		r.event(obj, corev1.EventTypeWarning, reason, "Reconcile", "%s", msg)
	default:
		reason := reasonOf(recErr)
		conditions.Delete(obj, meta.StalledCondition)
		conditions.MarkReconciling(obj, meta.ProgressingWithRetryReason, "%s", recErr.Error())
		conditions.MarkFalse(obj, meta.ReadyCondition, reason, "%s", recErr.Error())
		r.event(obj, corev1.EventTypeWarning, reason, "Reconcile", "%s", recErr.Error())
	}
	if err := patcher.Patch(ctx, obj, opts...); err != nil {
		if apierrors.IsNotFound(err) {
			return recErr
		}
		return errors.Join(recErr, fmt.Errorf("patching status: %w", err))
	}
	var re2 *revisionError
	if errors.As(recErr, &re2) || isStalling(recErr) {
		// Reported in the status and events; returning it would only add
		// backoff retries of a revision that cannot succeed.
		return nil
	}
	return recErr
}

func (r *ChaosSourceReconciler) event(obj *v1alpha1.ChaosSource, eventType, reason, action, format string, args ...any) {
	if r.EventRecorder != nil {
		r.EventRecorder.Eventf(obj, nil, eventType, reason, action, format, args...)
	}
}
