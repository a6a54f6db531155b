package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fluxcd/pkg/apis/meta"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/faultline-dev/faultline/crds/v1alpha1"
	"github.com/faultline-dev/faultline/internal/testground/cluster"
	"github.com/faultline-dev/faultline/internal/testground/gitserver"
	"github.com/faultline-dev/faultline/reconciler/writeback"
)

// TestAuditListsRuns: two runs recorded as notes on a real smart-HTTP
// server are listed from the URL and from a fresh clone.
func TestAuditListsRuns(t *testing.T) {
	srv := gitserver.Start(t, gitserver.WithBasicAuth("hub", "pw"))
	srv.CreateRepo(t, "chaos")
	sha := srv.Commit(t, "chaos", "main", map[string]string{"exp.yaml": "kind: Experiment\n"}, "add experiment")
	now := time.Now().UTC().Truncate(time.Second)
	n := &writeback.Notes{URL: srv.RepoURL("chaos"), Auth: srv.Auth()}
	for _, r := range []writeback.Record{
		{Experiment: "team-a/latency", Commit: sha, Revision: "main@sha1:" + sha, Author: "Ann Author <ann@example.com>",
			Approvals: []writeback.Approval{{By: "alice"}}, Start: now.Add(-48 * time.Hour), End: now.Add(-48*time.Hour + 5*time.Minute),
			Targets: []v1alpha1.TargetSummary{{Kind: "MemberCluster", Name: "a", Selected: 3, Injected: 3}},
			Verdict: v1alpha1.VerdictPassed, Message: "p99 (during): held in 20 evaluations"},
		{Experiment: "team-a/latency", Commit: sha, Revision: "main@sha1:" + sha, Author: "Ann Author <ann@example.com>",
			Start: now.Add(-time.Hour), End: now.Add(-time.Hour + 90*time.Second),
			Verdict: v1alpha1.VerdictAborted, Message: "aborted: p99 (during): 0.49 > max 0.3 at 10:00:02Z"},
	} {
		if err := n.Append(t.Context(), r); err != nil {
			t.Fatal(err)
		}
	}

	clone := filepath.Join(t.TempDir(), "clone")
	for _, args := range [][]string{
		{"clone", "--quiet", srv.CloneURL("chaos"), clone},
		{"-C", clone, "fetch", "--quiet", "origin", "refs/notes/faultline:refs/notes/faultline"},
	} {
		c := exec.Command("git", args...)
		c.Env = append(os.Environ(), "HOME="+t.TempDir(), "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null")
		if out, err := c.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}

	for _, repo := range []string{srv.CloneURL("chaos"), clone} {
		out := run(t, "audit", "--repo", repo)
		t.Logf("faultline audit --repo %s\n%s", repo, out)
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if len(lines) != 3 || !strings.HasPrefix(lines[0], "STARTED") {
			t.Fatalf("want a header and two runs, got:\n%s", out)
		}
		for i, want := range [][]string{
			{now.Add(-48 * time.Hour).Format(time.RFC3339), "team-a/latency", sha[:12], "Passed", "5m0s", "Ann Author", "alice", "3/3"},
			{now.Add(-time.Hour).Format(time.RFC3339), "Aborted", "1m30s", "0.49 > max 0.3"},
		} {
			for _, w := range want {
				if !strings.Contains(lines[i+1], w) {
					t.Errorf("row %d lacks %q: %s", i+1, w, lines[i+1])
				}
			}
		}
	}

	out := run(t, "audit", "--repo", clone, "--since", "24h", "-o", "json")
	var recs []writeback.Record
	if err := json.Unmarshal([]byte(out), &recs); err != nil {
		t.Fatalf("-o json: %v\n%s", err, out)
	}
	if len(recs) != 1 || recs[0].Verdict != v1alpha1.VerdictAborted || recs[0].Commit != sha {
		t.Errorf("--since 24h: %+v, want only the aborted run", recs)
	}
}

// TestAuditFromChaosSource: --source reads the repository URL and its
// credentials from a ChaosSource on the hub, with kubectl's flags.
func TestAuditFromChaosSource(t *testing.T) {
	srv := gitserver.Start(t, gitserver.WithBasicAuth("hub", "pw"))
	srv.CreateRepo(t, "chaos")
	sha := srv.Commit(t, "chaos", "main", map[string]string{"exp.yaml": "kind: Experiment\n"}, "add experiment")
	now := time.Now().UTC().Truncate(time.Second)
	n := &writeback.Notes{URL: srv.RepoURL("chaos"), Auth: srv.Auth()}
	if err := n.Append(t.Context(), writeback.Record{Experiment: "shop/latency", Commit: sha, Revision: "main@sha1:" + sha,
		Start: now.Add(-time.Hour), End: now.Add(-time.Hour + time.Minute), Verdict: v1alpha1.VerdictPassed, Message: "held"}); err != nil {
		t.Fatal(err)
	}

	hub := cluster.Start(t, "hub")[0]
	ctx := t.Context()
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(kubeconfig, hub.KubeConfig, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, obj := range []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop"}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "git"}, Data: map[string][]byte{"username": []byte("hub"), "password": []byte("pw")}},
		&v1alpha1.ChaosSource{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "chaos"},
			Spec: v1alpha1.ChaosSourceSpec{URL: srv.RepoURL("chaos"), Interval: metav1.Duration{Duration: time.Minute}, SecretRef: &meta.LocalObjectReference{Name: "git"}}},
		&v1alpha1.ChaosSource{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "no-credentials"},
			Spec: v1alpha1.ChaosSourceSpec{URL: srv.RepoURL("chaos"), Interval: metav1.Duration{Duration: time.Minute}}},
	} {
		if err := hub.Client.Create(ctx, obj); err != nil {
			t.Fatal(err)
		}
	}

	out := run(t, "audit", "--source", "chaos", "-n", "shop", "--kubeconfig", kubeconfig, "-o", "yaml")
	var recs []writeback.Record
	if err := yaml.Unmarshal([]byte(out), &recs); err != nil {
		t.Fatalf("-o yaml: %v\n%s", err, out)
	}
	if len(recs) != 1 || recs[0].Experiment != "shop/latency" || recs[0].Commit != sha {
		t.Errorf("records = %+v", recs)
	}
	if _, stderr, code := runCLI(t, "audit", "--source", "shop/no-credentials", "--kubeconfig", kubeconfig); code == 0 {
		t.Errorf("a source without its credentials read the protected repository: %s", stderr)
	}
	if _, stderr, code := runCLI(t, "audit", "--source", "shop/nope", "--kubeconfig", kubeconfig); code == 0 || !strings.Contains(stderr, "chaossource shop/nope") {
		t.Errorf("unknown source: exit %d, %s", code, stderr)
	}
	if _, _, code := runCLI(t, "audit", "--kubeconfig", kubeconfig); code == 0 {
		t.Errorf("neither --repo nor --source: exit 0")
	}
}
