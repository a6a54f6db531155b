package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/faultline-dev/faultline/hostagent/standalone"
)

func newRecoverCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "recover ID...",
		Short: "Recovers attacks now",
		Long: `recover ends attacks before their deadline. It is idempotent: an attack that
is already recovered, or unknown, is success.`,
		Args: cobra.MinimumNArgs(1),
	}
	server := serverFlag(cmd.Flags())
	cmd.RunE = func(cmd *cobra.Command, ids []string) error {
		c := standalone.NewClient(*server)
		for _, id := range ids {
			res, err := c.Recover(cmd.Context(), id)
			if err != nil {
				return fmt.Errorf("recover %s: %w", id, err)
			}
			switch {
			case res.WasActive:
				fmt.Fprintf(cmd.OutOrStdout(), "%s recovered\n", id)
			case res.Attack == nil:
				fmt.Fprintf(cmd.OutOrStdout(), "%s unknown: nothing to recover\n", id)
			default:
				fmt.Fprintf(cmd.OutOrStdout(), "%s already %s: %s\n", id, res.Attack.Phase, res.Attack.Message)
			}
		}
		return nil
	}
	return cmd
}
