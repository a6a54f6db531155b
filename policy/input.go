package policy

import (
	"time"

	v1alpha1 "github.com/faultline-dev/faultline/crds/v1alpha1"
)

// Input is the document a policy judges, available to Rego as input.
type Input struct {
	Experiment ExperimentInput `json:"experiment"`
	Source     SourceInput     `json:"source"`
	// Placement is where the experiment would run, resolved against the
	// registered member clusters and host agents.
	Placement PlacementInput `json:"placement"`
	// BlastRadius estimates, per placed cluster or agent, how many targets the
	// experiment hits and their share of the workload its selector matches.
	BlastRadius []BlastRadius `json:"blastRadius"`
	Now         NowInput      `json:"now"`
	// Approvals of the experiment, current or not; only current ones count.
	Approvals []ApprovalInput `json:"approvals"`
	// ActiveExperiments counts the other experiments running now per member
	// cluster and host agent.
	ActiveExperiments ActiveExperiments `json:"activeExperiments"`
}

// ExperimentInput is the experiment's identity and spec, plus its fault kind
// (such as host/reboot) spelled out so that rules need not derive it.
type ExperimentInput struct {
	Metadata  MetadataInput           `json:"metadata"`
	Spec      v1alpha1.ExperimentSpec `json:"spec"`
	FaultKind string                  `json:"faultKind"`
}

// MetadataInput is the part of an experiment's metadata policies may read.
type MetadataInput struct {
	Name        string            `json:"name"`
	Namespace   string            `json:"namespace"`
	Labels      map[string]string `json:"labels,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

// SourceInput is where the experiment came from.
type SourceInput struct {
	Namespace string            `json:"namespace,omitempty"`
	Name      string            `json:"name,omitempty"`
	Labels    map[string]string `json:"labels,omitempty"`
	URL       string            `json:"url"`
	Revision  string            `json:"revision"`
	// Author of the commit, as "Name <email>".
	Author string `json:"author,omitempty"`
	// Signer is the key ID that signed the revision, when verified.
	Signer string `json:"signer,omitempty"`
}

// PlacementInput lists the placed member clusters and host agents.
type PlacementInput struct {
	Targets []TargetInput `json:"targets"`
}

// Target kinds.
const (
	KindMemberCluster = "MemberCluster"
	KindHostAgent     = "HostAgent"
)

// TargetInput is one placed member cluster or host agent.
type TargetInput struct {
	// Kind is MemberCluster or HostAgent.
	Kind   string            `json:"kind"`
	Name   string            `json:"name"`
	Labels map[string]string `json:"labels"`
	// Wave the target belongs to.
	Wave string `json:"wave,omitempty"`
}

// BlastRadius is one cluster's or agent's estimated exposure.
type BlastRadius struct {
	// Kind is MemberCluster or HostAgent.
	Kind string `json:"kind"`
	Name string `json:"name"`
	// Selected is how many targets the experiment hits there.
	Selected int `json:"selected"`
	// Matching is how many targets its selector matches there.
	Matching int `json:"matching"`
	// Percent is Selected as a share of Matching (0 to 100).
	Percent float64 `json:"percent"`
}

// NowInput is the time of the decision.
type NowInput struct {
	// Time in RFC 3339 in TimeZone.
	Time string `json:"time"`
	// NS is nanoseconds since the epoch, for Rego's time built-ins.
	NS int64 `json:"ns"`
	// TimeZone is an IANA zone name, such as Europe/Berlin.
	TimeZone string `json:"timeZone"`
}

// NewNow describes t in its location.
func NewNow(t time.Time) NowInput {
	return NowInput{Time: t.Format(time.RFC3339), NS: t.UnixNano(), TimeZone: t.Location().String()}
}

// ApprovalInput is one Approval of the experiment.
type ApprovalInput struct {
	Name     string                `json:"name"`
	Approver v1alpha1.UserIdentity `json:"approver"`
	Revision string                `json:"revision"`
	// Current is true when Revision is the experiment's current revision.
	Current bool `json:"current"`
}

// ActiveExperiments counts running experiments by target name.
type ActiveExperiments struct {
	Clusters map[string]int `json:"clusters,omitempty"`
	Agents   map[string]int `json:"agents,omitempty"`
}
