package main

import (
	"sort"
	"strings"

	"github.com/fluxcd/pkg/apis/meta"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1alpha1 "github.com/faultline-dev/faultline/crds/v1alpha1"
	"github.com/faultline-dev/faultline/policy"
)

// statusDoc is what `faultline status -o json|yaml` prints: every
// experiment in scope, sorted by namespace and name. The shape is part of
// the CLI's contract (scripts and the demo read it): fields are added,
// never renamed or removed.
type statusDoc struct {
	Experiments []experimentStatus `json:"experiments"`
}

// statusEvent is one line of `faultline status --watch -o json`.
type statusEvent struct {
	// Type is ADDED, MODIFIED or DELETED, as in a Kubernetes watch.
	Type       string           `json:"type"`
	Experiment experimentStatus `json:"experiment"`
}

// experimentStatus is one experiment, its current run and its verdict.
type experimentStatus struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	// Phase is the run's phase; empty until the hub has seen the experiment.
	Phase string `json:"phase"`
	// Revision of the source the run comes from, such as main@sha1:3f2c1ab...
	Revision string `json:"revision,omitempty"`
	Run      string `json:"run,omitempty"`
	// Fault is the fault's kind, such as network/delay.
	Fault    string `json:"fault"`
	Schedule string `json:"schedule,omitempty"`
	// Wave is the name of the wave in progress, if any.
	Wave     string          `json:"wave,omitempty"`
	Waves    []waveStatus    `json:"waves"`
	Clusters []clusterStatus `json:"clusters"`
	// Verdict is the run's result (Passed, Failed, Aborted, Inconclusive,
	// Error); empty while there is none.
	Verdict string `json:"verdict,omitempty"`
	// Reason and Message explain the verdict or, without one, why the
	// experiment is not progressing (the Stalled or Ready condition).
	Reason  string `json:"reason,omitempty"`
	Message string `json:"message,omitempty"`
	// AwaitingApproval says whose approval the run waits for.
	AwaitingApproval string               `json:"awaitingApproval,omitempty"`
	Approvals        []approvalStatus     `json:"approvals,omitempty"`
	Probes           []probeStatus        `json:"probes,omitempty"`
	History          []v1alpha1.RunRecord `json:"history,omitempty"`
	Conditions       []metav1.Condition   `json:"conditions,omitempty"`
	Created          metav1.Time          `json:"created"`
	StartTime        *metav1.Time         `json:"startTime,omitempty"`
	EndTime          *metav1.Time         `json:"endTime,omitempty"`
	NextScheduleTime *metav1.Time         `json:"nextScheduleTime,omitempty"`
}

// waveStatus is one rollout wave: its members and their combined state.
type waveStatus struct {
	Name string `json:"name"`
	// State is Waiting, Injecting, Running, Recovering, Done or Failed.
	State    string   `json:"state"`
	Clusters []string `json:"clusters"`
}

// clusterStatus is one member cluster or host agent of the run.
type clusterStatus struct {
	// Kind is MemberCluster or HostAgent.
	Kind string `json:"kind"`
	Name string `json:"name"`
	Wave string `json:"wave,omitempty"`
	// Phase is the member's state: Waiting, Injecting, Running, Recovering, Done or Failed.
	Phase       string       `json:"phase"`
	Selected    int32        `json:"selected"`
	Injected    int32        `json:"injected"`
	Recovered   int32        `json:"recovered"`
	Failed      int32        `json:"failed"`
	Unreachable bool         `json:"unreachable,omitempty"`
	StartTime   *metav1.Time `json:"startTime,omitempty"`
	Message     string       `json:"message,omitempty"`
}

// probeStatus is what one steady-state probe saw, from the verdict's evidence.
type probeStatus struct {
	Name   string `json:"name"`
	Mode   string `json:"mode"`
	Result string `json:"result"`
	// Value is the newest sample's, when it had one.
	Value    *float64 `json:"value,omitempty"`
	Samples  int      `json:"samples"`
	Breaches int      `json:"breaches"`
	Message  string   `json:"message,omitempty"`
}

