package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/faultline-dev/faultline/internal/testground"
	"github.com/faultline-dev/faultline/internal/testground/cluster"
)

func TestVersionFlag(t *testing.T) {
	var out bytes.Buffer
	cmd := newRootCommand()
	cmd.SetOut(&out)
	cmd.SetArgs([]string{"--version"})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out.String(), "faultline-hub ") {
		t.Errorf("--version printed %q", out.String())
	}
}

// The hub starts against a real API server with the flags a user passes,
// serves its probes and metrics, and stops cleanly when its context ends.
func TestHubServesProbesAndMetrics(t *testing.T) {
	hub := cluster.Start(t, "hub")[0]
	kc := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(kc, hub.KubeConfig, 0o600); err != nil {
		t.Fatal(err)
	}
	metricsAddr, healthAddr, hookAddr, agentAddr := testground.FreeAddr(t), testground.FreeAddr(t), testground.FreeAddr(t), testground.FreeAddr(t)
	secretFile := filepath.Join(t.TempDir(), "hook-secret")
	if err := os.WriteFile(secretFile, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	cmd := newRootCommand()
	cmd.SetArgs([]string{"--kubeconfig", kc, "--metrics-addr", metricsAddr, "--health-addr", healthAddr,
		"--kube-api-qps", "20", "--log-level", "error", "--webhook-addr", hookAddr,
		"--webhook-secret-file", secretFile, "--source-cache-dir", t.TempDir(), "--agent-addr", agentAddr, "--agent-insecure"})
	go func() { done <- cmd.ExecuteContext(ctx) }()

	waitOK(t, "http://"+healthAddr+"/readyz", done)
	waitOK(t, "http://"+healthAddr+"/healthz", done)
	body := waitOK(t, "http://"+metricsAddr+"/metrics", done)
	if !strings.Contains(body, "controller_runtime_") && !strings.Contains(body, "rest_client_requests_total") {
		t.Errorf("metrics endpoint serves no controller-runtime metrics:\n%.500s", body)
	}

	// The webhook receiver (every replica) and the agent API (the leader's
	// runnables, started once the caches have synced) come up after
	// readiness, so both are polled until they accept connections.
	resp := postWhenUp(t, "http://"+hookAddr+"/hook/github", "{}", done)
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("unsigned push got %d, want 401", resp.StatusCode)
	}
	resp = postWhenUp(t, "http://"+agentAddr+"/v1/register", `{"token":"nope","hostname":"h1"}`, done)
	if resp.StatusCode != http.StatusUnauthorized && resp.StatusCode != http.StatusBadRequest {
		t.Errorf("registration with a bad token got %d, want 401 (or 400)", resp.StatusCode)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("hub exited with %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("hub did not stop within 30s of cancellation")
	}
}

func waitOK(t *testing.T, url string, done <-chan error) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	client := &http.Client{Timeout: 5 * time.Second}
	var last string
	for time.Now().Before(deadline) {
		select {
		case err := <-done:
			t.Fatalf("hub exited early: %v", err)
		default:
		}
		resp, err := client.Get(url)
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return string(b)
			}
			last = fmt.Sprintf("%d %s", resp.StatusCode, b)
		} else {
			last = err.Error()
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s never answered 200: %s", url, last)
	return ""
}

// postWhenUp posts body to url until the server accepts the connection (30 s
// at most) and returns the response with its body closed.
func postWhenUp(t *testing.T, url, body string, done <-chan error) *http.Response {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	client := &http.Client{Timeout: 5 * time.Second}
	for {
		select {
		case err := <-done:
			t.Fatalf("hub exited early: %v", err)
		default:
		}
		resp, err := client.Post(url, "application/json", strings.NewReader(body))
		if err == nil {
			resp.Body.Close()
			return resp
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never accepted a connection: %v", url, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
