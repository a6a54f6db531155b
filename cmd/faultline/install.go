package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/faultline-dev/faultline/crds"
)

// fieldOwner is the server-side-apply manager name of the CLI.
const fieldOwner = "faultline-cli"

func newInstallCommand(kube *genericclioptions.ConfigFlags) *cobra.Command {
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "install",
		Short: "Installs or upgrades faultline's CRDs in the current cluster (server-side apply)",
		Long: `install applies faultline's CustomResourceDefinitions with server-side apply
and waits until the API server serves every kind. Run it against the hub and
against each member cluster (members need the Injection kind).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := kube.ToRESTConfig()
			if err != nil {
				return fmt.Errorf("loading kubeconfig: %w", err)
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			return installCRDs(ctx, cfg, cmd.OutOrStdout())
		},
	}
	cmd.Flags().DurationVar(&timeout, "timeout", 2*time.Minute, "How long to wait for the CRDs to be established.")
	return cmd
}

func installCRDs(ctx context.Context, cfg *rest.Config, out io.Writer) error {
	scheme := runtime.NewScheme()
	if err := apiextensionsv1.AddToScheme(scheme); err != nil {
		return fmt.Errorf("building scheme: %w", err)
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return fmt.Errorf("connecting: %w", err)
	}
	defs, err := crds.CustomResourceDefinitions()
	if err != nil {
		return err
	}
	for _, crd := range defs {
		if err := applyCRD(ctx, c, crd); err != nil {
			return err
		}
	}
	for _, crd := range defs {
		if err := waitEstablished(ctx, c, crd); err != nil {
			return err
		}
		fmt.Fprintf(out, "customresourcedefinition/%s established\n", crd.Name)
	}
	return nil
}

func applyCRD(ctx context.Context, c client.Client, crd *apiextensionsv1.CustomResourceDefinition) error {
	obj := crd.DeepCopy()
	obj.SetGroupVersionKind(apiextensionsv1.SchemeGroupVersion.WithKind("CustomResourceDefinition"))
	obj.ManagedFields, obj.ResourceVersion = nil, ""
	u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		return fmt.Errorf("converting %s: %w", crd.Name, err)
	}
	delete(u, "status") // the API server owns status; applying it would claim fields
	ac := client.ApplyConfigurationFromUnstructured(&unstructured.Unstructured{Object: u})
	if err := c.Apply(ctx, ac, client.FieldOwner(fieldOwner), client.ForceOwnership); err != nil {
		return fmt.Errorf("applying %s: %w", crd.Name, err)
	}
	return nil
}

// waitEstablished waits until the API server serves the CRD. A CRD that is
// still terminating from an earlier uninstall swallows the apply and then
// disappears, so when it is gone the apply is repeated.
func waitEstablished(ctx context.Context, c client.Client, crd *apiextensionsv1.CustomResourceDefinition) error {
	err := wait.PollUntilContextCancel(ctx, 200*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		got := &apiextensionsv1.CustomResourceDefinition{}
		if err := c.Get(ctx, client.ObjectKey{Name: crd.Name}, got); err != nil {
			if apierrors.IsNotFound(err) {
				return false, applyCRD(ctx, c, crd)
			}
			return false, nil //nolint:nilerr // transient: keep polling until the deadline
		}
		if got.DeletionTimestamp != nil {
			return false, nil
		}
		for _, cond := range got.Status.Conditions {
			if cond.Type == apiextensionsv1.Established && cond.Status == apiextensionsv1.ConditionTrue {
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		return fmt.Errorf("waiting for %s to be established: %w", crd.Name, err)
	}
	return nil
}
