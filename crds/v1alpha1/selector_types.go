package v1alpha1

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// PodSelector chooses target pods with the vocabulary of Chaos Mesh's
// PodSelectorSpec, so that Chaos Mesh manifests translate field for field.
// All non-empty criteria must match (they are ANDed).
type PodSelector struct {
	// Namespaces restricts targets to these namespaces.
	// +optional
	// +kubebuilder:validation:MaxItems=64
	Namespaces []string `json:"namespaces,omitempty"`

	// LabelSelectors is a map of label keys and values the pod must carry.
	// +optional
	LabelSelectors map[string]string `json:"labelSelectors,omitempty"`

	// ExpressionSelectors are label selector requirements (In, NotIn, Exists, DoesNotExist).
	// +optional
	// +kubebuilder:validation:MaxItems=32
	ExpressionSelectors []metav1.LabelSelectorRequirement `json:"expressionSelectors,omitempty"`

	// AnnotationSelectors is a map of annotation keys and values the pod must carry.
	// +optional
	AnnotationSelectors map[string]string `json:"annotationSelectors,omitempty"`

	// FieldSelectors is a map of field paths (such as metadata.name or
	// spec.nodeName) and the values they must have.
	// +optional
	FieldSelectors map[string]string `json:"fieldSelectors,omitempty"`

	// PodPhaseSelectors restricts targets to pods in these phases. Faultline
	// only ever injects into Running pods; this narrows further.
	// +optional
	// +kubebuilder:validation:MaxItems=5
	PodPhaseSelectors []string `json:"podPhaseSelectors,omitempty"`

	// Nodes restricts targets to pods on these nodes.
	// +optional
	// +kubebuilder:validation:MaxItems=256
	Nodes []string `json:"nodes,omitempty"`

	// NodeSelectors restricts targets to pods on nodes carrying these labels.
	// +optional
	NodeSelectors map[string]string `json:"nodeSelectors,omitempty"`

	// Pods lists exact pods by namespace.
	// +optional
	Pods map[string][]string `json:"pods,omitempty"`
}

// SelectorMode says how many of the selected targets are hit.
// +kubebuilder:validation:Enum=one;all;fixed;fixed-percent;random-max-percent
type SelectorMode string

const (
	// ModeOne hits one target chosen at random.
	ModeOne SelectorMode = "one"
	// ModeAll hits every target.
	ModeAll SelectorMode = "all"
	// ModeFixed hits exactly value targets (or all, when fewer match).
	ModeFixed SelectorMode = "fixed"
	// ModeFixedPercent hits value percent of the targets, rounded down, at least one.
	ModeFixedPercent SelectorMode = "fixed-percent"
	// ModeRandomMaxPercent hits a random share between zero and value percent.
	ModeRandomMaxPercent SelectorMode = "random-max-percent"
)
