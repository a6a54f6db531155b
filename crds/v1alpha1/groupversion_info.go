// Package v1alpha1 holds the faultline.dev/v1alpha1 API: the kinds the hub
// reconciles (ChaosSource, ChaosPolicy, MemberCluster, HostAgent, Approval,
// Experiment) and the wire unit executors run (Injection).
//
// The package holds types, validation markers and small accessors only; it
// imports nothing else of faultline so every binary and every client can
// depend on it.
//
// +kubebuilder:object:generate=true
// +groupName=faultline.dev
package v1alpha1

import (
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/scheme"
)

var (
	// GroupVersion is the API group and version of every faultline kind.
	GroupVersion = schema.GroupVersion{Group: "faultline.dev", Version: "v1alpha1"}

	// SchemeBuilder registers the kinds of this package with a runtime.Scheme.
	SchemeBuilder = &scheme.Builder{GroupVersion: GroupVersion}

	// AddToScheme adds the kinds of this package to a runtime.Scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)