// approvalStatus is one Approval of the experiment.
type approvalStatus struct {
	Name     string `json:"name"`
	Revision string `json:"revision"`
	Approver string `json:"approver,omitempty"`
	// Counts is true while the approval names the experiment's current
	// revision (the hub's Ready condition on the Approval).
	Counts  bool        `json:"counts"`
	Reason  string      `json:"reason,omitempty"`
	Comment string      `json:"comment,omitempty"`
	Created metav1.Time `json:"created"`
}

// newExperimentStatus summarises one experiment; approvals are those of
// its namespace (others are ignored).
func newExperimentStatus(e *v1alpha1.Experiment, approvals []v1alpha1.Approval) experimentStatus {
	st := &e.Status
	s := experimentStatus{
		Namespace:        e.Namespace,
		Name:             e.Name,
		Phase:            string(st.Phase),
		Revision:         st.Revision,
		Run:              st.Run,
		Fault:            e.Spec.Fault.Kind(),
		Schedule:         e.Spec.Schedule,
		Waves:            []waveStatus{},
		Clusters:         []clusterStatus{},
		History:          st.History,
		Conditions:       st.Conditions,
		Created:          e.CreationTimestamp,
		StartTime:        st.StartTime,
		EndTime:          st.EndTime,
		NextScheduleTime: st.NextScheduleTime,
	}
	if s.Revision == "" {
		s.Revision = e.Annotations[v1alpha1.RevisionAnnotation]
	}
	for _, t := range st.Targets {
		s.Clusters = append(s.Clusters, clusterStatus{
			Kind: t.Kind, Name: t.Name, Wave: t.Wave, Phase: string(t.State),
			Selected: t.Selected, Injected: t.Injected, Recovered: t.Recovered, Failed: t.Failed,
			Unreachable: t.Unreachable, StartTime: t.StartTime, Message: t.Message,
		})
	}
	for i, name := range st.Waves {
		w := waveStatus{Name: name, Clusters: []string{}}
		var states []string
		for _, c := range s.Clusters {
			if c.Wave == name {
				w.Clusters = append(w.Clusters, c.Name)
				states = append(states, c.Phase)
			}
		}
		w.State = waveState(states)
		if st.CurrentWave != nil && int(*st.CurrentWave) == i && !st.Phase.Terminal() {
			s.Wave = name
		}
		s.Waves = append(s.Waves, w)
	}
	s.Reason, s.Message = reasonOf(e)
	if st.Verdict != nil {
		s.Verdict = string(st.Verdict.Result)
	}
	s.Probes = probesOf(e)
	if st.Phase == v1alpha1.PhaseAwaitingApproval {
		msg := conditionMessage(e, v1alpha1.AdmittedCondition)
		s.AwaitingApproval = strings.TrimPrefix(msg, "awaiting approval by ")
	}
	for i := range approvals {
		a := &approvals[i]
		if a.Namespace != e.Namespace || a.Spec.Experiment != e.Name {
			continue
		}
		as := approvalStatus{Name: a.Name, Revision: a.Spec.Revision, Comment: a.Spec.Comment, Created: a.CreationTimestamp}
		if a.Spec.Approver != nil {
			as.Approver = a.Spec.Approver.Username
		}
		if c := apimeta.FindStatusCondition(a.Status.Conditions, meta.ReadyCondition); c != nil {
			as.Counts, as.Reason = c.Status == metav1.ConditionTrue, c.Reason
		} else {
			// The hub has not judged it yet: it will count if it names the
			// revision the experiment is at (as the hub compares them).
			current := e.Annotations[v1alpha1.RevisionAnnotation]
			if current == "" {
				current = s.Revision
			}
			as.Counts = as.Approver != "" && policy.RevisionMatches(a.Spec.Revision, current)
		}
		s.Approvals = append(s.Approvals, as)
	}
	sort.Slice(s.Approvals, func(i, j int) bool { return s.Approvals[i].Created.Before(&s.Approvals[j].Created) })
	return s
}

