package v1alpha1

import (
	"github.com/fluxcd/pkg/apis/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ChaosSourceSpec points at a Git repository of experiments.
type ChaosSourceSpec struct {
	// URL of the repository: https://, http:// or ssh://.
	// +kubebuilder:validation:Pattern=`^(https?|ssh)://`
	URL string `json:"url"`

	// Ref to check out. Omitted: branch main.
	// +optional
	Ref *GitRef `json:"ref,omitempty"`

	// Path inside the repository to build; kustomization.yaml there is used
	// when present, otherwise YAML and JSON files are read recursively.
	// +optional
	// +kubebuilder:validation:XValidation:rule="!self.contains('..')",message="path must stay inside the repository"
	Path string `json:"path,omitempty"`

	// Interval between checks of the remote.
	// +kubebuilder:default="1m"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$`
	Interval metav1.Duration `json:"interval"`

	// Timeout of one fetch.
	// +optional
	// +kubebuilder:default="60s"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$`
	Timeout *metav1.Duration `json:"timeout,omitempty"`

	// SecretRef names a Secret with credentials: username and password,
	// bearerToken, or identity (SSH private key) and known_hosts.
	// +optional
	SecretRef *meta.LocalObjectReference `json:"secretRef,omitempty"`

	// Verify OpenPGP signatures of the revision before using it.
	// +optional
	Verify *GitVerification `json:"verify,omitempty"`

	// Suspend stops reconciling; running experiments are left as they are.
	// +optional
	Suspend bool `json:"suspend,omitempty"`

	// Ignore holds .gitignore-style patterns of files to leave out.
	// +optional
	Ignore *string `json:"ignore,omitempty"`

	// CommitStatus reports verdicts on the revision through a forge's API.
	// +optional
	CommitStatus *CommitStatusSpec `json:"commitStatus,omitempty"`

	// Placement used by experiments that declare none.
	// +optional
	Placement *Placement `json:"placement,omitempty"`
}

// GitRef chooses what to check out; the most specific set field wins:
// commit, then semver, then tag, then branch.
type GitRef struct {
	// +optional
	Branch string `json:"branch,omitempty"`
	// +optional
	Tag string `json:"tag,omitempty"`
	// SemVer range of tags, such as ">=1.0.0 <2.0.0".
	// +optional
	SemVer string `json:"semver,omitempty"`
	// Commit SHA-1 to pin.
	// +optional
	// +kubebuilder:validation:Pattern=`^[0-9a-f]{40}$`
	Commit string `json:"commit,omitempty"`
}

// VerifyMode says which object's signature is checked.
// +kubebuilder:validation:Enum=HEAD;Tag;TagAndHEAD
type VerifyMode string

const (
	VerifyHEAD       VerifyMode = "HEAD"
	VerifyTag        VerifyMode = "Tag"
	VerifyTagAndHEAD VerifyMode = "TagAndHEAD"
)

// GitVerification names the keys signatures must come from.
type GitVerification struct {
	// +kubebuilder:default=HEAD
	Mode VerifyMode `json:"mode,omitempty"`
	// SecretRef names a Secret whose values are ASCII-armoured OpenPGP public keys.
	SecretRef meta.LocalObjectReference `json:"secretRef"`
}

// CommitStatusProvider is a forge API for commit statuses.
// +kubebuilder:validation:Enum=github;gitlab;gitea
type CommitStatusProvider string

// CommitStatusSpec says where commit statuses go.
type CommitStatusSpec struct {
	Provider CommitStatusProvider `json:"provider"`
	// Address of the forge API. Omitted: derived from the URL.
	// +optional
	// +kubebuilder:validation:Pattern=`^https?://`
	Address string `json:"address,omitempty"`
	// Repository as owner/name. Omitted: derived from the URL.
	// +optional
	Repository string `json:"repository,omitempty"`
	// SecretRef names a Secret with a token key.
	SecretRef meta.LocalObjectReference `json:"secretRef"`
}

// Artifact is the revision a source last applied.
type Artifact struct {
	// Revision such as main@sha1:<hash>.
	Revision string `json:"revision"`
	// Digest of the built experiments, such as sha256:<hash>.
	// +optional
	Digest string `json:"digest,omitempty"`
	// +optional
	Author string `json:"author,omitempty"`
	// +optional
	Committer string `json:"committer,omitempty"`
	// +optional
	Message string `json:"message,omitempty"`
	// Signer is the key ID that signed the revision, when verified.
	// +optional
	Signer string `json:"signer,omitempty"`
	// +optional
	LastUpdateTime metav1.Time `json:"lastUpdateTime,omitempty"`
}

// ExperimentReference names an experiment a revision declared and where.
type ExperimentReference struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	// File and line it came from.
	// +optional
	File string `json:"file,omitempty"`
	// Fault kind, such as network/delay.
	// +optional
	Fault string `json:"fault,omitempty"`
}

// ChaosSourceStatus is what the hub observed of a source.
type ChaosSourceStatus struct {
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// Artifact is the last applied revision.
	// +optional
	Artifact *Artifact `json:"artifact,omitempty"`
	// FetchedRevision is the last revision fetched, applied or not.
	// +optional
	FetchedRevision string `json:"fetchedRevision,omitempty"`
	// Experiments declared by the applied revision.
	// +optional
	Experiments []ExperimentReference `json:"experiments,omitempty"`
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	meta.ReconcileRequestStatus `json:",inline"`
}

// ChaosSource is a Git repository of experiments.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=csrc,categories=faultline
// +kubebuilder:printcolumn:name="URL",type=string,JSONPath=`.spec.url`
// +kubebuilder:printcolumn:name="Revision",type=string,JSONPath=`.status.artifact.revision`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Status",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].message`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type ChaosSource struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   ChaosSourceSpec   `json:"spec"`
	Status ChaosSourceStatus `json:"status,omitempty"`
}

// GetConditions returns the status conditions.
func (in *ChaosSource) GetConditions() []metav1.Condition { return in.Status.Conditions }

// SetConditions sets the status conditions.
func (in *ChaosSource) SetConditions(c []metav1.Condition) { in.Status.Conditions = c }

// ChaosSourceList is a list of ChaosSources.
// +kubebuilder:object:root=true
type ChaosSourceList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ChaosSource `json:"items"`
}
