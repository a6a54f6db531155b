package reconciler

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/fluxcd/pkg/runtime/conditions"
	"github.com/go-git/go-git/v5/plumbing/transport"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"

	v1alpha1 "github.com/faultline-dev/faultline/crds/v1alpha1"
	"github.com/faultline-dev/faultline/sources"
)

// sourceRun carries one pass's results from step to step.
type sourceRun struct {
	obj      *v1alpha1.ChaosSource
	repo     *sources.Repository
	revision sources.Revision
	commit   *sources.Commit
	signer   string
	built    *sources.BuildResult
}

// defaultGitTimeout bounds a fetch when the spec sets no timeout.
const defaultGitTimeout = 60 * time.Second

func gitTimeout(obj *v1alpha1.ChaosSource) time.Duration {
	if obj.Spec.Timeout != nil && obj.Spec.Timeout.Duration > 0 {
		return obj.Spec.Timeout.Duration
	}
	return defaultGitTimeout
}

// stepResolve asks the remote for the ref's commit, and ends the pass when
// it is the revision already applied and the cluster still holds exactly
// its experiments: the common case costs one ref advertisement.
func (r *ChaosSourceReconciler) stepResolve(ctx context.Context, rs *sourceRun) error {
	obj := rs.obj
	cacheDir := sources.CacheDirFor(r.CacheRoot, obj.Namespace, obj.Name)
	rs.repo = &sources.Repository{URL: obj.Spec.URL, Ref: obj.Spec.Ref, CacheDir: filepath.Join(cacheDir, "repo")}
	if ref := obj.Spec.SecretRef; ref != nil {
		secret := &corev1.Secret{}
		if err := r.APIReader.Get(ctx, types.NamespacedName{Namespace: obj.Namespace, Name: ref.Name}, secret); err != nil {
			err = fmt.Errorf("reading credentials secret %s: %w", ref.Name, err)
			conditions.MarkTrue(obj, v1alpha1.FetchFailedCondition, reasonAuthFailed, "%s", err)
			return &transientError{reason: reasonAuthFailed, err: err}
		}
		auth, err := sources.AuthFromSecret(obj.Spec.URL, secret.Data, filepath.Join(cacheDir, "ssh"))
		if err != nil {
			err = fmt.Errorf("credentials secret %s: %w", ref.Name, err)
			conditions.MarkTrue(obj, v1alpha1.FetchFailedCondition, reasonAuthFailed, "%s", err)
			return stall(reasonAuthFailed, err)
		}
		rs.repo.Auth = auth
	}

	tctx, cancel := context.WithTimeout(ctx, gitTimeout(obj))
	defer cancel()
	rev, err := rs.repo.Resolve(tctx)
	if err != nil {
		return fetchFailed(obj, err)
	}
	rs.revision = rev

	a := obj.Status.Artifact
	if a != nil && a.Revision == rev.String() && obj.Status.FetchedRevision == a.Revision &&
		obj.Generation == obj.Status.ObservedGeneration && conditions.IsReady(obj) {
		inSync, err := r.experimentsInSync(ctx, obj)
		if err != nil {
			return &transientError{reason: reasonApplyFailed, err: err}
		}
		if inSync {
			ctrl.LoggerFrom(ctx).V(1).Info("revision unchanged", "revision", a.Revision)
			return errUpToDate
		}
	}
	return nil
}

// stepCheckout brings the revision into the source's cache.
func (r *ChaosSourceReconciler) stepCheckout(ctx context.Context, rs *sourceRun) error {
	tctx, cancel := context.WithTimeout(ctx, gitTimeout(rs.obj))
	defer cancel()
	c, err := rs.repo.Checkout(tctx, rs.revision)
	if err != nil {
		return fetchFailed(rs.obj, err)
	}
	rs.commit = c
	conditions.Delete(rs.obj, v1alpha1.FetchFailedCondition)
	rs.obj.Status.FetchedRevision = rs.revision.String()
	return nil
}

// fetchFailed classifies a Git error and records FetchFailed.
func fetchFailed(obj *v1alpha1.ChaosSource, err error) error {
	switch {
	case errors.Is(err, sources.ErrRefNotFound):
		conditions.MarkTrue(obj, v1alpha1.FetchFailedCondition, reasonInvalidRef, "%s", err)
		return stall(reasonInvalidRef, err)
	case errors.Is(err, transport.ErrAuthenticationRequired), errors.Is(err, transport.ErrAuthorizationFailed):
		conditions.MarkTrue(obj, v1alpha1.FetchFailedCondition, reasonAuthFailed, "%s", err)
		return &transientError{reason: reasonAuthFailed, err: err}
	}
	conditions.MarkTrue(obj, v1alpha1.FetchFailedCondition, reasonGitOperationFailed, "%s", err)
	return &transientError{reason: reasonGitOperationFailed, err: err}
}

