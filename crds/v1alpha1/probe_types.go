package v1alpha1

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// ProbeMode says when a steady-state probe runs.
// +kubebuilder:validation:Enum=before;during;after
type ProbeMode string

const (
	// ProbeBefore must hold before anything is injected.
	ProbeBefore ProbeMode = "before"
	// ProbeDuring runs every interval while the fault is on.
	ProbeDuring ProbeMode = "during"
	// ProbeAfter must hold again within the probe's deadline after recovery.
	ProbeAfter ProbeMode = "after"
)

// Probe checks the service's steady state.
// +kubebuilder:validation:XValidation:rule="has(self.prometheus) != has(self.http)",message="set exactly one of prometheus or http"
type Probe struct {
	// Name of the probe, unique within the experiment.
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	// +kubebuilder:validation:MaxLength=63
	Name string `json:"name"`

	// Mode says when the probe runs.
	// +kubebuilder:default=during
	Mode ProbeMode `json:"mode,omitempty"`

	// Interval between evaluations.
	// +optional
	// +kubebuilder:default="15s"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$`
	Interval *metav1.Duration `json:"interval,omitempty"`

	// Timeout of one evaluation.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ms|s|m))+$`
	Timeout *metav1.Duration `json:"timeout,omitempty"`

	// Deadline is how long an "after" probe may take to hold again.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$`
	Deadline *metav1.Duration `json:"deadline,omitempty"`

	// FailureThreshold is how many consecutive breaches count as failure.
	// +optional
	// +kubebuilder:default=1
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100
	FailureThreshold int32 `json:"failureThreshold,omitempty"`

	// +optional
	Prometheus *PrometheusProbe `json:"prometheus,omitempty"`
	// +optional
	HTTP *HTTPProbe `json:"http,omitempty"`
}

// PrometheusProbe evaluates an instant PromQL query against a threshold.
type PrometheusProbe struct {
	// Address of the Prometheus server.
	// +kubebuilder:validation:Pattern=`^https?://`
	Address string `json:"address"`
	// Query is an instant PromQL query returning one scalar or one sample.
	// +kubebuilder:validation:MinLength=1
	Query string `json:"query"`
	// ThresholdRange the value must stay within.
	ThresholdRange ThresholdRange `json:"thresholdRange"`
}

// ThresholdRange bounds a measured value; either side may be open.
// +kubebuilder:validation:XValidation:rule="has(self.min) || has(self.max)",message="set min, max or both"
// +kubebuilder:validation:XValidation:rule="!has(self.min) || !has(self.max) || self.min <= self.max",message="min must not exceed max"
type ThresholdRange struct {
	// +optional
	Min *float64 `json:"min,omitempty"`
	// +optional
	Max *float64 `json:"max,omitempty"`
}

// HTTPProbe sends a request and checks status, latency and body.
type HTTPProbe struct {
	// +kubebuilder:validation:Pattern=`^https?://`
	URL string `json:"url"`
	// +optional
	// +kubebuilder:default=GET
	// +kubebuilder:validation:Enum=GET;HEAD;POST;PUT;DELETE;PATCH;OPTIONS
	Method string `json:"method,omitempty"`
	// ExpectedStatus is the status code that counts as healthy.
	// +optional
	// +kubebuilder:default=200
	// +kubebuilder:validation:Minimum=100
	// +kubebuilder:validation:Maximum=599
	ExpectedStatus int32 `json:"expectedStatus,omitempty"`
	// MaxLatency of a healthy response.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ms|s|m))+$`
	MaxLatency *metav1.Duration `json:"maxLatency,omitempty"`
	// BodyMatch is a regular expression the body must match.
	// +optional
	BodyMatch string `json:"bodyMatch,omitempty"`
}
