package reconciler

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/fluxcd/pkg/apis/meta"
	"github.com/fluxcd/pkg/runtime/conditions"
	"github.com/fluxcd/pkg/runtime/patch"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	kerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/recorder"
	"sigs.k8s.io/controller-runtime/pkg/source"

	v1alpha1 "github.com/faultline-dev/faultline/crds/v1alpha1"
	"github.com/faultline-dev/faultline/federation"
	"github.com/faultline-dev/faultline/reconciler/verdict"
)

// ExperimentController is the controller's name and event source.
const ExperimentController = "faultline-experiment"

// ExperimentFinalizer holds an Experiment until its faults are gone from
// every reachable member: removing an experiment from Git stops it everywhere.
const ExperimentFinalizer = "faultline.dev/recover-injections"

type corePod = corev1.Pod

// ExperimentReconciler runs experiments: admission, waves, Injections in
// member clusters with renewed deadlines, recovery, and the verdict.
type ExperimentReconciler struct {
	client.Client
	// Clusters owns the member clients.
	Clusters *federation.ClusterCache
	// Admitter decides admission by policy; nil admits what the built-in
	// protections allow.
	Admitter Admitter
	// EventRecorder records events on experiments. Nil: no events.
	EventRecorder recorder.EventRecorder
	// Lease is how far ahead an Injection's deadline is set while the hub
	// keeps renewing it (default 30s).
	Lease time.Duration
	// Grace is added to a run's end for the executor's own deadline (default 30s).
	Grace time.Duration
	// Now returns the time (tests move it). Nil: time.Now.
	Now func() time.Time
	// ProbeOptions are the HTTP clients of steady-state probes.
	ProbeOptions verdict.Options
	// WriteBack, when set, reports runs to Git: commit statuses on the
	// revision and audit notes.
	WriteBack *WriteBack
	// Agents runs injections on host agents; nil: experiments placed on
	// agents fail their agent members with a reason.
	Agents AgentFleet
	// MaxConcurrentReconciles is how many experiments progress at once
	// (default 8): each step talks to several member API servers.
	MaxConcurrentReconciles int

	agentMu sync.Mutex
	randMu  sync.Mutex
	rnd     *rand.Rand
	book    *phaseBook
	probes  *probeSupervisor
}

// SetupWithManager registers the controller.
func (r *ExperimentReconciler) SetupWithManager(mgr ctrl.Manager) error {
	if r.Clusters == nil {
		return fmt.Errorf("ExperimentReconciler needs a ClusterCache")
	}
	if r.Lease <= 0 {
		r.Lease = 30 * time.Second
	}
	if r.Grace <= 0 {
		r.Grace = 30 * time.Second
	}
	if r.EventRecorder == nil {
		r.EventRecorder = mgr.GetEventRecorder(ExperimentController)
	}
	r.book = newPhaseBook()
	r.probes = newProbeSupervisor()
	if r.MaxConcurrentReconciles <= 0 {
		r.MaxConcurrentReconciles = 8
	}
	return ctrl.NewControllerManagedBy(mgr).
		Named("experiment").
		WithOptions(controller.Options{MaxConcurrentReconciles: r.MaxConcurrentReconciles}).
		For(&v1alpha1.Experiment{}, builder.WithPredicates(predicate.Or(
			predicate.GenerationChangedPredicate{}, predicate.AnnotationChangedPredicate{}))).
		Watches(&v1alpha1.Approval{}, handler.EnqueueRequestsFromMapFunc(approvedExperiment)).
		WatchesRawSource(source.Channel(r.probes.wake, &handler.EnqueueRequestForObject{})).
		Complete(r)
}

// approvedExperiment wakes the experiment an Approval names.
func approvedExperiment(_ context.Context, o client.Object) []reconcile.Request {
	a, ok := o.(*v1alpha1.Approval)
	if !ok {
		return nil
	}
	return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: a.Namespace, Name: a.Spec.Experiment}}}
}

