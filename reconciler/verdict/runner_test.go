package verdict_test

import (
	"context"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/faultline-dev/faultline/crds/v1alpha1"
	"github.com/faultline-dev/faultline/internal/testground/prom"
	"github.com/faultline-dev/faultline/reconciler/verdict"
)

func f(v float64) *float64 { return &v }

func dur(d time.Duration) *metav1.Duration { return &metav1.Duration{Duration: d} }

// ground is a real Prometheus scraping a real service.
type ground struct {
	svc  *prom.Service
	prom *prom.Server
}

func startGround(t *testing.T) ground {
	t.Helper()
	svc := prom.StartService(t)
	srv := prom.Start(t, svc.Addr)
	g := ground{svc: svc, prom: srv}
	g.waitForData(t)
	return g
}

// waitForData waits until Prometheus has scraped enough to compute the p99.
func (g ground) waitForData(t *testing.T) {
	t.Helper()
	p := promProbe(g.prom.URL, prom.P99Query, 10, v1alpha1.ProbeBefore, time.Second, 1)
	r, err := verdict.NewRunner(p, verdict.Options{})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		ev := r.Run(t.Context(), nil)
		if ev.Result == v1alpha1.VerdictPassed {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("Prometheus never had the service's latency: %+v", ev)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

func promProbe(addr, query string, maxV float64, mode v1alpha1.ProbeMode, interval time.Duration, threshold int32) v1alpha1.Probe {
	return v1alpha1.Probe{
		Name: "p99-latency", Mode: mode, Interval: dur(interval), FailureThreshold: threshold,
		Timeout: dur(2 * time.Second),
		Prometheus: &v1alpha1.PrometheusProbe{Address: addr, Query: query,
			ThresholdRange: v1alpha1.ThresholdRange{Max: f(maxV)}},
	}
}

func named(p v1alpha1.Probe, name string) v1alpha1.Probe { p.Name = name; return p }

// runAll runs an experiment's three phases like the lifecycle reconciler:
// before, during for the fault's duration (fault optionally raising latency
// after raiseAfter), after; then computes the verdict.
type runResult struct {
	verdict   v1alpha1.Verdict
	aborted   *v1alpha1.ProbeEvidence
	abortedAt time.Time
}

func runAll(t *testing.T, set *verdict.Set, abortOnBreach bool, faultFor time.Duration, duringFault func(ctx context.Context)) runResult {
	t.Helper()
	var res runResult
	var evidence []v1alpha1.ProbeEvidence
	evidence = append(evidence, set.Run(t.Context(), v1alpha1.ProbeBefore, nil)...)
	for _, e := range evidence {
		if e.Result != v1alpha1.VerdictPassed {
			res.verdict = verdict.Compute(verdict.Run{Evidence: evidence, AbortOnBreach: abortOnBreach, Time: time.Now()})
			return res
		}
	}
	ctx, cancel := context.WithTimeout(t.Context(), faultFor)
	defer cancel()
	var mu sync.Mutex
	var onAbort func(v1alpha1.ProbeEvidence)
	if abortOnBreach {
		onAbort = func(ev v1alpha1.ProbeEvidence) {
			mu.Lock()
			defer mu.Unlock()
			if res.aborted != nil {
				t.Errorf("abort callback called twice")
			}
			res.aborted, res.abortedAt = &ev, time.Now()
			cancel() // the reconciler recovers every target and ends the fault
		}
	}
	if duringFault != nil {
		go duringFault(ctx)
	}
	evidence = append(evidence, set.Run(ctx, v1alpha1.ProbeDuring, onAbort)...)
	evidence = append(evidence, set.Run(t.Context(), v1alpha1.ProbeAfter, nil)...)
	res.verdict = verdict.Compute(verdict.Run{Evidence: evidence, AbortOnBreach: abortOnBreach, Time: time.Now()})
	return res
}

func TestSteadyStateHoldsPasses(t *testing.T) {
	g := startGround(t)
	set, err := verdict.NewSet([]v1alpha1.Probe{
		named(promProbe(g.prom.URL, prom.P99Query, 0.2, v1alpha1.ProbeBefore, time.Second, 1), "ready"),
		promProbe(g.prom.URL, prom.P99Query, 0.2, v1alpha1.ProbeDuring, time.Second, 2),
		{Name: "root", Mode: v1alpha1.ProbeDuring, Interval: dur(time.Second), FailureThreshold: 1,
			HTTP: &v1alpha1.HTTPProbe{URL: g.svc.URL, MaxLatency: dur(2 * time.Second), BodyMatch: `^ok\s*$`}},
		named(promProbe(g.prom.URL, prom.P99Query, 0.2, v1alpha1.ProbeAfter, time.Second, 1), "back"),
	}, verdict.Options{})
	if err != nil {
		t.Fatal(err)
	}
	okBefore := testutil.ToFloat64(verdict.ProbeEvaluations().WithLabelValues("prometheus", "ok"))
	res := runAll(t, set, true, 3500*time.Millisecond, nil)
	v := res.verdict
	t.Logf("verdict %s/%s: %s", v.Result, v.Reason, v.Message)
	if v.Result != v1alpha1.VerdictPassed || v.Reason != verdict.ReasonSteadyStateHeld {
		t.Fatalf("verdict = %s/%s %q, want Passed", v.Result, v.Reason, v.Message)
	}
	if res.aborted != nil {
		t.Errorf("aborted although the steady state held: %+v", res.aborted)
	}
	if len(v.Evidence) != 4 {
		t.Fatalf("evidence of %d probes, want 4", len(v.Evidence))
	}
	for _, e := range v.Evidence {
		if e.Result != v1alpha1.VerdictPassed || len(e.Samples) == 0 || e.Threshold == nil || e.Threshold.Max == nil {
			t.Errorf("probe %s: %+v", e.Probe, e)
		}
		for _, s := range e.Samples {
			if s.Value == nil || s.Breach || s.Time.IsZero() {
				t.Errorf("probe %s: sample %+v", e.Probe, s)
			}
		}
	}
	if during := v.Evidence[1]; len(during.Samples) < 3 {
		t.Errorf("during probe evaluated %d times in 3.5s at a 1s interval, want at least 3", len(during.Samples))
	}
	if got := testutil.ToFloat64(verdict.ProbeEvaluations().WithLabelValues("prometheus", "ok")) - okBefore; got < 5 {
		t.Errorf("faultline_probe_evaluations_total{probe_type=prometheus,result=ok} rose by %v, want at least 5", got)
	}
}

func TestLatencyRaisedDuringAborts(t *testing.T) {
	g := startGround(t)
	const (
		interval  = time.Second
		threshold = 2
		maxP99    = 0.25
	)
	set, err := verdict.NewSet([]v1alpha1.Probe{
		promProbe(g.prom.URL, prom.P99Query, maxP99, v1alpha1.ProbeDuring, interval, threshold),
	}, verdict.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var raisedAt time.Time
	res := runAll(t, set, true, 60*time.Second, func(ctx context.Context) {
		select {
		case <-ctx.Done():
		case <-time.After(2 * time.Second):
			raisedAt = time.Now()
			g.svc.SetDelay(400 * time.Millisecond)
		}
	})
	v := res.verdict
	t.Logf("verdict %s/%s: %s", v.Result, v.Reason, v.Message)
	if res.aborted == nil {
		t.Fatalf("abort callback never called; verdict %s %q", v.Result, v.Message)
	}
	if v.Result != v1alpha1.VerdictAborted || v.Reason != verdict.ReasonProbeBreached {
		t.Fatalf("verdict = %s/%s, want Aborted/ProbeBreached", v.Result, v.Reason)
	}
	e := v.Evidence[0]
	if e.Result != v1alpha1.VerdictFailed || e.Threshold == nil || e.Threshold.Max == nil || *e.Threshold.Max != maxP99 {
		t.Fatalf("evidence %+v", e)
	}
	// The last failureThreshold samples are the breaches, with the measured value.
	n := len(e.Samples)
	if n < threshold {
		t.Fatalf("%d samples, want at least %d", n, threshold)
	}
	var firstBreach time.Time
	for _, s := range e.Samples[n-threshold:] {
		if !s.Breach || s.Value == nil || *s.Value <= maxP99 {
			t.Fatalf("sample %+v: want a breach measuring more than %v", s, maxP99)
		}
		if firstBreach.IsZero() {
			firstBreach = s.Time.Time
		}
	}
	last := *e.Samples[n-1].Value
	for _, want := range []string{verdict.FormatThreshold(*e.Threshold), "p99-latency", "2 consecutive breaches"} {
		if !strings.Contains(v.Message, want) {
			t.Errorf("message %q lacks %q", v.Message, want)
		}
	}
	if measured := strconv.FormatFloat(last, 'g', 4, 64) + " > max"; !strings.Contains(v.Message, measured) {
		t.Errorf("message %q lacks the measured value: %q", v.Message, measured)
	}
	// Aborted within failureThreshold × interval of the first breach seen
	// (and the time one more query may take on a loaded machine).
	if d := res.abortedAt.Sub(firstBreach); d > threshold*interval+2*time.Second {
		t.Errorf("aborted %s after the first breached evaluation, want within %s", d, threshold*interval)
	}
	t.Logf("latency raised at +0; first breach seen %s later (scrape and rate window), aborted %s later; measured p99 %.3fs > %v",
		firstBreach.Sub(raisedAt).Round(time.Millisecond), res.abortedAt.Sub(raisedAt).Round(time.Millisecond), last, maxP99)
	if d := res.abortedAt.Sub(raisedAt); d > 10*time.Second {
		t.Errorf("aborted %s after the latency rose; want within a few scrapes", d)
	}
}

// TestMissingDataIsNeverAPass: an unreachable Prometheus, a query without
// series, with several series or NaN, each make the verdict Inconclusive.
func TestMissingDataIsNeverAPass(t *testing.T) {
	g := startGround(t)

	// A loopback port nobody listens on: Prometheus unreachable.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	unreachable := "http://" + ln.Addr().String()
	ln.Close()

	// The cases run in parallel, and all end before Prometheus is stopped below.
	t.Run("cases", func(t *testing.T) { missingDataCases(t, g, unreachable) })

	t.Run("prometheus stops mid-run", func(t *testing.T) {
		set, err := verdict.NewSet([]v1alpha1.Probe{promProbe(g.prom.URL, prom.P99Query, 0.2, v1alpha1.ProbeDuring, time.Second, 1)}, verdict.Options{})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(t.Context(), 8*time.Second)
		defer cancel()
		go func() {
			time.Sleep(1500 * time.Millisecond)
			if err := g.prom.Stop(); err != nil {
				t.Errorf("stop prometheus: %v", err)
			}
		}()
		ev := set.Run(ctx, v1alpha1.ProbeDuring, nil)
		v := verdict.Compute(verdict.Run{Evidence: ev, Time: time.Now()})
		if v.Result != v1alpha1.VerdictInconclusive {
			t.Errorf("verdict %s %q, want Inconclusive", v.Result, v.Message)
		}
		if s := ev[0].Samples; len(s) < 2 || s[0].Value == nil || s[len(s)-1].Value != nil {
			t.Errorf("want values first and none after the stop: %+v", s)
		}
	})
}

func missingDataCases(t *testing.T, g ground, unreachable string) {
	for _, tc := range []struct {
		name, addr, query string
		detail            string
	}{
		{"prometheus unreachable", unreachable, prom.P99Query, "connection refused"},
		{"query returns nothing", g.prom.URL, `faultline_no_such_metric`, "query returned no series"},
		{"query returns several series", g.prom.URL, `up or label_replace(up, "job", "other", "", "")`, "query returned 2 series, want one"},
		{"query returns NaN", g.prom.URL, `0/0`, "value is NaN"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			for _, mode := range []v1alpha1.ProbeMode{v1alpha1.ProbeBefore, v1alpha1.ProbeDuring, v1alpha1.ProbeAfter} {
				set, err := verdict.NewSet([]v1alpha1.Probe{
					{Name: "p99", Mode: mode, Interval: dur(time.Second), FailureThreshold: 1, Deadline: dur(3 * time.Second),
						Prometheus: &v1alpha1.PrometheusProbe{Address: tc.addr, Query: tc.query,
							ThresholdRange: v1alpha1.ThresholdRange{Max: f(1e9)}}},
				}, verdict.Options{})
				if err != nil {
					t.Fatal(err)
				}
				ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
				ev := set.Run(ctx, mode, func(v1alpha1.ProbeEvidence) { t.Errorf("%s: abort on missing data", mode) })
				cancel()
				v := verdict.Compute(verdict.Run{Evidence: ev, AbortOnBreach: true, Time: time.Now()})
				if v.Result != v1alpha1.VerdictInconclusive || !strings.Contains(v.Message, tc.detail) {
					t.Errorf("%s: verdict %s/%s %q, want Inconclusive naming %q", mode, v.Result, v.Reason, v.Message, tc.detail)
				}
				if len(ev) != 1 || len(ev[0].Samples) == 0 {
					t.Fatalf("%s: no samples recorded: %+v", mode, ev)
				}
				for _, s := range ev[0].Samples {
					if s.Value != nil || s.Breach || !strings.Contains(s.Error, tc.detail) {
						t.Errorf("%s: sample %+v, want no value, no breach, error naming %q", mode, s, tc.detail)
					}
				}
			}
		})
	}
}

// TestBrokenQueryIsAnError: a query Prometheus rejects, or one returning a
// range vector, cannot become right by waiting: the verdict is Error.
func TestBrokenQueryIsAnError(t *testing.T) {
	g := startGround(t)
	for query, detail := range map[string]string{
		`sum(`:   "bad_data",
		`up[1m]`: "query returned a matrix",
	} {
		set, err := verdict.NewSet([]v1alpha1.Probe{{Name: "q", Mode: v1alpha1.ProbeDuring, Interval: dur(time.Second),
			Prometheus: &v1alpha1.PrometheusProbe{Address: g.prom.URL, Query: query, ThresholdRange: v1alpha1.ThresholdRange{Max: f(1)}}}}, verdict.Options{})
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		ev := set.Run(t.Context(), v1alpha1.ProbeDuring, nil) // returns by itself: no waiting for the end of the fault
		v := verdict.Compute(verdict.Run{Evidence: ev, Time: time.Now()})
		if v.Result != v1alpha1.VerdictError || v.Reason != verdict.ReasonProbeError || !strings.Contains(v.Message, detail) {
			t.Errorf("query %q: verdict %s/%s %q, want Error naming %q", query, v.Result, v.Reason, v.Message, detail)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("query %q: took %s to give up", query, d)
		}
	}
}

// TestHTTPProbe checks status, latency and body against the real service.
func TestHTTPProbe(t *testing.T) {
	svc := prom.StartService(t)
	for _, tc := range []struct {
		name   string
		spec   v1alpha1.HTTPProbe
		delay  time.Duration
		want   v1alpha1.VerdictResult
		detail string
	}{
		{"healthy", v1alpha1.HTTPProbe{URL: svc.URL, MaxLatency: dur(time.Second), BodyMatch: `^ok`}, 0, v1alpha1.VerdictPassed, ""},
		{"slow", v1alpha1.HTTPProbe{URL: svc.URL, MaxLatency: dur(100 * time.Millisecond)}, 250 * time.Millisecond, v1alpha1.VerdictFailed, "> max 100ms"},
		{"wrong status", v1alpha1.HTTPProbe{URL: svc.URL + "nothing-here"}, 0, v1alpha1.VerdictFailed, "status 404, want 200"},
		{"wrong body", v1alpha1.HTTPProbe{URL: svc.URL, BodyMatch: `^healthy`}, 0, v1alpha1.VerdictFailed, `body does not match "^healthy"`},
		{"refused", v1alpha1.HTTPProbe{URL: "http://127.0.0.1:1/"}, 0, v1alpha1.VerdictFailed, "connection refused"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			svc.SetDelay(tc.delay)
			r, err := verdict.NewRunner(v1alpha1.Probe{Name: "root", Mode: v1alpha1.ProbeBefore, HTTP: &tc.spec}, verdict.Options{})
			if err != nil {
				t.Fatal(err)
			}
			ev := r.Run(t.Context(), nil)
			if ev.Result != tc.want || !strings.Contains(ev.Message, tc.detail) {
				t.Errorf("result %s %q, want %s naming %q", ev.Result, ev.Message, tc.want, tc.detail)
			}
			if len(ev.Samples) != 1 || ev.Samples[0].Value == nil {
				t.Errorf("samples %+v: want one with the latency", ev.Samples)
			}
		})
	}
	if _, err := verdict.NewRunner(v1alpha1.Probe{Name: "bad", HTTP: &v1alpha1.HTTPProbe{URL: svc.URL, BodyMatch: `(`}}, verdict.Options{}); err == nil || !strings.Contains(err.Error(), "probe bad: bodyMatch") {
		t.Errorf("bad regexp: err %v, want one naming the probe and bodyMatch", err)
	}
}
