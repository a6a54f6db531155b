package writeback_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/faultline-dev/faultline/crds/v1alpha1"
	"github.com/faultline-dev/faultline/internal/testground/gitserver"
	"github.com/faultline-dev/faultline/reconciler/writeback"
)

func f(v float64) *float64 { return &v }

// AuditRecord builds a record the way the lifecycle reconciler would.
func auditRecord(name, commit string, start time.Time, result v1alpha1.VerdictResult, msg string) writeback.Record {
	return writeback.Record{
		Experiment: "team-a/" + name,
		Source:     "flux-system/chaos",
		Revision:   "main@sha1:" + commit,
		Commit:     commit,
		Author:     "Faultline Test <test@faultline.invalid>",
		Approvals:  []writeback.Approval{{By: "alice", Groups: []string{"sre"}, Time: start.Add(-time.Minute)}},
		Fault:      "network/delay",
		Clusters:   []string{"member-a"},
		Agents:     []string{"host-1"},
		Targets:    []v1alpha1.TargetSummary{{Kind: "MemberCluster", Name: "member-a", Selected: 2, Injected: 2, Recovered: 2}},
		Start:      start,
		End:        start.Add(90 * time.Second),
		Verdict:    result,
		Message:    msg,
		Evidence: []v1alpha1.ProbeEvidence{{Probe: "p99", Mode: v1alpha1.ProbeDuring, Result: v1alpha1.VerdictPassed,
			Threshold: &v1alpha1.ThresholdRange{Max: f(0.3)}}},
		Measured: []writeback.TargetMeasurements{{Member: "member-a", Target: "shop/web-0", Path: "netem",
			Measured: []v1alpha1.Measurement{{Name: "delay_seconds", Value: 0.2}}}},
	}
}

