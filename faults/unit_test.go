package faults

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/faultline-dev/faultline/crds/v1alpha1"
)

func TestParseRate(t *testing.T) {
	for in, want := range map[string]uint64{
		"1mbit": 125000, "512kbit": 64000, "8bit": 1, "1mbps": 1000000, "2.5kbps": 2500, "1gbit": 125000000,
	} {
		got, err := parseRate(in)
		if err != nil || got != want {
			t.Errorf("parseRate(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "1 mbit", "fast", "0bit", "1mb"} {
		if _, err := parseRate(bad); err == nil || !strings.Contains(err.Error(), "spec.fault.network.bandwidth.rate") {
			t.Errorf("parseRate(%q) error %v, want one naming the field", bad, err)
		}
	}
}

func TestParseNetMatchNamesTheBadField(t *testing.T) {
	_, err := parseNetMatch(&v1alpha1.NetworkFault{ExternalTargets: []string{"10.0.0.0/8", "db.example.com"}}, []string{"10.1.2.3"})
	if err == nil || !strings.Contains(err.Error(), "spec.fault.network.externalTargets[1]") {
		t.Errorf("error %v, want it to name externalTargets[1]", err)
	}
	_, err = parseNetMatch(&v1alpha1.NetworkFault{}, []string{"10.1.2.3", "nope"})
	if err == nil || !strings.Contains(err.Error(), "spec.peers[1]") {
		t.Errorf("error %v, want it to name spec.peers[1]", err)
	}
	m, err := parseNetMatch(&v1alpha1.NetworkFault{Ports: []int32{80}}, []string{"10.1.2.3", "fd00::1"})
	if err != nil {
		t.Fatal(err)
	}
	if m.Direction != v1alpha1.DirectionTo || m.Peers[0] != "10.1.2.3/32" || m.Peers[1] != "fd00::1/128" {
		t.Errorf("match %+v", m)
	}
}

func TestRegistryRefusesDuplicates(t *testing.T) {
	r := Builtin()
	if err := r.Register("network/delay", delayFault()); err == nil {
		t.Error("registering network/delay twice succeeded")
	}
	for _, k := range []string{"network/delay", "network/loss", "network/partition", "network/bandwidth", "stress/cpu", "stress/memory", "process/kill", "process/stop", "disk/fill"} {
		if !r.Has(k) {
			t.Errorf("builtin registry lacks %s", k)
		}
	}
}

func TestJournalRoundTrip(t *testing.T) {
	j, err := OpenJournal(filepath.Join(t.TempDir(), "j.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	rec := &Record{ID: "a/b", Kind: "disk/fill", Deadline: time.Now().Round(0), Undo: json.RawMessage(`{"file":"/x"}`)}
	if err := j.Put(rec); err != nil {
		t.Fatal(err)
	}
	recs, err := j.List()
	if err != nil || len(recs) != 1 || recs[0].ID != "a/b" || string(recs[0].Undo) != `{"file":"/x"}` {
		t.Fatalf("list = %+v, %v", recs, err)
	}
	if err := j.Delete("a/b"); err != nil {
		t.Fatal(err)
	}
	if recs, _ := j.List(); len(recs) != 0 {
		t.Errorf("record survives delete: %+v", recs)
	}
}

// TestEngineJournalsBeforeEffect runs a real handler (it writes a file)
// that checks, at the moment it acts, that its undo record is journaled.
// Two agents started with the same journal path: the second is told the
// journal is taken and that each needs its own, instead of a bare timeout.
func TestJournalHeldByAnotherSaysSo(t *testing.T) {
	defer func(d time.Duration) { journalLockWait = d }(journalLockWait)
	journalLockWait = 100 * time.Millisecond
	path := filepath.Join(t.TempDir(), "journal.db")
	first, err := OpenJournal(path)
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	second, err := OpenJournal(path)
	if err == nil {
		second.Close()
		t.Fatal("a second OpenJournal of a held journal succeeded")
	}
	if !strings.Contains(err.Error(), "another process holds it") || !strings.Contains(err.Error(), path) {
		t.Errorf("error %q does not say the journal %s is held", err, path)
	}
}

func TestEngineJournalsBeforeEffect(t *testing.T) {
	dir := t.TempDir()
	reg := NewRegistry()
	var sawRecord bool
	var e *Engine
	type st struct{ File string }
	_ = reg.Register("disk/fill", Pair[st]{
		Prep: func(_ context.Context, _ *Env, req *Request) (string, st, error) {
			return "file", st{File: filepath.Join(dir, "effect")}, nil
		},
		Do: func(_ context.Context, _ *Env, s *st) (Live, error) {
			recs, _ := e.journal.List()
			sawRecord = len(recs) == 1 && strings.Contains(string(recs[0].Undo), s.File)
			return nil, nil
		},
		Undo: func(context.Context, *Env, *st) error { return nil },
	})
	var err error
	e, _, err = Open(t.Context(), Options{JournalPath: filepath.Join(dir, "j.db"), Registry: reg, Capabilities: &Capabilities{}})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close(context.Background())
	req := &Request{ID: "x", Fault: v1alpha1.FaultSpec{Disk: &v1alpha1.DiskFault{Action: v1alpha1.DiskFill}}, Deadline: time.Now().Add(time.Minute)}
	if _, err := e.Apply(t.Context(), req); err != nil {
		t.Fatal(err)
	}
	if !sawRecord {
		t.Error("the undo record was not journaled when the fault took effect")
	}
	if err := e.Recover(t.Context(), "x", "test"); err != nil {
		t.Fatal(err)
	}
	if recs, _ := e.journal.List(); len(recs) != 0 {
		t.Errorf("journal keeps %d records after recovery", len(recs))
	}
	if _, err := e.Apply(t.Context(), &Request{ID: "y", Fault: v1alpha1.FaultSpec{HTTP: &v1alpha1.HTTPFault{Action: "abort"}}, Deadline: time.Now().Add(time.Minute)}); err == nil {
		t.Error("an unregistered fault kind was accepted")
	}
}

// A container the kubelet restarts changes the target's containers: that
// re-applies pod/failure, which freezes containers, and nothing else (a
// network fault on the pod stays as it is).
func TestSpecHashCountsContainersOnlyWhereTheFaultReadsThem(t *testing.T) {
	req := &Request{
		Fault:  v1alpha1.FaultSpec{Network: &v1alpha1.NetworkFault{Action: v1alpha1.NetworkLoss}},
		Target: Target{Key: "shop/web-0", Containers: []Container{{Name: "app", Pids: []int{100}}}},
	}
	restarted := *req
	restarted.Target.Containers = []Container{{Name: "app", Pids: []int{200}}}
	network := Pair[struct{}]{}
	if SpecHash(req, network) != SpecHash(&restarted, network) {
		t.Error("a container restart changes a network fault's spec hash")
	}
	if SpecHash(req, PodFailure()) == SpecHash(&restarted, PodFailure()) {
		t.Error("a container restart leaves pod/failure's spec hash as it was")
	}
	moved := *req
	moved.Target.NetnsPath = "/run/netns/other"
	if SpecHash(req, network) == SpecHash(&moved, network) {
		t.Error("a new network namespace leaves a network fault's spec hash as it was")
	}
}
