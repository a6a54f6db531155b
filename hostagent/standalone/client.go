package standalone

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Client talks to a standalone agent's API.
type Client struct {
	// Base URL such as http://127.0.0.1:7410.
	Base string
	HTTP *http.Client
}

// NewClient returns a client of the agent at base.
func NewClient(base string) *Client {
	return &Client{Base: strings.TrimSuffix(base, "/"), HTTP: &http.Client{Timeout: 2 * time.Minute}}
}

// APIError is an answer other than success.
type APIError struct {
	Status int
	// Message and Field are the answer's Error body.
	Message, Field string
}

func (e *APIError) Error() string {
	return fmt.Sprintf("%s (HTTP %d)", e.Message, e.Status)
}

// CreateAttack starts an attack.
func (c *Client) CreateAttack(ctx context.Context, req AttackRequest) (Attack, error) {
	var a Attack
	return a, c.do(ctx, "POST", "/v1/attacks", "application/json", req, &a)
}

// Attacks lists attacks, newest first.
func (c *Client) Attacks(ctx context.Context) ([]Attack, error) {
	var as []Attack
	return as, c.do(ctx, "GET", "/v1/attacks", "", nil, &as)
}

// Attack returns one attack.
func (c *Client) Attack(ctx context.Context, id string) (Attack, error) {
	var a Attack
	return a, c.do(ctx, "GET", "/v1/attacks/"+url.PathEscape(id), "", nil, &a)
}

// Recover recovers an attack; unknown or finished ones are success.
func (c *Client) Recover(ctx context.Context, id string) (RecoverResult, error) {
	var r RecoverResult
	return r, c.do(ctx, "POST", "/v1/attacks/"+url.PathEscape(id)+"/recover", "", nil, &r)
}

// CreateSchedule creates a schedule.
func (c *Client) CreateSchedule(ctx context.Context, req ScheduleRequest) (Schedule, error) {
	var sc Schedule
	return sc, c.do(ctx, "POST", "/v1/schedules", "application/json", req, &sc)
}

// Schedules lists schedules.
func (c *Client) Schedules(ctx context.Context) ([]Schedule, error) {
	var scs []Schedule
	return scs, c.do(ctx, "GET", "/v1/schedules", "", nil, &scs)
}

// DeleteSchedule deletes a schedule and recovers its active attack.
func (c *Client) DeleteSchedule(ctx context.Context, id string) error {
	return c.do(ctx, "DELETE", "/v1/schedules/"+url.PathEscape(id), "", nil, nil)
}

// Apply applies YAML or JSON Injection or Experiment documents.
func (c *Client) Apply(ctx context.Context, manifests []byte) (ApplyResult, error) {
	var r ApplyResult
	return r, c.do(ctx, "POST", "/v1/apply", "application/yaml", manifests, &r)
}

func (c *Client) do(ctx context.Context, method, path, contentType string, body, out any) error {
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.Base+path, rd)
	if err != nil {
		return err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return fmt.Errorf("agent API at %s: %w", c.Base, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	if resp.StatusCode >= 300 {
		var body Error
		if json.Unmarshal(raw, &body) != nil || body.Error == "" {
			body.Error = strings.TrimSpace(string(raw))
		}
		return &APIError{Status: resp.StatusCode, Message: body.Error, Field: body.Field}
	}
	if out == nil || resp.StatusCode == http.StatusNoContent {
		return nil
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("%s %s: decode answer: %w", method, path, err)
	}
	return nil
}
