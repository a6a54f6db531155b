package standalone

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/faultline-dev/faultline/faults"
)

// keepFinished is how many finished attacks the journal keeps for list.
const keepFinished = 200

// errClosed: the agent is stopping.
var errClosed = errors.New("the agent is stopping")

// startAttackLocked records the attack, then applies it. req must have
// been validated; d is its duration. s.mu must be held.
func (s *Server) startAttackLocked(ctx context.Context, req *AttackRequest, d time.Duration, schedule string) (*Attack, error) {
	if s.closed {
		return nil, errClosed
	}
	now := time.Now()
	a := &Attack{
		ID: newID("a"), Name: req.Name, Kind: req.Fault.Kind(), Fault: *req.Fault.DeepCopy(), Peers: slices.Clone(req.Peers),
		Schedule: schedule, Phase: PhaseInjecting, CreatedAt: now, Deadline: now.Add(d),
	}
	// Journaled before the fault takes effect: after a crash the next
	// start knows to finish (or recover) it.
	if err := s.store.putAttack(a); err != nil {
		return nil, err
	}
	s.attacks[a.ID] = a
	err := s.applyLocked(ctx, a)
	s.pruneLocked()
	return a, err
}

// applyLocked applies a through the engine and records the outcome.
func (s *Server) applyLocked(ctx context.Context, a *Attack) error {
	st, err := s.engine.Apply(ctx, &faults.Request{
		ID: engineID(a.ID), Injection: a.Name, Fault: a.Fault, Target: s.target(), Peers: a.Peers, Deadline: a.Deadline,
	})
	if err != nil {
		now := time.Now()
		a.Phase, a.Message, a.RecoveredAt = PhaseFailed, err.Error(), &now
		return errors.Join(fmt.Errorf("apply %s: %w", a.ID, err), s.store.putAttack(a))
	}
	at := st.AppliedAt
	a.Phase, a.Path, a.InjectedAt = PhaseInjected, st.Path, &at
	return s.store.putAttack(a)
}

// restoreAttacks settles what the journal says was running when the
// previous agent stopped. The engine has already reaped every fault of that
// agent; an attack whose deadline is still ahead is applied again (it is
// honoured until then), the others are recorded as recovered.
func (s *Server) restoreAttacks(ctx context.Context) error {
	stored, loadErr := s.store.attacks()
	s.mu.Lock()
	defer s.mu.Unlock()
	var errs []error
	for _, a := range stored {
		s.attacks[a.ID] = a
		if !a.active() {
			continue
		}
		switch {
		case !time.Now().Before(a.Deadline):
			s.finishLocked(a, PhaseRecovered, "the deadline passed while the agent was down; recovered from the journal")
		case a.Kind == "process/kill":
			// A kill happened once; repeating it would hit processes
			// started since.
			s.finishLocked(a, PhaseRecovered, "the agent restarted; a process kill is not repeated")
		default:
			if err := s.applyLocked(ctx, a); err != nil {
				s.o.Log.Error(err, "apply an attack again after restart", "attack", a.ID)
				continue
			}
			a.Message = "applied again after the agent restarted"
			errs = append(errs, s.store.putAttack(a))
			s.o.Log.Info("attack applied again after restart", "attack", a.ID, "deadline", a.Deadline)
		}
	}
	s.pruneLocked()
	return errors.Join(append(errs, loadErr)...)
}

// recoverLocked ends a through the engine and records it.
func (s *Server) recoverLocked(ctx context.Context, a *Attack, reason string) error {
	if err := s.engine.Recover(ctx, engineID(a.ID), reason); err != nil {
		a.Message = "recovery failed, retrying: " + err.Error()
		return errors.Join(fmt.Errorf("recover %s: %w", a.ID, err), s.store.putAttack(a))
	}
	s.finishLocked(a, PhaseRecovered, reason)
	return nil
}

