package writeback

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/faultline-dev/faultline/crds/v1alpha1"
)

const sha = "0123456789abcdef0123456789abcdef01234567"

// recorded is one request as the forge saw it.
type recorded struct {
	method, rawPath string
	header          http.Header
	body            map[string]any
}

// forge answers every request with status and body, and records them.
func forge(t *testing.T, status int, answer string) (*httptest.Server, *[]recorded) {
	t.Helper()
	var reqs []recorded
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Errorf("request body is not JSON: %q", b)
		}
		reqs = append(reqs, recorded{method: r.Method, rawPath: r.URL.EscapedPath(), header: r.Header.Clone(), body: m})
		w.WriteHeader(status)
		_, _ = io.WriteString(w, answer)
	}))
	t.Cleanup(srv.Close)
	return srv, &reqs
}

func mustNew(t *testing.T, p, api, repo string) Provider {
	t.Helper()
	pr, err := New(Forge{Provider: v1alpha1.CommitStatusProvider(p), API: api, Repository: repo}, "s3cret", nil)
	if err != nil {
		t.Fatal(err)
	}
	return pr
}

func TestGitHubRequest(t *testing.T) {
	srv, reqs := forge(t, http.StatusCreated, `{"id":1,"state":"failure"}`)
	p := mustNew(t, "github", srv.URL+"/api/v3", "acme/chaos")
	err := p.SetStatus(t.Context(), Status{SHA: sha, State: StateFailure, Context: StatusContext("team-a", "latency"),
		Description: "Aborted: p99 (during): 0.49 > max 0.3", TargetURL: "https://hub.example.com/e/team-a/latency"})
	if err != nil {
		t.Fatal(err)
	}
	if len(*reqs) != 1 {
		t.Fatalf("%d requests, want 1", len(*reqs))
	}
	r := (*reqs)[0]
	if r.method != http.MethodPost || r.rawPath != "/api/v3/repos/acme/chaos/statuses/"+sha {
		t.Errorf("request %s %s", r.method, r.rawPath)
	}
	for k, want := range map[string]string{
		"Authorization":        "Bearer s3cret",
		"Accept":               "application/vnd.github+json",
		"X-Github-Api-Version": "2022-11-28",
		"Content-Type":         "application/json",
	} {
		if got := r.header.Get(k); got != want {
			t.Errorf("header %s = %q, want %q", k, got, want)
		}
	}
	want := map[string]any{"state": "failure", "context": "faultline/team-a/latency",
		"description": "Aborted: p99 (during): 0.49 > max 0.3", "target_url": "https://hub.example.com/e/team-a/latency"}
	if !equalJSON(r.body, want) {
		t.Errorf("body %v, want %v", r.body, want)
	}
}

func TestGitLabRequest(t *testing.T) {
	srv, reqs := forge(t, http.StatusCreated, `{"id":1,"status":"failed"}`)
	p := mustNew(t, "gitlab", srv.URL+"/api/v4", "platform/sre/chaos")
	for _, st := range []State{StatePending, StateSuccess, StateFailure, StateError} {
		if err := p.SetStatus(t.Context(), Status{SHA: sha, State: st, Context: "faultline/team-a/latency", Description: "d"}); err != nil {
			t.Fatal(err)
		}
	}
	wantStates := []string{"pending", "success", "failed", "failed"}
	for i, r := range *reqs {
		if r.method != http.MethodPost || r.rawPath != "/api/v4/projects/platform%2Fsre%2Fchaos/statuses/"+sha {
			t.Errorf("request %s %s", r.method, r.rawPath)
		}
		if got := r.header.Get("Private-Token"); got != "s3cret" || r.header.Get("Authorization") != "" {
			t.Errorf("PRIVATE-TOKEN %q, Authorization %q", got, r.header.Get("Authorization"))
		}
		want := map[string]any{"state": wantStates[i], "name": "faultline/team-a/latency", "description": "d"}
		if !equalJSON(r.body, want) {
			t.Errorf("body %v, want %v", r.body, want)
		}
	}
}

// TestGitLabSameStateTwice: GitLab refuses to "transition" a status to the
// state it has; the status is what we asked for, so that is no error.
func TestGitLabSameStateTwice(t *testing.T) {
	srv, _ := forge(t, http.StatusBadRequest, `{"message":"Cannot transition status via :enqueue from :pending (Reason(s): Status cannot transition via \"enqueue\".)"}`)
	p := mustNew(t, "gitlab", srv.URL+"/api/v4", "g/p")
	if err := p.SetStatus(t.Context(), Status{SHA: sha, State: StatePending, Context: "c"}); err != nil {
		t.Errorf("err = %v, want nil", err)
	}
}

func TestAPIErrors(t *testing.T) {
	for _, tc := range []struct {
		status    int
		body      string
		msg       string
		retryable bool
	}{
		{http.StatusUnauthorized, `{"message":"Bad credentials"}`, "HTTP 401: Bad credentials", false},
		{http.StatusUnprocessableEntity, `{"message":"No commit found for SHA"}`, "HTTP 422: No commit found for SHA", false},
		{http.StatusInternalServerError, `oops`, "HTTP 500: oops", true},
		{http.StatusTooManyRequests, `{"message":"slow down"}`, "HTTP 429: slow down", true},
	} {
		srv, _ := forge(t, tc.status, tc.body)
		p := mustNew(t, "github", srv.URL, "a/b")
		err := p.SetStatus(t.Context(), Status{SHA: sha, State: StateSuccess, Context: "c"})
		var api *APIError
		if !errors.As(err, &api) || !strings.Contains(err.Error(), tc.msg) || IsRetryable(err) != tc.retryable {
			t.Errorf("HTTP %d: err %v (retryable %v), want %q retryable %v", tc.status, err, IsRetryable(err), tc.msg, tc.retryable)
		}
	}
	srv, _ := forge(t, http.StatusUnprocessableEntity, `{"message":"No commit found for SHA: 0123"}`)
	err := mustNew(t, "github", srv.URL, "a/b").SetStatus(t.Context(), Status{SHA: sha, State: StateSuccess, Context: "c"})
	if api := (*APIError)(nil); !errors.As(err, &api) || !api.UnknownCommit {
		t.Errorf("GitHub 422 No commit found: err %v, want UnknownCommit", err)
	}
	p := mustNew(t, "github", "http://127.0.0.1:1", "a/b")
	if err := p.SetStatus(t.Context(), Status{SHA: "HEAD", State: StateSuccess, Context: "c"}); err == nil || IsRetryable(err) {
		t.Errorf("bad SHA: err %v, want a non-retryable error before any request", err)
	}
	if err := p.SetStatus(t.Context(), Status{SHA: sha, State: StateSuccess, Context: "c"}); err == nil || !IsRetryable(err) {
		t.Errorf("unreachable forge: err %v, want a retryable error", err)
	}
}

func equalJSON(a, b map[string]any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}
