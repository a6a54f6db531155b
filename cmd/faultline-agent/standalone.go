package main

import (
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"k8s.io/klog/v2/textlogger"

	"github.com/faultline-dev/faultline/hostagent/standalone"
)

// standaloneCommands are the standalone agent and the CLI that talks to it.
func standaloneCommands() []*cobra.Command {
	return []*cobra.Command{
		newStandaloneCommand(), newAttackCommand(), newRecoverCommand(), newListCommand(),
		newScheduleCommand(), newApplyCommand(),
	}
}

func newStandaloneCommand() *cobra.Command {
	var (
		o         standalone.Options
		verbosity int
	)
	cmd := &cobra.Command{
		Use:   "standalone",
		Short: "Runs faults on this host from a local REST API and CLI, without a hub",
		Long: `standalone serves a local REST API (see /openapi.yaml) that the attack,
recover, list, schedule and apply commands talk to. It listens on loopback
unless --listen says otherwise; the API has no authentication of its own.

Every attack has a deadline (--duration, default 5m, at most --max-duration)
and is recovered by the agent on its own then. Attacks and schedules are kept
in the journal: after kill -9 the next start recovers what was left, applies
again the attacks whose deadline is ahead, and keeps the schedules. A firing
missed while the agent was down is not run late, and firings of one schedule
never overlap. Stopping the agent (SIGTERM) recovers every attack.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.Log = textlogger.NewLogger(textlogger.NewConfig(textlogger.Verbosity(verbosity)))
			return standalone.Run(cmd.Context(), o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Listen, "listen", standalone.DefaultListen, "address of the API (loopback unless you say otherwise)")
	f.StringVar(&o.JournalPath, "journal", "/var/lib/faultline-agent/journal.db", "fault journal; attacks and schedules are kept in it too")
	f.DurationVar(&o.DefaultDuration, "default-duration", standalone.DefaultDuration, "duration of an attack that names none")
	f.DurationVar(&o.MaxDuration, "max-duration", standalone.DefaultMaxDuration, "longest attack accepted")
	f.StringVar(&o.Hostname, "hostname", "", "target key of this host's faults (default: the kernel's host name)")
	f.IntVarP(&verbosity, "v", "v", 0, "log verbosity")
	return cmd
}

// serverFlag adds --server, the standalone agent's API a command talks to.
func serverFlag(f *pflag.FlagSet) *string {
	def := os.Getenv("FAULTLINE_AGENT_SERVER")
	if def == "" {
		def = "http://" + standalone.DefaultListen
	}
	return f.String("server", def, "URL of the standalone agent's API (env FAULTLINE_AGENT_SERVER)")
}

// when prints a time for people: local clock, and how far from now.
func when(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	d := time.Until(t).Round(time.Second)
	rel := fmt.Sprintf("in %s", d)
	if d < 0 {
		rel = fmt.Sprintf("%s ago", -d)
	}
	return t.Local().Format("15:04:05") + " (" + rel + ")"
}