// stepVerify checks the OpenPGP signature the spec asks for.
func (r *ChaosSourceReconciler) stepVerify(ctx context.Context, rs *sourceRun) error {
	obj := rs.obj
	v := obj.Spec.Verify
	if v == nil {
		conditions.Delete(obj, v1alpha1.VerificationFailedCondition)
		return nil
	}
	secret := &corev1.Secret{}
	if err := r.APIReader.Get(ctx, types.NamespacedName{Namespace: obj.Namespace, Name: v.SecretRef.Name}, secret); err != nil {
		err = fmt.Errorf("reading verification keys secret %s: %w", v.SecretRef.Name, err)
		conditions.MarkTrue(obj, v1alpha1.VerificationFailedCondition, reasonInvalidSignature, "%s", err)
		return &transientError{reason: reasonInvalidSignature, err: err}
	}
	var keys [][]byte
	for _, k := range slices.Sorted(maps.Keys(secret.Data)) {
		keys = append(keys, secret.Data[k])
	}
	ring, err := sources.KeyRing(keys...)
	if err != nil {
		err = fmt.Errorf("verification keys secret %s: %w", v.SecretRef.Name, err)
		conditions.MarkTrue(obj, v1alpha1.VerificationFailedCondition, reasonInvalidSignature, "%s", err)
		return stall(reasonInvalidSignature, err)
	}
	signer, err := rs.commit.Verify(v.Mode, ring)
	if err != nil {
		reason := reasonInvalidSignature
		if errors.Is(err, sources.ErrUnsigned) {
			reason = reasonUnsigned
		}
		conditions.MarkTrue(obj, v1alpha1.VerificationFailedCondition, reason, "%s", err)
		return &revisionError{reason: reason, revision: rs.revision.String(), err: err}
	}
	rs.signer = signer
	conditions.Delete(obj, v1alpha1.VerificationFailedCondition)
	return nil
}

// stepBuild builds spec.path of the checkout, as `faultline build` does.
// Experiments live in the source's namespace: that is what lets the source
// own them, and what keeps one team's repository out of another's
// namespace.
func (r *ChaosSourceReconciler) stepBuild(ctx context.Context, rs *sourceRun) error {
	obj := rs.obj
	opts := r.BuildOptions
	opts.Root = rs.commit.Dir
	opts.DefaultNamespace = obj.Namespace
	if obj.Spec.Ignore != nil {
		opts.Ignore = *obj.Spec.Ignore
	}
	dir := filepath.Join(rs.commit.Dir, filepath.FromSlash(strings.TrimPrefix(obj.Spec.Path, "/")))
	res, err := sources.Build(ctx, dir, opts)
	if err == nil {
		var be sources.BuildErrors
		for _, e := range res.Experiments {
			if e.Namespace != obj.Namespace {
				file, line := splitSourceFile(e.Annotations[sources.SourceFileAnnotation])
				be.Errors = append(be.Errors, sources.FieldError{File: file, Line: line, Field: "metadata.namespace",
					Message: fmt.Sprintf("namespace %q differs from the source's %q: a ChaosSource manages experiments in its own namespace only", e.Namespace, obj.Namespace)})
			}
		}
		if len(be.Errors) > 0 {
			err = &be
		}
	}
	if err != nil {
		if _, ok := sources.AsBuildErrors(err); !ok && ctx.Err() != nil {
			return &transientError{reason: reasonBuildFailed, err: err}
		}
		conditions.MarkTrue(obj, v1alpha1.BuildFailedCondition, reasonBuildFailed, "%s", err)
		return &revisionError{reason: reasonBuildFailed, revision: rs.revision.String(), err: err}
	}
	rs.built = res
	conditions.Delete(obj, v1alpha1.BuildFailedCondition)
	return nil
}

func splitSourceFile(s string) (string, int) {
	i := strings.LastIndexByte(s, ':')
	if i < 0 {
		return s, 0
	}
	var n int
	fmt.Sscanf(s[i+1:], "%d", &n)
	return s[:i], n
}

// recordArtifact stores what was applied.
func (r *ChaosSourceReconciler) recordArtifact(rs *sourceRun) {
	obj := rs.obj
	prev := ""
	if obj.Status.Artifact != nil {
		prev = obj.Status.Artifact.Revision
	}
	obj.Status.Artifact = &v1alpha1.Artifact{
		Revision:       rs.revision.String(),
		Digest:         rs.built.Digest,
		Author:         rs.commit.Author,
		Committer:      rs.commit.Committer,
		Message:        rs.commit.Message,
		Signer:         rs.signer,
		LastUpdateTime: metav1.Now(),
	}
	refs := make([]v1alpha1.ExperimentReference, 0, len(rs.built.Experiments))
	for _, e := range rs.built.Experiments {
		refs = append(refs, v1alpha1.ExperimentReference{
			Namespace: e.Namespace, Name: e.Name,
			File:  e.Annotations[sources.SourceFileAnnotation],
			Fault: e.Spec.Fault.Kind(),
		})
	}
	obj.Status.Experiments = refs
	if prev != obj.Status.Artifact.Revision {
		r.event(obj, corev1.EventTypeNormal, "NewRevision", "Apply", "applied revision %s (%s): %d experiment(s)",
			obj.Status.Artifact.Revision, obj.Status.Artifact.Message, len(refs))
	}
}
