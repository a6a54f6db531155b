package main

import (
	"fmt"

	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/faultline-dev/faultline/crds/v1alpha1"
)

// hubClient connects to the hub with kubectl's flags (--kubeconfig,
// --context, -n ...) and returns the namespace those flags (or the
// kubeconfig context) name. Every hub-facing command connects through it.
func hubClient(kube *genericclioptions.ConfigFlags) (client.WithWatch, string, error) {
	cfg, err := kube.ToRESTConfig()
	if err != nil {
		return nil, "", fmt.Errorf("loading kubeconfig: %w", err)
	}
	ns, _, err := kube.ToRawKubeConfigLoader().Namespace()
	if err != nil {
		return nil, "", fmt.Errorf("resolving namespace: %w", err)
	}
	s := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(s))
	utilruntime.Must(v1alpha1.AddToScheme(s))
	c, err := client.NewWithWatch(cfg, client.Options{Scheme: s})
	if err != nil {
		return nil, "", fmt.Errorf("connecting to the hub: %w", err)
	}
	return c, ns, nil
}
