package v1alpha1

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// ExperimentSpec is what a repository declares: where, on which targets,
// which fault, for how long, and how to tell whether the service held.
// +kubebuilder:validation:XValidation:rule="!(self.mode in ['fixed-percent', 'random-max-percent']) || (has(self.value) && self.value.matches('^[0-9]{1,3}$') && int(self.value) >= 1 && int(self.value) <= 100)",message="with mode fixed-percent or random-max-percent, value must be a percentage from 1 to 100",fieldPath=".value"
// +kubebuilder:validation:XValidation:rule="self.mode != 'fixed' || (has(self.value) && self.value.matches('^[0-9]{1,6}$') && int(self.value) >= 1)",message="with mode fixed, value must be a positive integer",fieldPath=".value"
// +kubebuilder:validation:XValidation:rule="!(self.mode in ['one', 'all']) || !has(self.value) || size(self.value) == 0",message="modes one and all take no value",fieldPath=".value"
type ExperimentSpec struct {
	// Placement chooses member clusters and host agents and the rollout waves.
	// Omitted: the ChaosSource's default placement.
	// +optional
	Placement *Placement `json:"placement,omitempty"`

	// Selector chooses target pods in each member cluster.
	// +optional
	Selector PodSelector `json:"selector,omitempty"`

	// Mode says how many selected targets are hit.
	// +optional
	// +kubebuilder:default=one
	Mode SelectorMode `json:"mode,omitempty"`

	// Value qualifies mode: a count for fixed, a percentage for the percent modes.
	// +optional
	Value string `json:"value,omitempty"`

	// Fault is the one fault to inject.
	Fault FaultSpec `json:"fault"`

	// Duration the fault stays on. Every injection ends by then at the latest.
	// +optional
	// +kubebuilder:default="5m"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$`
	// +kubebuilder:validation:XValidation:rule="duration(self) > duration('0s')",message="duration must be positive"
	Duration *metav1.Duration `json:"duration,omitempty"`

	// Schedule is a cron expression; each tick starts a run. Omitted: one run
	// per revision.
	// +optional
	// +kubebuilder:validation:MaxLength=128
	// +kubebuilder:validation:XValidation:rule="self.startsWith('@') || self.split(' ').filter(f, f != '').size() in [5, 6]",message="schedule must be a cron expression of 5 or 6 fields or a descriptor such as @hourly"
	Schedule string `json:"schedule,omitempty"`

	// HistoryLimit is how many finished runs of a schedule are kept.
	// +optional
	// +kubebuilder:default=5
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100
	HistoryLimit int32 `json:"historyLimit,omitempty"`

	// Probes check the service's steady state before, during and after the fault.
	// +optional
	// +kubebuilder:validation:MaxItems=16
	// +listType=map
	// +listMapKey=name
	Probes []Probe `json:"probes,omitempty"`

	// AbortOnBreach recovers every target at once when a during probe fails.
	// +optional
	AbortOnBreach bool `json:"abortOnBreach,omitempty"`
}

// ExperimentPhase is where an experiment is in its lifecycle.
// +kubebuilder:validation:Enum=Pending;AwaitingApproval;Injecting;Running;Recovering;Completed;Paused;Aborted;Denied;Failed
type ExperimentPhase string

const (
	PhasePending          ExperimentPhase = "Pending"
	PhaseAwaitingApproval ExperimentPhase = "AwaitingApproval"
	PhaseInjecting        ExperimentPhase = "Injecting"
	PhaseRunning          ExperimentPhase = "Running"
	PhaseRecovering       ExperimentPhase = "Recovering"
	PhaseCompleted        ExperimentPhase = "Completed"
	PhasePaused           ExperimentPhase = "Paused"
	PhaseAborted          ExperimentPhase = "Aborted"
	PhaseDenied           ExperimentPhase = "Denied"
	PhaseFailed           ExperimentPhase = "Failed"
)

// Terminal reports whether a run in this phase is over: nothing of it is
// injected any more and only a new run changes it.
func (p ExperimentPhase) Terminal() bool {
	switch p {
	case PhaseCompleted, PhaseAborted, PhaseDenied, PhaseFailed:
		return true
	}
	return false
}

// VerdictResult is the outcome of a run.
// +kubebuilder:validation:Enum=Passed;Failed;Aborted;Inconclusive;Error
type VerdictResult string

const (
	VerdictPassed       VerdictResult = "Passed"
	VerdictFailed       VerdictResult = "Failed"
	VerdictAborted      VerdictResult = "Aborted"
	VerdictInconclusive VerdictResult = "Inconclusive"
	VerdictError        VerdictResult = "Error"
)

// Verdict is the outcome of a run with its evidence.
type Verdict struct {
	Result VerdictResult `json:"result"`
	// Reason is a CamelCase word for machines.
	// +optional
	Reason string `json:"reason,omitempty"`
	// Message is one line for people.
	// +optional
	Message string `json:"message,omitempty"`
	// Evidence of each probe.
	// +optional
	Evidence []ProbeEvidence `json:"evidence,omitempty"`
	// +optional
	Time *metav1.Time `json:"time,omitempty"`
}

