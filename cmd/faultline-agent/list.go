package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/faultline-dev/faultline/hostagent/standalone"
)

func newListCommand() *cobra.Command {
	var (
		format string
		active bool
	)
	cmd := &cobra.Command{
		Use:   "list",
		Short: "Lists attacks, newest first",
		Args:  cobra.NoArgs,
	}
	server := serverFlag(cmd.Flags())
	cmd.Flags().StringVarP(&format, "output", "o", "table", "output format: table or json")
	cmd.Flags().BoolVar(&active, "active", false, "only attacks still in effect")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if format != "table" && format != "json" {
			return fmt.Errorf("--output must be table or json, not %q", format)
		}
		as, err := standalone.NewClient(*server).Attacks(cmd.Context())
		if err != nil {
			return err
		}
		if active {
			kept := as[:0]
			for _, a := range as {
				if a.Phase == standalone.PhaseInjected || a.Phase == standalone.PhaseInjecting {
					kept = append(kept, a)
				}
			}
			as = kept
		}
		if format == "json" {
			return printJSON(cmd.OutOrStdout(), as)
		}
		tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tKIND\tPHASE\tPATH\tDEADLINE\tNAME\tMESSAGE")
		for _, a := range as {
			name := a.Name
			if a.Schedule != "" {
				name = strings.TrimSpace(name + " schedule:" + a.Schedule)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", a.ID, a.Kind, a.Phase, dash(a.Path), when(a.Deadline), dash(name), a.Message)
		}
		return tw.Flush()
	}
	return cmd
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
