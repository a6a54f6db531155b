package v1alpha1

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// ApprovalSpec approves one experiment at one revision. Like a
// CertificateSigningRequest's requester, Approver is not the user's to type:
// the hub's admission webhook overwrites it with the identity the API server
// authenticated, and it cannot change afterwards.
// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="an approval is immutable; create a new one"
type ApprovalSpec struct {
	// Experiment in the Approval's namespace.
	// +kubebuilder:validation:MinLength=1
	Experiment string `json:"experiment"`
	// Revision approved: the commit SHA-1, or the full revision string.
	// An approval of an older revision does not count.
	// +kubebuilder:validation:MinLength=7
	Revision string `json:"revision"`
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	Comment string `json:"comment,omitempty"`
	// Approver is set from the authenticated request.
	// +optional
	Approver *UserIdentity `json:"approver,omitempty"`
}

// UserIdentity is who the API server said made a request.
type UserIdentity struct {
	Username string `json:"username"`
	// +optional
	UID string `json:"uid,omitempty"`
	// +optional
	Groups []string `json:"groups,omitempty"`
}

// ApprovalStatus says whether the hub counted the approval.
type ApprovalStatus struct {
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// Approval records who approved which experiment at which revision.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=fapr,categories=faultline
// +kubebuilder:printcolumn:name="Experiment",type=string,JSONPath=`.spec.experiment`
// +kubebuilder:printcolumn:name="Revision",type=string,JSONPath=`.spec.revision`
// +kubebuilder:printcolumn:name="Approver",type=string,JSONPath=`.spec.approver.username`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type Approval struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   ApprovalSpec   `json:"spec"`
	Status ApprovalStatus `json:"status,omitempty"`
}

// GetConditions returns the status conditions.
func (in *Approval) GetConditions() []metav1.Condition { return in.Status.Conditions }

// SetConditions sets the status conditions.
func (in *Approval) SetConditions(c []metav1.Condition) { in.Status.Conditions = c }

// ApprovalList is a list of Approvals.
// +kubebuilder:object:root=true
type ApprovalList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Approval `json:"items"`
}
