package v1alpha1

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// SecretKeyReference names one key of one Secret.
type SecretKeyReference struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	// +kubebuilder:default=value
	Key string `json:"key,omitempty"`
}

// MemberClusterSpec says how the hub reaches a member cluster. Placement
// selects clusters by the MemberCluster's own labels.
type MemberClusterSpec struct {
	// KubeConfigSecretRef names the Secret key holding the kubeconfig.
	KubeConfigSecretRef SecretKeyReference `json:"kubeConfigSecretRef"`
	// InjectionNamespace in the member where Injections are written.
	// +optional
	// +kubebuilder:default=faultline-system
	InjectionNamespace string `json:"injectionNamespace,omitempty"`
	// Suspend stops new injections into this cluster; running ones recover.
	// +optional
	Suspend bool `json:"suspend,omitempty"`
}

// MemberClusterStatus is what the hub's health probe saw.
type MemberClusterStatus struct {
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// KubernetesVersion of the member's API server.
	// +optional
	KubernetesVersion string `json:"kubernetesVersion,omitempty"`
	// +optional
	NodeCount int32 `json:"nodeCount,omitempty"`
	// CRDsInstalled is true when the member serves the Injection kind.
	// +optional
	CRDsInstalled bool `json:"crdsInstalled,omitempty"`
	// DaemonReady is true when the faultline daemon runs on the member's nodes.
	// +optional
	DaemonReady bool `json:"daemonReady,omitempty"`
	// +optional
	LastProbeTime *metav1.Time `json:"lastProbeTime,omitempty"`
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// MemberCluster is a Kubernetes cluster the hub injects faults into. It is
// cluster-scoped: the fleet is shared by every team's experiments.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,shortName=mc,categories=faultline
// +kubebuilder:printcolumn:name="Version",type=string,JSONPath=`.status.kubernetesVersion`
// +kubebuilder:printcolumn:name="Nodes",type=integer,JSONPath=`.status.nodeCount`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type MemberCluster struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   MemberClusterSpec   `json:"spec"`
	Status MemberClusterStatus `json:"status,omitempty"`
}

// GetConditions returns the status conditions.
func (in *MemberCluster) GetConditions() []metav1.Condition { return in.Status.Conditions }

// SetConditions sets the status conditions.
func (in *MemberCluster) SetConditions(c []metav1.Condition) { in.Status.Conditions = c }

// MemberClusterList is a list of MemberClusters.
// +kubebuilder:object:root=true
type MemberClusterList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []MemberCluster `json:"items"`
}
