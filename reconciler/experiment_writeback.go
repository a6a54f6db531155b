package reconciler

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/fluxcd/pkg/runtime/conditions"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	v1alpha1 "github.com/faultline-dev/faultline/crds/v1alpha1"
	"github.com/faultline-dev/faultline/policy"
	"github.com/faultline-dev/faultline/reconciler/writeback"
	"github.com/faultline-dev/faultline/sources"
)

// writeBackTimeout bounds each call to a forge or a Git remote.
const writeBackTimeout = 15 * time.Second

// WriteBack reports runs where people already look: a commit status on the
// revision (pending while admitted or running, the verdict when it is in,
// the rule when a policy denies, who must approve while waiting) and, once
// per run, a JSON audit note under refs/notes/faultline. Failures are events,
// never a reason to hold a fault longer.
type WriteBack struct {
	// Client reads ChaosSources, their Secrets and Approvals.
	Client client.Reader
	// HTTPClient for forge APIs; nil: a client with writeBackTimeout.
	HTTPClient *http.Client
	// AuditNotes pushes an audit note per finished run with the source's
	// credentials (which then need write access).
	AuditNotes bool

	mu     sync.Mutex
	posted map[string]string // experiment -> last status posted
	noted  map[string]bool   // experiment/run -> audit note pushed
}

func (w *WriteBack) report(ctx context.Context, r *ExperimentReconciler, exp *v1alpha1.Experiment) {
	src, err := ownerSource(ctx, w.Client, exp)
	if err != nil || src == nil {
		return
	}
	revision := exp.Status.Revision
	if revision == "" {
		revision = exp.Annotations[v1alpha1.RevisionAnnotation]
	}
	sha := writeback.CommitOf(revision)
	if sha == "" {
		return
	}
	w.postStatus(ctx, r, exp, src, sha)
	if w.AuditNotes && exp.Status.Phase.Terminal() && exp.Status.Verdict != nil {
		w.appendNote(ctx, r, exp, src)
	}
}

// statusOf maps the experiment's state to a commit status.
func statusOf(exp *v1alpha1.Experiment) (writeback.State, string, bool) {
	switch exp.Status.Phase {
	case v1alpha1.PhaseDenied:
		msg := conditions.GetMessage(exp, v1alpha1.AdmittedCondition)
		rule, reason, _ := strings.Cut(strings.Split(msg, "; ")[0], ": ")
		s, d := writeback.Denied(rule, reason)
		return s, d, true
	case v1alpha1.PhaseAwaitingApproval:
		msg := strings.TrimPrefix(conditions.GetMessage(exp, v1alpha1.AdmittedCondition), "awaiting approval by ")
		s, d := writeback.AwaitingApproval(msg)
		return s, d, true
	case v1alpha1.PhaseInjecting, v1alpha1.PhaseRunning, v1alpha1.PhaseRecovering:
		s, d := writeback.Running(exp.Status.Phase)
		return s, d, true
	}
	if exp.Status.Phase.Terminal() && exp.Status.Verdict != nil {
		s, d := writeback.ForVerdict(*exp.Status.Verdict)
		return s, d, true
	}
	return "", "", false
}

func (w *WriteBack) postStatus(ctx context.Context, r *ExperimentReconciler, exp *v1alpha1.Experiment, src *v1alpha1.ChaosSource, sha string) {
	state, desc, ok := statusOf(exp)
	if !ok || src.Spec.CommitStatus == nil {
		return
	}
	key, val := experimentKey(exp), sha+"|"+string(state)+"|"+desc
	w.mu.Lock()
	same := w.posted[key] == val
	w.mu.Unlock()
	if same {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, writeBackTimeout)
	defer cancel()
	p, err := writeback.ForSource(ctx, w.Client, src, w.httpClient())
	if err == nil && p != nil {
		err = p.SetStatus(ctx, writeback.Status{SHA: sha, State: state,
			Context: writeback.StatusContext(exp.Namespace, exp.Name), Description: desc})
	}
	if err != nil {
		r.event(exp, corev1.EventTypeWarning, "CommitStatusFailed", "WriteBack", "commit status on %s: %v", sha, err)
		return
	}
	w.mu.Lock()
	if w.posted == nil {
		w.posted = map[string]string{}
	}
	w.posted[key] = val
	w.mu.Unlock()
}

func (w *WriteBack) appendNote(ctx context.Context, r *ExperimentReconciler, exp *v1alpha1.Experiment, src *v1alpha1.ChaosSource) {
	key := experimentKey(exp) + "/" + exp.Status.Run
	w.mu.Lock()
	done := w.noted[key]
	w.mu.Unlock()
	if done {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, writeBackTimeout)
	defer cancel()
	var data map[string][]byte
	if src.Spec.SecretRef != nil {
		sec := &corev1.Secret{}
		if err := w.Client.Get(ctx, client.ObjectKey{Namespace: src.Namespace, Name: src.Spec.SecretRef.Name}, sec); err != nil {
			r.event(exp, corev1.EventTypeWarning, "AuditNoteFailed", "WriteBack", "reading the source's credentials: %v", err)
			return
		}
		data = sec.Data
	}
	stateDir := filepath.Join(os.TempDir(), "faultline", "notes", src.Namespace, src.Name)
	auth, err := sources.AuthFromSecret(src.Spec.URL, data, stateDir)
	if err != nil {
		r.event(exp, corev1.EventTypeWarning, "AuditNoteFailed", "WriteBack", "credentials: %v", err)
		return
	}
	author := ""
	if src.Status.Artifact != nil {
		author = src.Status.Artifact.Author
	}
	approvals := &v1alpha1.ApprovalList{}
	if err := w.Client.List(ctx, approvals, client.InNamespace(exp.Namespace)); err != nil {
		approvals.Items = nil
	}
	rec := writeback.NewRecord(exp, author, approvalsOfRun(exp, approvals.Items), nil)
	notes := &writeback.Notes{URL: src.Spec.URL, Auth: auth}
	if err := notes.Append(ctx, rec); err != nil {
		r.event(exp, corev1.EventTypeWarning, "AuditNoteFailed", "WriteBack", "audit note on %s: %v", rec.Commit, err)
		return
	}
	log.FromContext(ctx).V(1).Info("audit note pushed", "commit", rec.Commit)
	w.mu.Lock()
	if w.noted == nil {
		w.noted = map[string]bool{}
	}
	w.noted[key] = true
	w.mu.Unlock()
}

func (w *WriteBack) httpClient() *http.Client {
	if w.HTTPClient != nil {
		return w.HTTPClient
	}
	return &http.Client{Timeout: writeBackTimeout}
}

// approvalsOfRun picks the approvals of the experiment's revision, by the
// rule admission uses: the full revision, the SHA-1 or an abbreviation of
// it, so a run approved with `faultline approve --revision 3f2c1ab` records
// its approver.
func approvalsOfRun(exp *v1alpha1.Experiment, approvals []v1alpha1.Approval) []v1alpha1.Approval {
	var counted []v1alpha1.Approval
	for _, a := range approvals {
		if a.Spec.Experiment == exp.Name && policy.RevisionMatches(a.Spec.Revision, exp.Status.Revision) {
			counted = append(counted, a)
		}
	}
	return counted
}
