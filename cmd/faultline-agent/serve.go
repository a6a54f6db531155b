package main

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/klog/v2/textlogger"

	"github.com/faultline-dev/faultline/hostagent"
	"github.com/faultline-dev/faultline/internal/version"
)

func newServeCommand() *cobra.Command {
	var (
		hub, tokenFile, labels, journal, caFile, hostname string
		interval                                          time.Duration
		verbosity                                         int
	)
	cmd := &cobra.Command{
		Use:   "serve --hub URL --token-file FILE",
		Short: "Registers with a hub and runs the injections it hands out",
		Long: `serve registers this host with a faultline hub using a join token (once: the
credential is kept next to the journal), heartbeats, and runs the injections
the hub wants with the fault engine. When the hub stays unreachable past its
lease, every hub-issued fault is recovered and reported on reconnect.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			lbls, err := parseLabels(labels)
			if err != nil {
				return err
			}
			var token string
			if tokenFile != "" {
				raw, err := os.ReadFile(tokenFile)
				if err != nil {
					return fmt.Errorf("--token-file: %w", err)
				}
				token = strings.TrimSpace(string(raw))
			}
			client, err := hostagent.NewHTTPClient(caFile, max(interval, 2*time.Second))
			if err != nil {
				return fmt.Errorf("--ca-file: %w", err)
			}
			log := textlogger.NewLogger(textlogger.NewConfig(textlogger.Verbosity(verbosity)))
			return hostagent.New(hostagent.Options{
				Hub: hub, Token: token, Labels: lbls, JournalPath: journal, Interval: interval,
				HTTPClient: client, Hostname: hostname, Version: version.String("faultline-agent"), Log: log,
			}).Run(cmd.Context())
		},
	}
	f := cmd.Flags()
	f.StringVar(&hub, "hub", "", "base URL of the hub's agent API (https://host:port)")
	f.StringVar(&tokenFile, "token-file", "", "file holding the join token (needed until registered)")
	f.StringVar(&labels, "labels", "", "labels of this host, k=v,k=v")
	f.StringVar(&journal, "journal", "/var/lib/faultline-agent/journal.db", "fault journal; the credential is kept beside it")
	f.StringVar(&caFile, "ca-file", "", "PEM CA bundle to verify the hub with (default: system roots)")
	f.StringVar(&hostname, "hostname", "", "host name to register as (default: the kernel's)")
	f.DurationVar(&interval, "interval", hostagent.DefaultInterval, "heartbeat interval")
	f.IntVarP(&verbosity, "v", "v", 0, "log verbosity")
	_ = cmd.MarkFlagRequired("hub")
	return cmd
}

// parseLabels parses k=v,k=v into valid Kubernetes labels.
func parseLabels(s string) (map[string]string, error) {
	if s == "" {
		return nil, nil
	}
	out := map[string]string{}
	var errs []error
	for _, kv := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			errs = append(errs, fmt.Errorf("--labels: %q is not k=v", kv))
			continue
		}
		for _, m := range validation.IsQualifiedName(k) {
			errs = append(errs, fmt.Errorf("--labels: key %q: %s", k, m))
		}
		for _, m := range validation.IsValidLabelValue(v) {
			errs = append(errs, fmt.Errorf("--labels: value of %q: %s", k, m))
		}
		out[k] = v
	}
	return out, errors.Join(errs...)
}