// finishLocked records a's end; a journal write error is logged, since
// the fault itself is gone either way.
func (s *Server) finishLocked(a *Attack, phase Phase, msg string) {
	now := time.Now()
	a.Phase, a.Message, a.RecoveredAt = phase, msg, &now
	if err := s.store.putAttack(a); err != nil {
		s.o.Log.Error(err, "record the end of an attack", "attack", a.ID)
	}
}

// onRecovered is the engine callback (faults.Options.OnRecovered): the
// engine recovered an attack at its deadline.
func (s *Server) onRecovered(id, reason string) {
	attackID, ok := strings.CutPrefix(id, engineIDPrefix)
	if !ok {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if a, ok := s.attacks[attackID]; ok && a.active() {
		if reason == "deadline" {
			reason = "the deadline passed"
		}
		s.finishLocked(a, PhaseRecovered, reason)
		s.pruneLocked()
	}
}

// recoverAttack ends attack id. Unknown or finished attacks are success.
func (s *Server) recoverAttack(ctx context.Context, id string) (RecoverResult, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	res := RecoverResult{ID: id}
	a, known := s.attacks[id]
	if known && !a.active() {
		res.Attack = s.viewLocked(a)
		return res, nil
	}
	// Also for an unknown ID: the engine may hold a fault the attack
	// records lost (a journal write that failed); Recover of nothing is a
	// no-op.
	if !known {
		if _, active := s.engine.Status(engineID(id)); !active {
			return res, nil
		}
		if err := s.engine.Recover(ctx, engineID(id), "recovered on request"); err != nil {
			return res, err
		}
		res.WasActive = true
		return res, nil
	}
	if err := s.recoverLocked(ctx, a, "recovered on request"); err != nil {
		return res, err
	}
	res.WasActive, res.Attack = true, s.viewLocked(a)
	return res, nil
}

// viewLocked copies a for an answer, with the engine's measurements.
func (s *Server) viewLocked(a *Attack) *Attack {
	s.settleLocked(a)
	c := *a
	c.Fault = *a.Fault.DeepCopy()
	if a.active() {
		if st, ok := s.engine.Status(engineID(a.ID)); ok {
			c.Measured = st.Measured
		}
	}
	return &c
}

// settleLocked records the end of an attack the engine no longer holds
// past its deadline: one whose recovery at the deadline first failed and
// then succeeded on a retry, which reports to nobody.
func (s *Server) settleLocked(a *Attack) {
	if a.Phase != PhaseInjected || time.Since(a.Deadline) < 5*time.Second {
		return
	}
	if _, held := s.engine.Status(engineID(a.ID)); held {
		return
	}
	for _, st := range s.engine.Active() {
		if st.ID == engineID(a.ID) {
			return
		}
	}
	s.finishLocked(a, PhaseRecovered, "the deadline passed")
}

func (s *Server) getAttack(id string) (*Attack, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.attacks[id]
	if !ok {
		return nil, false
	}
	return s.viewLocked(a), true
}

// listAttacks returns every attack, newest first.
func (s *Server) listAttacks() []Attack {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Attack, 0, len(s.attacks))
	for _, a := range s.attacks {
		out = append(out, *s.viewLocked(a))
	}
	slices.SortFunc(out, func(x, y Attack) int {
		if c := y.CreatedAt.Compare(x.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(x.ID, y.ID)
	})
	return out
}

// pruneLocked drops the oldest finished attacks beyond keepFinished.
func (s *Server) pruneLocked() {
	var done []*Attack
	for _, a := range s.attacks {
		if !a.active() {
			done = append(done, a)
		}
	}
	if len(done) <= keepFinished {
		return
	}
	slices.SortFunc(done, func(x, y *Attack) int { return x.CreatedAt.Compare(y.CreatedAt) })
	for _, a := range done[:len(done)-keepFinished] {
		if err := s.store.deleteAttack(a.ID); err != nil {
			s.o.Log.Error(err, "prune finished attack", "attack", a.ID)
			continue
		}
		delete(s.attacks, a.ID)
	}
}
