package main

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	sigsjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"

	"github.com/faultline-dev/faultline/hostagent/standalone"
)

func newScheduleCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "schedule",
		Short: "Cron schedules of attacks, kept by the standalone agent across restarts",
		Long: `schedule manages cron schedules of attacks. The agent keeps them in its journal,
so they survive restarts. A firing missed while the agent was down is not run
late; a firing that finds the schedule's previous attack still active is
skipped, so attacks of one schedule never overlap.`,
	}
	cmd.AddCommand(newScheduleAddCommand(), newScheduleListCommand(), newScheduleDeleteCommand())
	return cmd
}

func newScheduleAddCommand() *cobra.Command {
	var (
		cronExpr, file string
		duration       time.Duration
	)
	cmd := &cobra.Command{
		Use:   "add --cron EXPR [--duration D] (-f FILE | KIND ACTION [attack flags])",
		Short: "Adds a schedule of an attack given as attack arguments or a file",
		Long: `add creates a schedule. The attack is given as the arguments of attack
(network delay --latency 100ms ...) or with -f as a file holding an Injection,
an Experiment (whose spec.schedule is the default --cron) or an attack request
({fault, duration, peers}, YAML or JSON). Cron takes 5 fields, an optional
leading seconds field, or descriptors such as @hourly and @every 10m, in the
host's time zone.`,
		Example: `  faultline-agent schedule add --cron "*/5 * * * *" --duration 30s network delay --latency 100ms
  faultline-agent schedule add --cron @hourly -f experiment.yaml`,
	}
	server := serverFlag(cmd.Flags())
	cmd.Flags().StringVar(&cronExpr, "cron", "", "cron expression (required unless the file's Experiment has spec.schedule)")
	cmd.Flags().DurationVar(&duration, "duration", 0, "how long each attack stays on (default: the attack's, else the agent's 5m)")
	cmd.Flags().StringVarP(&file, "filename", "f", "", "file holding the attack")
	// Flags after the attack's kind belong to the attack.
	cmd.Flags().SetInterspersed(false)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		var (
			req standalone.AttackRequest
			err error
		)
		switch {
		case file != "" && len(args) > 0:
			return errors.New("give the attack either with -f or as arguments, not both")
		case file != "":
			var fileCron string
			req, fileCron, err = attackFromFile(file)
			if cronExpr == "" {
				cronExpr = fileCron
			}
		case len(args) > 0:
			req, err = attackFromArgs(cmd, args)
		default:
			return errors.New("give the attack as arguments (network delay --latency 100ms) or with -f FILE")
		}
		if err != nil {
			return err
		}
		if cronExpr == "" {
			return errors.New("--cron is required")
		}
		if duration != 0 {
			if req.Duration != "" && len(args) > 0 {
				return errors.New("--duration given twice: before and after the attack's kind")
			}
			req.Duration = duration.String()
		}
		sc, err := standalone.NewClient(*server).CreateSchedule(cmd.Context(), standalone.ScheduleRequest{Cron: cronExpr, Attack: req})
		if err != nil {
			return err
		}
		fmt.Fprintln(cmd.OutOrStdout(), sc.ID)
		next := "-"
		if sc.NextFire != nil {
			next = when(*sc.NextFire)
		}
		fmt.Fprintf(cmd.ErrOrStderr(), "schedule %s: %s %q, next at %s\n", sc.ID, sc.Attack.Fault.Kind(), sc.Cron, next)
		return nil
	}
	return cmd
}

// attackFromArgs parses attack arguments (network delay --latency ...)
// with the attack command's own flags.
func attackFromArgs(cmd *cobra.Command, args []string) (standalone.AttackRequest, error) {
	var got *standalone.AttackRequest
	root := &cobra.Command{Use: "schedule add --cron EXPR", SilenceErrors: true, SilenceUsage: true}
	root.AddCommand(attackKinds(func(_ *cobra.Command, req standalone.AttackRequest) error {
		got = &req
		return nil
	})...)
	root.SetArgs(args)
	root.SetOut(cmd.ErrOrStderr())
	root.SetErr(cmd.ErrOrStderr())
	if err := root.ExecuteContext(cmd.Context()); err != nil {
		return standalone.AttackRequest{}, fmt.Errorf("attack %s: %w", strings.Join(args, " "), err)
	}
	if got == nil {
		return standalone.AttackRequest{}, fmt.Errorf("%q is not an attack: give a kind and an action, such as network delay --latency 100ms", strings.Join(args, " "))
	}
	return *got, nil
}

// attackFromFile reads an Injection, an Experiment or a bare attack
// request, and the Experiment's schedule if any.
func attackFromFile(path string) (standalone.AttackRequest, string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return standalone.AttackRequest{}, "", err
	}
	var probe struct {
		Kind string `json:"kind"`
	}
	if err := yaml.Unmarshal(data, &probe); err == nil && probe.Kind == "" {
		raw, err := yaml.YAMLToJSON(data)
		if err != nil {
			return standalone.AttackRequest{}, "", fmt.Errorf("%s: %w", path, err)
		}
		var req standalone.AttackRequest
		strict, err := sigsjson.UnmarshalStrict(raw, &req)
		if err = errors.Join(append([]error{err}, strict...)...); err != nil {
			return req, "", fmt.Errorf("%s: %w", path, err)
		}
		return req, "", nil
	}
	ms, err := standalone.DecodeManifests(data, time.Now())
	if err != nil {
		return standalone.AttackRequest{}, "", fmt.Errorf("%s: %w", path, err)
	}
	if len(ms) != 1 {
		return standalone.AttackRequest{}, "", fmt.Errorf("%s: %d documents; a schedule takes one", path, len(ms))
	}
	return ms[0].Attack, ms[0].Cron, nil
}

func newScheduleListCommand() *cobra.Command {
	var format string
	cmd := &cobra.Command{Use: "list", Short: "Lists schedules", Args: cobra.NoArgs}
	server := serverFlag(cmd.Flags())
	cmd.Flags().StringVarP(&format, "output", "o", "table", "output format: table or json")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if format != "table" && format != "json" {
			return fmt.Errorf("--output must be table or json, not %q", format)
		}
		scs, err := standalone.NewClient(*server).Schedules(cmd.Context())
		if err != nil {
			return err
		}
		if format == "json" {
			return printJSON(cmd.OutOrStdout(), scs)
		}
		tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tCRON\tKIND\tDURATION\tNEXT\tLAST ATTACK\tFIRED\tSKIPPED\tMESSAGE")
		for _, sc := range scs {
			next := "-"
			if sc.NextFire != nil {
				next = when(*sc.NextFire)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d\t%d\t%s\n", sc.ID, sc.Cron, sc.Attack.Fault.Kind(),
				dash(sc.Attack.Duration), next, dash(sc.LastAttack), sc.Fired, sc.Skipped, sc.Message)
		}
		return tw.Flush()
	}
	return cmd
}

func newScheduleDeleteCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "delete ID...",
		Short: "Deletes schedules and recovers their active attacks",
		Args:  cobra.MinimumNArgs(1),
	}
	server := serverFlag(cmd.Flags())
	cmd.RunE = func(cmd *cobra.Command, ids []string) error {
		c := standalone.NewClient(*server)
		for _, id := range ids {
			if err := c.DeleteSchedule(cmd.Context(), id); err != nil {
				return fmt.Errorf("delete schedule %s: %w", id, err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s deleted\n", id)
		}
		return nil
	}
	return cmd
}
