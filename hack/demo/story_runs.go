package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/fluxcd/pkg/apis/meta"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/faultline-dev/faultline/crds/v1alpha1"
)

// watchRun follows one run on a member cluster: the Injection, the p99
// latency the load generator's callers see before and during the fault,
// and the verdict.
func (d *demo) watchRun(ctx context.Context, f *fleet, name, env string) (result, error) {
	query := p99Query(env)
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

// p99Query is the p99 latency of checkout's callers in env, as the demo
// overlay's probes query it.
func p99Query(env string) string {
	return fmt.Sprintf(`histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket{app="checkout",cluster=%q}[10s])))`, env)
}

// waitMetrics waits until Prometheus answers p99Query for every env.
func (d *demo) waitMetrics(ctx context.Context, envs ...string) error {
	deadline := time.Now().Add(60 * time.Second)
	for _, env := range envs {
		for {
			if _, err := promQuery(ctx, d.promAddr, p99Query(env)); err == nil {
				break
			} else if time.Now().After(deadline) {
				return fmt.Errorf("prometheus at %s has no p99 latency of checkout in %s after 60s: %w", d.promAddr, env, err)
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(500 * time.Millisecond):
			}
		}
	}
	d.step("Prometheus holds checkout's p99 latency in %s", strings.Join(envs, " and "))
	return nil
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
