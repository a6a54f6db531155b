package reconciler

import (
	"context"
	"errors"
	"fmt"

	"github.com/fluxcd/pkg/apis/meta"
	"github.com/fluxcd/pkg/runtime/conditions"
	"github.com/fluxcd/pkg/runtime/patch"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	v1alpha1 "github.com/faultline-dev/faultline/crds/v1alpha1"
	"github.com/faultline-dev/faultline/policy"
)

// ApprovalController is the field owner of the Approvals' status.
const ApprovalController = "faultline-approval"

// Condition reasons of an Approval's Ready condition.
const (
	// ReasonApprovalCurrent: the approval names the experiment's current
	// revision; policies may count it.
	ReasonApprovalCurrent = "Current"
	// ReasonApprovalSuperseded: the experiment moved to another revision;
	// the approval no longer counts.
	ReasonApprovalSuperseded = "Superseded"
	// ReasonApprovalExperimentNotFound: no such experiment (yet).
	ReasonApprovalExperimentNotFound = "ExperimentNotFound"
	// ReasonApprovalNoApprover: no authenticated approver was recorded (the
	// webhook did not run); the approval never counts.
	ReasonApprovalNoApprover = "NoApprover"
)

// ApprovalReconciler tells on each Approval whether it counts: Ready is
// True while it names the current revision of its experiment, so that an
// approver sees at once that a new commit made their approval stale.
type ApprovalReconciler struct {
	client.Client
}

// SetupWithManager registers the reconciler; an experiment's new revision
// wakes its approvals.
func (r *ApprovalReconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		Named("approval").
		For(&v1alpha1.Approval{}).
		Watches(&v1alpha1.Experiment{}, handler.EnqueueRequestsFromMapFunc(r.approvalsOf)).
		Complete(r)
}

// +kubebuilder:rbac:groups=faultline.dev,resources=approvals,verbs=get;list;watch
// +kubebuilder:rbac:groups=faultline.dev,resources=approvals/status,verbs=get;patch;update
// +kubebuilder:rbac:groups=faultline.dev,resources=experiments,verbs=get;list;watch

// Reconcile updates one Approval's Ready condition.
func (r *ApprovalReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	obj := &v1alpha1.Approval{}
	if err := r.Get(ctx, req.NamespacedName, obj); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	patcher := patch.NewSerialPatcher(obj, r.Client)

	recErr := r.judge(ctx, obj)
	if err := patcher.Patch(ctx, obj,
		patch.WithOwnedConditions{Conditions: []string{meta.ReadyCondition}},
		patch.WithFieldOwner(ApprovalController)); err != nil && !apierrors.IsNotFound(err) {
		return ctrl.Result{}, errors.Join(recErr, fmt.Errorf("patching status: %w", err))
	}
	return ctrl.Result{}, recErr
}

func (r *ApprovalReconciler) judge(ctx context.Context, obj *v1alpha1.Approval) error {
	if obj.Spec.Approver == nil || obj.Spec.Approver.Username == "" {
		conditions.MarkFalse(obj, meta.ReadyCondition, ReasonApprovalNoApprover,
			"no authenticated approver recorded: is the hub's Approval webhook installed?")
		return nil
	}
	exp := &v1alpha1.Experiment{}
	if err := r.Get(ctx, types.NamespacedName{Namespace: obj.Namespace, Name: obj.Spec.Experiment}, exp); err != nil {
		if apierrors.IsNotFound(err) {
			// The experiment's arrival wakes this approval (see approvalsOf).
			conditions.MarkFalse(obj, meta.ReadyCondition, ReasonApprovalExperimentNotFound,
				"experiment %s not found", obj.Spec.Experiment)
			return nil
		}
		return err
	}
	current := exp.Annotations[v1alpha1.RevisionAnnotation]
	if policy.RevisionMatches(obj.Spec.Revision, current) {
		conditions.MarkTrue(obj, meta.ReadyCondition, ReasonApprovalCurrent,
			"%s approves experiment %s at its current revision %s", obj.Spec.Approver.Username, exp.Name, current)
		return nil
	}
	conditions.MarkFalse(obj, meta.ReadyCondition, ReasonApprovalSuperseded,
		"approves revision %s, but experiment %s is at %s: approve the new revision", obj.Spec.Revision, exp.Name, current)
	return nil
}

// approvalsOf maps an experiment to its approvals.
func (r *ApprovalReconciler) approvalsOf(ctx context.Context, o client.Object) []reconcile.Request {
	list := &v1alpha1.ApprovalList{}
	if err := r.List(ctx, list, client.InNamespace(o.GetNamespace())); err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "listing approvals of an experiment", "experiment", klog.KObj(o))
		return nil
	}
	var out []reconcile.Request
	for _, a := range list.Items {
		if a.Spec.Experiment == o.GetName() {
			out = append(out, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&a)})
		}
	}
	return out
}
