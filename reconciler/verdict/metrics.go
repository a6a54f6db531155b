package verdict

import (
	"github.com/prometheus/client_golang/prometheus"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
)

// probeEvaluations counts every probe evaluation by probe type (prometheus,
// http) and outcome (ok, breach, inconclusive, error). It is served on the
// hub's metrics endpoint with controller-runtime's own metrics.
var probeEvaluations = prometheus.NewCounterVec(prometheus.CounterOpts{
	Name: "faultline_probe_evaluations_total",
	Help: "Steady-state probe evaluations by probe type and outcome.",
}, []string{"probe_type", "result"})

// ProbeEvaluations is the counter behind faultline_probe_evaluations_total;
// Runner increments it, the hub only serves it.
func ProbeEvaluations() *prometheus.CounterVec { return probeEvaluations }

func init() {
	ctrlmetrics.Registry.MustRegister(probeEvaluations)
}
