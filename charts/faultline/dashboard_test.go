package chart_test

import (
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/faultline-dev/faultline/faults"
	// Imported for the metrics they register with controller-runtime's
	// registry at init, exactly as in the hub binary.
	_ "github.com/faultline-dev/faultline/reconciler"
	_ "github.com/faultline-dev/faultline/reconciler/verdict"
	_ "github.com/faultline-dev/faultline/reconciler/writeback"
)

// dashboardPath is the dashboard the chart ships (templates/dashboards.yaml).
const dashboardPath = "dashboards/faultline.json"

// Every query of the Grafana dashboard (panels and template variables) names
// only metrics our binaries register: the hub's (reconciler, verdicts,
// write-back, controller-runtime) and the executors' (the fault engine, as
// the daemon and the agent register it). A renamed metric fails here, not on
// a blank panel in production.
func TestDashboardUsesOnlyRegisteredMetrics(t *testing.T) {
	registry := registeredMetrics(t)
	queries := dashboardQueries(t)
	if len(queries) < 20 {
		t.Fatalf("found only %d queries in %s; the walk over panels is broken", len(queries), dashboardPath)
	}
	used := map[string]bool{}
	for _, q := range queries {
		names := metricNames(q.expr)
		if len(names) == 0 {
			t.Errorf("%s: %q uses no metric", q.where, q.expr)
		}
		for _, name := range names {
			used[name] = true
			if err := registry.check(name); err != nil {
				t.Errorf("%s: %v (in %q)", q.where, err, q.expr)
			}
		}
	}
	// The dashboard covers the hub and the executors: at least one of each
	// of our own metric families is charted.
	for _, want := range []string{
		"faultline_experiments", "faultline_active_injections", "faultline_verdicts_total",
		"faultline_probe_evaluations_total", "faultline_commit_to_injected_seconds_bucket",
		"faultline_commit_to_verdict_seconds_bucket", "faultline_abort_to_recovered_seconds_bucket",
		"faultline_fault_active", "faultline_fault_applies_total", "faultline_fault_recoveries_total",
		"faultline_executor_capability",
	} {
		if !used[want] {
			t.Errorf("the dashboard charts no %s", want)
		}
	}
}

// The checker itself must tell a registered name from an unknown one, or the
// test above could not fail.
func TestMetricCheckerRejectsUnknownNames(t *testing.T) {
	r := registeredMetrics(t)
	for _, bad := range []string{"faultline_no_such_metric", "faultline_fault_applies", "faultline_verdicts"} {
		if err := r.check(bad); err == nil {
			t.Errorf("%s passed as registered", bad)
		}
	}
	for _, good := range []string{"faultline_verdicts_total", "faultline_commit_to_verdict_seconds_count", "controller_runtime_reconcile_total"} {
		if err := r.check(good); err != nil {
			t.Errorf("%s: %v", good, err)
		}
	}
	if got := metricNames(`sum by (kind, result) (rate(faultline_fault_applies_total{kind=~"$kind", result!="ok"}[$__rate_interval])) / on(kind) group_left sum(up) offset 5m`); !slices.Equal(got, []string{"faultline_fault_applies_total", "up"}) {
		t.Errorf("metricNames = %q", got)
	}
}

type query struct{ where, expr string }

