package v1alpha1

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// HostAgentSpec is what an agent reported when it registered. The hub writes
// it; placement selects agents by the HostAgent's labels.
type HostAgentSpec struct {
	Hostname string `json:"hostname"`
	// +optional
	// +kubebuilder:validation:MaxItems=64
	Addresses []string `json:"addresses,omitempty"`
	// +optional
	OS string `json:"os,omitempty"`
	// +optional
	Arch string `json:"arch,omitempty"`
	// +optional
	KernelVersion string `json:"kernelVersion,omitempty"`
	// +optional
	AgentVersion string `json:"agentVersion,omitempty"`
	// Capabilities the agent detected, such as netem, nfqueue, nftables, cgroup2.
	// +optional
	// +kubebuilder:validation:MaxItems=64
	Capabilities []string `json:"capabilities,omitempty"`
	// Suspend stops new injections on this host; running ones recover.
	// +optional
	Suspend bool `json:"suspend,omitempty"`
}

// HostAgentStatus is written on change or at a slow cadence, never on every
// heartbeat, so that large fleets do not flood the API server.
type HostAgentStatus struct {
	// +optional
	LastHeartbeatTime *metav1.Time `json:"lastHeartbeatTime,omitempty"`
	// LeaseExpiresAt is when the agent recovers hub-issued faults on its own.
	// +optional
	LeaseExpiresAt *metav1.Time `json:"leaseExpiresAt,omitempty"`
	// ActiveInjections the agent reported in its last written heartbeat.
	// +optional
	ActiveInjections int32 `json:"activeInjections,omitempty"`
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// HostAgent is a physical or virtual host that registered with a join token.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,shortName=ha,categories=faultline
// +kubebuilder:printcolumn:name="Hostname",type=string,JSONPath=`.spec.hostname`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Active",type=integer,JSONPath=`.status.activeInjections`
// +kubebuilder:printcolumn:name="Heartbeat",type=date,JSONPath=`.status.lastHeartbeatTime`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type HostAgent struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   HostAgentSpec   `json:"spec"`
	Status HostAgentStatus `json:"status,omitempty"`
}

// GetConditions returns the status conditions.
func (in *HostAgent) GetConditions() []metav1.Condition { return in.Status.Conditions }

// SetConditions sets the status conditions.
func (in *HostAgent) SetConditions(c []metav1.Condition) { in.Status.Conditions = c }

// HostAgentList is a list of HostAgents.
// +kubebuilder:object:root=true
type HostAgentList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []HostAgent `json:"items"`
}
