package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
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

// watchRun follows one run on a member cluster: the Injection, the p99
// latency the load generator's callers see before and during the fault,
// and the verdict.
func (d *demo) watchRun(ctx context.Context, f *fleet, name, env string) (result, error) {
	query := fmt.Sprintf(`histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket{app="checkout",cluster=%q}[10s])))`, env)
	before, _ := promQuery(ctx, d.promAddr, query)
	exp, err := d.waitPhase(ctx, f, name, 60*time.Second, v1alpha1.PhaseRunning, v1alpha1.PhaseCompleted, v1alpha1.PhaseAborted)
	if err != nil {
		return result{}, fmt.Errorf("%w\n%s", err, tail(f.daemons[env].log, 15))
	}
	start := time.Now()
	if exp.Status.StartTime != nil {
		start = exp.Status.StartTime.Time
	}
	injs := &v1alpha1.InjectionList{}
	if err := f.members[env].Client.List(ctx, injs); err == nil {
		for _, inj := range injs.Items {
			var keys []string
			for _, t := range inj.Spec.Targets {
				keys = append(keys, t.Key)
			}
			d.step("Injection %s on node %s: %s on %s, phase %s, deadline %s", inj.Name, inj.Spec.NodeName, faultString(inj.Spec.Fault),
				strings.Join(keys, ", "), inj.Status.Phase, inj.Spec.Deadline.Format("15:04:05"))
		}
	}
	d.step("p99 latency of checkout in %s before the fault: %s (the probes' threshold: %s)", env, ms(before), threshold(exp))
	peak := before
	next := time.Now()
	for {
		exp, err = d.getExperiment(ctx, f, name)
		if err != nil {
			return result{}, err
		}
		if exp.Status.Phase.Terminal() {
			break
		}
		if err := f.hubProc.exited(); err != nil {
			return result{}, err
		}
		if time.Now().After(next) {
			if v, err := promQuery(ctx, d.promAddr, query); err == nil {
				peak = max(peak, v)
				d.step("  %4.0fs  phase %-10s p99 %s", time.Since(start).Seconds(), exp.Status.Phase, ms(v))
			}
			next = time.Now().Add(4 * time.Second)
		}
		if time.Since(start) > 2*time.Minute {
			return result{}, fmt.Errorf("%s did not finish within 2 minutes (phase %s)\n%s\n%s", name, exp.Status.Phase,
				tail(f.hubProc.log, 15), tail(f.daemons[env].log, 15))
		}
		if err := f.daemons[env].exited(); err != nil {
			return result{}, err
		}
		select {
		case <-ctx.Done():
			return result{}, ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
	return d.verdict(exp, env+" (member cluster "+env+")", start, fmt.Sprintf("p99 %s → %s", ms(before), ms(peak)))
}

// waitHostRun waits for a run on the host agents and reports its verdict.
func (d *demo) waitHostRun(ctx context.Context, f *fleet, name string) (result, error) {
	exp, err := d.waitPhase(ctx, f, name, 90*time.Second, v1alpha1.PhaseCompleted, v1alpha1.PhaseAborted, v1alpha1.PhaseFailed, v1alpha1.PhaseDenied)
	if err != nil {
		return result{}, err
	}
	start := time.Now()
	if exp.Status.StartTime != nil {
		start = exp.Status.StartTime.Time
	}
	var where []string
	for _, t := range exp.Status.Targets {
		where = append(where, fmt.Sprintf("%s %s", t.Kind, t.Name))
	}
	d.step("meanwhile %s ran %s on %s: the agent got its Injection in a heartbeat answer", name, faultString(exp.Spec.Fault), strings.Join(where, ", "))
	return d.verdict(exp, strings.Join(where, ", "), start, faultString(exp.Spec.Fault)+" on the host")
}

func (d *demo) verdict(exp *v1alpha1.Experiment, where string, start time.Time, detail string) (result, error) {
	v := exp.Status.Verdict
	res := result{experiment: exp.Name, where: where, detail: detail, verdict: string(exp.Status.Phase)}
	if exp.Status.EndTime != nil {
		res.took = exp.Status.EndTime.Sub(start)
	}
	if v == nil {
		d.step("%s ended %s without a verdict", exp.Name, exp.Status.Phase)
		return res, nil
	}
	res.verdict = string(v.Result)
	d.step("verdict of %s: %s — %s", exp.Name, v.Result, v.Message)
	for _, ev := range v.Evidence {
		var worst *float64
		for _, s := range ev.Samples {
			if s.Value != nil && (worst == nil || *s.Value > *worst) {
				worst = s.Value
			}
		}
		w := "-"
		if worst != nil {
			w = ms(*worst)
		}
		d.step("  probe %-20s %-7s %-7s %2d samples, worst %s", ev.Probe, ev.Mode, ev.Result, len(ev.Samples), w)
	}
	return res, nil
}

func (d *demo) getExperiment(ctx context.Context, f *fleet, name string) (*v1alpha1.Experiment, error) {
	exp := &v1alpha1.Experiment{}
	err := f.hub.Client.Get(ctx, client.ObjectKey{Namespace: appNS, Name: name}, exp)
	return exp, err
}

// waitPhase waits until experiment name is in one of phases.
func (d *demo) waitPhase(ctx context.Context, f *fleet, name string, timeout time.Duration, phases ...v1alpha1.ExperimentPhase) (*v1alpha1.Experiment, error) {
	var exp *v1alpha1.Experiment
	err := d.waitUntil(ctx, timeout, fmt.Sprintf("%s to be %v", name, phases), f.hubProc, func() (bool, error) {
		var err error
		if exp, err = d.getExperiment(ctx, f, name); err != nil {
			return false, nil
		}
		for _, p := range phases {
			if exp.Status.Phase == p {
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil && exp != nil {
		err = fmt.Errorf("%w (phase %q: %s)", err, exp.Status.Phase, condMessage(exp, meta.ReadyCondition))
	}
	return exp, err
}

func (d *demo) showStatuses(ctx context.Context, f *fleet, sha string, want int) error {
	var sts []gitea.CommitStatus
	err := d.waitUntil(ctx, 30*time.Second, "a final commit status per experiment", f.hubProc, func() (bool, error) {
		var err error
		if sts, err = statuses(ctx, f.forge, sha); err != nil {
			return false, nil
		}
		final := 0
		for _, s := range sts {
			if s.State == "success" || s.State == "failure" || s.State == "error" {
				final++
			}
		}
		return final >= want, nil
	})
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "CONTEXT\tSTATE\tDESCRIPTION")
	for _, s := range sts {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", s.Context, s.State, s.Description)
	}
	tw.Flush()
	d.command(fmt.Sprintf("curl %s/api/v1/repos/%s/%s/commits/%s/status", f.forge.URL, gitea.AdminUser, repoName, sha[:7]), b.String())
	return err
}

func (d *demo) summary(results []result) {
	fmt.Printf("\n%s  (%s since start)\n\n", bold("━━ Summary"), time.Since(d.began).Round(time.Second))
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  EXPERIMENT\tWAVE / WHERE\tVERDICT\tRUN TIME\tMEASURED")
	for _, r := range results {
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\n", r.experiment, r.where, r.verdict, r.took.Round(100*time.Millisecond), r.detail)
	}
	tw.Flush()
}

// waitUntil polls ok every 200ms until it is true, returns an error, the
// hub exits, or timeout passes; on a timeout it shows the hub's log tail.
func (d *demo) waitUntil(ctx context.Context, timeout time.Duration, what string, hub *child, ok func() (bool, error)) error {
	deadline := time.Now().Add(timeout)
	for {
		done, err := ok()
		if err != nil {
			return err
		}
		if done {
			return nil
		}
		if hub != nil {
			if err := hub.exited(); err != nil {
				return err
			}
		}
		if time.Now().After(deadline) {
			msg := fmt.Sprintf("timed out after %s waiting for %s", timeout, what)
			if hub != nil {
				msg += "\n" + tail(hub.log, 25)
			}
			return fmt.Errorf("%s", msg)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// cli runs bin/faultline and returns its combined output and exit code.
func (d *demo) cli(ctx context.Context, args ...string) (string, int) {
	return d.cliEnv(ctx, nil, args...)
}

func (d *demo) cliEnv(ctx context.Context, env []string, args ...string) (string, int) {
	cmd := exec.CommandContext(ctx, filepath.Join(d.bin, "faultline"), args...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			return string(out), ee.ExitCode()
		}
		return string(out) + err.Error(), 127
	}
	return string(out), 0
}

// promQuery evaluates an instant query that returns one number.
func promQuery(ctx context.Context, addr, query string) (float64, error) {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/api/v1/query?query="+url.QueryEscape(query), nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var body struct {
		Data struct {
			Result []struct {
				Value [2]any `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return 0, err
	}
	if len(body.Data.Result) == 0 {
		return 0, fmt.Errorf("no data")
	}
	s, _ := body.Data.Result[0].Value[1].(string)
	return strconv.ParseFloat(s, 64)
}

// threshold describes the first Prometheus probe's threshold range.
func threshold(exp *v1alpha1.Experiment) string {
	for _, p := range exp.Spec.Probes {
		if p.Prometheus == nil {
			continue
		}
		var parts []string
		if t := p.Prometheus.ThresholdRange.Min; t != nil {
			parts = append(parts, "min "+ms(*t))
		}
		if t := p.Prometheus.ThresholdRange.Max; t != nil {
			parts = append(parts, "max "+ms(*t))
		}
		return strings.Join(parts, ", ")
	}
	return "none"
}

func ms(v float64) string { return fmt.Sprintf("%.0fms", v*1000) }

func faultString(f v1alpha1.FaultSpec) string {
	switch {
	case f.Network != nil && f.Network.Latency != nil:
		return fmt.Sprintf("network %s %s", f.Network.Action, f.Network.Latency.Duration)
	case f.Network != nil:
		return "network " + string(f.Network.Action)
	case f.Stress != nil && f.Stress.Load > 0:
		return fmt.Sprintf("stress %s %d%% ×%d", f.Stress.Action, f.Stress.Load, max(f.Stress.Workers, 1))
	case f.Stress != nil:
		return fmt.Sprintf("stress %s", f.Stress.Action)
	}
	return "fault"
}

func condMessage(obj conditions.Getter, t string) string {
	if c := conditions.Get(obj, t); c != nil {
		return c.Reason + ": " + c.Message
	}
	return ""
}

// shortArgs shows paths relative to the working directory and the demo's
// files by name, so that commands read as a user would type them.
func shortArgs(args []string) []string {
	wd, _ := os.Getwd()
	out := make([]string, 0, len(args))
	for _, a := range args {
		if rel, err := filepath.Rel(wd, a); err == nil && filepath.IsAbs(a) && !strings.HasPrefix(rel, "..") {
			a = rel
		}
		if strings.Contains(a, " ") {
			a = strconv.Quote(a)
		}
		out = append(out, a)
	}
	return out
}

// Output helpers: numbered headers, steps, commands with their output.

func (d *demo) header(n int, title string) {
	if n > 0 {
		title = fmt.Sprintf("%d/7  %s", n, title)
	}
	fmt.Printf("\n%s\n", bold("━━ "+title))
}

// bold sets s in bold on a terminal, and leaves it plain in a log.
func bold(s string) string {
	if fi, err := os.Stdout.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
		return "\033[1m" + s + "\033[0m"
	}
	return s
}

func (d *demo) step(format string, args ...any) {
	fmt.Printf("  [%5.1fs] %s\n", time.Since(d.began).Seconds(), fmt.Sprintf(format, args...))
}

func (d *demo) note(format string, args ...any) {
	fmt.Printf("  note: %s\n", fmt.Sprintf(format, args...))
}

func (d *demo) command(cmd, out string) {
	fmt.Printf("\n  $ %s\n", cmd)
	for _, line := range strings.Split(strings.TrimRight(out, "\n"), "\n") {
		fmt.Printf("    %s\n", line)
	}
	fmt.Println()
}

func (d *demo) rel(p string) string {
	wd, _ := os.Getwd()
	if r, err := filepath.Rel(wd, p); err == nil {
		return r
	}
	return p
}

// checkStatusJSON checks what scripts read: `faultline status -A -o json`
// is valid JSON listing every experiment the hub holds, with its verdict.
func (d *demo) checkStatusJSON(ctx context.Context, f *fleet) error {
	out, code := d.cli(ctx, "status", "--kubeconfig", f.kubeconf["hub"], "-A", "-o", "json")
	if code != 0 {
		return fmt.Errorf("faultline status -A -o json failed (exit %d): %s", code, out)
	}
	var doc struct {
		Experiments []struct {
			Namespace, Name, Verdict string
		} `json:"experiments"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		return fmt.Errorf("faultline status -A -o json is not JSON: %w", err)
	}
	listed := map[string]string{}
	for _, e := range doc.Experiments {
		listed[e.Namespace+"/"+e.Name] = e.Verdict
	}
	held := &v1alpha1.ExperimentList{}
	if err := f.hub.Client.List(ctx, held); err != nil {
		return fmt.Errorf("listing experiments: %w", err)
	}
	var lines []string
	for _, e := range held.Items {
		key := e.Namespace + "/" + e.Name
		v, ok := listed[key]
		if !ok {
			return fmt.Errorf("faultline status -A -o json does not list %s", key)
		}
		lines = append(lines, fmt.Sprintf("%s: %s", key, v))
	}
	if len(doc.Experiments) != len(held.Items) {
		return fmt.Errorf("faultline status -A -o json lists %d experiments, the hub holds %d", len(doc.Experiments), len(held.Items))
	}
	d.command("faultline status -A -o json | jq -r '.experiments[] | .namespace+\"/\"+.name+\": \"+.verdict'", strings.Join(lines, "\n")+"\n")
	return nil
}
