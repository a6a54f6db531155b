package reconciler

import (
	"context"
	"errors"
	"fmt"

	"github.com/fluxcd/pkg/apis/meta"
	"github.com/fluxcd/pkg/runtime/conditions"
	"github.com/fluxcd/pkg/runtime/patch"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/recorder"

	v1alpha1 "github.com/faultline-dev/faultline/crds/v1alpha1"
	"github.com/faultline-dev/faultline/policy"
)

// ChaosPolicyController is the controller's name: the field owner of the
// policies' status and the source of their events.
const ChaosPolicyController = "faultline-chaospolicy"

// Condition reasons of a ChaosPolicy.
const (
	// ReasonPolicyCompiled: every module compiled and the policy decides.
	ReasonPolicyCompiled = "Compiled"
	// ReasonPolicyCompileFailed: a module does not compile; the message
	// names module and line. The policy then denies everything in scope.
	ReasonPolicyCompileFailed = "CompileFailed"
	// ReasonPolicyConfigMapMissing: a module's ConfigMap or key is missing.
	ReasonPolicyConfigMapMissing = "ConfigMapNotFound"
)

var chaosPolicyOwnedConditions = []string{meta.ReadyCondition, meta.ReconcilingCondition, meta.StalledCondition}

// ChaosPolicyReconciler compiles ChaosPolicies into the Registry the
// experiments' admission reads. Policies come from the hub's API only (inline
// or from the hub's ConfigMaps), never from the repositories they judge.
//
// A policy that fails to compile fails closed: the Registry holds a stand-in
// that denies every experiment in the policy's scope until it is fixed.
type ChaosPolicyReconciler struct {
	client.Client
	// Policies receives the compiled policies.
	Policies *policy.Registry
	// Namespace is the hub's namespace, where a configMapRef without a
	// namespace is read.
	Namespace string
	// EventRecorder records events on policies. Nil: no events.
	EventRecorder recorder.EventRecorder
}

