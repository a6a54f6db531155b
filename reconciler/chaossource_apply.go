package reconciler

import (
	"context"
	"fmt"
	"time"

	"golang.org/x/sync/errgroup"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/faultline-dev/faultline/crds/v1alpha1"
)

// applyConcurrency bounds the server-side applies of one revision in flight.
const applyConcurrency = 8

// stepApply makes the cluster's Experiments of this source exactly the
// revision's: every one applied with server-side apply (first as a dry run
// of all of them, so an object the API server refuses rejects the revision
// before anything changed), then those no longer in Git deleted.
func (r *ChaosSourceReconciler) stepApply(ctx context.Context, rs *sourceRun) error {
	obj := rs.obj
	desired := make([]*unstructured.Unstructured, 0, len(rs.built.Experiments))
	for i := range rs.built.Experiments {
		var committed time.Time
		if rs.commit != nil {
			committed = rs.commit.CommitTime
		}
		u, err := r.desiredExperiment(obj, &rs.built.Experiments[i], rs.revision.String(), committed)
		if err != nil {
			return &transientError{reason: reasonApplyFailed, err: err}
		}
		desired = append(desired, u)
	}
	for _, dryRun := range []bool{true, false} {
		// The applies of one pass are independent: run them side by side
		// so a revision of many experiments costs a few round trips, not
		// one per experiment. The dry-run pass still completes before
		// anything is applied for real.
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(applyConcurrency)
		for _, u := range desired {
			g.Go(func() error {
				opts := []client.ApplyOption{client.FieldOwner(ChaosSourceController), client.ForceOwnership}
				if dryRun {
					opts = append(opts, client.DryRunAll)
				}
				if err := r.Apply(gctx, client.ApplyConfigurationFromUnstructured(u.DeepCopy()), opts...); err != nil {
					err = fmt.Errorf("applying experiment %s: %w", u.GetName(), err)
					if dryRun && (apierrors.IsInvalid(err) || apierrors.IsBadRequest(err)) {
						return &revisionError{reason: reasonApplyFailed, revision: rs.revision.String(), err: err}
					}
					return &transientError{reason: reasonApplyFailed, err: err}
				}
				return nil
			})
		}
		if err := g.Wait(); err != nil {
			return err
		}
	}

	keep := make(map[string]bool, len(desired))
	for _, u := range desired {
		keep[u.GetName()] = true
	}
	owned, err := r.ownedExperiments(ctx, obj)
	if err != nil {
		return &transientError{reason: reasonApplyFailed, err: err}
	}
	for i := range owned {
		e := &owned[i]
		if keep[e.Name] {
			continue
		}
		// Git is the truth: removed from Git, removed here; the Experiment
		// reconciler recovers whatever it had injected.
		if err := r.Delete(ctx, e, client.PropagationPolicy(metav1.DeletePropagationBackground)); client.IgnoreNotFound(err) != nil {
			return &transientError{reason: reasonApplyFailed, err: fmt.Errorf("deleting experiment %s: %w", e.Name, err)}
		}
	}
	r.recordArtifact(rs)
	return nil
}

// desiredExperiment is what the source applies: metadata and spec only,
// labelled with the source, annotated with the revision, controlled by it.
func (r *ChaosSourceReconciler) desiredExperiment(obj *v1alpha1.ChaosSource, e *v1alpha1.Experiment, revision string, committed time.Time) (*unstructured.Unstructured, error) {
	labels := map[string]string{}
	for k, v := range e.Labels {
		labels[k] = v
	}
	labels[v1alpha1.SourceLabel] = obj.Name
	annotations := map[string]string{}
	for k, v := range e.Annotations {
		annotations[k] = v
	}
	annotations[v1alpha1.RevisionAnnotation] = revision
	if !committed.IsZero() {
		annotations[v1alpha1.CommittedAtAnnotation] = committed.UTC().Format(time.RFC3339)
	}
	spec, err := runtime.DefaultUnstructuredConverter.ToUnstructured(&e.Spec)
	if err != nil {
		return nil, err
	}
	u := &unstructured.Unstructured{Object: map[string]any{"spec": spec}}
	u.SetAPIVersion(v1alpha1.GroupVersion.String())
	u.SetKind("Experiment")
	u.SetNamespace(e.Namespace)
	u.SetName(e.Name)
	u.SetLabels(labels)
	u.SetAnnotations(annotations)
	yes := true
	u.SetOwnerReferences([]metav1.OwnerReference{{
		APIVersion: v1alpha1.GroupVersion.String(), Kind: "ChaosSource",
		Name: obj.Name, UID: obj.UID, Controller: &yes, BlockOwnerDeletion: &yes,
	}})
	return u, nil
}

// ownedExperiments lists the Experiments this source controls.
func (r *ChaosSourceReconciler) ownedExperiments(ctx context.Context, obj *v1alpha1.ChaosSource) ([]v1alpha1.Experiment, error) {
	list := &v1alpha1.ExperimentList{}
	if err := r.List(ctx, list, client.InNamespace(obj.Namespace), client.MatchingLabels{v1alpha1.SourceLabel: obj.Name}); err != nil {
		return nil, fmt.Errorf("listing experiments: %w", err)
	}
	out := list.Items[:0]
	for _, e := range list.Items {
		if ref := metav1.GetControllerOf(&e); ref != nil && ref.UID == obj.UID {
			out = append(out, e)
		}
	}
	return out, nil
}

// experimentsInSync reports whether the cluster holds exactly the
// experiments the applied revision declared, at that revision: a
// hand-deleted experiment, or a stray one, makes the source re-apply (from
// its cache, without fetching).
func (r *ChaosSourceReconciler) experimentsInSync(ctx context.Context, obj *v1alpha1.ChaosSource) (bool, error) {
	owned, err := r.ownedExperiments(ctx, obj)
	if err != nil {
		return false, err
	}
	if len(owned) != len(obj.Status.Experiments) {
		return false, nil
	}
	want := make(map[string]bool, len(owned))
	for _, ref := range obj.Status.Experiments {
		want[ref.Name] = true
	}
	for _, e := range owned {
		if !want[e.Name] || e.DeletionTimestamp != nil || e.Annotations[v1alpha1.RevisionAnnotation] != obj.Status.Artifact.Revision {
			return false, nil
		}
	}
	return true, nil
}
