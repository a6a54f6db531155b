package reconciler

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/fluxcd/pkg/apis/meta"
	"github.com/fluxcd/pkg/runtime/conditions"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	v1alpha1 "github.com/faultline-dev/faultline/crds/v1alpha1"
	"github.com/faultline-dev/faultline/federation"
	"github.com/faultline-dev/faultline/reconciler/verdict"
)

// Reasons of Experiment conditions.
const (
	ReasonAdmitted          = "Admitted"
	ReasonDenied            = "Denied"
	ReasonAwaitingApproval  = "AwaitingApproval"
	ReasonNoMembers         = "NoMembers"
	ReasonInvalidPlacement  = "InvalidPlacement"
	ReasonProgressing       = "Progressing"
	ReasonWaveFailed        = "WaveFailed"
	ReasonAborted           = "AbortRequested"
	ReasonPaused            = "Paused"
	ReasonMemberUnreachable = "MemberUnreachable"
)

// pollInterval is how often a running experiment looks at its members:
// their Injections live in other API servers, which the hub does not watch.
const pollInterval = 500 * time.Millisecond

// runKey names a run after the spec generation it started from. A new
// source revision that leaves the experiment unchanged starts no new run
// (every push would otherwise re-inject every experiment); one that changes
// it does. Admission always reads the current revision, so approvals bind
// to the revision that is there when the run starts.
func runKey(exp *v1alpha1.Experiment) string {
	return fmt.Sprintf("g%d", exp.Generation)
}

// reconcileRun drives one run through its phases.
func (r *ExperimentReconciler) reconcileRun(ctx context.Context, exp *v1alpha1.Experiment) (ctrl.Result, error) {
	res, err := r.reconcileRunOnce(ctx, exp)
	// A scheduled experiment whose run ended waits for its next tick.
	if err == nil && res.RequeueAfter == 0 && exp.Spec.Schedule != "" && exp.Status.Phase.Terminal() && exp.Status.NextScheduleTime != nil {
		res.RequeueAfter = max(time.Until(exp.Status.NextScheduleTime.Time), pollInterval)
	}
	return res, err
}

func (r *ExperimentReconciler) reconcileRunOnce(ctx context.Context, exp *v1alpha1.Experiment) (ctrl.Result, error) {
	if exp.Spec.Schedule != "" {
		if res := r.scheduleStep(exp); res != nil {
			return *res, nil
		}
	}
	if key := scheduledRunKey(exp); exp.Status.Run != key {
		if exp.Status.Run != "" {
			done, err := r.recoverAll(ctx, exp, exp.Status.Run)
			if err != nil || !done {
				conditions.MarkReconciling(exp, ReasonProgressing, "recovering the previous run before starting %s", key)
				return ctrl.Result{RequeueAfter: pollInterval}, err
			}
		}
		r.resetRun(exp, key)
	}
	if r.abortRequested(exp) {
		return r.abort(ctx, exp)
	}
	if _, paused := exp.Annotations[v1alpha1.PauseAnnotation]; paused && !exp.Status.Phase.Terminal() {
		return r.pause(ctx, exp)
	}
	switch exp.Status.Phase {
	case "", v1alpha1.PhasePending, v1alpha1.PhaseAwaitingApproval:
		return r.admit(ctx, exp)
	case v1alpha1.PhasePaused:
		r.event(exp, "Normal", "Resumed", "Resume", "pause annotation removed: resuming wave %d", ptrValue(exp.Status.CurrentWave)+1)
		exp.Status.Phase = v1alpha1.PhaseInjecting
		return r.progress(ctx, exp)
	case v1alpha1.PhaseInjecting, v1alpha1.PhaseRunning, v1alpha1.PhaseRecovering:
		return r.progress(ctx, exp)
	}
	return ctrl.Result{}, nil
}

func (r *ExperimentReconciler) resetRun(exp *v1alpha1.Experiment, key string) {
	exp.Status = v1alpha1.ExperimentStatus{
		Run:              key,
		Phase:            v1alpha1.PhasePending,
		Revision:         exp.Annotations[v1alpha1.RevisionAnnotation],
		Conditions:       exp.Status.Conditions,
		LastScheduleTime: exp.Status.LastScheduleTime,
		NextScheduleTime: exp.Status.NextScheduleTime,
		History:          exp.Status.History,
	}
	for _, c := range []string{v1alpha1.AdmittedCondition, v1alpha1.InjectedCondition, v1alpha1.RecoveredCondition, v1alpha1.VerdictReachedCondition} {
		conditions.Delete(exp, c)
	}
}