// dashboardQueries returns every PromQL expression of the dashboard: panel
// targets (rows' nested panels included) and query variables.
func dashboardQueries(t *testing.T) []query {
	t.Helper()
	raw, err := os.ReadFile(dashboardPath)
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Panels     []panel `json:"panels"`
		Templating struct {
			List []struct {
				Name  string          `json:"name"`
				Type  string          `json:"type"`
				Query json.RawMessage `json:"query"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatalf("%s: %v", dashboardPath, err)
	}
	var out []query
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			if p.Type != "row" && len(p.Targets) == 0 {
				t.Errorf("panel %q has no query", p.Title)
			}
			if p.Description == "" && p.Type != "row" {
				t.Errorf("panel %q has no description", p.Title)
			}
			for _, tg := range p.Targets {
				out = append(out, query{where: fmt.Sprintf("panel %q target %s", p.Title, tg.RefID), expr: tg.Expr})
			}
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		// Grafana stores a variable's query as a string or as {"query": "..."}.
		var s string
		if json.Unmarshal(v.Query, &s) != nil {
			var o struct {
				Query string `json:"query"`
			}
			if err := json.Unmarshal(v.Query, &o); err != nil {
				t.Fatalf("variable %s: query: %v", v.Name, err)
			}
			s = o.Query
		}
		// label_values(metric, label) names its metric first.
		if m := regexp.MustCompile(`^label_values\(\s*([^,]+),\s*\w+\s*\)$`).FindStringSubmatch(s); m != nil {
			s = m[1]
		}
		out = append(out, query{where: "variable " + v.Name, expr: s})
	}
	return out
}

type panel struct {
	Type        string  `json:"type"`
	Title       string  `json:"title"`
	Description string  `json:"description"`
	Panels      []panel `json:"panels"`
	Targets     []struct {
		RefID string `json:"refId"`
		Expr  string `json:"expr"`
	} `json:"targets"`
}

var (
	// Everything of PromQL that is not a metric name: strings, label
	// matchers, range and offset durations, grouping clauses' label lists.
	promStrings   = regexp.MustCompile(`"(?:[^"\\]|\\.)*"`)
	promMatchers  = regexp.MustCompile(`\{[^}]*\}`)
	promRanges    = regexp.MustCompile(`\[[^\]]*\]`)
	promGrouping  = regexp.MustCompile(`\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)`)
	promOffset    = regexp.MustCompile(`\boffset\s+[0-9a-z]+`)
	promNumbers   = regexp.MustCompile(`\b\d+(?:\.\d+)?(?:e[+-]?\d+)?\b`)
	promIdent     = regexp.MustCompile(`[a-zA-Z_:][a-zA-Z0-9_:]*`)
	promFunctions = []string{
		"abs", "absent", "absent_over_time", "avg", "avg_over_time", "bottomk", "ceil", "changes", "clamp", "clamp_max",
		"clamp_min", "count", "count_over_time", "count_values", "delta", "deriv", "floor", "group", "histogram_quantile",
		"idelta", "increase", "irate", "label_join", "label_replace", "last_over_time", "max", "max_over_time", "min",
		"min_over_time", "quantile", "quantile_over_time", "rate", "resets", "round", "scalar", "sort", "sort_desc",
		"sqrt", "stddev", "sum", "sum_over_time", "time", "timestamp", "topk", "vector",
		"and", "or", "unless", "bool", "by", "without", "on", "ignoring", "group_left", "group_right", "offset",
	}
)

// metricNames returns the metric names an expression selects, in order of
// first use. Grafana's $variables are removed first.
func metricNames(expr string) []string {
	s := regexp.MustCompile(`\$\{?\w+\}?`).ReplaceAllString(expr, "")
	for _, re := range []*regexp.Regexp{promStrings, promMatchers, promRanges, promGrouping, promOffset, promNumbers} {
		s = re.ReplaceAllString(s, " ")
	}
	var out []string
	for _, id := range promIdent.FindAllString(s, -1) {
		if slices.Contains(promFunctions, id) || slices.Contains(out, id) {
			continue
		}
		out = append(out, id)
	}
	return out
}

// metricRegistry answers whether a metric name is registered with
// controller-runtime's registry (what the hub and the daemon serve), after
// the fault engine's metrics are registered there as the daemon does.
type metricRegistry struct{ reg prometheus.Registerer }

var (
	engineOnce sync.Once
	engineErr  error
)

func registeredMetrics(t *testing.T) *metricRegistry {
	t.Helper()
	engineOnce.Do(func() {
		// daemon.New registers the engine's metrics exactly so (on
		// controller-runtime's registry when none is configured).
		_, engineErr = faults.NewMetrics(ctrlmetrics.Registry)
	})
	if engineErr != nil {
		t.Fatalf("registering the fault engine's metrics: %v", engineErr)
	}
	return &metricRegistry{reg: ctrlmetrics.Registry}
}

// check reports whether name is a registered metric, or a histogram's or
// summary's _bucket, _sum or _count series. A registry cannot list what it
// holds, but it refuses a second descriptor with a registered name: a probe
// gauge of that name is refused exactly when the name is taken.
func (r *metricRegistry) check(name string) error {
	if r.taken(name) {
		return nil
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		if base, ok := strings.CutSuffix(name, suffix); ok && r.taken(base) {
			return nil
		}
	}
	return fmt.Errorf("metric %s is registered by none of our packages", name)
}

func (r *metricRegistry) taken(name string) bool {
	probe := prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: "probe of the chart's dashboard test"})
	if err := r.reg.Register(probe); err != nil {
		return true
	}
	r.reg.Unregister(probe)
	return false
}
