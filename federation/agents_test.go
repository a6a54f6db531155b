package federation_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/fluxcd/pkg/apis/meta"
	"github.com/fluxcd/pkg/runtime/conditions"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/faultline-dev/faultline/crds/v1alpha1"
	"github.com/faultline-dev/faultline/federation"
	"github.com/faultline-dev/faultline/hostagent/agentapi"
	"github.com/faultline-dev/faultline/internal/testground/cluster"
)

const agentsNS = "faultline-system"

func startAgentHub(t *testing.T, grace time.Duration) (*federation.AgentServer, *httptest.Server, client.Client) {
	t.Helper()
	hub := cluster.Start(t, "hub")[0]
	ctx, cancel := context.WithCancel(t.Context())
	if err := hub.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: agentsNS}}); err != nil {
		t.Fatal(err)
	}
	srv := &federation.AgentServer{Client: hub.Client, Namespace: agentsNS, Lease: 2 * time.Second, Grace: grace, StatusInterval: time.Hour}
	done := make(chan error, 1)
	go func() { done <- srv.Start(ctx) }()
	ts := httptest.NewTLSServer(srv)
	t.Cleanup(func() {
		ts.Close()
		cancel()
		if err := <-done; err != nil {
			t.Errorf("status loop: %v", err)
		}
	})
	return srv, ts, hub.Client
}

func post(t *testing.T, ts *httptest.Server, path, auth string, body any) (*http.Response, []byte) {
	t.Helper()
	var raw []byte
	switch b := body.(type) {
	case string:
		raw = []byte(b)
	default:
		var err error
		if raw, err = json.Marshal(b); err != nil {
			t.Fatal(err)
		}
	}
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, ts.URL+path, bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", "Bearer "+auth)
	}
	resp, err := ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out bytes.Buffer
	_, _ = out.ReadFrom(resp.Body)
	return resp, out.Bytes()
}

func agentCount(t *testing.T, c client.Client) int {
	t.Helper()
	var l v1alpha1.HostAgentList
	if err := c.List(t.Context(), &l); err != nil {
		t.Fatal(err)
	}
	return len(l.Items)
}

