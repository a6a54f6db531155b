package main

import (
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/faultline-dev/faultline/crds/v1alpha1"
	"github.com/faultline-dev/faultline/hostagent/standalone"
)

func newAttackCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "attack",
		Short: "Starts an attack on this host through the standalone agent",
		Long: `attack starts one fault on this host through the standalone agent's API and
prints its ID (on stdout; a summary goes to stderr). Every attack ends at its
deadline (--duration, default: the agent's, 5m) at the latest; recover ID ends
it sooner.`,
		Example: `  faultline-agent attack network delay --device eth0 --latency 100ms --duration 1m
  faultline-agent attack network loss --percent 10 --peer 10.0.0.0/24 --duration 30s
  faultline-agent attack stress cpu --workers 2 --load 80 --duration 1m
  faultline-agent attack process kill --name nginx --signal 15
  faultline-agent attack disk fill --path /var/tmp --size 1Gi --duration 5m`,
	}
	server := serverFlag(cmd.PersistentFlags())
	cmd.AddCommand(attackKinds(func(c *cobra.Command, req standalone.AttackRequest) error {
		a, err := standalone.NewClient(*server).CreateAttack(c.Context(), req)
		if err != nil {
			return err
		}
		fmt.Fprintln(c.OutOrStdout(), a.ID)
		fmt.Fprintf(c.ErrOrStderr(), "attack %s: %s via %s until %s\n", a.ID, a.Kind, a.Path, when(a.Deadline))
		return nil
	})...)
	return cmd
}

// attackKinds returns the network, stress, process and disk command trees;
// each leaf builds an AttackRequest from its flags and hands it to do.
// attack sends it; schedule add keeps it.
func attackKinds(do func(cmd *cobra.Command, req standalone.AttackRequest) error) []*cobra.Command {
	leaf := func(use, short string, flags func(f *pflag.FlagSet) func() (v1alpha1.FaultSpec, error)) *cobra.Command {
		var (
			duration time.Duration
			name     string
		)
		c := &cobra.Command{Use: use, Short: short, Args: cobra.NoArgs}
		build := flags(c.Flags())
		c.Flags().DurationVar(&duration, "duration", 0, "how long the fault stays on (default: the agent's, 5m)")
		c.Flags().StringVar(&name, "label", "", "a label shown by list")
		c.RunE = func(c *cobra.Command, _ []string) error {
			fault, err := build()
			if err != nil {
				return err
			}
			req := standalone.AttackRequest{Name: name, Fault: fault}
			if duration != 0 {
				if duration < 0 {
					return errors.New("--duration must be positive")
				}
				req.Duration = duration.String()
			}
			return do(c, req)
		}
		return c
	}
	group := func(use, short string, children ...*cobra.Command) *cobra.Command {
		c := &cobra.Command{Use: use, Short: short}
		c.AddCommand(children...)
		return c
	}
	return []*cobra.Command{
		group("network", "Network faults: delay, loss, bandwidth, partition",
			leaf("delay", "Adds latency to this host's packets", networkFlags(v1alpha1.NetworkDelay)),
			leaf("loss", "Drops a share of this host's packets", networkFlags(v1alpha1.NetworkLoss)),
			leaf("bandwidth", "Limits this host's egress rate", networkFlags(v1alpha1.NetworkBandwidth)),
			leaf("partition", "Cuts this host off from peers", networkFlags(v1alpha1.NetworkPartition)),
		),
		group("stress", "Stress faults: cpu, memory",
			leaf("cpu", "Keeps CPU workers busy", stressFlags(v1alpha1.StressCPU)),
			leaf("memory", "Holds memory", stressFlags(v1alpha1.StressMemory)),
		),
		group("process", "Process faults: kill, stop",
			leaf("kill", "Signals processes (SIGKILL by default)", processFlags(v1alpha1.ProcessKill)),
			leaf("stop", "Freezes processes (SIGSTOP) until recovered", processFlags(v1alpha1.ProcessStop)),
		),
		group("disk", "Disk faults: fill",
			leaf("fill", "Fills a filesystem with a file that recovery removes", diskFlags),
		),
	}
}