// admit resolves placement and asks the built-in protections and the
// Admitter whether the run may start.
func (r *ExperimentReconciler) admit(ctx context.Context, exp *v1alpha1.Experiment) (ctrl.Result, error) {
	placement, err := r.placementOf(ctx, exp)
	if err != nil {
		return ctrl.Result{}, err
	}
	members, err := r.listMembers(ctx)
	if err != nil {
		return ctrl.Result{}, err
	}
	waves, err := federation.ResolvePlacement(placement, members)
	if err != nil {
		return r.deny(exp, ReasonInvalidPlacement, []string{err.Error()}), nil
	}
	if adm, ok := builtinAdmission(exp); !ok {
		return r.deny(exp, ReasonDenied, adm.Denials), nil
	}
	if len(waves) == 0 {
		exp.Status.Phase = v1alpha1.PhasePending
		conditions.MarkUnknown(exp, v1alpha1.AdmittedCondition, ReasonNoMembers, "placement selects no member cluster or host agent")
		conditions.MarkFalse(exp, meta.ReadyCondition, ReasonNoMembers, "placement selects no member cluster or host agent")
		return ctrl.Result{RequeueAfter: 30 * time.Second}, nil
	}
	if r.Admitter != nil {
		adm, err := r.Admitter.Admit(ctx, exp, waves)
		if err != nil {
			return ctrl.Result{}, fmt.Errorf("evaluating policies: %w", err)
		}
		for _, w := range adm.Warnings {
			r.event(exp, "Warning", "PolicyWarning", "Admit", "%s", w)
		}
		switch {
		case len(adm.Denials) > 0:
			return r.deny(exp, ReasonDenied, adm.Denials), nil
		case len(adm.AwaitingApproval) > 0:
			msg := "awaiting approval by " + strings.Join(adm.AwaitingApproval, ", ")
			if exp.Status.Phase != v1alpha1.PhaseAwaitingApproval {
				r.event(exp, "Normal", ReasonAwaitingApproval, "Admit", "%s", msg)
			}
			exp.Status.Phase = v1alpha1.PhaseAwaitingApproval
			conditions.MarkFalse(exp, v1alpha1.AdmittedCondition, ReasonAwaitingApproval, "%s", msg)
			conditions.MarkFalse(exp, meta.ReadyCondition, ReasonAwaitingApproval, "%s", msg)
			return ctrl.Result{RequeueAfter: 30 * time.Second}, nil
		}
	}

	now := r.now()
	start := metav1.NewTime(now)
	exp.Status.StartTime = &start
	conditions.MarkTrue(exp, v1alpha1.AdmittedCondition, ReasonAdmitted, "admitted for %d waves", len(waves))
	if v, err := r.runBefore(ctx, exp); err != nil {
		return r.finish(exp, v1alpha1.VerdictError, "ProbeInvalid", err.Error()), nil
	} else if v != nil {
		// The steady state does not hold: nothing is injected.
		return r.finishVerdict(exp, *v), nil
	}
	exp.Status.Waves = nil
	exp.Status.Targets = nil
	for _, w := range waves {
		exp.Status.Waves = append(exp.Status.Waves, w.Name)
		for _, c := range w.Clusters {
			exp.Status.Targets = append(exp.Status.Targets, v1alpha1.TargetSummary{Kind: federation.KindMemberCluster, Name: c.Name, Wave: w.Name, State: v1alpha1.MemberWaiting})
		}
		for _, a := range w.Agents {
			exp.Status.Targets = append(exp.Status.Targets, v1alpha1.TargetSummary{Kind: federation.KindHostAgent, Name: a.Name, Wave: w.Name, State: v1alpha1.MemberWaiting})
		}
	}
	exp.Status.CurrentWave = ptr(int32(0))
	exp.Status.Phase = v1alpha1.PhaseInjecting
	r.event(exp, "Normal", ReasonAdmitted, "Admit", "admitted at %s: %d waves", exp.Status.Revision, len(waves))
	return r.progress(ctx, exp)
}

