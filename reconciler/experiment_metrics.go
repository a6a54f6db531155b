package reconciler

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	v1alpha1 "github.com/faultline-dev/faultline/crds/v1alpha1"
)

var (
	experimentsByPhase = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "faultline_experiments",
		Help: "Experiments known to the hub, by phase.",
	}, []string{"phase"})
	activeInjections = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "faultline_active_injections",
		Help: "Targets with an active fault, by member.",
	}, []string{"member"})
	commitToInjected = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "faultline_commit_to_injected_seconds",
		Help:    "Seconds from the commit of the source revision to the first wave's faults being active.",
		Buckets: prometheus.ExponentialBuckets(0.25, 2, 12),
	})
	abortToRecovered = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "faultline_abort_to_recovered_seconds",
		Help:    "Seconds from an abort request to every target being recovered.",
		Buckets: prometheus.ExponentialBuckets(0.05, 2, 12),
	})
)

func init() {
	metrics.Registry.MustRegister(experimentsByPhase, activeInjections, commitToInjected, abortToRecovered)
}

// phaseBook keeps each experiment's phase so the by-phase gauge is exact
// without listing every experiment on every scrape.
type phaseBook struct {
	mu     sync.Mutex
	phases map[string]v1alpha1.ExperimentPhase
	active map[string]map[string]int32 // experiment -> member -> active targets
}

func newPhaseBook() *phaseBook {
	return &phaseBook{phases: map[string]v1alpha1.ExperimentPhase{}, active: map[string]map[string]int32{}}
}

func (b *phaseBook) set(key string, phase v1alpha1.ExperimentPhase, targets []v1alpha1.TargetSummary) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if phase == "" {
		delete(b.phases, key)
		delete(b.active, key)
	} else {
		b.phases[key] = phase
		act := map[string]int32{}
		for _, t := range targets {
			if t.State == v1alpha1.MemberRunning || t.State == v1alpha1.MemberInjecting || t.State == v1alpha1.MemberRecovering {
				act[t.Name] += t.Injected - t.Recovered
			}
		}
		b.active[key] = act
	}
	counts := map[v1alpha1.ExperimentPhase]float64{}
	for _, p := range b.phases {
		counts[p]++
	}
	for _, p := range []v1alpha1.ExperimentPhase{v1alpha1.PhasePending, v1alpha1.PhaseAwaitingApproval, v1alpha1.PhaseInjecting,
		v1alpha1.PhaseRunning, v1alpha1.PhaseRecovering, v1alpha1.PhaseCompleted, v1alpha1.PhasePaused,
		v1alpha1.PhaseAborted, v1alpha1.PhaseDenied, v1alpha1.PhaseFailed} {
		experimentsByPhase.WithLabelValues(string(p)).Set(counts[p])
	}
	perMember := map[string]int32{}
	for _, m := range b.active {
		for member, n := range m {
			perMember[member] += n
		}
	}
	activeInjections.Reset()
	for member, n := range perMember {
		activeInjections.WithLabelValues(member).Set(float64(max(n, 0)))
	}
}
