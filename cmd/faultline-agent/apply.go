package main

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/faultline-dev/faultline/hostagent/standalone"
)

func newApplyCommand() *cobra.Command {
	var file string
	cmd := &cobra.Command{
		Use:   "apply -f FILE",
		Short: "Applies Injection or Experiment manifests to this host",
		Long: `apply sends faultline.dev/v1alpha1 Injections or Experiments (YAML or JSON,
several documents allowed; - reads stdin) to the standalone agent, exactly as a
hub sends or a repository declares them. All documents are validated before
any starts. An Injection runs until its spec.deadline; an Experiment's fault
runs on this host for its spec.duration, or becomes a schedule if it has
spec.schedule. It prints the attack and schedule IDs it started.`,
		Args: cobra.NoArgs,
	}
	server := serverFlag(cmd.Flags())
	cmd.Flags().StringVarP(&file, "filename", "f", "", "file to apply, - for stdin (required)")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if file == "" {
			return errors.New("-f FILE is required")
		}
		var (
			data []byte
			err  error
		)
		if file == "-" {
			data, err = io.ReadAll(cmd.InOrStdin())
		} else {
			data, err = os.ReadFile(file)
		}
		if err != nil {
			return err
		}
		res, err := standalone.NewClient(*server).Apply(cmd.Context(), data)
		if err != nil {
			return fmt.Errorf("%s: %w", file, err)
		}
		for _, a := range res.Attacks {
			fmt.Fprintf(cmd.OutOrStdout(), "attack %s: %s %s via %s until %s\n", a.ID, a.Kind, a.Name, a.Path, when(a.Deadline))
		}
		for _, sc := range res.Schedules {
			fmt.Fprintf(cmd.OutOrStdout(), "schedule %s: %s %s %q\n", sc.ID, sc.Attack.Fault.Kind(), sc.Attack.Name, sc.Cron)
		}
		return nil
	}
	return cmd
}
