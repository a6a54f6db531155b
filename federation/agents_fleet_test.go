package federation_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fluxcd/pkg/apis/meta"
	"github.com/fluxcd/pkg/runtime/conditions"
	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	v1alpha1 "github.com/faultline-dev/faultline/crds/v1alpha1"
	"github.com/faultline-dev/faultline/federation"
	"github.com/faultline-dev/faultline/hostagent"
	"github.com/faultline-dev/faultline/hostagent/agentapi"
	"github.com/faultline-dev/faultline/internal/testground"
	"github.com/faultline-dev/faultline/internal/testground/cluster"
)

// fleetConfig describes a fleet of simulated agents: each has its own HTTP
// client (its own TLS connection, as separate hosts would), registers with
// the join token, then heartbeats every Interval from a random phase.
type fleetConfig struct {
	URL      string
	CAFile   string
	Token    string
	Agents   int
	Interval time.Duration
	// Concurrency of registrations (a fleet coming online at once).
	Concurrency int
	// Duration of the measured window (simulator process only).
	Duration time.Duration
	// ResultFile receives the fleetResult (simulator process only).
	ResultFile string
}

type fleetResult struct {
	Agents     int    `json:"agents"`
	Heartbeats int64  `json:"heartbeats"`
	Errors     int64  `json:"errors"`
	FirstError string `json:"firstError,omitempty"`
	// ErrorsComingOnline counts failed requests before the window.
	ErrorsComingOnline int64         `json:"errorsComingOnline"`
	P50                time.Duration `json:"p50"`
	P99                time.Duration `json:"p99"`
	Max                time.Duration `json:"max"`
	Window             time.Duration `json:"window"`
	// Agent-side figures, for the record: the simulator's RSS (all agents).
	SimVmHWMKiB int64 `json:"simVmHWMKiB"`
}

// simFleet runs the simulated agents until its context ends. Heartbeat
// latencies count only while measuring.
type simFleet struct {
	cfg        fleetConfig
	registered atomic.Int64
	measuring  atomic.Bool
	heartbeats atomic.Int64
	errs       atomic.Int64
	firstErr   atomic.Value
	mu         sync.Mutex
	lat        []time.Duration
	allIn      chan struct{}
	wg         sync.WaitGroup
}

func startSimFleet(ctx context.Context, cfg fleetConfig) *simFleet {
	f := &simFleet{cfg: cfg, allIn: make(chan struct{})}
	sem := make(chan struct{}, max(cfg.Concurrency, 1))
	for i := range cfg.Agents {
		f.wg.Add(1)
		go func() {
			defer f.wg.Done()
			f.agent(ctx, i, sem)
		}()
	}
	return f
}

func (f *simFleet) fail(err error) {
	f.errs.Add(1)
	f.firstErr.CompareAndSwap(nil, err.Error())
}

func (f *simFleet) agent(ctx context.Context, i int, sem chan struct{}) {
	hc, err := hostagent.NewHTTPClient(f.cfg.CAFile, 30*time.Second)
	if err != nil {
		f.fail(err)
		return
	}
	defer hc.CloseIdleConnections()
	var reg agentapi.RegisterResponse
	for {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			return
		}
		err := fleetPost(ctx, hc, f.cfg.URL+agentapi.RegisterPath, f.cfg.Token,
			agentapi.RegisterRequest{Hostname: fmt.Sprintf("sim-%05d.fleet", i), OS: "linux", Arch: "amd64",
				Labels: map[string]string{"fleet": "sim", "shard": fmt.Sprint(i % 16)}, Capabilities: []string{"netem", "nftables"}}, &reg)
		<-sem
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return
		}
		f.fail(fmt.Errorf("register: %w", err))
		time.Sleep(time.Second)
	}
	if f.registered.Add(1) == int64(f.cfg.Agents) {
		close(f.allIn)
	}
	// Real agents come online at different moments: start at a random
	// phase of the interval.
	select {
	case <-time.After(mrand.N(f.cfg.Interval)):
	case <-ctx.Done():
		return
	}
	seq := uint64(time.Now().UnixNano())
	t := time.NewTicker(f.cfg.Interval)
	defer t.Stop()
	var mine []time.Duration
	defer func() {
		f.mu.Lock()
		f.lat = append(f.lat, mine...)
		f.mu.Unlock()
	}()
	for {
		seq++
		start := time.Now()
		var resp agentapi.HeartbeatResponse
		err := fleetPost(ctx, hc, f.cfg.URL+agentapi.HeartbeatPath, reg.Credential, agentapi.HeartbeatRequest{Agent: reg.Agent, Seq: seq}, &resp)
		if ctx.Err() != nil {
			return
		}
		d := time.Since(start)
		if err != nil {
			f.fail(fmt.Errorf("heartbeat %s: %w", reg.Agent, err))
		} else if f.measuring.Load() {
			f.heartbeats.Add(1)
			mine = append(mine, d)
		}
		select {
		case <-t.C:
		case <-ctx.Done():
			return
		}
	}
}