func (r *ExperimentReconciler) deny(exp *v1alpha1.Experiment, reason string, denials []string) ctrl.Result {
	msg := strings.Join(denials, "; ")
	exp.Status.Phase = v1alpha1.PhaseDenied
	conditions.MarkFalse(exp, v1alpha1.AdmittedCondition, reason, "%s", msg)
	conditions.MarkFalse(exp, meta.ReadyCondition, reason, "%s", msg)
	conditions.MarkStalled(exp, reason, "%s", msg)
	r.event(exp, "Warning", reason, "Admit", "%s", msg)
	return ctrl.Result{}
}

// progress advances the current wave: starts members up to maxParallel,
// watches active ones, and closes the wave when all are done.
func (r *ExperimentReconciler) progress(ctx context.Context, exp *v1alpha1.Experiment) (ctrl.Result, error) {
	logger := log.FromContext(ctx)
	now := r.now()
	w := int(ptrValue(exp.Status.CurrentWave))
	if w >= len(exp.Status.Waves) {
		return r.conclude(exp)
	}
	if b := r.breached(exp); b != nil && exp.Spec.AbortOnBreach {
		return r.abortOnBreach(ctx, exp, b)
	}
	wave := exp.Status.Waves[w]
	maxParallel := r.maxParallel(exp, w)
	waitUntil := exp.Status.NextWaveTime

	active := 0
	for i := range exp.Status.Targets {
		ts := &exp.Status.Targets[i]
		if ts.Wave == wave && (ts.State == v1alpha1.MemberInjecting || ts.State == v1alpha1.MemberRunning || ts.State == v1alpha1.MemberRecovering) {
			active++
		}
	}
	// Decide which members take a step, then take the steps at once: each
	// member is another API server, and a wave of ten must not cost ten
	// round trips in a row.
	var steps []int
	for i := range exp.Status.Targets {
		ts := &exp.Status.Targets[i]
		if ts.Wave != wave {
			continue
		}
		switch ts.State {
		case v1alpha1.MemberWaiting:
			if waitUntil != nil && now.Before(waitUntil.Time) || maxParallel > 0 && active >= maxParallel {
				continue
			}
			active++
			steps = append(steps, i)
		case v1alpha1.MemberInjecting, v1alpha1.MemberRunning, v1alpha1.MemberRecovering:
			steps = append(steps, i)
		}
	}
	errs := make([]error, len(steps))
	var wg sync.WaitGroup
	for j, i := range steps {
		ts := &exp.Status.Targets[i]
		wg.Go(func() {
			agent := ts.Kind == federation.KindHostAgent
			switch {
			case ts.State == v1alpha1.MemberWaiting && agent:
				errs[j] = r.injectAgent(ctx, exp, ts, now)
			case ts.State == v1alpha1.MemberWaiting:
				errs[j] = r.inject(ctx, exp, ts, now)
			case agent:
				errs[j] = r.observeAgent(exp, ts, now)
			default:
				errs[j] = r.observe(ctx, exp, ts, now)
			}
		})
	}
	wg.Wait()
	unreachable := []string{}
	for j, i := range steps {
		ts, err := &exp.Status.Targets[i], errs[j]
		ts.Unreachable = errors.Is(err, federation.ErrUnreachable)
		switch {
		case ts.Unreachable:
			ts.Message = err.Error()
			unreachable = append(unreachable, ts.Name)
		case err != nil:
			logger.Error(err, "member step failed", "member", ts.Name)
			ts.Message = err.Error()
		}
	}

	// Phase follows the busiest member of the wave.
	states := map[v1alpha1.MemberState]int{}
	for _, ts := range exp.Status.Targets {
		if ts.Wave == wave {
			states[ts.State]++
		}
	}
	switch {
	case states[v1alpha1.MemberInjecting] > 0 || states[v1alpha1.MemberWaiting] > 0:
		exp.Status.Phase = v1alpha1.PhaseInjecting
	case states[v1alpha1.MemberRunning] > 0:
		exp.Status.Phase = v1alpha1.PhaseRunning
		conditions.MarkTrue(exp, v1alpha1.InjectedCondition, "Injected", "wave %s: faults active", wave)
		if err := r.startDuring(exp); err != nil {
			return r.finish(exp, v1alpha1.VerdictError, "ProbeInvalid", err.Error()), nil
		}
	case states[v1alpha1.MemberRecovering] > 0:
		exp.Status.Phase = v1alpha1.PhaseRecovering
	default: // every member of the wave is Done or Failed
		return r.closeWave(exp, w)
	}
	msg := fmt.Sprintf("wave %s (%d of %d): %s", wave, w+1, len(exp.Status.Waves), exp.Status.Phase)
	if len(unreachable) > 0 {
		msg += "; unreachable: " + strings.Join(unreachable, ", ")
		conditions.MarkFalse(exp, meta.ReadyCondition, ReasonMemberUnreachable, "%s", msg)
	} else {
		conditions.MarkUnknown(exp, meta.ReadyCondition, ReasonProgressing, "%s", msg)
	}
	conditions.MarkReconciling(exp, ReasonProgressing, "%s", msg)
	return ctrl.Result{RequeueAfter: r.nextPoll(exp, wave, now)}, nil
}

