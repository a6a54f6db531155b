package standalone

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// testAgent is a Server with a real engine on a temporary journal, served
// over real HTTP on loopback.
type testAgent struct {
	s    *Server
	url  string
	dir  string // a directory disk fill attacks may fill
	http *http.Client
}

func startTestAgent(t *testing.T) *testAgent {
	t.Helper()
	dir := t.TempDir()
	s, err := Open(t.Context(), Options{JournalPath: filepath.Join(dir, "journal.db"), Hostname: "test-host"})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(func() {
		ts.Close()
		ctx, cancel := context.WithTimeout(context.WithoutCancel(t.Context()), 30*time.Second)
		defer cancel()
		if err := s.Close(ctx); err != nil {
			t.Errorf("close: %v", err)
		}
		if left := fillFiles(t, dir); len(left) > 0 {
			t.Errorf("fill files left after close: %v", left)
		}
	})
	fill := filepath.Join(dir, "fill")
	if err := os.Mkdir(fill, 0o700); err != nil {
		t.Fatal(err)
	}
	return &testAgent{s: s, url: ts.URL, dir: fill, http: ts.Client()}
}

// call sends a request and returns status, headers and body.
func (a *testAgent) call(t *testing.T, method, path, contentType, body string) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, a.url+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := a.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, raw
}

func decode[T any](t *testing.T, raw []byte) T {
	t.Helper()
	var v T
	if err := json.NewDecoder(bytes.NewReader(raw)).Decode(&v); err != nil {
		t.Fatalf("decode %T from %s: %v", v, raw, err)
	}
	return v
}

// fillFiles lists disk fill files under dir.
func fillFiles(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	_ = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && strings.HasPrefix(d.Name(), ".faultline-fill-") {
			out = append(out, p)
		}
		return nil
	})
	return out
}

func diskFill(dir, size, duration string) string {
	return `{"name":"fill","fault":{"disk":{"action":"fill","path":"` + dir + `","size":"` + size + `"}},"duration":"` + duration + `"}`
}