// waitSteady returns once every agent registered and then one interval
// passed, so that every agent is in its heartbeat rhythm.
func (f *simFleet) waitSteady(ctx context.Context) error {
	select {
	case <-f.allIn:
	case <-ctx.Done():
		return fmt.Errorf("%d of %d agents registered: %w (first error: %v)", f.registered.Load(), f.cfg.Agents, ctx.Err(), f.firstErr.Load())
	}
	select {
	case <-time.After(f.cfg.Interval):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// result waits for the agents to stop (cancel their context first).
func (f *simFleet) result(window time.Duration) fleetResult {
	f.wg.Wait()
	slices.Sort(f.lat)
	r := fleetResult{Agents: f.cfg.Agents, Heartbeats: f.heartbeats.Load(), Errors: f.errs.Load(), Window: window}
	if e, ok := f.firstErr.Load().(string); ok {
		r.FirstError = e
	}
	if n := len(f.lat); n > 0 {
		r.P50, r.P99, r.Max = f.lat[n/2], f.lat[n*99/100], f.lat[n-1]
	}
	return r
}

func fleetPost(ctx context.Context, c *http.Client, url, bearer string, body, out any) error {
	raw, err := json.Marshal(body)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(raw))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+bearer)
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %d: %s", resp.StatusCode, bytes.TrimSpace(data))
	}
	return json.Unmarshal(data, out)
}

// fleetSimEnv names the file holding a fleetConfig when the test binary
// runs as the simulator process.
const fleetSimEnv = "FAULTLINE_AGENT_FLEET_SIM"

// fleetSimMain is the simulator process: it prints "steady" once every
// agent is registered and heartbeating, measures for cfg.Duration, writes
// the result and prints "done".
func fleetSimMain(cfgFile string) int {
	raw, err := os.ReadFile(cfgFile)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	var cfg fleetConfig
	if err := json.Unmarshal(raw, &cfg); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	f := startSimFleet(ctx, cfg)
	regCtx, regCancel := context.WithTimeout(ctx, 30*time.Minute)
	err = f.waitSteady(regCtx)
	regCancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	// Failures while the fleet came online (registrations retried) are
	// reported apart; the window's count starts at zero.
	before := f.errs.Swap(0)
	fmt.Println("steady")
	f.measuring.Store(true)
	start := time.Now()
	time.Sleep(cfg.Duration)
	f.measuring.Store(false)
	window := time.Since(start)
	fmt.Println("done")
	hwm := procStatusKiB("VmHWM")
	cancel()
	res := f.result(window)
	res.SimVmHWMKiB, res.ErrorsComingOnline = hwm, before
	out, _ := json.Marshal(res)
	if err := os.WriteFile(cfg.ResultFile, out, 0o600); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// procStatusKiB reads a kB field (VmRSS, VmHWM) of /proc/self/status.
func procStatusKiB(field string) int64 {
	raw, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			var n int64
			fmt.Sscanf(strings.TrimSpace(rest), "%d", &n)
			return n
		}
	}
	return -1
}

// writeCounter counts the hub's API-server writes, as a client-go
// transport wrapper.
type writeCounter struct {
	all, status atomic.Int64
	rt          http.RoundTripper
}

func (w *writeCounter) RoundTrip(r *http.Request) (*http.Response, error) {
	switch r.Method {
	case http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
		w.all.Add(1)
		if strings.Contains(r.URL.Path, "/hostagents/") && strings.HasSuffix(r.URL.Path, "/status") {
			w.status.Add(1)
		}
	}
	return w.rt.RoundTrip(r)
}