// runningPoll is how often a wave whose members all have their faults on is
// looked at: often enough to renew leases and notice an unreachable member,
// rarely enough that a hub running many experiments is not busy polling.
const runningPoll = 3 * time.Second

// nextPoll is soon while members are changing state, and otherwise at the
// earliest member's end or runningPoll. A probe breach wakes the experiment
// at once, whatever this says.
func (r *ExperimentReconciler) nextPoll(exp *v1alpha1.Experiment, wave string, now time.Time) time.Duration {
	next := runningPoll
	for _, ts := range exp.Status.Targets {
		if ts.Wave != wave {
			continue
		}
		switch ts.State {
		case v1alpha1.MemberRunning:
			if ts.StartTime != nil {
				next = min(next, max(ts.StartTime.Add(runDuration(exp)).Sub(now), pollInterval/5))
			}
		case v1alpha1.MemberDone, v1alpha1.MemberFailed:
		default:
			return pollInterval
		}
	}
	return next
}

// closeWave judges a finished wave: the next starts only if it passed.
func (r *ExperimentReconciler) closeWave(exp *v1alpha1.Experiment, w int) (ctrl.Result, error) {
	wave := exp.Status.Waves[w]
	var failed []string
	for _, ts := range exp.Status.Targets {
		if ts.Wave == wave && ts.State == v1alpha1.MemberFailed {
			failed = append(failed, ts.Name+": "+ts.Message)
		}
	}
	if len(failed) > 0 {
		slices.Sort(failed)
		r.probes.stop(exp)
		return r.finish(exp, v1alpha1.VerdictFailed, ReasonWaveFailed, fmt.Sprintf("wave %s failed: %s", wave, strings.Join(failed, "; "))), nil
	}
	if b := r.breached(exp); b != nil || w+1 >= len(exp.Status.Waves) {
		// The last wave is over, or a during probe failed: no further wave.
		exp.Status.CurrentWave = ptr(int32(len(exp.Status.Waves)))
		return r.conclude(exp)
	}
	r.event(exp, "Normal", "WavePassed", "Progress", "wave %s passed", wave)
	exp.Status.CurrentWave = ptr(int32(w + 1))
	if pause := r.wavePause(exp, w); pause > 0 {
		next := metav1.NewTime(r.now().Add(pause))
		exp.Status.NextWaveTime = &next
	} else {
		exp.Status.NextWaveTime = nil
	}
	exp.Status.Phase = v1alpha1.PhaseInjecting
	conditions.MarkReconciling(exp, ReasonProgressing, "wave %s passed; next: %s", wave, exp.Status.Waves[w+1])
	return ctrl.Result{RequeueAfter: pollInterval}, nil
}

// conclude waits for the after probes, then judges the run from every
// probe's evidence. An experiment without probes passes when every wave
// injected and recovered all its targets.
func (r *ExperimentReconciler) conclude(exp *v1alpha1.Experiment) (ctrl.Result, error) {
	if len(exp.Spec.Probes) == 0 {
		return r.finish(exp, v1alpha1.VerdictPassed, "AllWavesPassed", fmt.Sprintf("all %d waves injected and recovered every target", len(exp.Status.Waves))), nil
	}
	done, err := r.afterDone(exp)
	if err != nil {
		return r.finish(exp, v1alpha1.VerdictError, "ProbeInvalid", err.Error()), nil
	}
	if !done {
		exp.Status.Phase = v1alpha1.PhaseRecovering
		conditions.MarkReconciling(exp, ReasonProgressing, "every target recovered; waiting for the after probes")
		return ctrl.Result{RequeueAfter: pollInterval}, nil
	}
	ev := r.probes.stop(exp)
	return r.finishVerdict(exp, verdict.Compute(verdict.Run{Evidence: ev, AbortOnBreach: exp.Spec.AbortOnBreach, Time: r.now()})), nil
}

