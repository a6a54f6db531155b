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
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// GroupVersion is the API group and version of every faultline kind.
var GroupVersion = schema.GroupVersion{Group: "faultline.dev", Version: "v1alpha1"}

var schemeBuilder = runtime.NewSchemeBuilder(addKnownTypes)

// AddToScheme adds the kinds of this package to a runtime.Scheme. The package
// depends on apimachinery only, so any client can import it cheaply.
var AddToScheme = schemeBuilder.AddToScheme

func addKnownTypes(s *runtime.Scheme) error {
	s.AddKnownTypes(GroupVersion,
		&ChaosSource{}, &ChaosSourceList{},
		&ChaosPolicy{}, &ChaosPolicyList{},
		&MemberCluster{}, &MemberClusterList{},
		&HostAgent{}, &HostAgentList{},
		&Approval{}, &ApprovalList{},
		&Experiment{}, &ExperimentList{},
		&Injection{}, &InjectionList{},
	)
	metav1.AddToGroupVersion(s, GroupVersion)
	return nil
}