// fleetHub is the hub side as faultline-hub wires it: a controller-runtime
// manager (cached client, uncached Secret reader) running the AgentServer's
// status loop, and the agent API served with TLS on loopback.
type fleetHub struct {
	URL    string
	CAFile string
	API    *federation.AgentServer
	Writes *writeCounter
	Client client.Client
	Served *serverTimes
}

// serverTimes records how long the hub's handler took per heartbeat, to
// tell the hub's own latency from the time a loaded machine adds around it.
type serverTimes struct {
	h  http.Handler
	mu sync.Mutex
	on bool
	d  []time.Duration
}

func (st *serverTimes) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	st.h.ServeHTTP(w, r)
	if r.URL.Path == agentapi.HeartbeatPath {
		d := time.Since(start)
		st.mu.Lock()
		if st.on {
			st.d = append(st.d, d)
		}
		st.mu.Unlock()
	}
}

func (st *serverTimes) measure(on bool) {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.on = on
}

// p99 of the recorded handler times.
func (st *serverTimes) p99() time.Duration {
	st.mu.Lock()
	defer st.mu.Unlock()
	if len(st.d) == 0 {
		return 0
	}
	slices.Sort(st.d)
	return st.d[len(st.d)*99/100]
}

func startFleetHub(tb testing.TB, api *federation.AgentServer, qps float32) *fleetHub {
	tb.Helper()
	c := cluster.Start(tb, "hub")[0]
	ctx, cancel := context.WithCancel(context.WithoutCancel(tb.Context()))
	if err := c.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: agentsNS}}); err != nil {
		tb.Fatal(err)
	}
	wc := &writeCounter{}
	cfg := rest.CopyConfig(c.Config)
	cfg.QPS, cfg.Burst = qps, int(2*qps)
	cfg.WrapTransport = func(rt http.RoundTripper) http.RoundTripper { wc.rt = rt; return wc }
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme: cluster.Scheme(), Logger: logr.Discard(),
		Metrics: metricsserver.Options{BindAddress: "0"}, HealthProbeBindAddress: "0",
	})
	if err != nil {
		tb.Fatal(err)
	}
	api.Client, api.SecretReader, api.Namespace = mgr.GetClient(), mgr.GetAPIReader(), agentsNS
	if err := mgr.Add(api); err != nil {
		tb.Fatal(err)
	}
	dir := tb.TempDir()
	certFile, keyFile, _ := testground.ServingCert(tb, dir)
	caFile := certFile // self-signed: its own CA
	served := &serverTimes{h: api}
	srv, err := federation.NewAgentHTTPServer("127.0.0.1:0", served, certFile, keyFile)
	if err != nil {
		tb.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	mgrDone := make(chan error, 1)
	go func() { mgrDone <- mgr.Start(ctx) }()
	go func() { _ = srv.ServeTLS(ln, "", "") }()
	tb.Cleanup(func() {
		sctx, scancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer scancel()
		_ = srv.Shutdown(sctx)
		_ = srv.Close()
		cancel()
		if err := <-mgrDone; err != nil {
			tb.Errorf("hub manager: %v", err)
		}
	})
	return &fleetHub{URL: "https://" + ln.Addr().String(), CAFile: caFile, API: api, Writes: wc, Client: c.Client, Served: served}
}

// readyAgents counts HostAgents whose status says Ready=True.
func readyAgents(ctx context.Context, c client.Client) (int, error) {
	var list v1alpha1.HostAgentList
	if err := c.List(ctx, &list); err != nil {
		return 0, err
	}
	n := 0
	for i := range list.Items {
		if conditions.IsTrue(&list.Items[i], meta.ReadyCondition) {
			n++
		}
	}
	return n, nil
}