// abortOnBreach recovers every target at once because a during probe failed
// and the experiment says abortOnBreach.
func (r *ExperimentReconciler) abortOnBreach(ctx context.Context, exp *v1alpha1.Experiment, b *v1alpha1.ProbeEvidence) (ctrl.Result, error) {
	done, err := r.recoverAll(ctx, exp, exp.Status.Run)
	if err != nil || !done {
		exp.Status.Phase = v1alpha1.PhaseRecovering
		conditions.MarkReconciling(exp, verdict.ReasonProbeBreached, "probe %s breached: recovering every target", b.Probe)
		return ctrl.Result{RequeueAfter: pollInterval / 5}, err
	}
	for i := range exp.Status.Targets {
		ts := &exp.Status.Targets[i]
		if ts.State != v1alpha1.MemberWaiting {
			ts.Recovered = ts.Injected
			ts.State = v1alpha1.MemberDone
		}
	}
	ev := r.probes.stop(exp)
	return r.finishVerdict(exp, verdict.Compute(verdict.Run{Evidence: ev, AbortOnBreach: true, Time: r.now()})), nil
}

// finish ends the run with a verdict of the hub's own (no probe evidence).
func (r *ExperimentReconciler) finish(exp *v1alpha1.Experiment, result v1alpha1.VerdictResult, reason, msg string) ctrl.Result {
	now := metav1.NewTime(r.now())
	return r.finishVerdict(exp, v1alpha1.Verdict{Result: result, Reason: reason, Message: msg, Time: &now})
}

// finishVerdict ends the run with v.
func (r *ExperimentReconciler) finishVerdict(exp *v1alpha1.Experiment, v v1alpha1.Verdict) ctrl.Result {
	now := metav1.NewTime(r.now())
	result, msg := v.Result, v.Message
	if v.Time == nil {
		v.Time = &now
	}
	exp.Status.Phase = v1alpha1.PhaseCompleted
	if result == v1alpha1.VerdictAborted {
		exp.Status.Phase = v1alpha1.PhaseAborted
	}
	exp.Status.EndTime = &now
	exp.Status.NextWaveTime = nil
	exp.Status.Verdict = &v
	conditions.MarkTrue(exp, v1alpha1.VerdictReachedCondition, string(result), "%s", msg)
	conditions.MarkTrue(exp, v1alpha1.RecoveredCondition, "Recovered", "every target recovered")
	conditions.MarkTrue(exp, meta.ReadyCondition, string(result), "run %s finished: %s: %s", exp.Status.Run, result, msg)
	conditions.Delete(exp, meta.StalledCondition)
	if exp.Spec.Schedule != "" {
		r.recordHistory(exp)
	}
	typ := "Normal"
	if result != v1alpha1.VerdictPassed {
		typ = "Warning"
	}
	r.event(exp, typ, "Verdict"+string(result), "Judge", "%s", msg)
	return ctrl.Result{}
}

// abortRequested reports an abort annotation newer than the run's start:
// an abort stops what runs now, not runs that start later.
func (r *ExperimentReconciler) abortRequested(exp *v1alpha1.Experiment) bool {
	v, ok := exp.Annotations[v1alpha1.AbortAnnotation]
	if !ok || exp.Status.Phase.Terminal() {
		return false
	}
	at, err := time.Parse(time.RFC3339Nano, v)
	if err != nil || exp.Status.StartTime == nil {
		return true
	}
	return !at.Before(exp.Status.StartTime.Time.Truncate(time.Second))
}

