package standalone

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/faultline-dev/faultline/faults"
)

// Journal state buckets of the standalone agent.
const (
	bucketAttacks   = "standalone-attacks"
	bucketSchedules = "standalone-schedules"
)

// store keeps attacks and schedules in the engine's journal.
type store struct{ j *faults.Journal }

func (s store) putAttack(a *Attack) error {
	c := *a
	c.Measured = nil
	return s.put(bucketAttacks, c.ID, c)
}

func (s store) putSchedule(sc *Schedule) error {
	c := *sc
	c.NextFire = nil
	return s.put(bucketSchedules, c.ID, c)
}

func (s store) put(bucket, id string, v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %s: %w", id, err)
	}
	return s.j.PutState(bucket, id, raw)
}

func (s store) deleteAttack(id string) error   { return s.j.DeleteState(bucketAttacks, id) }
func (s store) deleteSchedule(id string) error { return s.j.DeleteState(bucketSchedules, id) }

// attacks returns every stored attack; one that does not decode is an
// error naming it, not skipped, since it may describe a running fault.
func (s store) attacks() ([]*Attack, error) {
	keys, vals, err := s.j.State(bucketAttacks)
	if err != nil {
		return nil, err
	}
	var out []*Attack
	var errs []error
	for i, raw := range vals {
		a := &Attack{}
		if err := json.Unmarshal(raw, a); err != nil {
			errs = append(errs, fmt.Errorf("journal attack %q: %w", keys[i], err))
			continue
		}
		out = append(out, a)
	}
	return out, errors.Join(errs...)
}

func (s store) schedules() ([]*Schedule, error) {
	keys, vals, err := s.j.State(bucketSchedules)
	if err != nil {
		return nil, err
	}
	var out []*Schedule
	var errs []error
	for i, raw := range vals {
		sc := &Schedule{}
		if err := json.Unmarshal(raw, sc); err != nil {
			errs = append(errs, fmt.Errorf("journal schedule %q: %w", keys[i], err))
			continue
		}
		out = append(out, sc)
	}
	return out, errors.Join(errs...)
}