// ProbeEvidence is what one probe saw.
type ProbeEvidence struct {
	Probe string    `json:"probe"`
	Mode  ProbeMode `json:"mode"`
	// Result of the probe: Passed, Failed or Inconclusive.
	Result VerdictResult `json:"result"`
	// Samples, newest last, bounded.
	// +optional
	Samples []ProbeSample `json:"samples,omitempty"`
	// +optional
	Threshold *ThresholdRange `json:"threshold,omitempty"`
	// +optional
	Message string `json:"message,omitempty"`
}

// ProbeSample is one evaluation.
type ProbeSample struct {
	Time metav1.Time `json:"time"`
	// Value measured; absent when the evaluation returned nothing.
	// +optional
	Value *float64 `json:"value,omitempty"`
	// +optional
	Breach bool `json:"breach,omitempty"`
	// +optional
	Error string `json:"error,omitempty"`
}

// TargetSummary counts one cluster's or agent's targets.
type TargetSummary struct {
	// Kind is MemberCluster or HostAgent.
	// +kubebuilder:validation:Enum=MemberCluster;HostAgent
	Kind string `json:"kind"`
	Name string `json:"name"`
	// Wave the cluster or agent belongs to.
	// +optional
	Wave string `json:"wave,omitempty"`
	// +optional
	Selected int32 `json:"selected"`
	// +optional
	Injected int32 `json:"injected"`
	// +optional
	Recovered int32 `json:"recovered"`
	// +optional
	Failed int32 `json:"failed"`
	// State of this member in the current run.
	// +optional
	// +kubebuilder:validation:Enum=Waiting;Injecting;Running;Recovering;Done;Failed
	State MemberState `json:"state,omitempty"`
	// StartTime is when the member's injections were first written.
	// +optional
	StartTime *metav1.Time `json:"startTime,omitempty"`
	// Unreachable is true while the hub cannot reach the cluster or agent.
	// +optional
	Unreachable bool `json:"unreachable,omitempty"`
	// +optional
	Message string `json:"message,omitempty"`
}

// RunRecord is one finished run.
type RunRecord struct {
	Run string `json:"run"`
	// +optional
	StartTime *metav1.Time `json:"startTime,omitempty"`
	// +optional
	EndTime *metav1.Time `json:"endTime,omitempty"`
	// +optional
	Verdict VerdictResult `json:"verdict,omitempty"`
	// +optional
	Message string `json:"message,omitempty"`
}

// MemberState is where one member cluster or agent is in a run.
type MemberState string

const (
	MemberWaiting    MemberState = "Waiting"
	MemberInjecting  MemberState = "Injecting"
	MemberRunning    MemberState = "Running"
	MemberRecovering MemberState = "Recovering"
	MemberDone       MemberState = "Done"
	MemberFailed     MemberState = "Failed"
)

// ExperimentStatus is what the hub observed.
type ExperimentStatus struct {
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// +optional
	Phase ExperimentPhase `json:"phase,omitempty"`
	// Revision of the source this run comes from, such as main@sha1:abc...
	// +optional
	Revision string `json:"revision,omitempty"`
	// Run identifies the current run: the generation and revision it
	// started from (and the schedule tick for scheduled experiments).
	// +optional
	Run string `json:"run,omitempty"`
	// Waves of the current run, in order, with their members.
	// +optional
	Waves []string `json:"waves,omitempty"`
	// NextWaveTime is when the next wave may start, after a wave's pause.
	// +optional
	NextWaveTime *metav1.Time `json:"nextWaveTime,omitempty"`
	// CurrentWave is the index (from 0) of the wave in progress.
	// +optional
	CurrentWave *int32 `json:"currentWave,omitempty"`
	// +optional
	StartTime *metav1.Time `json:"startTime,omitempty"`
	// +optional
	EndTime *metav1.Time `json:"endTime,omitempty"`
	// Targets per member cluster and host agent.
	// +optional
	Targets []TargetSummary `json:"targets,omitempty"`
	// +optional
	Verdict *Verdict `json:"verdict,omitempty"`
	// LastScheduleTime of a scheduled experiment: the tick the current run
	// started from.
	// +optional
	LastScheduleTime *metav1.Time `json:"lastScheduleTime,omitempty"`
	// NextScheduleTime of a scheduled experiment.
	// +optional
	NextScheduleTime *metav1.Time `json:"nextScheduleTime,omitempty"`
	// History of finished runs of a scheduled experiment, newest first,
	// at most spec.historyLimit.
	// +optional
	History []RunRecord `json:"history,omitempty"`
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// Experiment is one chaos experiment as the repository declares it.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=chaosexp;fex,categories=faultline
// +kubebuilder:printcolumn:name="Phase",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="Verdict",type=string,JSONPath=`.status.verdict.result`
// +kubebuilder:printcolumn:name="Revision",type=string,JSONPath=`.status.revision`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type Experiment struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   ExperimentSpec   `json:"spec"`
	Status ExperimentStatus `json:"status,omitempty"`
}

// GetConditions returns the status conditions (fluxcd runtime's conditions.Getter).
func (in *Experiment) GetConditions() []metav1.Condition { return in.Status.Conditions }

// SetConditions sets the status conditions (fluxcd runtime's conditions.Setter).
func (in *Experiment) SetConditions(c []metav1.Condition) { in.Status.Conditions = c }

// ExperimentList is a list of Experiments.
// +kubebuilder:object:root=true
type ExperimentList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Experiment `json:"items"`
}