// abort recovers every target of the experiment at once.
func (r *ExperimentReconciler) abort(ctx context.Context, exp *v1alpha1.Experiment) (ctrl.Result, error) {
	r.probes.stop(exp)
	done, err := r.recoverAll(ctx, exp, "")
	if err != nil || !done {
		conditions.MarkReconciling(exp, ReasonAborted, "abort requested: recovering every target")
		return ctrl.Result{RequeueAfter: pollInterval / 5}, err
	}
	if at, err := time.Parse(time.RFC3339Nano, exp.Annotations[v1alpha1.AbortAnnotation]); err == nil {
		abortToRecovered.Observe(r.now().Sub(at).Seconds())
	}
	for i := range exp.Status.Targets {
		ts := &exp.Status.Targets[i]
		if ts.State != v1alpha1.MemberWaiting {
			ts.Recovered = ts.Injected
		}
		ts.State = v1alpha1.MemberDone
	}
	return r.finish(exp, v1alpha1.VerdictAborted, ReasonAborted, "aborted on request; every target recovered"), nil
}

// pause recovers active members and holds the run until the annotation goes.
func (r *ExperimentReconciler) pause(ctx context.Context, exp *v1alpha1.Experiment) (ctrl.Result, error) {
	done, err := r.recoverAll(ctx, exp, exp.Status.Run)
	if err != nil || !done {
		return ctrl.Result{RequeueAfter: pollInterval}, err
	}
	for i := range exp.Status.Targets {
		ts := &exp.Status.Targets[i]
		if ts.State == v1alpha1.MemberInjecting || ts.State == v1alpha1.MemberRunning || ts.State == v1alpha1.MemberRecovering {
			ts.State, ts.StartTime, ts.Message = v1alpha1.MemberWaiting, nil, "paused: recovered, will inject again on resume"
			ts.Injected, ts.Recovered, ts.Failed = 0, 0, 0
		}
	}
	if exp.Status.Phase != v1alpha1.PhasePaused {
		r.event(exp, "Normal", ReasonPaused, "Pause", "paused by annotation %s; active targets recovered", v1alpha1.PauseAnnotation)
	}
	exp.Status.Phase = v1alpha1.PhasePaused
	conditions.MarkFalse(exp, meta.ReadyCondition, ReasonPaused, "paused by annotation %s", v1alpha1.PauseAnnotation)
	return ctrl.Result{}, nil
}

// recoverAll deletes the experiment's Injections (of one run, or of every
// run when run is empty) in every reachable member and reports whether none
// is left. Unreachable members are skipped: their executors recover on
// their own when the deadline lease lapses.
func (r *ExperimentReconciler) recoverAll(ctx context.Context, exp *v1alpha1.Experiment, run string) (bool, error) {
	sel := client.MatchingLabels{v1alpha1.ExperimentLabel: experimentLabelValue(exp)}
	if run != "" {
		sel[v1alpha1.RunLabel] = run
	}
	list := &v1alpha1.MemberClusterList{}
	if err := r.List(ctx, list); err != nil {
		return false, fmt.Errorf("listing member clusters: %w", err)
	}
	type result struct {
		left int
		err  error
	}
	results := make([]result, len(list.Items))
	done := make(chan struct{})
	for i := range list.Items {
		go func() {
			defer func() { done <- struct{}{} }()
			m, err := r.member(ctx, list.Items[i].Name)
			if err != nil {
				if !errors.Is(err, federation.ErrUnreachable) && !errors.Is(err, federation.ErrUnknownCluster) {
					results[i].err = err
				}
				return
			}
			if err := deleteInjections(ctx, m, sel); err != nil {
				results[i].err = err
				return
			}
			results[i].left, results[i].err = remainingInjections(ctx, m, sel)
		}()
	}
	for range list.Items {
		<-done
	}
	left := 0
	var errs []error
	for _, res := range results {
		left += res.left
		errs = append(errs, res.err)
	}
	agentsDone, err := r.recoverAgents(ctx, exp, run)
	errs = append(errs, err)
	return left == 0 && agentsDone, errors.Join(errs...)
}

func (r *ExperimentReconciler) maxParallel(exp *v1alpha1.Experiment, w int) int {
	if p := exp.Spec.Placement; p != nil && w < len(p.Waves) && p.Waves[w].MaxParallel != nil {
		return int(*p.Waves[w].MaxParallel)
	}
	return 0
}

func (r *ExperimentReconciler) wavePause(exp *v1alpha1.Experiment, w int) time.Duration {
	if p := exp.Spec.Placement; p != nil && w < len(p.Waves) && p.Waves[w].Pause != nil {
		return p.Waves[w].Pause.Duration
	}
	return 0
}

func ptr[T any](v T) *T { return &v }

func ptrValue[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}
