package writeback

import (
	"time"

	"github.com/faultline-dev/faultline/crds/v1alpha1"
)

// RecordKind marks a note's JSON object as a faultline audit record, so
// readers skip anything else people may have appended to the same note.
const RecordKind = "faultline.dev/audit-record/v1"

// Record is the audit record of one run, stored as a JSON git note on the
// revision it ran from.
type Record struct {
	Kind string `json:"kind"`
	// Experiment is namespace/name.
	Experiment string `json:"experiment"`
	// Source is the ChaosSource, namespace/name.
	Source string `json:"source,omitempty"`
	// Revision as the source reports it, such as main@sha1:<hash>.
	Revision string `json:"revision"`
	// Commit the note is attached to (40 hex digits).
	Commit string `json:"commit"`
	// Author of the revision.
	Author    string     `json:"author,omitempty"`
	Approvals []Approval `json:"approvals,omitempty"`
	// Fault kind, such as network/delay.
	Fault    string   `json:"fault,omitempty"`
	Clusters []string `json:"clusters,omitempty"`
	Agents   []string `json:"agents,omitempty"`
	// Targets counted per cluster and agent.
	Targets []v1alpha1.TargetSummary `json:"targets,omitempty"`
	Start   time.Time                `json:"start"`
	End     time.Time                `json:"end"`
	Verdict v1alpha1.VerdictResult   `json:"verdict"`
	Reason  string                   `json:"reason,omitempty"`
	Message string                   `json:"message,omitempty"`
	// Evidence of every probe.
	Evidence []v1alpha1.ProbeEvidence `json:"evidence,omitempty"`
	// Measured fault data per target, as the executors reported it.
	Measured []TargetMeasurements `json:"measured,omitempty"`
}

// Approval is one approval that counted for the run.
type Approval struct {
	By      string    `json:"by"`
	Groups  []string  `json:"groups,omitempty"`
	Time    time.Time `json:"time,omitzero"`
	Comment string    `json:"comment,omitempty"`
}

// TargetMeasurements is what an executor measured on one target.
type TargetMeasurements struct {
	// Member is the cluster or agent.
	Member string `json:"member"`
	// Target key, such as a pod's namespace/name or a host interface.
	Target   string                 `json:"target"`
	Path     string                 `json:"path,omitempty"`
	Measured []v1alpha1.Measurement `json:"measured,omitempty"`
}
