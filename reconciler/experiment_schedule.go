package reconciler

import (
	"fmt"
	"time"

	"github.com/fluxcd/pkg/apis/meta"
	"github.com/fluxcd/pkg/runtime/conditions"
	"github.com/robfig/cron/v3"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"

	v1alpha1 "github.com/faultline-dev/faultline/crds/v1alpha1"
)

// ReasonInvalidSchedule is set when spec.schedule does not parse.
const ReasonInvalidSchedule = "InvalidSchedule"

// scheduleParser reads 5-field cron, an optional leading seconds field, and
// descriptors such as @hourly and @every 10m.
var scheduleParser = cron.NewParser(cron.SecondOptional | cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// scheduleStep decides, for a scheduled experiment, whether a tick starts a
// new run now. It returns a result to return at once when the experiment
// must wait (or cannot be scheduled), or nil to go on with the current run.
// Runs never overlap: a tick that finds a run still going is skipped.
func (r *ExperimentReconciler) scheduleStep(exp *v1alpha1.Experiment) *ctrl.Result {
	sched, err := scheduleParser.Parse(exp.Spec.Schedule)
	if err != nil {
		msg := fmt.Sprintf("spec.schedule: %v", err)
		conditions.MarkStalled(exp, ReasonInvalidSchedule, "%s", msg)
		conditions.MarkFalse(exp, meta.ReadyCondition, ReasonInvalidSchedule, "%s", msg)
		return &ctrl.Result{}
	}
	now := r.now()
	base := exp.CreationTimestamp.Time
	if exp.Status.LastScheduleTime != nil {
		base = exp.Status.LastScheduleTime.Time
	}
	next := sched.Next(base)
	// Catch up with ticks missed while the hub was down: only the latest counts.
	for n := sched.Next(next); !n.After(now); n = sched.Next(n) {
		next = n
	}
	running := exp.Status.LastScheduleTime != nil && !exp.Status.Phase.Terminal() && exp.Status.Phase != v1alpha1.PhasePending
	if now.Before(next) {
		exp.Status.NextScheduleTime = &metav1.Time{Time: next}
		if exp.Status.LastScheduleTime == nil {
			exp.Status.Phase = v1alpha1.PhasePending
			conditions.MarkTrue(exp, meta.ReadyCondition, "Scheduled", "first run at %s", next.UTC().Format(time.RFC3339))
			return &ctrl.Result{RequeueAfter: next.Sub(now)}
		}
		if !running {
			return &ctrl.Result{RequeueAfter: next.Sub(now)}
		}
		return nil // let the current run go on
	}
	if running {
		r.event(exp, "Warning", "ScheduleSkipped", "Schedule", "tick at %s skipped: the run %s is still going", next.UTC().Format(time.RFC3339), exp.Status.Run)
		exp.Status.LastScheduleTime = &metav1.Time{Time: next}
		return nil
	}
	// A new tick: start a new run (finish filed the last one in History).
	exp.Status.LastScheduleTime = &metav1.Time{Time: next}
	exp.Status.NextScheduleTime = &metav1.Time{Time: sched.Next(next)}
	return nil
}

// recordHistory files the current run, if it finished, newest first.
func (r *ExperimentReconciler) recordHistory(exp *v1alpha1.Experiment) {
	st := &exp.Status
	if st.Run == "" || !st.Phase.Terminal() {
		return
	}
	rec := v1alpha1.RunRecord{Run: st.Run, StartTime: st.StartTime, EndTime: st.EndTime}
	if st.Verdict != nil {
		rec.Verdict, rec.Message = st.Verdict.Result, st.Verdict.Message
	}
	limit := int(exp.Spec.HistoryLimit)
	if limit <= 0 {
		limit = 5
	}
	st.History = append([]v1alpha1.RunRecord{rec}, st.History...)
	if len(st.History) > limit {
		st.History = st.History[:limit]
	}
}

// scheduledRunKey extends runKey with the tick a scheduled run started from.
func scheduledRunKey(exp *v1alpha1.Experiment) string {
	key := runKey(exp)
	if exp.Spec.Schedule != "" && exp.Status.LastScheduleTime != nil {
		key += fmt.Sprintf("-t%d", exp.Status.LastScheduleTime.Unix())
	}
	return key
}
