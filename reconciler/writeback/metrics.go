package writeback

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/faultline-dev/faultline/crds/v1alpha1"
)

var (
	verdictsTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "faultline_verdicts_total",
		Help: "Verdicts reached by experiment runs, by result.",
	}, []string{"result"})

	commitToVerdict = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "faultline_commit_to_verdict_seconds",
		Help: "Seconds from the commit time of a revision to the verdict of a run it declared.",
		// 30s to about 17h: from a CI-speed loop to an overnight approval.
		Buckets: prometheus.ExponentialBuckets(30, 2, 12),
	})
)

// VerdictsTotal is the counter behind faultline_verdicts_total.
func VerdictsTotal() *prometheus.CounterVec { return verdictsTotal }

// CommitToVerdict is the histogram behind faultline_commit_to_verdict_seconds.
func CommitToVerdict() prometheus.Histogram { return commitToVerdict }

// ObserveVerdict records a verdict in the hub metrics: one more verdict of
// its result and, when the revision's commit time is known, the time from
// commit to verdict. Call it once per run, when the verdict is first set.
func ObserveVerdict(v v1alpha1.Verdict, commitTime time.Time) {
	verdictsTotal.WithLabelValues(string(v.Result)).Inc()
	if commitTime.IsZero() || v.Time == nil {
		return
	}
	if d := v.Time.Sub(commitTime); d >= 0 {
		commitToVerdict.Observe(d.Seconds())
	}
}

func init() {
	ctrlmetrics.Registry.MustRegister(verdictsTotal, commitToVerdict)
}