// probesOf lists the experiment's probes with what the verdict's evidence
// says of them; before the verdict their result is Pending.
func probesOf(e *v1alpha1.Experiment) []probeStatus {
	var evidence []v1alpha1.ProbeEvidence
	if e.Status.Verdict != nil {
		evidence = e.Status.Verdict.Evidence
	}
	var out []probeStatus
	seen := map[string]bool{}
	for _, ev := range evidence {
		p := probeStatus{Name: ev.Probe, Mode: string(ev.Mode), Result: string(ev.Result), Samples: len(ev.Samples), Message: ev.Message}
		for _, smp := range ev.Samples {
			if smp.Breach {
				p.Breaches++
			}
		}
		if n := len(ev.Samples); n > 0 {
			p.Value = ev.Samples[n-1].Value
		}
		seen[ev.Probe] = true
		out = append(out, p)
	}
	for _, pr := range e.Spec.Probes {
		if seen[pr.Name] {
			continue
		}
		mode := pr.Mode
		if mode == "" {
			mode = v1alpha1.ProbeDuring
		}
		out = append(out, probeStatus{Name: pr.Name, Mode: string(mode), Result: "Pending"})
	}
	return out
}

// waveState combines the members' states: Failed if any failed, Done when
// all are done, Waiting when none started, else the furthest along.
func waveState(states []string) string {
	if len(states) == 0 {
		return string(v1alpha1.MemberWaiting)
	}
	count := map[string]int{}
	for _, s := range states {
		count[s]++
	}
	switch {
	case count[string(v1alpha1.MemberFailed)] > 0:
		return string(v1alpha1.MemberFailed)
	case count[string(v1alpha1.MemberDone)] == len(states):
		return string(v1alpha1.MemberDone)
	case count[string(v1alpha1.MemberRecovering)] > 0:
		return string(v1alpha1.MemberRecovering)
	case count[string(v1alpha1.MemberRunning)] > 0:
		return string(v1alpha1.MemberRunning)
	case count[string(v1alpha1.MemberInjecting)] > 0 || count[string(v1alpha1.MemberDone)] > 0:
		return string(v1alpha1.MemberInjecting)
	}
	return string(v1alpha1.MemberWaiting)
}

// reasonOf is the verdict's reason and message, else those of whichever
// condition says why the experiment is not progressing.
func reasonOf(e *v1alpha1.Experiment) (string, string) {
	if v := e.Status.Verdict; v != nil {
		return v.Reason, v.Message
	}
	for _, t := range []string{meta.StalledCondition, meta.ReadyCondition} {
		c := apimeta.FindStatusCondition(e.Status.Conditions, t)
		if c == nil {
			continue
		}
		if t == meta.StalledCondition && c.Status == metav1.ConditionTrue || t == meta.ReadyCondition && c.Status != metav1.ConditionTrue {
			return c.Reason, c.Message
		}
	}
	return "", ""
}

func conditionMessage(e *v1alpha1.Experiment, t string) string {
	if c := apimeta.FindStatusCondition(e.Status.Conditions, t); c != nil {
		return c.Message
	}
	return ""
}

// newStatusDoc summarises experiments sorted by namespace and name.
func newStatusDoc(exps []v1alpha1.Experiment, approvals []v1alpha1.Approval) statusDoc {
	sortExperiments(exps)
	doc := statusDoc{Experiments: make([]experimentStatus, 0, len(exps))}
	for i := range exps {
		doc.Experiments = append(doc.Experiments, newExperimentStatus(&exps[i], approvals))
	}
	return doc
}

// sortExperiments orders experiments by namespace and name.
func sortExperiments(exps []v1alpha1.Experiment) {
	sort.Slice(exps, func(i, j int) bool {
		a, b := &exps[i], &exps[j]
		return a.Namespace < b.Namespace || a.Namespace == b.Namespace && a.Name < b.Name
	})
}
