package reconciler_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"

	v1alpha1 "github.com/faultline-dev/faultline/crds/v1alpha1"
	"github.com/faultline-dev/faultline/federation"
	"github.com/faultline-dev/faultline/hostagent/agentapi"
)

// An experiment placed on host agents reaches them through heartbeat
// answers: the agent registers with a join token, heartbeats, is handed the
// Injection, reports it injected, and is told to drop it when the run ends.
// The agent here is a small client of the real agent API over HTTP; the
// real agent (faults on a netns host) is tested in hostagent/.
func TestExperimentRunsOnHostAgents(t *testing.T) {
	api := &federation.AgentServer{Namespace: "fleet", Lease: 5 * time.Second, Grace: 3 * time.Second}
	f := startFleet(t, map[string]map[string]string{"a": {"env": "staging"}}, fleetOptions{
		agents: api,
		setup: []func(ctrl.Manager) error{func(mgr ctrl.Manager) error {
			api.Client, api.SecretReader = mgr.GetClient(), mgr.GetAPIReader()
			return mgr.Add(api)
		}},
	})
	srv := httptest.NewServer(api)
	defer srv.Close()
	mustCreate(f.ctx, t, f.hub.Client, federation.JoinTokenSecret("fleet", "join", "join-me", time.Now().Add(time.Hour), false))

	post := func(path, bearer string, in, out any) int {
		t.Helper()
		body, _ := json.Marshal(in)
		req, _ := http.NewRequest(http.MethodPost, srv.URL+path, bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+bearer)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if out != nil {
			_ = json.NewDecoder(resp.Body).Decode(out)
		}
		return resp.StatusCode
	}
	var reg agentapi.RegisterResponse
	if code := post(agentapi.RegisterPath, "join-me", agentapi.RegisterRequest{Hostname: "db-1", Labels: map[string]string{"role": "db"}}, &reg); code != http.StatusOK && code != http.StatusCreated {
		t.Fatalf("register: %d", code)
	}

	// The agent: report what the hub wants as injected, forget what it dropped.
	var mu sync.Mutex
	var handed, dropped bool
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		var observed []v1alpha1.Injection
		for seq := uint64(1); ; seq++ {
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
			var hb agentapi.HeartbeatResponse
			if post(agentapi.HeartbeatPath, reg.Credential, agentapi.HeartbeatRequest{Agent: reg.Agent, Seq: seq, Observed: observed}, &hb) != http.StatusOK {
				continue
			}
			mu.Lock()
			if len(hb.Desired) > 0 {
				handed = true
			} else if handed {
				dropped = true
			}
			mu.Unlock()
			observed = nil
			for _, inj := range hb.Desired {
				inj.Status.Phase = v1alpha1.InjectionInjected
				for _, tg := range inj.Spec.Targets {
					inj.Status.Targets = append(inj.Status.Targets, v1alpha1.TargetStatus{Key: tg.Key, Phase: v1alpha1.InjectionInjected})
				}
				observed = append(observed, inj)
			}
		}
	}()

	exp := twoWaveExperiment("db-cpu", 2*time.Second)
	exp.Spec.Placement = &v1alpha1.Placement{Agents: &metav1.LabelSelector{MatchLabels: map[string]string{"role": "db"}}}
	exp.Spec.Fault = v1alpha1.FaultSpec{Stress: &v1alpha1.StressFault{Action: v1alpha1.StressCPU, Workers: 1, Load: 50}}
	mustCreate(f.ctx, t, f.hub.Client, exp)
	eventually(t, 40*time.Second, "the run on the agent to pass", func() bool {
		e := getExperiment(t, f.hub.Client, "db-cpu")
		return e.Status.Phase == v1alpha1.PhaseCompleted
	})
	e := getExperiment(t, f.hub.Client, "db-cpu")
	if e.Status.Verdict.Result != v1alpha1.VerdictPassed || len(e.Status.Targets) != 1 || e.Status.Targets[0].Kind != federation.KindHostAgent ||
		e.Status.Targets[0].Injected != 1 || e.Status.Targets[0].Recovered != 1 {
		t.Fatalf("status = %+v", e.Status)
	}
	mu.Lock()
	defer mu.Unlock()
	if !handed || !dropped {
		t.Errorf("the agent was handed the injection: %v, told to drop it: %v", handed, dropped)
	}
	if d := api.Desired(reg.Agent); len(d) != 0 {
		t.Errorf("the hub still wants %d injections on the agent", len(d))
	}
}
