package daemon

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/fluxcd/pkg/apis/meta"
	"github.com/fluxcd/pkg/runtime/conditions"
	"github.com/fluxcd/pkg/runtime/patch"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/source"

	"github.com/faultline-dev/faultline/crds/v1alpha1"
	"github.com/faultline-dev/faultline/faults"
)

// Finalizer keeps a deleted Injection until its faults are recovered.
const Finalizer = "faultline.dev/daemon"

// Reasons of the Injection's conditions.
const (
	ReasonInjected        = "Injected"
	ReasonInjectionFailed = "InjectionFailed"
	ReasonRecovered       = "Recovered"
	ReasonProgressing     = "Progressing"
)

// DefaultResyncInterval is how often an active Injection's measured values
// are refreshed in its status.
const DefaultResyncInterval = 5 * time.Second

// InjectionReconciler runs the Injections of one node.
type InjectionReconciler struct {
	client.Client
	Engine   *faults.Engine
	Resolver Resolver
	NodeName string
	// ResyncInterval refreshes measured values; 0 means DefaultResyncInterval.
	ResyncInterval time.Duration

	recovered chan event.GenericEvent
}

// SetupWithManager registers the reconciler. The manager's cache must
// already be narrowed to this node's Injections (see NewManager).
func (r *InjectionReconciler) SetupWithManager(mgr ctrl.Manager) error {
	if r.NodeName == "" {
		return errors.New("daemon: node name is required")
	}
	r.recovered = make(chan event.GenericEvent, 64)
	return ctrl.NewControllerManagedBy(mgr).
		Named("injection").
		// Our own status writes must not requeue: only spec changes and
		// deletion do. Measured values refresh on the resync interval.
		For(&v1alpha1.Injection{}, builder.WithPredicates(
			predicate.NewPredicateFuncs(func(o client.Object) bool {
				return o.GetLabels()[v1alpha1.NodeLabel] == r.NodeName
			}),
			predicate.Or[client.Object](predicate.GenerationChangedPredicate{}, predicate.Funcs{
				UpdateFunc: func(e event.UpdateEvent) bool { return !e.ObjectNew.GetDeletionTimestamp().IsZero() },
			}),
		)).
		WatchesRawSource(source.Channel(r.recovered, &handler.EnqueueRequestForObject{})).
		Complete(r)
}

// OnRecovered is the engine's callback for faults it recovered on its own
// (deadline); it requeues the owning Injection so its status says so.
func (r *InjectionReconciler) OnRecovered(id, _ string) {
	ns, name, ok := injectionOfID(id)
	if !ok || r.recovered == nil {
		return
	}
	inj := &v1alpha1.Injection{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
	select {
	case r.recovered <- event.GenericEvent{Object: inj}:
	default: // the periodic resync catches up
	}
}

// faultID is the engine ID of one target of an Injection: stable across
// daemon restarts, different for a recreated Injection (new UID).
func faultID(inj *v1alpha1.Injection, key string) string {
	return inj.Namespace + "/" + inj.Name + "/" + string(inj.UID) + "/" + key
}

func injectionOfID(id string) (ns, name string, ok bool) {
	parts := strings.SplitN(id, "/", 4)
	if len(parts) < 4 {
		return "", "", false
	}
	return parts[0], parts[1], true
}

func injectionKey(inj *v1alpha1.Injection) string { return inj.Namespace + "/" + inj.Name }

// Reconcile applies, refreshes or recovers one Injection.
func (r *InjectionReconciler) Reconcile(ctx context.Context, req ctrl.Request) (result ctrl.Result, retErr error) {
	log := ctrl.LoggerFrom(ctx)
	inj := &v1alpha1.Injection{}
	if err := r.Get(ctx, req.NamespacedName, inj); err != nil {
		if apierrors.IsNotFound(err) {
			// Gone without our finalizer (force-removed): recover anyway.
			return ctrl.Result{}, r.recoverAll(ctx, req.Namespace+"/"+req.Name, "", nil)
		}
		return ctrl.Result{}, err
	}
	if inj.Spec.NodeName != r.NodeName {
		return ctrl.Result{}, nil
	}

	if !inj.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, r.finalize(ctx, inj)
	}
	if !controllerutil.ContainsFinalizer(inj, Finalizer) {
		base := inj.DeepCopy()
		controllerutil.AddFinalizer(inj, Finalizer)
		if err := r.Patch(ctx, inj, client.MergeFrom(base)); err != nil {
			return ctrl.Result{}, fmt.Errorf("add finalizer: %w", err)
		}
	}

	patcher := patch.NewSerialPatcher(inj, r.Client)
	defer func() {
		if err := patcher.Patch(ctx, inj,
			patch.WithOwnedConditions{Conditions: []string{meta.ReadyCondition, meta.ReconcilingCondition, meta.StalledCondition, v1alpha1.InjectedCondition, v1alpha1.RecoveredCondition}},
			patch.WithFieldOwner("faultline-daemon"),
		); err != nil {
			retErr = errors.Join(retErr, fmt.Errorf("patch status: %w", err))
		}
	}()

	if !time.Now().Before(inj.Spec.Deadline.Time) {
		log.V(1).Info("deadline passed; recovering", "injection", klog.KObj(inj))
		if err := r.recoverAll(ctx, injectionKey(inj), string(inj.UID), nil); err != nil {
			return ctrl.Result{}, err
		}
		r.markRecovered(inj, "deadline passed")
		inj.Status.ObservedGeneration = inj.Generation
		return ctrl.Result{}, nil
	}

	stalled, err := r.apply(ctx, inj)
	switch {
	case stalled:
		inj.Status.ObservedGeneration = inj.Generation
		conditions.MarkStalled(inj, ReasonInjectionFailed, "%s", errMessage(err))
		return ctrl.Result{RequeueAfter: time.Until(inj.Spec.Deadline.Time)}, nil
	case err != nil:
		return ctrl.Result{}, err
	}
	inj.Status.ObservedGeneration = inj.Generation
	return ctrl.Result{RequeueAfter: min(r.resync(), time.Until(inj.Spec.Deadline.Time))}, nil
}

