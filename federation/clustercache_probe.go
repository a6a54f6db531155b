package federation

import (
	"context"
	"time"
)

// startProbeLocked starts m's probe loop under the cache's context, when the
// cache has started; c.mu must be held.
func (c *ClusterCache) startProbeLocked(m *member) {
	if c.ctx == nil {
		return
	}
	ctx, cancel := context.WithCancel(c.ctx)
	m.stop = cancel
	go c.probeLoop(ctx, m)
}

// probeLoop probes a member every ProbeInterval while healthy; while it is
// unreachable it backs off exponentially from ProbeInterval/4 to MaxBackoff.
func (c *ClusterCache) probeLoop(ctx context.Context, m *member) {
	backoff := c.opts.ProbeInterval / 4
	for {
		wait := c.opts.ProbeInterval
		if !m.Health().Reachable {
			wait = backoff
			backoff = min(backoff*2, c.opts.MaxBackoff)
		} else {
			backoff = c.opts.ProbeInterval / 4
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		c.probe(ctx, m)
	}
}

// probe asks the member's API server for its version: cheap, needs no RBAC
// beyond discovery, and fails fast when the server is down.
func (c *ClusterCache) probe(ctx context.Context, m *member) {
	ctx, cancel := context.WithTimeout(ctx, c.opts.ProbeTimeout)
	defer cancel()
	var version string
	raw, err := m.discovery.RESTClient().Get().AbsPath("/version").Do(ctx).Raw()
	if err == nil {
		version, err = parseGitVersion(raw)
	}

	m.mu.Lock()
	was := m.health.Reachable
	m.health.LastProbe = time.Now()
	if err != nil {
		m.health.ConsecutiveFailures++
		m.health.LastError = err.Error()
		if m.health.ConsecutiveFailures >= c.opts.FailureThreshold {
			m.health.Reachable = false
		}
	} else {
		m.health = Health{Reachable: true, Version: version, LastProbe: m.health.LastProbe}
	}
	now := m.health.Reachable
	m.mu.Unlock()

	if was != now {
		c.log.Info("member cluster reachability changed", "memberCluster", m.name, "reachable", now, "error", errString(err))
		c.notify(m.name)
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
