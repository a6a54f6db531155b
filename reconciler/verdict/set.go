package verdict

import (
	"context"
	"sync"

	"github.com/faultline-dev/faultline/crds/v1alpha1"
)

// Set is an experiment's probes.
type Set struct {
	runners []*Runner
}

// NewSet builds the runners of every probe; a probe that cannot be built
// (a bad address or regular expression) is an error naming it.
func NewSet(probes []v1alpha1.Probe, o Options) (*Set, error) {
	s := &Set{}
	for _, p := range probes {
		r, err := NewRunner(p, o)
		if err != nil {
			return nil, err
		}
		s.runners = append(s.runners, r)
	}
	return s, nil
}

// NewSetOf is a Set of runners built by hand (tests, custom evaluators).
func NewSetOf(runners ...*Runner) *Set { return &Set{runners: runners} }

// Has reports whether any probe runs in mode.
func (s *Set) Has(mode v1alpha1.ProbeMode) bool {
	for _, r := range s.runners {
		if r.Mode == mode {
			return true
		}
	}
	return false
}

// Run runs every probe of mode at once and returns their evidence in
// declaration order. When onAbort is not nil (the experiment aborts on
// breach), the first probe to fail calls it — once, at the moment it fails,
// with that probe's evidence — and the other probes stop. onAbort runs on
// the failing probe's goroutine and Run waits for it: it should start the
// recovery (patch the Injections, signal a channel) rather than wait for it.
func (s *Set) Run(ctx context.Context, mode v1alpha1.ProbeMode, onAbort func(v1alpha1.ProbeEvidence)) []v1alpha1.ProbeEvidence {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	var (
		once sync.Once
		wg   sync.WaitGroup
		out  []v1alpha1.ProbeEvidence
		idx  []int
	)
	var onFail func(v1alpha1.ProbeEvidence)
	if onAbort != nil {
		onFail = func(ev v1alpha1.ProbeEvidence) {
			once.Do(func() {
				onAbort(ev)
				cancel()
			})
		}
	}
	for _, r := range s.runners {
		if r.Mode == mode {
			idx = append(idx, len(out))
			out = append(out, v1alpha1.ProbeEvidence{})
		}
	}
	i := 0
	for _, r := range s.runners {
		if r.Mode != mode {
			continue
		}
		slot := &out[idx[i]]
		i++
		wg.Go(func() { *slot = r.Run(ctx, onFail) })
	}
	wg.Wait()
	return out
}
