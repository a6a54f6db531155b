package v1alpha1

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// Placement chooses the member clusters and host agents an experiment runs
// on, and the order in which it reaches them.
type Placement struct {
	// Clusters selects MemberClusters by label. Omitted: no member cluster.
	// An empty selector ({}) selects every member cluster.
	// +optional
	Clusters *metav1.LabelSelector `json:"clusters,omitempty"`

	// Agents selects HostAgents by label. Omitted: no host agent.
	// An empty selector ({}) selects every host agent.
	// +optional
	Agents *metav1.LabelSelector `json:"agents,omitempty"`

	// Waves orders the rollout. Each wave narrows the placement above; a wave
	// starts only after the previous one passed. Without waves, every placed
	// target is one wave.
	// +optional
	// +kubebuilder:validation:MaxItems=16
	// +listType=atomic
	Waves []Wave `json:"waves,omitempty"`
}

// Wave is one step of a rollout.
// +kubebuilder:validation:XValidation:rule="has(self.clusters) || has(self.agents)",message="a wave selects clusters, agents or both"
type Wave struct {
	// Name of the wave, for status and events. Defaults to its position ("wave-1").
	// +optional
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	Name string `json:"name,omitempty"`

	// Clusters selects, among the placed member clusters, those of this wave.
	// +optional
	Clusters *metav1.LabelSelector `json:"clusters,omitempty"`

	// Agents selects, among the placed host agents, those of this wave.
	// +optional
	Agents *metav1.LabelSelector `json:"agents,omitempty"`

	// MaxParallel is how many clusters or agents of the wave run at once.
	// Omitted: all of them.
	// +optional
	// +kubebuilder:validation:Minimum=1
	MaxParallel *int32 `json:"maxParallel,omitempty"`

	// Pause is how long to wait after this wave passed before the next starts.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$`
	Pause *metav1.Duration `json:"pause,omitempty"`
}