// gitCLI runs the real git with no user or system configuration.
func gitCLI(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	home := t.TempDir()
	cmd.Env = append(os.Environ(), "HOME="+home, "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null", "GIT_TERMINAL_PROMPT=0")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func TestAuditNotesShowInGitLog(t *testing.T) {
	srv := gitserver.Start(t, gitserver.WithBasicAuth("hub", "pw"))
	srv.CreateRepo(t, "chaos")
	sha1 := srv.Commit(t, "chaos", "main", map[string]string{"exp.yaml": "kind: Experiment\n"}, "add experiment")
	sha2 := srv.Commit(t, "chaos", "main", map[string]string{"exp.yaml": "kind: Experiment # v2\n"}, "tune experiment")

	n := &writeback.Notes{URL: srv.RepoURL("chaos"), Auth: srv.Auth()}
	t0 := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	runs := []writeback.Record{
		auditRecord("latency", sha1, t0, v1alpha1.VerdictPassed, "p99 (during): held in 9 evaluations"),
		// A second run of the same revision: the note must keep the first.
		auditRecord("latency", sha1, t0.Add(time.Hour), v1alpha1.VerdictAborted, "aborted: p99 (during): 0.49 > max 0.3"),
		auditRecord("loss", sha2, t0.Add(2*time.Hour), v1alpha1.VerdictFailed, "NotRecovered"),
	}
	for _, r := range runs {
		if err := n.Append(t.Context(), r); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := srv.ResolveRef("chaos", string(writeback.NotesRef)); err != nil {
		t.Fatalf("notes ref not on the server: %v", err)
	}

	// A fresh clone with the real git CLI: notes come with an explicit fetch.
	clone := filepath.Join(t.TempDir(), "clone")
	gitCLI(t, "", "clone", "--quiet", srv.CloneURL("chaos"), clone)
	gitCLI(t, clone, "fetch", "--quiet", "origin", "refs/notes/faultline:refs/notes/faultline")
	log := gitCLI(t, clone, "log", "--notes=faultline", "--format=commit %H%n%N")
	t.Logf("git log --notes=faultline:\n%s", log)

	first, second, _ := strings.Cut(log, "commit "+sha1)
	if !strings.Contains(first, "commit "+sha2) || !strings.Contains(first, `"experiment": "team-a/loss"`) {
		t.Errorf("git log does not show the note of %s", sha2)
	}
	for _, want := range []string{`"verdict": "Passed"`, `"verdict": "Aborted"`, `"start": "2026-11-20T10:00:00Z"`, `"start": "2026-11-20T11:00:00Z"`, `"delay_seconds"`, `"by": "alice"`} {
		if !strings.Contains(second, want) {
			t.Errorf("git log shows no %s on %s", want, sha1)
		}
	}
	if got := strings.Count(gitCLI(t, clone, "notes", "--ref=faultline", "show", sha1), `"kind": "faultline.dev/audit-record/v1"`); got != 2 {
		t.Errorf("note on %s holds %d records, want 2", sha1, got)
	}

	for name, read := range map[string]func() ([]writeback.Record, []string, error){
		"remote": func() ([]writeback.Record, []string, error) {
			return writeback.ReadRemote(t.Context(), srv.RepoURL("chaos"), srv.Auth())
		},
		"clone": func() ([]writeback.Record, []string, error) { return writeback.ReadDir(clone) },
	} {
		recs, problems, err := read()
		if err != nil || len(problems) != 0 {
			t.Fatalf("%s: %v %v", name, err, problems)
		}
		if len(recs) != 3 {
			t.Fatalf("%s: %d records, want 3", name, len(recs))
		}
		for i, r := range recs {
			if r.Experiment != runs[i].Experiment || r.Commit != runs[i].Commit || r.Verdict != runs[i].Verdict || !r.Start.Equal(runs[i].Start) ||
				len(r.Measured) != 1 || r.Measured[0].Measured[0].Value != 0.2 {
				t.Errorf("%s: record %d = %+v, want %+v", name, i, r, runs[i])
			}
		}
	}
}

// TestAuditNotesConcurrentWriters: two hubs (or two runs) appending at once
// must both land; the loser of the push race fetches and appends again.
func TestAuditNotesConcurrentWriters(t *testing.T) {
	srv := gitserver.Start(t)
	srv.CreateRepo(t, "chaos")
	sha := srv.Commit(t, "chaos", "main", map[string]string{"a": "1"}, "c")
	t0 := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	const writers = 4
	var wg sync.WaitGroup
	for i := range writers {
		wg.Go(func() {
			n := &writeback.Notes{URL: srv.RepoURL("chaos"), Attempts: 10}
			if err := n.Append(t.Context(), auditRecord("e", sha, t0.Add(time.Duration(i)*time.Minute), v1alpha1.VerdictPassed, "")); err != nil {
				t.Errorf("writer %d: %v", i, err)
			}
		})
	}
	wg.Wait()
	recs, _, err := writeback.ReadRemote(t.Context(), srv.RepoURL("chaos"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != writers {
		t.Errorf("%d records after %d concurrent appends, want all", len(recs), writers)
	}
}

// TestAuditNotesKeepOtherNotes: a note someone wrote by hand with
// `git notes append` stays, and is not mistaken for a record.
func TestAuditNotesKeepOtherNotes(t *testing.T) {
	srv := gitserver.Start(t)
	srv.CreateRepo(t, "chaos")
	sha := srv.Commit(t, "chaos", "main", map[string]string{"a": "1"}, "c")
	clone := filepath.Join(t.TempDir(), "clone")
	gitCLI(t, "", "clone", "--quiet", srv.CloneURL("chaos"), clone)
	gitCLI(t, clone, "-c", "user.name=Ops", "-c", "user.email=ops@example.com", "notes", "--ref=faultline", "append", "-m", "checked by hand", sha)
	gitCLI(t, clone, "push", "--quiet", "origin", "refs/notes/faultline")

	n := &writeback.Notes{URL: srv.RepoURL("chaos")}
	if err := n.Append(t.Context(), auditRecord("e", sha, time.Now().UTC(), v1alpha1.VerdictPassed, "")); err != nil {
		t.Fatal(err)
	}
	gitCLI(t, clone, "fetch", "--quiet", "origin", "+refs/notes/faultline:refs/notes/faultline")
	note := gitCLI(t, clone, "notes", "--ref=faultline", "show", sha)
	if !strings.HasPrefix(note, "checked by hand\n\n{") {
		t.Errorf("note = %q, want the hand-written line kept first", note)
	}
	recs, problems, err := writeback.ReadDir(clone)
	if err != nil || len(recs) != 1 || len(problems) != 0 || recs[0].Experiment != "team-a/e" {
		t.Errorf("records %+v, problems %v, err %v: want the one record past the free text", recs, problems, err)
	}
}

func TestParseNoteFindsRecordsAmongText(t *testing.T) {
	rec := `{
  "kind": "faultline.dev/audit-record/v1",
  "experiment": "a/b",
  "verdict": "Passed"
}`
	note := "free text {not json}\n\n" + rec + "\n\n{\"other\": \"tool\"}\n\n" + strings.Replace(rec, "a/b", "a/c", 1) + "\n\n{ broken\n"
	recs, problems := writeback.ParseNote(strings.Repeat("a", 40), []byte(note))
	if len(recs) != 2 || recs[0].Experiment != "a/b" || recs[1].Experiment != "a/c" || recs[0].Commit != strings.Repeat("a", 40) || len(problems) != 0 {
		t.Errorf("records %+v, problems %v", recs, problems)
	}
}
