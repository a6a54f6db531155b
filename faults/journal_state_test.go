package faults

import (
	"path/filepath"
	"slices"
	"testing"
)

// State buckets survive a reopen, stay apart from fault records, and are
// listed in key order.
func TestJournalState(t *testing.T) {
	path := filepath.Join(t.TempDir(), "journal.db")
	j, err := OpenJournal(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"b", "a", "c"} {
		if err := j.PutState("things", k, []byte("v"+k)); err != nil {
			t.Fatal(err)
		}
	}
	if err := j.DeleteState("things", "c"); err != nil {
		t.Fatal(err)
	}
	if err := j.DeleteState("nothing-here", "x"); err != nil {
		t.Errorf("delete from a missing bucket: %v", err)
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	if j, err = OpenJournal(path); err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	keys, vals, err := j.State("things")
	if err != nil || !slices.Equal(keys, []string{"a", "b"}) || string(vals[0]) != "va" || string(vals[1]) != "vb" {
		t.Errorf("State = %v %q %v", keys, vals, err)
	}
	if recs, err := j.List(); err != nil || len(recs) != 0 {
		t.Errorf("fault records %v %v: state must not show up as faults", recs, err)
	}
	if keys, _, err := j.State("empty"); err != nil || len(keys) != 0 {
		t.Errorf("missing bucket: %v %v", keys, err)
	}
}
