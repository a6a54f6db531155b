package writeback

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// APIError is a forge's refusal of a request.
type APIError struct {
	Provider   string
	StatusCode int
	// Message is the forge's explanation, cut short.
	Message string
	// UnknownCommit is true when the forge does not know the SHA (GitHub
	// answers 422, GitLab 404, Gitea 500): retrying cannot help.
	UnknownCommit bool
}

func (e *APIError) Error() string {
	return fmt.Sprintf("%s API: HTTP %d: %s", e.Provider, e.StatusCode, e.Message)
}

// Retryable says whether the same request may succeed later (the forge was
// down or throttled), as opposed to a refusal (bad token, unknown SHA on
// most forges, missing repository).
func (e *APIError) Retryable() bool {
	return !e.UnknownCommit && (e.StatusCode >= 500 || e.StatusCode == http.StatusTooManyRequests)
}

// IsRetryable reports whether err from SetStatus is worth retrying:
// transport errors and retryable API errors.
func IsRetryable(err error) bool {
	var api *APIError
	if errors.As(err, &api) {
		return api.Retryable()
	}
	return err != nil && !errors.Is(err, errInvalid)
}

var errInvalid = errors.New("invalid commit status")

// maxErrorBody bounds how much of an error answer is kept.
const maxErrorBody = 4 << 10

// apiClient does the JSON POSTs every provider needs.
type apiClient struct {
	provider string
	http     *http.Client
	header   http.Header
}

func (c *apiClient) postJSON(ctx context.Context, url string, body any) (*http.Response, []byte, error) {
	buf, err := json.Marshal(body)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: encode request: %w", c.provider, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(buf))
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", c.provider, err)
	}
	for k, v := range c.header {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "faultline")
	hc := c.http
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, nil, fmt.Errorf("%s API: %w", c.provider, err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	if err != nil {
		return nil, nil, fmt.Errorf("%s API: reading answer: %w", c.provider, err)
	}
	return resp, out, nil
}

// apiError builds the error of an unexpected answer, using the forge's
// "message" field when its body is JSON. unknownCommit is how this forge
// says it does not know the SHA.
func (c *apiClient) apiError(resp *http.Response, body []byte, unknownCommit func(status int, body string) bool) error {
	msg := strings.TrimSpace(string(body))
	var m struct {
		Message any `json:"message"`
	}
	if json.Unmarshal(body, &m) == nil && m.Message != nil {
		msg = fmt.Sprint(m.Message)
	}
	if len(msg) > 300 {
		msg = msg[:300] + "…"
	}
	return &APIError{Provider: c.provider, StatusCode: resp.StatusCode, Message: msg,
		UnknownCommit: unknownCommit != nil && unknownCommit(resp.StatusCode, string(body))}
}
