package main

import (
	"github.com/spf13/cobra"

	"github.com/faultline-dev/faultline/crds"
)

func newCRDsCommand() *cobra.Command {
	return &cobra.Command{
		Use:     "crds",
		Short:   "Prints faultline's CustomResourceDefinitions as YAML",
		Example: `  faultline crds | kubectl apply --server-side -f -`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			m, err := crds.Manifests()
			if err != nil {
				return err
			}
			_, err = cmd.OutOrStdout().Write(m)
			return err
		},
	}
}
