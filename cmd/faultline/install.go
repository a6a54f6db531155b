package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
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
		crd.SetGroupVersionKind(apiextensionsv1.SchemeGroupVersion.WithKind("CustomResourceDefinition"))
		crd.ManagedFields = nil
		if err := c.Patch(ctx, crd, client.Apply, client.FieldOwner(fieldOwner), client.ForceOwnership); err != nil { //nolint:staticcheck // typed apply configurations do not exist for CRDs
			return fmt.Errorf("applying %s: %w", crd.Name, err)
		}
	}
	for _, crd := range defs {
		name := crd.Name
		err := wait.PollUntilContextCancel(ctx, 200*time.Millisecond, true, func(ctx context.Context) (bool, error) {
			got := &apiextensionsv1.CustomResourceDefinition{}
			if err := c.Get(ctx, client.ObjectKey{Name: name}, got); err != nil {
				return false, nil //nolint:nilerr // keep polling until the deadline
			}
			for _, cond := range got.Status.Conditions {
				if cond.Type == apiextensionsv1.Established && cond.Status == apiextensionsv1.ConditionTrue {
					return true, nil
				}
			}
			return false, nil
		})
		if err != nil {
			return fmt.Errorf("waiting for %s to be established: %w", name, err)
		}
		fmt.Fprintf(out, "customresourcedefinition/%s established\n", name)
	}
	return nil
}