func errMessage(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func (r *InjectionReconciler) resync() time.Duration {
	if r.ResyncInterval > 0 {
		return r.ResyncInterval
	}
	return DefaultResyncInterval
}

// apply puts the fault on every target and writes each target's status.
// stalled is true when the failure cannot heal by retrying (bad spec,
// unsupported fault); other errors are retried with backoff.
func (r *InjectionReconciler) apply(ctx context.Context, inj *v1alpha1.Injection) (stalled bool, _ error) {
	prev := map[string]v1alpha1.TargetStatus{}
	for _, ts := range inj.Status.Targets {
		prev[ts.Key] = ts
	}
	var targets []v1alpha1.TargetStatus
	var errs []error
	keep := map[string]bool{}
	injected, permanent := 0, 0
	for _, t := range inj.Spec.Targets {
		id := faultID(inj, t.Key)
		keep[id] = true
		ts := v1alpha1.TargetStatus{Key: t.Key, Phase: v1alpha1.InjectionInjecting, InjectedAt: prev[t.Key].InjectedAt}
		st, err := r.applyTarget(ctx, inj, t, id)
		switch {
		case err != nil:
			ts.Phase, ts.Message = v1alpha1.InjectionFailed, err.Error()
			errs = append(errs, fmt.Errorf("target %s: %w", t.Key, err))
			if isPermanent(err) {
				permanent++
			}
		default:
			injected++
			ts.Phase, ts.Path = v1alpha1.InjectionInjected, st.Path
			if ts.InjectedAt == nil {
				at := metav1.NewTime(st.AppliedAt)
				ts.InjectedAt = &at
			}
			for _, m := range st.Measured {
				if len(ts.Measured) == 16 {
					break
				}
				at := metav1.NewTime(m.Time)
				ts.Measured = append(ts.Measured, v1alpha1.Measurement{Name: m.Name, Value: m.Value, Time: &at})
			}
		}
		targets = append(targets, ts)
	}
	// Targets dropped from the spec are recovered.
	if err := r.recoverAll(ctx, injectionKey(inj), string(inj.UID), keep); err != nil {
		errs = append(errs, err)
	}
	inj.Status.Targets = targets
	err := errors.Join(errs...)
	switch {
	case err == nil:
		inj.Status.Phase = v1alpha1.InjectionInjected
		conditions.MarkTrue(inj, v1alpha1.InjectedCondition, ReasonInjected, "%d of %d targets injected", injected, len(targets))
		conditions.MarkTrue(inj, meta.ReadyCondition, ReasonInjected, "%d of %d targets injected", injected, len(targets))
		conditions.Delete(inj, meta.ReconcilingCondition)
		conditions.Delete(inj, meta.StalledCondition)
		conditions.Delete(inj, v1alpha1.RecoveredCondition)
	default:
		inj.Status.Phase = v1alpha1.InjectionFailed
		if injected > 0 {
			inj.Status.Phase = v1alpha1.InjectionInjected
		}
		conditions.MarkFalse(inj, v1alpha1.InjectedCondition, ReasonInjectionFailed, "%d of %d targets injected", injected, len(targets))
		conditions.MarkFalse(inj, meta.ReadyCondition, ReasonInjectionFailed, "%s", err.Error())
		if permanent < len(errs) {
			conditions.MarkReconciling(inj, ReasonProgressing, "retrying failed targets")
		}
	}
	return err != nil && permanent == len(errs), err
}

func (r *InjectionReconciler) applyTarget(ctx context.Context, inj *v1alpha1.Injection, t v1alpha1.InjectionTarget, id string) (faults.Status, error) {
	target, err := r.Resolver.Resolve(ctx, t)
	if err != nil {
		return faults.Status{}, err
	}
	return r.Engine.Apply(ctx, &faults.Request{
		ID: id, Injection: injectionKey(inj), Fault: inj.Spec.Fault, Target: target,
		Peers: inj.Spec.Peers, Deadline: inj.Spec.Deadline.Time,
	})
}

// isPermanent tells failures retrying cannot fix.
func isPermanent(err error) bool {
	return errors.Is(err, faults.ErrUnsupported) || strings.Contains(err.Error(), "spec.")
}

// recoverAll recovers the engine's faults of an Injection (by namespace/
// name, and UID when known) except those in keep.
func (r *InjectionReconciler) recoverAll(ctx context.Context, key, uid string, keep map[string]bool) error {
	var errs []error
	for _, st := range r.Engine.Active() {
		if st.Injection != key || keep[st.ID] {
			continue
		}
		if uid != "" && !strings.HasPrefix(st.ID, key+"/"+uid+"/") {
			continue
		}
		if err := r.Engine.Recover(ctx, st.ID, "request"); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// finalize recovers every target, then releases the Injection.
func (r *InjectionReconciler) finalize(ctx context.Context, inj *v1alpha1.Injection) error {
	if err := r.recoverAll(ctx, injectionKey(inj), string(inj.UID), nil); err != nil {
		return err
	}
	if !controllerutil.ContainsFinalizer(inj, Finalizer) {
		return nil
	}
	base := inj.DeepCopy()
	controllerutil.RemoveFinalizer(inj, Finalizer)
	if err := r.Patch(ctx, inj, client.MergeFrom(base)); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("remove finalizer: %w", err)
	}
	return nil
}

func (r *InjectionReconciler) markRecovered(inj *v1alpha1.Injection, why string) {
	now := metav1.Now()
	for i := range inj.Status.Targets {
		ts := &inj.Status.Targets[i]
		if ts.Phase != v1alpha1.InjectionRecovered {
			ts.Phase, ts.RecoveredAt, ts.Measured = v1alpha1.InjectionRecovered, &now, nil
		}
	}
	if len(inj.Status.Targets) == 0 {
		for _, t := range inj.Spec.Targets {
			inj.Status.Targets = append(inj.Status.Targets, v1alpha1.TargetStatus{Key: t.Key, Phase: v1alpha1.InjectionRecovered, RecoveredAt: &now})
		}
	}
	slices.SortFunc(inj.Status.Targets, func(a, b v1alpha1.TargetStatus) int { return strings.Compare(a.Key, b.Key) })
	inj.Status.Phase = v1alpha1.InjectionRecovered
	conditions.MarkTrue(inj, v1alpha1.RecoveredCondition, ReasonRecovered, "%s", why)
	conditions.MarkFalse(inj, v1alpha1.InjectedCondition, ReasonRecovered, "%s", why)
	conditions.MarkTrue(inj, meta.ReadyCondition, ReasonRecovered, "%s", why)
	conditions.Delete(inj, meta.ReconcilingCondition)
	conditions.Delete(inj, meta.StalledCondition)
}
