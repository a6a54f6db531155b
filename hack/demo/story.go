package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/fluxcd/pkg/apis/meta"
	"github.com/fluxcd/pkg/runtime/conditions"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/faultline-dev/faultline/crds/v1alpha1"
	"github.com/faultline-dev/faultline/internal/testground/gitea"
)

// examplesDir is the example repository the demo pushes to Gitea.
const examplesDir = "examples"

// result is one line of the summary.
type result struct {
	experiment, where, verdict, detail string
	took                               time.Duration
}

func (d *demo) story(ctx context.Context) error {
	d.header(0, "Setting up a fleet on this machine")
	if !d.root {
		d.note("not root: skipping the network-namespace pods, the node daemons, the host agents and the load generator;")
		d.note("the hub, the API servers, Gitea and Prometheus run, and the story stops once the experiments are admitted.")
	}
	f, err := d.startFleet(ctx, examplesDir)
	if err != nil {
		return err
	}
	d.fleet = f
	d.step("hub up (logs: %s); members staging, prod Ready", d.rel(f.hubProc.log))
	if d.root {
		d.step("node daemons on staging-node-1, prod-node-1")
	}
	if len(f.agents) > 0 {
		d.step("host agents staging-db-1, prod-db-1 registered with a join token, heartbeating every second")
	}

	// The repository, as it is before the pull request, with the hub
	// following its main branch.
	r, mainSHA, err := initRepo(ctx, f.forge, examplesDir, filepath.Join(d.dir, "work", repoName),
		"http://"+f.webhookAddr+"/hook/gitea", f.webhookSecret)
	if err != nil {
		return err
	}
	if err := d.createSource(ctx, f); err != nil {
		return err
	}
	if err := d.waitSource(ctx, f, mainSHA, 60*time.Second); err != nil {
		return err
	}
	d.step("Gitea repository %s (main at %s) with a push webhook to the hub; ChaosSource shop/chaos follows main, path overlays/demo", f.forge.RepoURL(repoName), mainSHA[:7])

	// 1. The pull request and its plan.
	d.header(1, "A pull request adds an experiment; `faultline plan` judges it")
	prSHA, prNum, err := r.openPR(ctx, examplesDir)
	if err != nil {
		return err
	}
	d.step("Dana pushes branch %s (%s) and opens pull request #%d: adds base/checkout-latency.yaml, its staging and prod patches, hosts/payments-db-cpu.yaml", prBranch, prSHA[:7], prNum)
	planArgs := []string{"plan", filepath.Join(r.dir, "overlays", "demo"), "--policy", filepath.Join(examplesDir, "policies"),
		"--library", strings.Join(policyLibrary, ","), "--kubeconfig", f.kubeconf["hub"]}
	out, code := d.cli(ctx, planArgs...)
	d.command("faultline "+strings.Join(shortArgs(planArgs), " "), out)
	if code > 1 {
		return fmt.Errorf("faultline plan failed (exit %d)", code)
	}
	md, _ := d.cli(ctx, append(planArgs, "-o", "markdown")...)
	if err := r.comment(ctx, prNum, md); err != nil {
		return err
	}
	d.step("the markdown form (-o markdown) is posted on the pull request as a comment, as a CI job would")

	// 2. Merge: the webhook makes the hub pull at once.
	d.header(2, "Merge to main: Gitea's push webhook makes the hub pull")
	// The probes judge from the first evaluation: a fault that starts
	// before Prometheus holds the service's latency would find no data.
	// Without root there is no load generator, and no fault either.
	if d.root {
		if err := d.waitMetrics(ctx, "staging", "prod"); err != nil {
			return err
		}
	}
	mergeSHA, err := r.merge(ctx, prNum)
	if err != nil {
		return err
	}
	merged := time.Now()
	d.step("pull request #%d merged: main at %s", prNum, mergeSHA[:7])
	if err := d.waitSource(ctx, f, mergeSHA, 45*time.Second); err != nil {
		return err
	}
	d.step("the hub applied revision main@sha1:%s %.1fs after the merge: %s", mergeSHA[:7], time.Since(merged).Seconds(), d.listExperiments(ctx, f))
	var results []result
	// 3. Staging.
	d.header(3, "Staging: the fault is injected, the probes watch, a verdict")
	if d.root {
		res, err := d.watchRun(ctx, f, "staging-checkout-latency", "staging")
		if err != nil {
			return err
		}
		results = append(results, res)
		if len(f.agents) > 0 {
			res, err = d.waitHostRun(ctx, f, "payments-db-cpu")
			if err != nil {
				return err
			}
			results = append(results, res)
		}
	} else {
		exp, err := d.waitPhase(ctx, f, "staging-checkout-latency", 30*time.Second, v1alpha1.PhaseInjecting)
		if err != nil {
			return err
		}
		d.note("not root: no daemon runs the fault; staging-checkout-latency was admitted and stays %s", exp.Status.Phase)
	}

	// 4. Prod waits.
	d.header(4, "Prod waits for an SRE's approval")
	exp, err := d.waitPhase(ctx, f, "prod-checkout-latency", 30*time.Second, v1alpha1.PhaseAwaitingApproval)
	if err != nil {
		return err
	}
	out, code = d.cli(ctx, "status", "--kubeconfig", f.kubeconf["hub"], "-n", appNS)
	d.command("faultline status -n shop", out)
	if code != 0 {
		return fmt.Errorf("faultline status failed (exit %d)", code)
	}
	d.step("prod-checkout-latency: phase %s: %s", exp.Status.Phase, condMessage(exp, v1alpha1.AdmittedCondition))

	// 5. Approve.
	d.header(5, "An SRE approves the merged revision")
	approveArgs := []string{"approve", appNS + "/prod-checkout-latency", "--revision", mergeSHA,
		"--comment", "staging held; SRE on call", "--kubeconfig", f.kubeconf["hub"], "--as", approver, "--as-group", "sre"}
	out, code = d.cli(ctx, approveArgs...)
	d.command("faultline "+strings.Join(shortArgs(approveArgs), " "), out)
	if code != 0 {
		return fmt.Errorf("faultline approve failed (exit %d)", code)
	}

	// 6. Prod.
	d.header(6, "Prod: injected after approval, watched, judged")
	if !d.root {
		exp, err := d.waitPhase(ctx, f, "prod-checkout-latency", 30*time.Second, v1alpha1.PhaseInjecting)
		if err != nil {
			return err
		}
		d.step("prod-checkout-latency admitted with alice's approval: phase %s (%s)", exp.Status.Phase, condMessage(exp, v1alpha1.AdmittedCondition))
		d.note("not root: no daemons or agents run the faults, so the story ends here. Run `sudo make demo` for the whole loop.")
		return nil
	}
	res, err := d.watchRun(ctx, f, "prod-checkout-latency", "prod")
	if err != nil {
		return err
	}
	results = append(results, res)

	// 7. Write-back.
	d.header(7, "Where people look: commit statuses in Gitea and the audit trail in Git")
	if err := d.showStatuses(ctx, f, mergeSHA, len(results)); err != nil {
		return err
	}
	auditArgs := []string{"audit", "--repo", f.forge.RepoURL(repoName)}
	var auditOut string
	err = d.waitUntil(ctx, 30*time.Second, "audit notes of every run", f.hubProc, func() (bool, error) {
		auditOut, _ = d.cliEnv(ctx, []string{"FAULTLINE_GIT_USERNAME=" + gitea.AdminUser, "FAULTLINE_GIT_PASSWORD=" + f.forge.Token}, auditArgs...)
		return strings.Count(auditOut, "\n") > len(results), nil
	})
	d.command("faultline "+strings.Join(shortArgs(auditArgs), " "), auditOut)
	if err != nil {
		return err
	}

	if err := d.checkStatusJSON(ctx, f); err != nil {
		return err
	}
	d.summary(results)
	for _, r := range results {
		if r.verdict != string(v1alpha1.VerdictPassed) {
			return fmt.Errorf("%s on %s: %s", r.experiment, r.where, r.verdict)
		}
	}
	return nil
}

