package writeback_test

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/faultline-dev/faultline/crds/v1alpha1"
	"github.com/faultline-dev/faultline/reconciler/writeback"
)

func TestObserveVerdict(t *testing.T) {
	commit := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	at := metav1.NewTime(commit.Add(3 * time.Minute))
	before := testutil.ToFloat64(writeback.VerdictsTotal().WithLabelValues("Aborted"))
	writeback.ObserveVerdict(v1alpha1.Verdict{Result: v1alpha1.VerdictAborted, Time: &at}, commit)
	writeback.ObserveVerdict(v1alpha1.Verdict{Result: v1alpha1.VerdictAborted, Time: &at}, time.Time{}) // commit time unknown
	if got := testutil.ToFloat64(writeback.VerdictsTotal().WithLabelValues("Aborted")) - before; got != 2 {
		t.Errorf("faultline_verdicts_total{result=Aborted} rose by %v, want 2", got)
	}
	// The hub serves them from controller-runtime's registry.
	mfs, err := ctrlmetrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	found := map[string]bool{}
	for _, mf := range mfs {
		found[mf.GetName()] = true
		if mf.GetName() == "faultline_commit_to_verdict_seconds" {
			h := mf.GetMetric()[0].GetHistogram()
			if h.GetSampleCount() != 1 || h.GetSampleSum() != 180 {
				t.Errorf("commit-to-verdict: %d samples summing %v, want 1 of 180s", h.GetSampleCount(), h.GetSampleSum())
			}
		}
	}
	for _, name := range []string{"faultline_verdicts_total", "faultline_commit_to_verdict_seconds"} {
		if !found[name] {
			t.Errorf("%s is not on controller-runtime's registry", name)
		}
	}
}
