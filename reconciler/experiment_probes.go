package reconciler

import (
	"context"
	"strings"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/event"

	v1alpha1 "github.com/faultline-dev/faultline/crds/v1alpha1"
	"github.com/faultline-dev/faultline/reconciler/verdict"
)

// probeTimeout bounds the before probes, which run inside a reconcile.
const probeTimeout = time.Minute

// probeRun is one mode's probes of one run, evaluated in the background.
type probeRun struct {
	cancel context.CancelFunc
	done   chan struct{}

	mu       sync.Mutex
	evidence []v1alpha1.ProbeEvidence // when done
	breach   *v1alpha1.ProbeEvidence  // the first failure, as it happened
}

func (p *probeRun) finished() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

func (p *probeRun) result() ([]v1alpha1.ProbeEvidence, *v1alpha1.ProbeEvidence) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.evidence, p.breach
}

// probeSupervisor owns the probe goroutines of every run. A probe that fails
// wakes the experiment at once (abortOnBreach must not wait for a poll).
type probeSupervisor struct {
	mu   sync.Mutex
	runs map[string]*probeRun
	wake chan event.GenericEvent
}

func newProbeSupervisor() *probeSupervisor {
	return &probeSupervisor{runs: map[string]*probeRun{}, wake: make(chan event.GenericEvent, 256)}
}

func probeKey(exp *v1alpha1.Experiment, mode v1alpha1.ProbeMode) string {
	return experimentKey(exp) + "/" + exp.Status.Run + "/" + string(mode)
}

// start runs exp's probes of mode in the background, once per run.
func (s *probeSupervisor) start(exp *v1alpha1.Experiment, set *verdict.Set, mode v1alpha1.ProbeMode) *probeRun {
	key := probeKey(exp, mode)
	s.mu.Lock()
	defer s.mu.Unlock()
	if p := s.runs[key]; p != nil {
		return p
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &probeRun{cancel: cancel, done: make(chan struct{})}
	s.runs[key] = p
	nn := types.NamespacedName{Namespace: exp.Namespace, Name: exp.Name}
	go func() {
		defer close(p.done)
		ev := set.Run(ctx, mode, func(e v1alpha1.ProbeEvidence) {
			p.mu.Lock()
			p.breach = &e
			p.mu.Unlock()
			s.poke(nn)
		})
		p.mu.Lock()
		p.evidence = ev
		p.mu.Unlock()
		s.poke(nn)
	}()
	return p
}

func (s *probeSupervisor) get(exp *v1alpha1.Experiment, mode v1alpha1.ProbeMode) *probeRun {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.runs[probeKey(exp, mode)]
}

// stop ends and waits for every probe of the experiment's run, and returns
// their evidence. It forgets the run.
func (s *probeSupervisor) stop(exp *v1alpha1.Experiment) []v1alpha1.ProbeEvidence {
	prefix := experimentKey(exp) + "/" + exp.Status.Run + "/"
	s.mu.Lock()
	var runs []*probeRun
	for _, mode := range []v1alpha1.ProbeMode{v1alpha1.ProbeBefore, v1alpha1.ProbeDuring, v1alpha1.ProbeAfter} {
		if p := s.runs[prefix+string(mode)]; p != nil {
			runs = append(runs, p)
			delete(s.runs, prefix+string(mode))
		}
	}
	s.mu.Unlock()
	var out []v1alpha1.ProbeEvidence
	for _, p := range runs {
		p.cancel()
		<-p.done
		ev, _ := p.result()
		out = append(out, ev...)
	}
	return out
}

// forget drops every run of an experiment (deleted from Git).
func (s *probeSupervisor) forget(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, p := range s.runs {
		if strings.HasPrefix(k, key+"/") {
			p.cancel()
			delete(s.runs, k)
		}
	}
}

func (s *probeSupervisor) poke(nn types.NamespacedName) {
	exp := &v1alpha1.Experiment{}
	exp.Namespace, exp.Name = nn.Namespace, nn.Name
	select {
	case s.wake <- event.GenericEvent{Object: exp}:
	default:
	}
}

// probeSet builds the experiment's probes; nil when it declares none.
func (r *ExperimentReconciler) probeSet(exp *v1alpha1.Experiment) (*verdict.Set, error) {
	if len(exp.Spec.Probes) == 0 {
		return nil, nil
	}
	return verdict.NewSet(exp.Spec.Probes, r.ProbeOptions)
}

// runBefore evaluates the before probes inside the reconcile: nothing is
// injected unless the steady state holds. It returns the verdict that
// stops the run, or nil to go on.
func (r *ExperimentReconciler) runBefore(ctx context.Context, exp *v1alpha1.Experiment) (*v1alpha1.Verdict, error) {
	set, err := r.probeSet(exp)
	if err != nil || set == nil || !set.Has(v1alpha1.ProbeBefore) {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	ev := set.Run(ctx, v1alpha1.ProbeBefore, nil)
	r.probes.mu.Lock()
	done := make(chan struct{})
	close(done)
	r.probes.runs[probeKey(exp, v1alpha1.ProbeBefore)] = &probeRun{cancel: func() {}, done: done, evidence: ev}
	r.probes.mu.Unlock()
	for _, e := range ev {
		if e.Result != v1alpha1.VerdictPassed {
			v := verdict.Compute(verdict.Run{Evidence: ev, AbortOnBreach: exp.Spec.AbortOnBreach, Time: r.now()})
			return &v, nil
		}
	}
	return nil, nil
}

// startDuring starts the during probes the first time a fault is active;
// it is called on every poll of a running wave, so it does nothing once
// they run.
func (r *ExperimentReconciler) startDuring(exp *v1alpha1.Experiment) error {
	if r.probes.get(exp, v1alpha1.ProbeDuring) != nil {
		return nil
	}
	set, err := r.probeSet(exp)
	if err != nil || set == nil || !set.Has(v1alpha1.ProbeDuring) {
		return err
	}
	r.probes.start(exp, set, v1alpha1.ProbeDuring)
	return nil
}

// breached returns the during probe that failed, if any.
func (r *ExperimentReconciler) breached(exp *v1alpha1.Experiment) *v1alpha1.ProbeEvidence {
	if p := r.probes.get(exp, v1alpha1.ProbeDuring); p != nil {
		_, b := p.result()
		return b
	}
	return nil
}

// afterDone starts the after probes when every wave is over and reports
// whether they finished.
func (r *ExperimentReconciler) afterDone(exp *v1alpha1.Experiment) (bool, error) {
	if p := r.probes.get(exp, v1alpha1.ProbeAfter); p != nil {
		return p.finished(), nil
	}
	set, err := r.probeSet(exp)
	if err != nil || set == nil || !set.Has(v1alpha1.ProbeAfter) {
		return true, err
	}
	return r.probes.start(exp, set, v1alpha1.ProbeAfter).finished(), nil
}