func (d *demo) createSource(ctx context.Context, f *fleet) error {
	c := f.hub.Client
	if err := create(ctx, c, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: appNS, Name: "gitea"},
		StringData: map[string]string{"username": gitea.AdminUser, "password": f.forge.Token, "token": f.forge.Token}}); err != nil {
		return err
	}
	return create(ctx, c, &v1alpha1.ChaosSource{
		ObjectMeta: metav1.ObjectMeta{Namespace: appNS, Name: "chaos"},
		Spec: v1alpha1.ChaosSourceSpec{
			URL: f.forge.RepoURL(repoName), Ref: &v1alpha1.GitRef{Branch: "main"}, Path: "overlays/demo",
			// The webhook brings pushes in at once; the interval is the backstop.
			Interval:     metav1.Duration{Duration: time.Minute},
			SecretRef:    &meta.LocalObjectReference{Name: "gitea"},
			CommitStatus: &v1alpha1.CommitStatusSpec{Provider: "gitea", SecretRef: meta.LocalObjectReference{Name: "gitea"}},
		},
	})
}

// waitSource waits until the source has applied sha.
func (d *demo) waitSource(ctx context.Context, f *fleet, sha string, timeout time.Duration) error {
	return d.waitUntil(ctx, timeout, "the hub to apply "+sha[:7], f.hubProc, func() (bool, error) {
		src := &v1alpha1.ChaosSource{}
		if err := f.hub.Client.Get(ctx, client.ObjectKey{Namespace: appNS, Name: "chaos"}, src); err != nil {
			return false, nil
		}
		if c := conditions.Get(src, meta.StalledCondition); c != nil && c.Status == metav1.ConditionTrue {
			return false, fmt.Errorf("ChaosSource stalled: %s", c.Message)
		}
		return src.Status.Artifact != nil && strings.HasSuffix(src.Status.Artifact.Revision, sha) && conditions.IsReady(src), nil
	})
}

func (d *demo) listExperiments(ctx context.Context, f *fleet) string {
	list := &v1alpha1.ExperimentList{}
	if err := f.hub.Client.List(ctx, list, client.InNamespace(appNS)); err != nil {
		return err.Error()
	}
	var parts []string
	for _, e := range list.Items {
		phase := string(e.Status.Phase)
		if phase == "" {
			phase = "new"
		}
		parts = append(parts, e.Name+" ("+phase+")")
	}
	return fmt.Sprintf("%d experiments: %s", len(parts), strings.Join(parts, ", "))
}
