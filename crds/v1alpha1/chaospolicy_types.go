package v1alpha1

import (
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Enforcement says what a policy's denial does.
// +kubebuilder:validation:Enum=enforce;warn;dry-run
type Enforcement string

const (
	// EnforcementEnforce blocks what the policy denies.
	EnforcementEnforce Enforcement = "enforce"
	// EnforcementWarn admits it and records a warning.
	EnforcementWarn Enforcement = "warn"
	// EnforcementDryRun only records the decision.
	EnforcementDryRun Enforcement = "dry-run"
)

// PolicyModule is one Rego module, inline or from a ConfigMap.
// +kubebuilder:validation:XValidation:rule="has(self.rego) != has(self.configMapRef)",message="set exactly one of rego or configMapRef"
type PolicyModule struct {
	// Name of the module, used in errors and denials.
	// +kubebuilder:validation:Pattern=`^[a-zA-Z0-9_.-]+$`
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
	// Rego source (v1 syntax).
	// +optional
	// +kubebuilder:validation:MaxLength=262144
	Rego string `json:"rego,omitempty"`
	// ConfigMapRef names a key of a ConfigMap in the hub's namespace.
	// +optional
	ConfigMapRef *ConfigMapKeyReference `json:"configMapRef,omitempty"`
}

// ConfigMapKeyReference names one key of one ConfigMap.
type ConfigMapKeyReference struct {
	// +optional
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name"`
	Key       string `json:"key"`
}

// PolicyScope limits which experiments a policy judges. Empty: all of them.
type PolicyScope struct {
	// Namespaces of experiments.
	// +optional
	Namespaces []string `json:"namespaces,omitempty"`
	// Sources as namespace/name of ChaosSources.
	// +optional
	Sources []string `json:"sources,omitempty"`
	// SourceSelector selects ChaosSources by label.
	// +optional
	SourceSelector *metav1.LabelSelector `json:"sourceSelector,omitempty"`
}

// ChaosPolicySpec holds Rego modules and their parameters.
// +kubebuilder:validation:XValidation:rule="(has(self.modules) && size(self.modules) > 0) || (has(self.library) && size(self.library) > 0)",message="set modules, library or both"
type ChaosPolicySpec struct {
	// +optional
	// +kubebuilder:validation:MaxItems=64
	// +listType=map
	// +listMapKey=name
	Modules []PolicyModule `json:"modules,omitempty"`
	// Library names rules of the built-in library (policy/library) to
	// include, such as protected-namespaces, or "*" for all of them. They
	// read their parameters from data like any module.
	// +optional
	// +kubebuilder:validation:MaxItems=64
	// +listType=set
	// +kubebuilder:validation:items:Pattern=`^(\*|[a-z0-9]+(-[a-z0-9]+)*)$`
	Library []string `json:"library,omitempty"`
	// Data is a JSON document available to the modules as data.parameters.
	// +optional
	Data *apiextensionsv1.JSON `json:"data,omitempty"`
	// +kubebuilder:default=enforce
	Enforcement Enforcement `json:"enforcement,omitempty"`
	// +optional
	Scope *PolicyScope `json:"scope,omitempty"`
}

// ChaosPolicyStatus is what the hub observed of a policy.
type ChaosPolicyStatus struct {
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// Digest of the compiled modules and data.
	// +optional
	Digest string `json:"digest,omitempty"`
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// ChaosPolicy is a safety policy owned by the hub. It is cluster-scoped so
// that the teams whose experiments it judges cannot edit it in their own
// namespaces, and it is never read from the repository it governs.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,shortName=cpol,categories=faultline
// +kubebuilder:printcolumn:name="Enforcement",type=string,JSONPath=`.spec.enforcement`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type ChaosPolicy struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   ChaosPolicySpec   `json:"spec"`
	Status ChaosPolicyStatus `json:"status,omitempty"`
}

// GetConditions returns the status conditions.
func (in *ChaosPolicy) GetConditions() []metav1.Condition { return in.Status.Conditions }

// SetConditions sets the status conditions.
func (in *ChaosPolicy) SetConditions(c []metav1.Condition) { in.Status.Conditions = c }

// ChaosPolicyList is a list of ChaosPolicies.
// +kubebuilder:object:root=true
type ChaosPolicyList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ChaosPolicy `json:"items"`
}
