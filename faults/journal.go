package faults

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

var bucketFaults = []byte("faults")

// journalLockWait is how long Open waits for another process to let go of
// the journal file before failing (tests shorten it).
var journalLockWait = 5 * time.Second

// Record is one journaled fault: written before the fault takes effect,
// deleted once it is recovered. Undo is all Recover needs.
type Record struct {
	ID        string          `json:"id"`
	Kind      string          `json:"kind"`
	Path      string          `json:"path"`
	Injection string          `json:"injection,omitempty"`
	Target    Target          `json:"target"`
	SpecHash  string          `json:"specHash"`
	Deadline  time.Time       `json:"deadline"`
	Owner     Instance        `json:"owner"`
	Journaled time.Time       `json:"journaled"`
	Undo      json.RawMessage `json:"undo"`
}

// Journal is the executor's local, crash-safe record of applied faults
// (bbolt: every Put is fsynced before it returns). One process holds it at
// a time; a second Open waits for the lock and then fails.
type Journal struct {
	db *bolt.DB
}

// OpenJournal opens or creates the journal at path.
func OpenJournal(path string) (*Journal, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("journal directory: %w", err)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: journalLockWait})
	if errors.Is(err, bolterrors.ErrTimeout) {
		// The usual cause: a standalone agent and a fleet agent (or two
		// daemons) started with the same default journal path.
		return nil, fmt.Errorf("open journal %s: another process holds it (each agent or daemon needs its own journal): %w", path, err)
	}
	if err != nil {
		return nil, fmt.Errorf("open journal %s: %w", path, err)
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(bucketFaults)
		return err
	}); err != nil {
		return nil, errors.Join(fmt.Errorf("init journal %s: %w", path, err), db.Close())
	}
	return &Journal{db: db}, nil
}

// Put writes rec durably, replacing any record with the same ID.
func (j *Journal) Put(rec *Record) error {
	raw, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("encode journal record %s: %w", rec.ID, err)
	}
	if err := j.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketFaults).Put([]byte(rec.ID), raw)
	}); err != nil {
		return fmt.Errorf("journal %s: %w", rec.ID, err)
	}
	return nil
}

// Delete removes the record of id; a missing record is not an error.
func (j *Journal) Delete(id string) error {
	if err := j.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketFaults).Delete([]byte(id))
	}); err != nil {
		return fmt.Errorf("unjournal %s: %w", id, err)
	}
	return nil
}

// List returns every record. A record that does not decode is returned as
// an error naming its key, not skipped: skipping it would orphan a fault.
func (j *Journal) List() ([]Record, error) {
	var recs []Record
	var errs []error
	err := j.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketFaults).ForEach(func(k, v []byte) error {
			var r Record
			if err := json.Unmarshal(v, &r); err != nil {
				errs = append(errs, fmt.Errorf("journal record %q: %w", k, err))
				return nil
			}
			recs = append(recs, r)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("read journal: %w", err)
	}
	return recs, errors.Join(errs...)
}

// Close closes the journal.
func (j *Journal) Close() error { return j.db.Close() }

// State buckets keep an executor's own durable records (the standalone
// agent's attacks and schedules) in the journal's file, beside the fault
// records and with the same fsync-before-return guarantee: one file, one
// lock, one owner per host. Bucket names live apart from the fault records.
func stateBucket(name string) []byte { return []byte("state/" + name) }

// PutState writes value under key in the state bucket name.
func (j *Journal) PutState(name, key string, value []byte) error {
	if err := j.db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(stateBucket(name))
		if err != nil {
			return err
		}
		return b.Put([]byte(key), value)
	}); err != nil {
		return fmt.Errorf("journal state %s/%s: %w", name, key, err)
	}
	return nil
}

// DeleteState removes key from the state bucket name; a missing key is not
// an error.
func (j *Journal) DeleteState(name, key string) error {
	if err := j.db.Update(func(tx *bolt.Tx) error {
		if b := tx.Bucket(stateBucket(name)); b != nil {
			return b.Delete([]byte(key))
		}
		return nil
	}); err != nil {
		return fmt.Errorf("journal state %s/%s: delete: %w", name, key, err)
	}
	return nil
}

// State returns every key and value of the state bucket name, in key order.
func (j *Journal) State(name string) (keys []string, values [][]byte, err error) {
	err = j.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(stateBucket(name))
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			keys = append(keys, string(k))
			values = append(values, append([]byte(nil), v...))
			return nil
		})
	})
	if err != nil {
		return nil, nil, fmt.Errorf("read journal state %s: %w", name, err)
	}
	return keys, values, nil
}
