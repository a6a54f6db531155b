package v1alpha1

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// InjectionSpec is the wire unit: one fault, its concrete targets on one node
// or host, and a deadline. The hub writes it into a member cluster as an
// object (for the daemon of NodeName) or hands it to a host agent as JSON in a
// heartbeat answer; both run the same schema.
// +kubebuilder:validation:XValidation:rule="has(self.nodeName) != has(self.agent)",message="set exactly one of nodeName or agent"
type InjectionSpec struct {
	// Fault to apply.
	Fault FaultSpec `json:"fault"`

	// NodeName is the member-cluster node whose daemon runs this injection.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="nodeName is immutable"
	NodeName string `json:"nodeName,omitempty"`

	// Agent is the host agent that runs this injection.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="agent is immutable"
	Agent string `json:"agent,omitempty"`

	// Targets are the concrete pods or the host the fault applies to.
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=1024
	// +listType=map
	// +listMapKey=key
	Targets []InjectionTarget `json:"targets"`

	// Peers are the resolved addresses (IP or CIDR) a network fault is
	// narrowed to. Omitted: all traffic.
	// +optional
	// +kubebuilder:validation:MaxItems=1024
	Peers []string `json:"peers,omitempty"`

	// Deadline by which the executor recovers the fault on its own, whether
	// or not anyone renews it. The hub moves it forward while the experiment
	// runs; it never moves backward past a running fault's end.
	Deadline metav1.Time `json:"deadline"`

	// Owner says where the injection comes from.
	Owner InjectionOwner `json:"owner"`
}

// TargetKind is what an injection target is.
// +kubebuilder:validation:Enum=Pod;Host
type TargetKind string

const (
	TargetPod  TargetKind = "Pod"
	TargetHost TargetKind = "Host"
)

// InjectionTarget is one concrete target.
type InjectionTarget struct {
	// Key identifies the target within the injection: namespace/name for a
	// pod, the host name for a host.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=317
	Key  string     `json:"key"`
	Kind TargetKind `json:"kind"`
	// +optional
	Namespace string `json:"namespace,omitempty"`
	// +optional
	Name string `json:"name,omitempty"`
	// UID of the pod, so a replaced pod of the same name is not hit.
	// +optional
	UID string `json:"uid,omitempty"`
	// ContainerIDs of the pod's containers (runtime://id), used to find its
	// network namespace and cgroup.
	// +optional
	// +kubebuilder:validation:MaxItems=64
	ContainerIDs []string `json:"containerIDs,omitempty"`
}

// InjectionOwner traces an injection back to Git.
type InjectionOwner struct {
	// Source is the ChaosSource as namespace/name.
	// +optional
	Source string `json:"source,omitempty"`
	// Revision of the source, such as main@sha1:abc...
	// +optional
	Revision string `json:"revision,omitempty"`
	// Experiment as namespace/name.
	Experiment string `json:"experiment"`
	// ExperimentUID guards against a recreated experiment of the same name.
	// +optional
	ExperimentUID string `json:"experimentUID,omitempty"`
	// Run identifies one run of a scheduled experiment.
	// +optional
	Run string `json:"run,omitempty"`
	// Cluster or agent name as the hub knows it.
	// +optional
	Member string `json:"member,omitempty"`
	// Wave the injection belongs to.
	// +optional
	Wave string `json:"wave,omitempty"`
}

// InjectionPhase is where an injection or one of its targets is.
// +kubebuilder:validation:Enum=Pending;Injecting;Injected;Recovering;Recovered;Failed
type InjectionPhase string

const (
	InjectionPending    InjectionPhase = "Pending"
	InjectionInjecting  InjectionPhase = "Injecting"
	InjectionInjected   InjectionPhase = "Injected"
	InjectionRecovering InjectionPhase = "Recovering"
	InjectionRecovered  InjectionPhase = "Recovered"
	InjectionFailed     InjectionPhase = "Failed"
)

// TargetStatus is one target's state and what was measured on it.
type TargetStatus struct {
	Key   string         `json:"key"`
	Phase InjectionPhase `json:"phase"`
	// +optional
	InjectedAt *metav1.Time `json:"injectedAt,omitempty"`
	// +optional
	RecoveredAt *metav1.Time `json:"recoveredAt,omitempty"`
	// Path is how the fault was applied, such as "netem" or "nfqueue".
	// +optional
	Path string `json:"path,omitempty"`
	// Measured values of the fault as it really is.
	// +optional
	// +kubebuilder:validation:MaxItems=16
	Measured []Measurement `json:"measured,omitempty"`
	// +optional
	Message string `json:"message,omitempty"`
}

// Measurement is one value the executor measured on an active fault.
type Measurement struct {
	// Name such as delay_seconds, loss_ratio, cpu_load_ratio, filled_bytes.
	Name  string  `json:"name"`
	Value float64 `json:"value"`
	// +optional
	Time *metav1.Time `json:"time,omitempty"`
}

// InjectionStatus is what the executor reports.
type InjectionStatus struct {
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// +optional
	Phase InjectionPhase `json:"phase,omitempty"`
	// +optional
	// +listType=map
	// +listMapKey=key
	Targets []TargetStatus `json:"targets,omitempty"`
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// Injection is one fault on one node or host, with a deadline.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=finj,categories=faultline
// +kubebuilder:printcolumn:name="Node",type=string,JSONPath=`.spec.nodeName`
// +kubebuilder:printcolumn:name="Agent",type=string,JSONPath=`.spec.agent`,priority=1
// +kubebuilder:printcolumn:name="Phase",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="Experiment",type=string,JSONPath=`.spec.owner.experiment`
// +kubebuilder:printcolumn:name="Revision",type=string,JSONPath=`.spec.owner.revision`,priority=1
// +kubebuilder:printcolumn:name="Deadline",type=date,JSONPath=`.spec.deadline`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type Injection struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   InjectionSpec   `json:"spec"`
	Status InjectionStatus `json:"status,omitempty"`
}

// GetConditions returns the status conditions.
func (in *Injection) GetConditions() []metav1.Condition { return in.Status.Conditions }

// SetConditions sets the status conditions.
func (in *Injection) SetConditions(c []metav1.Condition) { in.Status.Conditions = c }

// InjectionList is a list of Injections.
// +kubebuilder:object:root=true
type InjectionList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Injection `json:"items"`
}