// A fleet heartbeating over real HTTPS against a hub on a real API server:
// every agent becomes Ready in HostAgent status, status writes never exceed
// the budget, and once the fleet's status is written, heartbeats that
// change nothing write nothing (the slow cadence is an hour here).
func TestAgentFleetStatusWritesBounded(t *testing.T) {
	const (
		agents   = 200
		interval = 500 * time.Millisecond
		budget   = 40 // status writes per second
		window   = 3 * time.Second
	)
	h := startFleetHub(t, &federation.AgentServer{StatusInterval: time.Hour, StatusWriteQPS: budget, Log: logr.Discard()}, -1)
	if err := h.Client.Create(t.Context(), federation.LimitedJoinTokenSecret(agentsNS, "fleet", "fleet-token", time.Now().Add(time.Hour), agents)); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	f := startSimFleet(ctx, fleetConfig{URL: h.URL, CAFile: h.CAFile, Token: "fleet-token", Agents: agents, Interval: interval, Concurrency: 16})
	steadyCtx, steadyCancel := context.WithTimeout(ctx, 2*time.Minute)
	defer steadyCancel()
	if err := f.waitSteady(steadyCtx); err != nil {
		t.Fatal(err)
	}

	// The budget holds while the fleet's first Ready writes are worked off.
	f.measuring.Store(true)
	w0, start := h.Writes.status.Load(), time.Now()
	time.Sleep(window)
	w1, took := h.Writes.status.Load(), time.Since(start)
	if limit := int64(budget*took.Seconds()) + budget; w1-w0 > limit {
		t.Errorf("%d HostAgent status writes in %v, over the budget of %d/s", w1-w0, took, budget)
	}

	// Every agent's status is written on change (Ready)...
	deadline := time.Now().Add(time.Minute)
	for {
		n, err := readyAgents(ctx, h.Client)
		if err != nil {
			t.Fatal(err)
		}
		if n == agents {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d HostAgents Ready after a minute", n, agents)
		}
		time.Sleep(200 * time.Millisecond)
	}
	// ... and then nothing more while nothing changes.
	time.Sleep(time.Second) // the write that made the last one Ready is counted
	w2 := h.Writes.status.Load()
	time.Sleep(4 * interval)
	w3 := h.Writes.status.Load()
	f.measuring.Store(false)
	cancel()
	res := f.result(time.Since(start))
	if res.Errors > 0 {
		t.Errorf("%d failed requests, first: %s", res.Errors, res.FirstError)
	}
	if w3 != w2 {
		t.Errorf("%d status writes while %d agents heartbeated and nothing changed, want 0", w3-w2, agents)
	}
	if least := int64(agents * int(window/interval) / 2); res.Heartbeats < least {
		t.Errorf("%d heartbeats answered, want at least %d", res.Heartbeats, least)
	}
	// Registration spent the limited token exactly: it is gone.
	if err := h.Client.Get(t.Context(), client.ObjectKey{Namespace: agentsNS, Name: "fleet"}, &corev1.Secret{}); err == nil {
		t.Error("join token limited to 200 uses still there after 200 registrations")
	}
	t.Logf("%d agents: %d heartbeats answered, p99 %v; %d status writes in all (%d while the budget was watched over %v)",
		agents, res.Heartbeats, res.P99, w3, w1-w0, took.Round(time.Millisecond))
}