func networkFlags(action v1alpha1.NetworkAction) func(f *pflag.FlagSet) func() (v1alpha1.FaultSpec, error) {
	return func(f *pflag.FlagSet) func() (v1alpha1.FaultSpec, error) {
		var (
			device, direction, percent, correlation, rate string
			latency, jitter                               time.Duration
			peers                                         []string
			ports                                         []int32
			limit, buffer                                 int64
		)
		f.StringVar(&device, "device", "", "interface (default: the default route's)")
		switch action {
		case v1alpha1.NetworkDelay:
			f.DurationVar(&latency, "latency", 0, "latency added to each packet (required)")
			f.DurationVar(&jitter, "jitter", 0, "spread around the latency")
			f.StringVar(&correlation, "correlation", "", "correlation with the previous packet, percent")
		case v1alpha1.NetworkLoss:
			f.StringVar(&percent, "percent", "", "percent of packets dropped (required)")
		case v1alpha1.NetworkBandwidth:
			f.StringVar(&rate, "rate", "", "rate such as 1mbit or 512kbps (required)")
			f.Int64Var(&limit, "limit", 0, "queue size in bytes")
			f.Int64Var(&buffer, "buffer", 0, "bucket size in bytes")
		}
		if action != v1alpha1.NetworkBandwidth {
			f.StringSliceVar(&peers, "peer", nil, "narrow to these addresses or CIDRs (repeatable)")
			f.Int32SliceVar(&ports, "port", nil, "narrow to these peer ports (repeatable)")
			f.StringVar(&direction, "direction", "", "to (what the host sends), from or both (default to)")
		}
		return func() (v1alpha1.FaultSpec, error) {
			nf := &v1alpha1.NetworkFault{Action: action, Device: device, Direction: v1alpha1.Direction(direction),
				ExternalTargets: peers, Ports: ports, Percent: percent, Correlation: correlation}
			switch action {
			case v1alpha1.NetworkDelay:
				if latency <= 0 {
					return v1alpha1.FaultSpec{}, errors.New("--latency is required and must be positive")
				}
				nf.Latency = &metav1.Duration{Duration: latency}
				if jitter > 0 {
					nf.Jitter = &metav1.Duration{Duration: jitter}
				}
			case v1alpha1.NetworkLoss:
				if percent == "" {
					return v1alpha1.FaultSpec{}, errors.New("--percent is required")
				}
			case v1alpha1.NetworkBandwidth:
				if rate == "" {
					return v1alpha1.FaultSpec{}, errors.New("--rate is required")
				}
				nf.Bandwidth = &v1alpha1.BandwidthSpec{Rate: rate}
				if limit > 0 {
					nf.Bandwidth.Limit = &limit
				}
				if buffer > 0 {
					nf.Bandwidth.Buffer = &buffer
				}
			}
			return v1alpha1.FaultSpec{Network: nf}, nil
		}
	}
}

func stressFlags(action v1alpha1.StressAction) func(f *pflag.FlagSet) func() (v1alpha1.FaultSpec, error) {
	return func(f *pflag.FlagSet) func() (v1alpha1.FaultSpec, error) {
		var (
			workers, load int32
			size          string
		)
		if action == v1alpha1.StressCPU {
			f.Int32Var(&workers, "workers", 1, "CPU workers")
			f.Int32Var(&load, "load", 100, "each worker's busy share, percent")
		} else {
			f.StringVar(&size, "size", "", "memory to hold, such as 256Mi (required)")
		}
		return func() (v1alpha1.FaultSpec, error) {
			sf := &v1alpha1.StressFault{Action: action, Workers: workers, Load: load}
			if action == v1alpha1.StressMemory {
				q, err := quantity("--size", size)
				if err != nil {
					return v1alpha1.FaultSpec{}, err
				}
				sf.Size = &q
			}
			return v1alpha1.FaultSpec{Stress: sf}, nil
		}
	}
}

func processFlags(action v1alpha1.ProcessAction) func(f *pflag.FlagSet) func() (v1alpha1.FaultSpec, error) {
	return func(f *pflag.FlagSet) func() (v1alpha1.FaultSpec, error) {
		var (
			name        string
			pid, signal int32
		)
		f.StringVar(&name, "name", "", "process name (comm), or a regular expression on the command line")
		f.Int32Var(&pid, "pid", 0, "process id")
		if action == v1alpha1.ProcessKill {
			f.Int32Var(&signal, "signal", 9, "signal number")
		}
		return func() (v1alpha1.FaultSpec, error) {
			if (name == "") == (pid == 0) {
				return v1alpha1.FaultSpec{}, errors.New("set exactly one of --name or --pid")
			}
			pf := &v1alpha1.ProcessFault{Action: action, Process: name, Signal: signal}
			if pid != 0 {
				pf.Pid = &pid
			}
			return v1alpha1.FaultSpec{Process: pf}, nil
		}
	}
}

func diskFlags(f *pflag.FlagSet) func() (v1alpha1.FaultSpec, error) {
	var path, size string
	f.StringVar(&path, "path", "", "directory to fill (required)")
	f.StringVar(&size, "size", "", "bytes to write, such as 1Gi (required)")
	return func() (v1alpha1.FaultSpec, error) {
		if path == "" {
			return v1alpha1.FaultSpec{}, errors.New("--path is required")
		}
		q, err := quantity("--size", size)
		if err != nil {
			return v1alpha1.FaultSpec{}, err
		}
		return v1alpha1.FaultSpec{Disk: &v1alpha1.DiskFault{Action: v1alpha1.DiskFill, Path: path, Size: q}}, nil
	}
}

func quantity(flag, s string) (resource.Quantity, error) {
	if s == "" {
		return resource.Quantity{}, fmt.Errorf("%s is required", flag)
	}
	q, err := resource.ParseQuantity(s)
	if err != nil {
		return q, fmt.Errorf("%s: %q is not a size such as 256Mi or 1G", flag, s)
	}
	return q, nil
}