// Reconcile: finalize when deleted, otherwise drive the run; a deferred
// patch writes status and conditions whatever happens.
func (r *ExperimentReconciler) Reconcile(ctx context.Context, req ctrl.Request) (result ctrl.Result, retErr error) {
	exp := &v1alpha1.Experiment{}
	if err := r.Get(ctx, req.NamespacedName, exp); err != nil {
		if apierrors.IsNotFound(err) {
			r.book.set(req.String(), "", nil)
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	ctx = log.IntoContext(ctx, log.FromContext(ctx).WithValues("experiment", klog.KObj(exp)))

	if !exp.DeletionTimestamp.IsZero() {
		return r.finalize(ctx, exp)
	}
	if !controllerutil.ContainsFinalizer(exp, ExperimentFinalizer) {
		orig := exp.DeepCopy()
		controllerutil.AddFinalizer(exp, ExperimentFinalizer)
		if err := r.Patch(ctx, exp, client.MergeFrom(orig)); err != nil {
			return ctrl.Result{}, fmt.Errorf("adding finalizer: %w", err)
		}
	}

	patcher := patch.NewSerialPatcher(exp, r.Client)
	defer func() {
		if retErr == nil && !conditions.IsReconciling(exp) {
			conditions.Delete(exp, meta.ReconcilingCondition)
		}
		opts := []patch.Option{
			patch.WithOwnedConditions{Conditions: []string{meta.ReadyCondition, meta.ReconcilingCondition, meta.StalledCondition,
				v1alpha1.AdmittedCondition, v1alpha1.InjectedCondition, v1alpha1.RecoveredCondition, v1alpha1.VerdictReachedCondition}},
			patch.WithFieldOwner(hubFieldOwner),
		}
		if exp.Status.Phase.Terminal() {
			opts = append(opts, patch.WithStatusObservedGeneration{})
		}
		if err := patcher.Patch(ctx, exp, opts...); err != nil {
			retErr = kerrors.NewAggregate([]error{retErr, err})
		}
		r.book.set(req.String(), exp.Status.Phase, exp.Status.Targets)
		if r.WriteBack != nil {
			r.WriteBack.report(ctx, r, exp)
		}
	}()

	conditions.Delete(exp, meta.ReconcilingCondition)
	return r.reconcileRun(ctx, exp)
}

// finalize recovers every Injection of the experiment, then lets it go.
func (r *ExperimentReconciler) finalize(ctx context.Context, exp *v1alpha1.Experiment) (ctrl.Result, error) {
	if !controllerutil.ContainsFinalizer(exp, ExperimentFinalizer) {
		return ctrl.Result{}, nil
	}
	done, err := r.recoverAll(ctx, exp, "")
	if err != nil {
		return ctrl.Result{}, err
	}
	if !done {
		return ctrl.Result{RequeueAfter: pollInterval / 5}, nil
	}
	orig := exp.DeepCopy()
	controllerutil.RemoveFinalizer(exp, ExperimentFinalizer)
	if err := r.Patch(ctx, exp, client.MergeFrom(orig)); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	r.book.set(experimentKey(exp), "", nil)
	r.probes.forget(experimentKey(exp))
	log.FromContext(ctx).Info("experiment removed; every injection recovered")
	return ctrl.Result{}, nil
}

// placementOf is the experiment's placement, or its source's default.
func (r *ExperimentReconciler) placementOf(ctx context.Context, exp *v1alpha1.Experiment) (*v1alpha1.Placement, error) {
	if exp.Spec.Placement != nil {
		return exp.Spec.Placement, nil
	}
	src, err := ownerSource(ctx, r.Client, exp)
	if err != nil || src == nil {
		return nil, err
	}
	return src.Spec.Placement, nil
}

// ownerSource is the ChaosSource that applied the experiment, or nil for
// an experiment created by hand.
func ownerSource(ctx context.Context, c client.Reader, exp *v1alpha1.Experiment) (*v1alpha1.ChaosSource, error) {
	for _, ref := range exp.OwnerReferences {
		if ref.Kind != "ChaosSource" {
			continue
		}
		src := &v1alpha1.ChaosSource{}
		if err := c.Get(ctx, client.ObjectKey{Namespace: exp.Namespace, Name: ref.Name}, src); err != nil {
			return nil, client.IgnoreNotFound(err)
		}
		return src, nil
	}
	return nil, nil
}

// listMembers returns the member clusters and host agents placement chooses from.
func (r *ExperimentReconciler) listMembers(ctx context.Context) ([]federation.Member, error) {
	var out []federation.Member
	mcs := &v1alpha1.MemberClusterList{}
	if err := r.List(ctx, mcs); err != nil {
		return nil, fmt.Errorf("listing member clusters: %w", err)
	}
	for _, mc := range mcs.Items {
		if mc.Spec.Suspend {
			continue
		}
		out = append(out, federation.Member{Name: mc.Name, Kind: federation.KindMemberCluster, Labels: mc.Labels})
	}
	agents := &v1alpha1.HostAgentList{}
	if err := r.List(ctx, agents); err != nil {
		return nil, fmt.Errorf("listing host agents: %w", err)
	}
	for _, a := range agents.Items {
		if a.Spec.Suspend {
			continue
		}
		out = append(out, federation.Member{Name: a.Name, Kind: federation.KindHostAgent, Labels: a.Labels})
	}
	return out, nil
}

func (r *ExperimentReconciler) observeCommitToInjected(exp *v1alpha1.Experiment, now time.Time) {
	if ptrValue(exp.Status.CurrentWave) != 0 {
		return
	}
	if at, err := time.Parse(time.RFC3339Nano, exp.Annotations[v1alpha1.CommittedAtAnnotation]); err == nil {
		commitToInjected.Observe(now.Sub(at).Seconds())
	}
}

func (r *ExperimentReconciler) event(exp *v1alpha1.Experiment, typ, reason, action, format string, args ...any) {
	if r.EventRecorder != nil {
		r.EventRecorder.Eventf(exp, nil, typ, reason, action, format, args...)
	}
}

func (r *ExperimentReconciler) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

// rand returns a generator of its own to each caller, seeded from a shared
// one, so concurrent reconciles never share state; selection needs no crypto.
func (r *ExperimentReconciler) rand() *rand.Rand {
	r.randMu.Lock()
	defer r.randMu.Unlock()
	if r.rnd == nil {
		r.rnd = rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 0x6661756c74))
	}
	return rand.New(rand.NewPCG(r.rnd.Uint64(), r.rnd.Uint64()))
}