// BenchmarkAgentFleet: 10,000 simulated agents (a separate process, each
// agent its own TLS connection) register and heartbeat every 10s against
// the hub's agent API backed by a real API server; the figures cover a 60s
// window of steady heartbeats. Run with `make bench-agents`.
// FAULTLINE_FLEET_AGENTS and FAULTLINE_FLEET_WINDOW override the size;
// FAULTLINE_FLEET_PROFILE=DIR writes the hub's CPU and heap profiles there.
func BenchmarkAgentFleet(b *testing.B) {
	agents, window := 10000, 60*time.Second
	if v := os.Getenv("FAULTLINE_FLEET_AGENTS"); v != "" {
		fmt.Sscanf(v, "%d", &agents)
	}
	if v := os.Getenv("FAULTLINE_FLEET_WINDOW"); v != "" {
		if d, err := time.ParseDuration(v); err == nil {
			window = d
		}
	}
	const interval = 10 * time.Second
	// The hub's client is not rate limited here so that registering 10,000
	// agents takes minutes, not the 10 minutes the production default
	// (50 QPS) would; status writes are bounded by StatusWriteQPS either way.
	h := startFleetHub(b, &federation.AgentServer{Log: logr.Discard()}, -1)
	if err := h.Client.Create(b.Context(), federation.JoinTokenSecret(agentsNS, "fleet", "fleet-token", time.Now().Add(24*time.Hour), false)); err != nil {
		b.Fatal(err)
	}
	dir := b.TempDir()
	cfg := fleetConfig{URL: h.URL, CAFile: h.CAFile, Token: "fleet-token", Agents: agents, Interval: interval,
		Concurrency: 32, Duration: window, ResultFile: filepath.Join(dir, "result.json")}
	raw, _ := json.Marshal(cfg)
	cfgFile := filepath.Join(dir, "fleet.json")
	if err := os.WriteFile(cfgFile, raw, 0o600); err != nil {
		b.Fatal(err)
	}

	for b.Loop() {
		cmd := newFleetSim(b, cfgFile)
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			b.Fatal(err)
		}
		regStart := time.Now()
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		lines := lineReader(stdout)
		if l := <-lines; l != "steady" {
			_ = cmd.Wait()
			b.Fatalf("simulator: %q", l)
		}
		b.Logf("%d agents registered and heartbeating after %v", agents, time.Since(regStart).Round(time.Second))
		stopProfile := startProfiles(b)
		h.Served.measure(true)
		cpu0, w0, s0, t0 := processCPU(), h.Writes.all.Load(), h.Writes.status.Load(), time.Now()
		if l := <-lines; l != "done" {
			_ = cmd.Wait()
			b.Fatalf("simulator: %q", l)
		}
		cpu1, w1, s1, wall := processCPU(), h.Writes.all.Load(), h.Writes.status.Load(), time.Since(t0)
		h.Served.measure(false)
		rss, hwm := procStatusKiB("VmRSS"), procStatusKiB("VmHWM")
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		stopProfile()
		if err := cmd.Wait(); err != nil {
			b.Fatalf("simulator: %v", err)
		}
		var res fleetResult
		raw, err := os.ReadFile(cfg.ResultFile)
		if err == nil {
			err = json.Unmarshal(raw, &res)
		}
		if err != nil {
			b.Fatal(err)
		}
		if res.Errors > 0 {
			b.Errorf("%d failed heartbeats in the window, first: %s", res.Errors, res.FirstError)
		}
		ready, err := readyAgents(b.Context(), h.Client)
		if err != nil {
			b.Fatal(err)
		}
		cores := (cpu1 - cpu0).Seconds() / wall.Seconds()
		b.ReportMetric(cores, "hub-cores")
		b.ReportMetric(float64(hwm)/1024, "hub-VmHWM-MiB")
		b.ReportMetric(float64(rss)/1024, "hub-VmRSS-MiB")
		b.ReportMetric(float64(res.P50.Microseconds())/1000, "p50-ms")
		b.ReportMetric(float64(res.P99.Microseconds())/1000, "p99-ms")
		b.ReportMetric(float64(h.Served.p99().Microseconds())/1000, "hub-handler-p99-ms")
		b.ReportMetric(float64(ms.HeapInuse)/(1<<20), "hub-heap-inuse-MiB")
		b.ReportMetric(float64(res.Heartbeats)/res.Window.Seconds(), "heartbeats/s")
		b.ReportMetric(float64(w1-w0)/wall.Seconds(), "api-writes/s")
		b.ReportMetric(float64(s1-s0)/wall.Seconds(), "status-writes/s")
		b.Logf("window %v: %d heartbeats (p50 %v, p99 %v, max %v; hub handler p99 %v), hub %.3f cores, VmRSS %d MiB (peak %d MiB; Go heap in use %d MiB, Sys %d MiB, %d goroutines), %d API writes (%d HostAgent status), %d of %d HostAgents Ready in the API, simulator peak RSS %d MiB, %d failed requests while coming online",
			wall.Round(time.Millisecond), res.Heartbeats, res.P50, res.P99, res.Max, h.Served.p99(), cores, rss/1024, hwm/1024,
			ms.HeapInuse>>20, ms.Sys>>20, runtime.NumGoroutine(), w1-w0, s1-s0, ready, agents, res.SimVmHWMKiB/1024, res.ErrorsComingOnline)
	}
}

var errSimExited = errors.New("simulator exited")

// lineReader sends stdout's lines, then an error text when it ends.
func lineReader(r io.Reader) <-chan string {
	ch := make(chan string, 4)
	go func() {
		buf := make([]byte, 0, 4096)
		one := make([]byte, 1)
		for {
			if _, err := r.Read(one); err != nil {
				ch <- errSimExited.Error()
				close(ch)
				return
			}
			if one[0] == '\n' {
				ch <- string(buf)
				buf = buf[:0]
				continue
			}
			buf = append(buf, one[0])
		}
	}()
	return ch
}