// Registration with a join token creates the HostAgent and a credential
// that heartbeats must carry; bad tokens, malformed bodies, forged
// credentials and replayed heartbeats change nothing.
func TestAgentRegistrationAndHeartbeatSecurity(t *testing.T) {
	srv, ts, c := startAgentHub(t, 6*time.Second)
	ctx := t.Context()
	for _, s := range []*corev1.Secret{
		federation.JoinTokenSecret(agentsNS, "once", "tok-once", time.Now().Add(time.Hour), true),
		federation.JoinTokenSecret(agentsNS, "expired", "tok-old", time.Now().Add(-time.Minute), false),
		federation.JoinTokenSecret(agentsNS, "multi", "tok-multi", time.Now().Add(time.Hour), false),
		federation.LimitedJoinTokenSecret(agentsNS, "twice", "tok-twice", time.Now().Add(time.Hour), 2),
		func() *corev1.Secret {
			s := federation.LimitedJoinTokenSecret(agentsNS, "garbled", "tok-garbled", time.Now().Add(time.Hour), 5)
			s.Data[federation.JoinTokenUsesLeftKey] = []byte("many")
			return s
		}(),
		func() *corev1.Secret {
			s := federation.JoinTokenSecret(agentsNS, "forever", "tok-forever", time.Now().Add(time.Hour), false)
			delete(s.Data, federation.JoinTokenExpiresAtKey)
			return s
		}(),
	} {
		if err := c.Create(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	body := agentapi.RegisterRequest{Hostname: "Rack1.Host_7", Addresses: []string{"10.0.0.7"}, OS: "linux", Kernel: "6.1", Arch: "amd64",
		Version: "v0.1.0", Labels: map[string]string{"rack": "r1"}, Capabilities: []string{"netem", "nftables"}}

	for _, tc := range []struct {
		name, token string
		body        any
		want        int
	}{
		{"no token", "", body, 401},
		{"unknown token", "nope", body, 401},
		{"expired token", "tok-old", body, 401},
		{"token without expiry", "tok-forever", body, 401},
		{"token with an unreadable use count", "tok-garbled", body, 401},
		{"malformed JSON", "tok-multi", `{"hostname": `, 400},
		{"unknown field", "tok-multi", `{"hostname":"x","root":true}`, 400},
		{"bad label", "tok-multi", agentapi.RegisterRequest{Hostname: "x", Labels: map[string]string{"a b": "c"}}, 400},
	} {
		resp, out := post(t, ts, agentapi.RegisterPath, tc.token, tc.body)
		if resp.StatusCode != tc.want {
			t.Errorf("%s: status %d (%s), want %d", tc.name, resp.StatusCode, out, tc.want)
		}
	}
	if n := agentCount(t, c); n != 0 {
		t.Fatalf("%d HostAgents after refused registrations, want 0", n)
	}

	resp, out := post(t, ts, agentapi.RegisterPath, "tok-once", body)
	if resp.StatusCode != 200 {
		t.Fatalf("register: %d %s", resp.StatusCode, out)
	}
	var reg agentapi.RegisterResponse
	if err := json.Unmarshal(out, &reg); err != nil {
		t.Fatal(err)
	}
	if reg.Agent != "rack1.host-7" || len(reg.Credential) < 32 {
		t.Fatalf("register answered %+v", reg)
	}
	ha := &v1alpha1.HostAgent{}
	if err := c.Get(ctx, client.ObjectKey{Name: reg.Agent}, ha); err != nil {
		t.Fatalf("HostAgent not created: %v", err)
	}
	if ha.Spec.Hostname != "Rack1.Host_7" || ha.Spec.KernelVersion != "6.1" || ha.Labels["rack"] != "r1" || len(ha.Spec.Capabilities) != 2 {
		t.Errorf("HostAgent = %+v, labels %v", ha.Spec, ha.Labels)
	}
	if err := c.Get(ctx, client.ObjectKey{Namespace: agentsNS, Name: "once"}, &corev1.Secret{}); !apierrors.IsNotFound(err) {
		t.Errorf("single-use token still there after use (err %v)", err)
	}
	var cred corev1.Secret
	if err := c.Get(ctx, client.ObjectKey{Namespace: agentsNS, Name: "faultline-agent-" + reg.Agent}, &cred); err != nil {
		t.Fatalf("credential secret: %v", err)
	}
	for _, v := range cred.Data {
		if strings.Contains(string(v), reg.Credential) {
			t.Error("credential secret stores the credential itself, want only its hash")
		}
	}
	if resp, out := post(t, ts, agentapi.RegisterPath, "tok-once", agentapi.RegisterRequest{Hostname: "other"}); resp.StatusCode != 401 {
		t.Errorf("single-use token reused: %d %s", resp.StatusCode, out)
	}

	// A token limited to two uses admits two agents, then none.
	for i, want := range []int{200, 200, 401} {
		if resp, out := post(t, ts, agentapi.RegisterPath, "tok-twice", agentapi.RegisterRequest{Hostname: fmt.Sprintf("twice-%d", i)}); resp.StatusCode != want {
			t.Errorf("registration %d with a two-use token: %d %s, want %d", i+1, resp.StatusCode, out, want)
		}
	}
	if err := c.Get(ctx, client.ObjectKey{Namespace: agentsNS, Name: "twice"}, &corev1.Secret{}); !apierrors.IsNotFound(err) {
		t.Errorf("two-use token still there after two uses (err %v)", err)
	}
	if err := c.Get(ctx, client.ObjectKey{Name: "twice-2"}, &v1alpha1.HostAgent{}); !apierrors.IsNotFound(err) {
		t.Errorf("HostAgent of the refused third registration exists (err %v)", err)
	}

	inj := v1alpha1.Injection{ObjectMeta: metav1.ObjectMeta{Name: "exp-1"}, Spec: v1alpha1.InjectionSpec{
		Targets:  []v1alpha1.InjectionTarget{{Key: "host", Kind: v1alpha1.TargetHost}},
		Fault:    v1alpha1.FaultSpec{Network: &v1alpha1.NetworkFault{Action: v1alpha1.NetworkPartition}},
		Deadline: metav1.NewTime(time.Now().Add(time.Minute)), Owner: v1alpha1.InjectionOwner{Experiment: "default/exp"},
	}}
	srv.SetDesired(reg.Agent, []v1alpha1.Injection{inj})

	hb := func(seq uint64, auth string, observed ...v1alpha1.Injection) (int, agentapi.HeartbeatResponse) {
		resp, out := post(t, ts, agentapi.HeartbeatPath, auth, agentapi.HeartbeatRequest{Agent: reg.Agent, Seq: seq, Observed: observed})
		var hr agentapi.HeartbeatResponse
		if resp.StatusCode == 200 {
			if err := json.Unmarshal(out, &hr); err != nil {
				t.Fatal(err)
			}
		}
		return resp.StatusCode, hr
	}
	if code, _ := hb(1, "forged"); code != 401 {
		t.Errorf("forged credential: %d, want 401", code)
	}
	if resp, out := post(t, ts, agentapi.HeartbeatPath, reg.Credential, `{"agent": "`+reg.Agent+`", "seq": "x"}`); resp.StatusCode != 400 {
		t.Errorf("malformed heartbeat: %d %s, want 400", resp.StatusCode, out)
	}
	if resp, _ := post(t, ts, agentapi.HeartbeatPath, reg.Credential, agentapi.HeartbeatRequest{Agent: reg.Agent}); resp.StatusCode != 400 {
		t.Errorf("heartbeat without seq: %d, want 400", resp.StatusCode)
	}
	// A malformed heartbeat with a high seq changes nothing: the seq is not
	// spent, nothing is observed.
	if resp, out := post(t, ts, agentapi.HeartbeatPath, reg.Credential, `{"agent":"`+reg.Agent+`","seq":100,"observed":[{"metadata":{}}]}`); resp.StatusCode != 400 {
		t.Errorf("heartbeat with a nameless injection: %d %s, want 400", resp.StatusCode, out)
	}
	if obs, reachable := srv.Observed(reg.Agent); reachable || len(obs) != 0 {
		t.Errorf("refused heartbeats changed the hub's view: observed %v, reachable %v", obs, reachable)
	}
	observed := *inj.DeepCopy()
	observed.Status.Phase = v1alpha1.InjectionInjected
	code, hr := hb(5, reg.Credential, observed)
	if code != 200 || len(hr.Desired) != 1 || hr.Desired[0].Name != "exp-1" || hr.Desired[0].Spec.Agent != reg.Agent {
		t.Fatalf("heartbeat: %d %+v", code, hr)
	}
	if until := time.Until(hr.LeaseExpiresAt); until <= 0 || until > 2*time.Second {
		t.Errorf("lease expires in %v, want about 2s", until)
	}
	for _, seq := range []uint64{5, 4} {
		if code, _ := hb(seq, reg.Credential); code != 409 {
			t.Errorf("replayed seq %d: %d, want 409", seq, code)
		}
	}
	if obs, reachable := srv.Observed(reg.Agent); !reachable || len(obs) != 1 || obs[0].Status.Phase != v1alpha1.InjectionInjected {
		t.Errorf("Observed = %v, %v", obs, reachable)
	}

	// Status is written by the loop (on change), then Lost once heartbeats stop.
	waitAgent(t, c, reg.Agent, "Ready=True, 1 active", func(ha *v1alpha1.HostAgent) bool {
		return conditions.IsTrue(ha, meta.ReadyCondition) && ha.Status.ActiveInjections == 1 && ha.Status.LastHeartbeatTime != nil
	})
	waitAgent(t, c, reg.Agent, "Lost=True", func(ha *v1alpha1.HostAgent) bool {
		return conditions.IsTrue(ha, v1alpha1.LostCondition) && conditions.IsFalse(ha, meta.ReadyCondition)
	})
	if _, reachable := srv.Observed(reg.Agent); reachable {
		t.Error("Observed says reachable after the grace period")
	}
	srv.Forget(reg.Agent, "exp-1")
	if d := srv.Desired(reg.Agent); len(d) != 0 {
		t.Errorf("Desired after Forget = %v", d)
	}
}

func waitAgent(t *testing.T, c client.Client, name, what string, ok func(*v1alpha1.HostAgent) bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	ha := &v1alpha1.HostAgent{}
	for time.Now().Before(deadline) {
		if err := c.Get(t.Context(), client.ObjectKey{Name: name}, ha); err == nil && ok(ha) {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("HostAgent %s never became %s: %+v", name, what, ha.Status)
}