// SetupWithManager registers the reconciler. A change to a ConfigMap wakes
// every policy that reads it.
func (r *ChaosPolicyReconciler) SetupWithManager(mgr ctrl.Manager) error {
	if r.Policies == nil {
		return errors.New("ChaosPolicyReconciler needs a policy Registry")
	}
	if r.EventRecorder == nil {
		r.EventRecorder = mgr.GetEventRecorder(ChaosPolicyController)
	}
	return ctrl.NewControllerManagedBy(mgr).
		Named("chaospolicy").
		For(&v1alpha1.ChaosPolicy{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Watches(&corev1.ConfigMap{}, handler.EnqueueRequestsFromMapFunc(r.policiesReading)).
		Complete(r)
}

// +kubebuilder:rbac:groups=faultline.dev,resources=chaospolicies,verbs=get;list;watch
// +kubebuilder:rbac:groups=faultline.dev,resources=chaospolicies/status,verbs=get;patch;update
// +kubebuilder:rbac:groups="",resources=configmaps,verbs=get;list;watch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// Reconcile compiles one policy and patches its status once, at the end.
func (r *ChaosPolicyReconciler) Reconcile(ctx context.Context, req ctrl.Request) (result ctrl.Result, retErr error) {
	log := ctrl.LoggerFrom(ctx)
	obj := &v1alpha1.ChaosPolicy{}
	if err := r.Get(ctx, req.NamespacedName, obj); err != nil {
		if apierrors.IsNotFound(err) {
			r.Policies.Delete(req.Name)
			log.V(1).Info("policy deleted", "policy", req.Name)
			return ctrl.Result{}, nil
		}
		return ctrl.Result{}, err
	}
	patcher := patch.NewSerialPatcher(obj, r.Client)
	defer func() {
		retErr = r.finalize(ctx, obj, patcher, retErr)
	}()
	if obj.Generation != obj.Status.ObservedGeneration {
		conditions.MarkReconciling(obj, meta.ProgressingReason, "compiling generation %d", obj.Generation)
	}

	spec, err := r.specOf(ctx, obj)
	if err != nil {
		r.failClosed(obj, err)
		return ctrl.Result{}, err
	}
	compiled, err := policy.Compile(ctx, spec)
	if err != nil {
		var ce policy.CompileErrors
		if errors.As(err, &ce) {
			r.failClosed(obj, err)
			return ctrl.Result{}, &policyStallError{reason: ReasonPolicyCompileFailed, err: err}
		}
		return ctrl.Result{}, err
	}
	r.Policies.Put(compiled)
	obj.Status.Digest = compiled.Digest()
	log.V(1).Info("policy compiled", "policy", klog.KObj(obj), "digest", compiled.Digest())
	return ctrl.Result{}, nil
}

// specOf reads the policy's modules, inline or from ConfigMaps.
func (r *ChaosPolicyReconciler) specOf(ctx context.Context, obj *v1alpha1.ChaosPolicy) (policy.Spec, error) {
	spec := policy.Spec{
		Name:        obj.Name,
		Library:     obj.Spec.Library,
		Enforcement: obj.Spec.Enforcement,
		Scope:       obj.Spec.Scope,
	}
	if obj.Spec.Data != nil {
		spec.Parameters = obj.Spec.Data.Raw
	}
	for _, m := range obj.Spec.Modules {
		src := m.Rego
		if ref := m.ConfigMapRef; ref != nil {
			key := types.NamespacedName{Namespace: ref.Namespace, Name: ref.Name}
			if key.Namespace == "" {
				key.Namespace = r.Namespace
			}
			cm := &corev1.ConfigMap{}
			if err := r.Get(ctx, key, cm); err != nil {
				if apierrors.IsNotFound(err) {
					// Retried with backoff, and at once when it appears.
					return spec, &policyRetryError{reason: ReasonPolicyConfigMapMissing, err: fmt.Errorf("module %s: ConfigMap %s not found", m.Name, key)}
				}
				return spec, fmt.Errorf("module %s: reading ConfigMap %s: %w", m.Name, key, err)
			}
			var ok bool
			if src, ok = cm.Data[ref.Key]; !ok {
				return spec, &policyRetryError{reason: ReasonPolicyConfigMapMissing, err: fmt.Errorf("module %s: ConfigMap %s has no key %q", m.Name, key, ref.Key)}
			}
		}
		spec.Modules = append(spec.Modules, policy.Module{Name: m.Name, Source: src})
	}
	return spec, nil
}

// failClosed registers a stand-in that denies everything in the policy's
// scope. Neither the previous generation's rules nor no rules at all are what
// the owner asked for, and admitting experiments a broken policy was meant to
// stop is the worse mistake.
func (r *ChaosPolicyReconciler) failClosed(obj *v1alpha1.ChaosPolicy, err error) {
	r.Policies.Put(policy.Broken(obj.Name, obj.Spec.Enforcement, obj.Spec.Scope, err))
}

func (r *ChaosPolicyReconciler) finalize(ctx context.Context, obj *v1alpha1.ChaosPolicy, patcher *patch.SerialPatcher, recErr error) error {
	opts := []patch.Option{
		patch.WithOwnedConditions{Conditions: chaosPolicyOwnedConditions},
		patch.WithFieldOwner(ChaosPolicyController),
	}
	var stallErr *policyStallError
	switch {
	case recErr == nil:
		wasFailing := conditions.IsFalse(obj, meta.ReadyCondition)
		msg := fmt.Sprintf("compiled %d module(s) and %d library rule(s), enforcement %s", len(obj.Spec.Modules), len(obj.Spec.Library), enforcementOf(obj))
		conditions.Delete(obj, meta.ReconcilingCondition)
		conditions.Delete(obj, meta.StalledCondition)
		conditions.MarkTrue(obj, meta.ReadyCondition, ReasonPolicyCompiled, "%s", msg)
		opts = append(opts, patch.WithStatusObservedGeneration{})
		if wasFailing {
			r.policyEvent(obj, corev1.EventTypeNormal, "Recovered", "%s", msg)
		}
	case errors.As(recErr, &stallErr):
		// Only a new generation can fix it: no retries.
		conditions.Delete(obj, meta.ReconcilingCondition)
		conditions.MarkStalled(obj, stallErr.reason, "%s", recErr.Error())
		conditions.MarkFalse(obj, meta.ReadyCondition, stallErr.reason, "%s", recErr.Error())
		obj.Status.Digest = ""
		opts = append(opts, patch.WithStatusObservedGeneration{})
		r.policyEvent(obj, corev1.EventTypeWarning, stallErr.reason, "%s", recErr.Error())
	default:
		reason := meta.FailedReason
		var retry *policyRetryError
		if errors.As(recErr, &retry) {
			reason = retry.reason
		}
		conditions.Delete(obj, meta.StalledCondition)
		conditions.MarkReconciling(obj, meta.ProgressingWithRetryReason, "%s", recErr.Error())
		conditions.MarkFalse(obj, meta.ReadyCondition, reason, "%s", recErr.Error())
		r.policyEvent(obj, corev1.EventTypeWarning, reason, "%s", recErr.Error())
	}
	if err := patcher.Patch(ctx, obj, opts...); err != nil {
		if apierrors.IsNotFound(err) {
			return nil
		}
		return errors.Join(recErr, fmt.Errorf("patching status: %w", err))
	}
	if stallErr != nil {
		return nil
	}
	return recErr
}

func (r *ChaosPolicyReconciler) policyEvent(obj *v1alpha1.ChaosPolicy, eventType, reason, format string, args ...any) {
	if r.EventRecorder != nil {
		r.EventRecorder.Eventf(obj, nil, eventType, reason, "Compile", format, args...)
	}
}

// policiesReading maps a ConfigMap to the policies with a module from it.
func (r *ChaosPolicyReconciler) policiesReading(ctx context.Context, o client.Object) []reconcile.Request {
	list := &v1alpha1.ChaosPolicyList{}
	if err := r.List(ctx, list); err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "listing ChaosPolicies for a ConfigMap change", "configmap", klog.KObj(o))
		return nil
	}
	var out []reconcile.Request
	for _, p := range list.Items {
		for _, m := range p.Spec.Modules {
			if ref := m.ConfigMapRef; ref != nil && ref.Name == o.GetName() && (ref.Namespace == o.GetNamespace() || ref.Namespace == "" && o.GetNamespace() == r.Namespace) {
				out = append(out, reconcile.Request{NamespacedName: types.NamespacedName{Name: p.Name}})
				break
			}
		}
	}
	return out
}

func enforcementOf(obj *v1alpha1.ChaosPolicy) v1alpha1.Enforcement {
	if obj.Spec.Enforcement == "" {
		return v1alpha1.EnforcementEnforce
	}
	return obj.Spec.Enforcement
}

// policyStallError is a problem only a new generation of the policy fixes.
type policyStallError struct {
	reason string
	err    error
}

func (e *policyStallError) Error() string { return e.err.Error() }
func (e *policyStallError) Unwrap() error { return e.err }

// policyRetryError is worth retrying: a referenced object may yet appear.
type policyRetryError struct {
	reason string
	err    error
}

func (e *policyRetryError) Error() string { return e.err.Error() }
func (e *policyRetryError) Unwrap() error { return e.err }
