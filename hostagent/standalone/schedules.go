package standalone

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

// cronParser reads 5-field cron, an optional leading seconds field, and
// descriptors such as @hourly and @every 10m, as Experiment schedules do.
var cronParser = cron.NewParser(cron.SecondOptional | cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// startSchedules registers the stored schedules and starts the clock. The
// next firing of each is computed from now: firings missed while the agent
// was down are not run late.
func (s *Server) startSchedules() error {
	stored, loadErr := s.store.schedules()
	s.cron = cron.New(cron.WithParser(cronParser), cron.WithLogger(cron.DiscardLogger))
	s.mu.Lock()
	var errs []error
	for _, sc := range stored {
		s.schedules[sc.ID] = sc
		if err := s.registerLocked(sc); err != nil {
			// Accepted once, so it parsed then; keep it listed with why.
			sc.Message = "not scheduled: " + err.Error()
			errs = append(errs, err)
		}
	}
	s.mu.Unlock()
	s.cron.Start()
	if len(errs) > 0 {
		s.o.Log.Error(errors.Join(errs...), "stored schedules that no longer parse")
	}
	return loadErr
}

func (s *Server) registerLocked(sc *Schedule) error {
	id := sc.ID
	eid, err := s.cron.AddFunc(sc.Cron, func() { s.fire(id) })
	if err != nil {
		return err
	}
	s.entries[id] = eid
	return nil
}

// fire starts one attack of schedule id, unless its previous attack is
// still active: firings of one schedule never overlap.
func (s *Server) fire(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sc, ok := s.schedules[id]
	if !ok || s.closed {
		return
	}
	now := time.Now()
	if prev, ok := s.attacks[sc.LastAttack]; ok && prev.active() {
		sc.Skipped++
		sc.Message = "skipped the firing at " + now.Format(time.RFC3339) + ": attack " + prev.ID + " is still active"
		s.saveScheduleLocked(sc)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// Validated again: the host may have changed since (an interface or a
	// directory gone).
	d, fe := s.validateAttack(ctx, "", &sc.Attack, "attack.duration")
	if fe != nil {
		sc.Skipped++
		sc.Message = "skipped the firing at " + now.Format(time.RFC3339) + ": " + fe.Error()
		s.saveScheduleLocked(sc)
		return
	}
	a, err := s.startAttackLocked(ctx, &sc.Attack, d, sc.ID)
	if a != nil {
		sc.Fired++
		sc.LastFired, sc.LastAttack, sc.Message = &now, a.ID, ""
	}
	if err != nil {
		sc.Message = err.Error()
		s.o.Log.Error(err, "scheduled attack", "schedule", id)
	}
	s.saveScheduleLocked(sc)
}

func (s *Server) saveScheduleLocked(sc *Schedule) {
	if err := s.store.putSchedule(sc); err != nil {
		s.o.Log.Error(err, "record schedule", "schedule", sc.ID)
	}
}

// validateSchedule checks the cron expression and the attack.
func (s *Server) validateSchedule(ctx context.Context, req *ScheduleRequest) *FieldError {
	if strings.TrimSpace(req.Cron) == "" {
		return fieldErr("cron", "required")
	}
	if _, err := cronParser.Parse(req.Cron); err != nil {
		return fieldErr("cron", "%v", err)
	}
	_, fe := s.validateAttack(ctx, "attack.", &req.Attack, "attack.duration")
	return fe
}

// putSchedule creates (id "") or replaces a schedule. req must have been
// validated.
func (s *Server) putSchedule(id string, req *ScheduleRequest) (*Schedule, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, errClosed
	}
	sc := &Schedule{ID: id, CreatedAt: time.Now()}
	if id == "" {
		sc.ID = newID("s")
	} else if old, ok := s.schedules[id]; ok {
		c := *old
		sc = &c
		sc.Message = ""
	} else {
		return nil, nil
	}
	sc.Cron, sc.Attack = req.Cron, req.Attack
	if err := s.store.putSchedule(sc); err != nil {
		return nil, err
	}
	if eid, ok := s.entries[sc.ID]; ok {
		s.cron.Remove(eid)
		delete(s.entries, sc.ID)
	}
	s.schedules[sc.ID] = sc
	if err := s.registerLocked(sc); err != nil {
		return nil, err
	}
	return s.scheduleViewLocked(sc), nil
}

// deleteSchedule removes schedule id and recovers its active attack.
func (s *Server) deleteSchedule(ctx context.Context, id string) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sc, ok := s.schedules[id]
	if !ok {
		return false, nil
	}
	if eid, ok := s.entries[id]; ok {
		s.cron.Remove(eid)
		delete(s.entries, id)
	}
	if a, ok := s.attacks[sc.LastAttack]; ok && a.active() {
		if err := s.recoverLocked(ctx, a, "its schedule was deleted"); err != nil {
			return true, err
		}
	}
	if err := s.store.deleteSchedule(id); err != nil {
		return true, err
	}
	delete(s.schedules, id)
	return true, nil
}

func (s *Server) scheduleViewLocked(sc *Schedule) *Schedule {
	c := *sc
	if eid, ok := s.entries[sc.ID]; ok {
		if next := s.cron.Entry(eid).Next; !next.IsZero() {
			c.NextFire = &next
		} else if sched, err := cronParser.Parse(sc.Cron); err == nil {
			// Not started yet: what the clock will compute.
			n := sched.Next(time.Now())
			c.NextFire = &n
		}
	}
	return &c
}

func (s *Server) getSchedule(id string) (*Schedule, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sc, ok := s.schedules[id]
	if !ok {
		return nil, false
	}
	return s.scheduleViewLocked(sc), true
}

func (s *Server) listSchedules() []Schedule {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Schedule, 0, len(s.schedules))
	for _, sc := range s.schedules {
		out = append(out, *s.scheduleViewLocked(sc))
	}
	slices.SortFunc(out, func(x, y Schedule) int {
		if c := x.CreatedAt.Compare(y.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(x.ID, y.ID)
	})
	return out
}
