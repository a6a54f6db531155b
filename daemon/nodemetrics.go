package daemon

import (
	"fmt"
	"log/slog"
	"sync"

	"github.com/alecthomas/kingpin/v2"
	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/node_exporter/collector"
)

// DefaultNodeCollectors are the node_exporter collectors the daemon serves
// by default: what a chaos run's steady-state probes usually look at.
var DefaultNodeCollectors = []string{"cpu", "meminfo", "loadavg", "netdev", "diskstats", "filesystem", "pressure"}

var parseCollectorFlags sync.Once

// registerNodeCollectors serves node metrics (node_*) through the
// node_exporter collectors library. Its collectors read their settings
// (such as --path.procfs) from kingpin flags whose defaults only exist once
// kingpin has parsed, so the global kingpin command line is parsed once
// with no arguments: every collector runs with node_exporter's defaults.
func registerNodeCollectors(reg prometheus.Registerer, names []string, log logr.Logger) error {
	var perr error
	parseCollectorFlags.Do(func() { _, perr = kingpin.CommandLine.Parse(nil) })
	if perr != nil {
		return fmt.Errorf("node collectors: %w", perr)
	}
	nc, err := collector.NewNodeCollector(slog.New(logr.ToSlogHandler(log)), names...)
	if err != nil {
		return fmt.Errorf("node collectors %v: %w", names, err)
	}
	return reg.Register(nc)
}
